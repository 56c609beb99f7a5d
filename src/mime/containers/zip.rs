//! ZIP archives (stored, deflate, deflate64, bzip2; Office Open XML is a
//! zip too, so `vbaProject.bin` and embedded objects come out as members).
//! Besides the budget, two zip-specific tricks are refused: entries that
//! share compressed data (the overlapping-entry bomb) and entries hidden
//! behind a duplicate name, which the reader library would merge.

use super::{Change, Member, OpenError, Replacement};
use crate::mime::limits::{Budget, LimitHit};
use std::io::{Cursor, Write};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

/// The members of a zip, in central-directory order, directories left out.
pub fn open(data: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    let mut archive = ZipArchive::new(Cursor::new(data)).map_err(|e| OpenError::Corrupt(format!("zip: {e}")))?;
    if declared_entries(data).is_some_and(|n| n != archive.len()) {
        return Err(OpenError::Corrupt("zip: entries share a name; some would be hidden".into()));
    }
    check_overlap(&mut archive)?;
    let mut members = Vec::new();
    for i in 0..archive.len() {
        let (name, encrypted, is_dir, compressed) = {
            let raw = archive.by_index_raw(i).map_err(corrupt)?;
            (raw.name().map_err(corrupt)?.into_owned(), raw.encrypted(), raw.is_dir(), raw.compressed_size())
        };
        if is_dir {
            continue;
        }
        budget.enter(depth)?;
        if encrypted {
            members.push(Member { name, data: Vec::new(), encrypted: true });
            continue;
        }
        let file = archive.by_index(i).map_err(corrupt)?;
        let data = budget.read_all(file, compressed)?;
        members.push(Member { name, data, encrypted: false });
    }
    Ok(members)
}

fn corrupt(e: zip::result::ZipError) -> OpenError {
    OpenError::Corrupt(format!("zip: {e}"))
}

/// The entry count the end-of-central-directory record declares; `None`
/// for zip64 archives (their count lives elsewhere) or when not found.
fn declared_entries(data: &[u8]) -> Option<usize> {
    let tail_start = data.len().saturating_sub(22 + 65_535);
    let pos = data[tail_start..].windows(4).rposition(|w| w == b"PK\x05\x06")? + tail_start;
    let count = u16::from_le_bytes([*data.get(pos + 10)?, *data.get(pos + 11)?]);
    (count != 0xFFFF).then_some(usize::from(count))
}

/// Refuse archives whose entries' local headers and data overlap: a few
/// kilobytes can then expand to gigabytes through many entries.
fn check_overlap(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Result<(), OpenError> {
    let mut spans = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).map_err(corrupt)?;
        let start = file.header_start();
        let end = file.data_start().unwrap_or(start).saturating_add(file.compressed_size());
        spans.push((start, end));
    }
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(LimitHit::Overlap.into());
    }
    Ok(())
}

