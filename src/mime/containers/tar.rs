//! tar archives (ustar, GNU and PAX names): regular files are members;
//! rebuilding copies untouched entries with their headers and replaces
//! changed or deleted ones.

use super::{Change, Member, OpenError, Replacement};
use crate::mime::limits::Budget;
use tar::{Archive, Builder, EntryType, Header};

/// The regular files of a tar, in archive order.
pub fn open(data: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    let mut archive = Archive::new(data);
    let mut members = Vec::new();
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        budget.enter(depth)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let size = entry.size();
        members.push(Member { name, data: budget.read_all(entry, size)?, encrypted: false });
    }
    Ok(members)
}

fn corrupt(e: std::io::Error) -> OpenError {
    OpenError::Corrupt(format!("tar: {e}"))
}

/// The tar with `changes` applied to its regular files.
pub fn rebuild(data: &[u8], changes: &[Change]) -> Result<Vec<u8>, String> {
    let mut archive = Archive::new(data);
    let mut out = Builder::new(Vec::new());
    let mut member = 0;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let mut header = entry.header().clone();
        let path = entry.path_bytes().into_owned();
        let change = if header.entry_type().is_file() {
            member += 1;
            changes.iter().find(|c| c.index == member - 1)
        } else {
            None
        };
        let result = match change.map(|c| &c.replacement) {
            None => out.append_data(&mut header, String::from_utf8_lossy(&path).as_ref(), &mut entry),
            Some(Replacement::Content(bytes)) => {
                header.set_size(bytes.len() as u64);
                out.append_data(&mut header, String::from_utf8_lossy(&path).as_ref(), bytes.as_slice())
            }
            Some(Replacement::Deleted { n, text }) => {
                let mut h = Header::new_gnu();
                h.set_entry_type(EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(text.len() as u64);
                h.set_mtime(header.mtime().unwrap_or(0));
                out.append_data(&mut h, Replacement::deleted_name(*n), text.as_bytes())
            }
        };
        result.map_err(|e| e.to_string())?;
    }
    out.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;
    use std::time::Duration;

    fn budget() -> Budget {
        Budget::new(1 << 20, 5, 10, 0, Duration::from_secs(10))
    }

    fn make(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn members_and_rebuild() {
        let long = format!("{}/run.vbs", "d".repeat(150));
        let t = make(&[("a.txt", b"alpha"), (long.as_str(), b"evil"), ("c.tar", b"old")]);
        let m = open(&t, &mut budget(), 1).unwrap();
        assert_eq!(m[1].name, long, "GNU long names are read");
        let changes = [
            Change { index: 1, replacement: Replacement::Deleted { n: 1, text: "gone".into() } },
            Change { index: 2, replacement: Replacement::Content(b"new".to_vec()) },
        ];
        let m = open(&rebuild(&t, &changes).unwrap(), &mut budget(), 1).unwrap();
        let got: Vec<(&str, &[u8])> = m.iter().map(|m| (m.name.as_str(), m.data.as_slice())).collect();
        assert_eq!(got, [("a.txt", &b"alpha"[..]), ("DELETED1.TXT", b"gone"), ("c.tar", b"new")]);
    }

    #[test]
    fn limits_and_garbage() {
        let t = make(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        let mut two_files = Budget::new(1 << 20, 5, 2, 0, Duration::from_secs(10));
        assert_eq!(open(&t, &mut two_files, 1), Err(OpenError::Limit(LimitHit::Files)));
        let mut garbage = vec![0xAAu8; 1024];
        garbage[257..262].copy_from_slice(b"ustar");
        assert!(matches!(open(&garbage, &mut budget(), 1), Err(OpenError::Corrupt(_))));
    }
}
