//! OLE2 compound files: legacy Office documents (`.doc`, `.xls`, `.ppt`),
//! `vbaProject.bin` inside Office Open XML, and the wrapper of encrypted
//! OOXML. Every stream is a member, so macro streams reach the scanners;
//! an embedded "Package" object (`\u{1}Ole10Native`) is unwrapped to the
//! file it carries, under the name it will be saved as when opened.
//! Read-only: a blocked member makes the whole document go.

use super::{Member, OpenError};
use crate::mime::limits::Budget;
use std::io::Cursor;

/// The streams of a compound file, `Encrypted` for password-protected
/// Office documents.
pub fn open(data: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    let mut file = cfb::CompoundFile::open(Cursor::new(data)).map_err(corrupt)?;
    let streams: Vec<_> = file
        .walk()
        .filter(|e| e.is_stream())
        .map(|e| (e.path().to_path_buf(), e.name().to_string(), e.len()))
        .collect();
    if streams.iter().any(|(_, name, _)| name == "EncryptedPackage") {
        return Err(OpenError::Encrypted);
    }
    let mut members = Vec::with_capacity(streams.len());
    for (path, name, len) in streams {
        budget.enter(depth)?;
        let stream = file.open_stream(&path).map_err(corrupt)?;
        let data = budget.read_all(stream, len)?;
        if name == "WordDocument" && word_encrypted(&data) || name == "Workbook" && excel_encrypted(&data) {
            return Err(OpenError::Encrypted);
        }
        let path = path.to_string_lossy().trim_start_matches('/').to_string();
        members.push(match package(&data).filter(|_| name == "\u{1}Ole10Native") {
            Some((saved_as, content)) => Member { name: saved_as, data: content.to_vec(), encrypted: false },
            None => Member { name: path, data, encrypted: false },
        });
    }
    Ok(members)
}

fn corrupt(e: std::io::Error) -> OpenError {
    OpenError::Corrupt(format!("OLE2: {e}"))
}

/// Word's FIB flag `fEncrypted` (MS-DOC 2.5.2).
fn word_encrypted(stream: &[u8]) -> bool {
    stream.get(0x0A..0x0C).is_some_and(|f| u16::from_le_bytes([f[0], f[1]]) & 0x0100 != 0)
}

/// A `FILEPASS` record (0x002F) among the first records of Excel's
/// workbook globals (MS-XLS 2.4.117).
fn excel_encrypted(stream: &[u8]) -> bool {
    let mut at = 0usize;
    for _ in 0..16 {
        let Some(head) = stream.get(at..at + 4) else { return false };
        let (kind, len) = (u16::from_le_bytes([head[0], head[1]]), u16::from_le_bytes([head[2], head[3]]));
        if kind == 0x002F {
            return true;
        }
        at += 4 + usize::from(len);
    }
    false
}

/// The file inside an OLE Package object (`Ole10Native`): size, type,
/// label, source path, then the temporary path it is saved to when opened
/// and the content. Returns the name it is saved under and the content.
fn package(stream: &[u8]) -> Option<(String, &[u8])> {
    let mut r = Reader(stream.get(6..)?);
    let label = r.c_string()?;
    let source = r.c_string()?;
    r.skip(4)?;
    let temp_len = r.u32()?;
    let temp = r.take(temp_len)?;
    let temp = String::from_utf8_lossy(temp.split(|&b| b == 0).next().unwrap_or_default()).into_owned();
    let size = r.u32()?;
    let content = r.take(size)?;
    let saved_as = [temp, source, label].into_iter().map(|p| base_name(&p)).find(|n| !n.is_empty())?;
    Some((saved_as, content))
}

fn base_name(path: &str) -> String {
    path.rsplit(['\\', '/']).next().unwrap_or_default().to_string()
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: u32) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn skip(&mut self, n: u32) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn c_string(&mut self) -> Option<String> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let s = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = &self.0[end + 1..];
        Some(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    /// A compound file holding `streams` (paths like `Macros/VBA/Module1`).
    pub(crate) fn make(streams: &[(&str, &[u8])]) -> Vec<u8> {
        let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        for (path, data) in streams {
            if let Some((dir, _)) = path.rsplit_once('/') {
                file.create_storage_all(dir).unwrap();
            }
            file.create_stream(path).unwrap().write_all(data).unwrap();
        }
        file.flush().unwrap();
        file.into_inner().into_inner()
    }

    /// An `Ole10Native` package stream carrying `content` saved as `temp`.
    pub(crate) fn package_stream(label: &str, temp: &str, content: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 4];
        s.extend_from_slice(&2u16.to_le_bytes());
        for part in [label, "C:\\src\\original.txt"] {
            s.extend_from_slice(part.as_bytes());
            s.push(0);
        }
        s.extend_from_slice(&[0, 0, 3, 0]);
        s.extend_from_slice(&(temp.len() as u32 + 1).to_le_bytes());
        s.extend_from_slice(temp.as_bytes());
        s.push(0);
        s.extend_from_slice(&(content.len() as u32).to_le_bytes());
        s.extend_from_slice(content);
        s
    }

    fn budget() -> Budget {
        Budget::new(1 << 20, 5, 50, 0, Duration::from_secs(10))
    }

    #[test]
    fn streams_macros_and_packages() {
        let pkg = package_stream("Invoice.pdf", "C:\\Users\\x\\AppData\\Local\\Temp\\run.exe", b"MZ payload");
        let doc = make(&[
            ("WordDocument", &[0u8; 32]),
            ("Macros/VBA/ThisDocument", b"Attribute VB_Name"),
            ("ObjectPool/_1/\u{1}Ole10Native", &pkg),
        ]);
        let m = open(&doc, &mut budget(), 1).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert!(names.contains(&"Macros/VBA/ThisDocument"), "{names:?}");
        let embedded = m.iter().find(|m| m.name == "run.exe").expect("the package's file, by its saved name");
        assert_eq!(embedded.data, b"MZ payload");
    }

    #[test]
    fn encrypted_documents() {
        let ooxml = make(&[("EncryptionInfo", b"x"), ("EncryptedPackage", b"y")]);
        assert_eq!(open(&ooxml, &mut budget(), 1), Err(OpenError::Encrypted));
        let mut fib = vec![0u8; 32];
        fib[0x0B] = 0x01;
        assert_eq!(open(&make(&[("WordDocument", &fib)]), &mut budget(), 1), Err(OpenError::Encrypted));
        let workbook = [0x09, 0x08, 0x02, 0x00, 0xAA, 0xBB, 0x2F, 0x00, 0x00, 0x00];
        assert_eq!(open(&make(&[("Workbook", &workbook)]), &mut budget(), 1), Err(OpenError::Encrypted));
    }

    #[test]
    fn hostile_input() {
        assert!(matches!(
            open(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 1, 2], &mut budget(), 1),
            Err(OpenError::Corrupt(_))
        ));
        assert_eq!(package(&[0u8; 8]), None);
        let mut truncated = package_stream("a", "b.exe", b"content");
        truncated.truncate(truncated.len() - 3);
        assert_eq!(package(&truncated), None);
    }
}