/// The zip with `changes` applied: untouched entries are copied as they
/// are (still compressed), changed ones re-compressed, deleted ones
/// replaced by `DELETEDn.TXT`.
pub fn rebuild(data: &[u8], changes: &[Change]) -> Result<Vec<u8>, String> {
    let mut archive = ZipArchive::new(Cursor::new(data)).map_err(|e| e.to_string())?;
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut member = 0;
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        if file.is_dir() {
            out.raw_copy_file(file).map_err(|e| e.to_string())?;
            continue;
        }
        let change = changes.iter().find(|c| c.index == member);
        member += 1;
        let (name, bytes) = match change.map(|c| &c.replacement) {
            None => {
                out.raw_copy_file(file).map_err(|e| e.to_string())?;
                continue;
            }
            Some(Replacement::Content(bytes)) => {
                (file.name().map_err(|e| e.to_string())?.into_owned(), bytes.as_slice())
            }
            Some(Replacement::Deleted { n, text }) => (Replacement::deleted_name(*n), text.as_bytes()),
        };
        drop(file);
        out.start_file(name, deflated).map_err(|e| e.to_string())?;
        out.write_all(bytes).map_err(|e| e.to_string())?;
    }
    Ok(out.finish().map_err(|e| e.to_string())?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget() -> Budget {
        Budget::new(1 << 20, 5, 100, 100, Duration::from_secs(10))
    }

    pub(crate) fn make(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn members_in_order_without_directories() {
        let z = make(&[("docs/", b""), ("docs/a.txt", b"alpha"), ("b.exe", b"MZ")]);
        let m = open(&z, &mut budget(), 1).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["docs/a.txt", "b.exe"]);
        assert_eq!(m[0].data, b"alpha");
    }

    #[test]
    fn rebuild_replaces_and_keeps() {
        let z = make(&[("docs/", b""), ("docs/a.txt", b"alpha"), ("b.exe", b"MZ evil"), ("c.zip", b"old")]);
        let changes = [
            Change { index: 1, replacement: Replacement::Deleted { n: 1, text: "removed".into() } },
            Change { index: 2, replacement: Replacement::Content(b"new inner".to_vec()) },
        ];
        let rebuilt = rebuild(&z, &changes).unwrap();
        let m = open(&rebuilt, &mut budget(), 1).unwrap();
        let got: Vec<(&str, &[u8])> = m.iter().map(|m| (m.name.as_str(), m.data.as_slice())).collect();
        assert_eq!(got, [("docs/a.txt", &b"alpha"[..]), ("DELETED1.TXT", b"removed"), ("c.zip", b"new inner")]);
    }

    #[test]
    fn encrypted_members_are_flagged_not_read() {
        let mut z = make(&[("secret.doc", b"plain")]);
        set_encrypted_flag(&mut z);
        let m = open(&z, &mut budget(), 1).unwrap();
        assert!(m[0].encrypted && m[0].data.is_empty());
    }

    /// Set general-purpose bit 0 in every local and central header.
    fn set_encrypted_flag(z: &mut [u8]) {
        for (sig, at) in [(b"PK\x03\x04", 6), (b"PK\x01\x02", 8)] {
            let hits: Vec<usize> = z.windows(4).enumerate().filter(|(_, w)| w == sig).map(|(i, _)| i).collect();
            for i in hits {
                z[i + at] |= 1;
            }
        }
    }

    #[test]
    fn budget_and_depth_limits() {
        let z = make(&[("zeros.bin", &vec![0u8; 3 << 20])]);
        let mut small = Budget::new(1 << 20, 5, 100, 0, Duration::from_secs(10));
        assert_eq!(open(&z, &mut small, 1), Err(OpenError::Limit(LimitHit::Size)));
        assert_eq!(open(&z, &mut budget(), 6), Err(OpenError::Limit(LimitHit::Depth)));
    }

    #[test]
    fn overlapping_entries_are_a_bomb() {
        // Two central-directory entries pointing at the same local entry.
        let z = make(&[("a.txt", b"aaaa"), ("b.txt", b"bbbb")]);
        let cd = z.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        let second = cd + 4 + z[cd + 4..].windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        let mut bomb = z.clone();
        let first_offset = bomb[cd + 42..cd + 46].to_vec();
        bomb[second + 42..second + 46].copy_from_slice(&first_offset);
        assert_eq!(open(&bomb, &mut budget(), 1), Err(OpenError::Limit(LimitHit::Overlap)));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let z = make(&[("readme.txt", b"clean"), ("readmf.txt", b"evil")]);
        let mut dup = z.clone();
        for i in 0..dup.len() - 10 {
            if &dup[i..i + 10] == b"readmf.txt" {
                dup[i..i + 10].copy_from_slice(b"readme.txt");
            }
        }
        assert!(matches!(open(&dup, &mut budget(), 1), Err(OpenError::Corrupt(why)) if why.contains("share a name")));
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        assert!(matches!(open(b"PK\x03\x04garbage", &mut budget(), 1), Err(OpenError::Corrupt(_))));
    }
}
