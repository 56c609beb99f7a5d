//! 7z archives. Read-only (SPEC §5 lists no in-place replacement for 7z):
//! a blocked member makes the whole archive go. The decoder's dictionary
//! is allocated up front from a size the archive declares, so it is held
//! to what the budget has left, but never below [`DICTIONARY_FLOOR`];
//! encrypted content or headers make the archive an encrypted container.

use super::{Member, OpenError};
use crate::mime::limits::Budget;
use sevenz_rust2::{ArchiveReader, Error, Password};
use std::io::Cursor;

/// Decoder memory always allowed: the dictionary of 7-Zip's Ultra preset,
/// so ordinary archives open under a small extraction limit.
const DICTIONARY_FLOOR: u64 = 64 * 1024 * 1024;

/// The files of a 7z archive.
pub fn open(data: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    let memory_kb = usize::try_from(budget.bytes_left().max(DICTIONARY_FLOOR) / 1024).unwrap_or(usize::MAX);
    let mut reader =
        ArchiveReader::new_with_memory_limit(Cursor::new(data), Password::empty(), memory_kb).map_err(refusal)?;
    reader.set_thread_count(1);
    let archive = reader.archive();
    if (0..archive.files.len()).any(|i| archive.is_file_encrypted(i)) {
        return Err(OpenError::Encrypted);
    }
    let compressed = data.len() as u64;
    let mut members = Vec::new();
    let mut stopped = None;
    let result = reader.for_each_entries(|entry, content| {
        if entry.is_directory() {
            return Ok(true);
        }
        let read =
            budget.enter(depth).map_err(OpenError::from).and_then(|()| Ok(budget.read_all(content, compressed)?));
        match read {
            Ok(data) => {
                members.push(Member { name: entry.name().to_string(), data, encrypted: false });
                Ok(true)
            }
            Err(e) => {
                stopped = Some(e);
                Err(Error::Unsupported("stopped by the decomposition budget".into()))
            }
        }
    });
    match (stopped, result) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(refusal(e)),
        (None, Ok(())) => Ok(members),
    }
}

/// What a library error means for the policy.
fn refusal(e: Error) -> OpenError {
    match e {
        Error::PasswordRequired | Error::MaybeBadPassword(_) => OpenError::Encrypted,
        Error::UnsupportedCompressionMethod(m) if m.to_ascii_uppercase().contains("AES") => OpenError::Encrypted,
        Error::MaxMemLimited { .. } => crate::mime::limits::LimitHit::Size.into(),
        other => OpenError::Corrupt(format!("7z: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;
    use sevenz_rust2::{ArchiveEntry, ArchiveWriter};
    use std::time::Duration;

    fn make(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
        for (name, data) in files {
            w.push_archive_entry(ArchiveEntry::new_file(name), Some(*data)).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn budget(bytes: u64) -> Budget {
        Budget::new(bytes, 5, 10, 0, Duration::from_secs(10))
    }

    #[test]
    fn members_are_read_through_the_budget() {
        let a = make(&[("docs/a.txt", b"alpha"), ("b.exe", b"MZ")]);
        let m = open(&a, &mut budget(1 << 20), 1).unwrap();
        let got: Vec<(&str, &[u8])> = m.iter().map(|m| (m.name.as_str(), m.data.as_slice())).collect();
        assert_eq!(got, [("docs/a.txt", &b"alpha"[..]), ("b.exe", b"MZ")]);
        let big = make(&[("zeros", &vec![0u8; 3 << 20])]);
        assert_eq!(open(&big, &mut budget(2 << 20), 1), Err(OpenError::Limit(LimitHit::Size)));
        assert!(matches!(open(b"7z\xBC\xAF\x27\x1Cjunk", &mut budget(100), 1), Err(OpenError::Corrupt(_))));
    }
}
