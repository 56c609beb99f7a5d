//! Single-stream compression (gzip, bzip2): one member, the decompressed
//! data. Such a stream cannot hold a replacement file next to it, but it
//! can be re-compressed around a rebuilt member, so a `.tar.gz` keeps its
//! clean files when one inside is removed.

use super::{Change, Member, OpenError, Replacement};
use crate::mime::limits::Budget;
use std::io::Write;

/// Which compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Bzip2,
}

/// The decompressed content as one member, named by the gzip header when
/// it carries a name.
pub fn open(codec: Codec, data: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    budget.enter(depth)?;
    let compressed = data.len() as u64;
    let (name, content) = match codec {
        Codec::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(data);
            let name = decoder.header().and_then(|h| h.filename()).map(|n| String::from_utf8_lossy(n).into_owned());
            (name.unwrap_or_default(), budget.read_all(decoder, compressed)?)
        }
        Codec::Bzip2 => (String::new(), budget.read_all(bzip2::read::MultiBzDecoder::new(data), compressed)?),
    };
    Ok(vec![Member { name, data: content, encrypted: false }])
}

/// Re-compress a changed member; a deleted one cannot stand alone in a
/// stream (`None`: the whole stream must go).
pub fn rebuild(codec: Codec, changes: &[Change]) -> Option<Result<Vec<u8>, String>> {
    let [Change { index: 0, replacement: Replacement::Content(content) }] = changes else { return None };
    let written = match codec {
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(content).and_then(|()| e.finish())
        }
        Codec::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(content).and_then(|()| e.finish())
        }
    };
    Some(written.map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;
    use std::time::Duration;

    fn budget(bytes: u64) -> Budget {
        Budget::new(bytes, 5, 10, 0, Duration::from_secs(10))
    }

    #[test]
    fn round_trips_and_names() {
        for codec in [Codec::Gzip, Codec::Bzip2] {
            let change = Change { index: 0, replacement: Replacement::Content(b"inner tar".to_vec()) };
            let packed = rebuild(codec, &[change]).unwrap().unwrap();
            let m = open(codec, &packed, &mut budget(1000), 1).unwrap();
            assert_eq!(m[0].data, b"inner tar");
        }
        let mut named = flate2::GzBuilder::new().filename("report.exe").write(Vec::new(), flate2::Compression::fast());
        named.write_all(b"MZ").unwrap();
        let m = open(Codec::Gzip, &named.finish().unwrap(), &mut budget(1000), 1).unwrap();
        assert_eq!((m[0].name.as_str(), m[0].data.as_slice()), ("report.exe", &b"MZ"[..]));
    }

    #[test]
    fn bombs_stop_at_the_budget_and_deletions_cannot_be_rebuilt() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; 4 << 20]).unwrap();
        let bomb = e.finish().unwrap();
        assert_eq!(open(Codec::Gzip, &bomb, &mut budget(1 << 20), 1), Err(OpenError::Limit(LimitHit::Size)));
        let deleted = Change { index: 0, replacement: Replacement::Deleted { n: 1, text: "x".into() } };
        assert!(rebuild(Codec::Gzip, &[deleted]).is_none());
        assert!(matches!(open(Codec::Bzip2, b"BZh9garbage", &mut budget(100), 1), Err(OpenError::Corrupt(_))));
    }
}
