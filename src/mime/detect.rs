//! What a file really is, from its first bytes rather than its name or
//! declared type: a zip named `notes.txt` is still opened, and an
//! executable named `.pdf` is still an executable.

/// The formats decomposition and the heuristics care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Zip,
    Gzip,
    Bzip2,
    Tar,
    SevenZip,
    /// OLE2 compound file: legacy Office documents, `vbaProject.bin`,
    /// encrypted OOXML.
    Ole2,
    /// Outlook's `winmail.dat`.
    Tnef,
    Pdf,
    /// Windows executable (`MZ`).
    Pe,
    Elf,
    MachO,
    /// Mostly printable text (may hold uuencode or BinHex).
    Text,
    Other,
}

impl FileType {
    /// Short lower-case name for paths, logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            FileType::Zip => "zip",
            FileType::Gzip => "gzip",
            FileType::Bzip2 => "bzip2",
            FileType::Tar => "tar",
            FileType::SevenZip => "7z",
            FileType::Ole2 => "ole2",
            FileType::Tnef => "tnef",
            FileType::Pdf => "pdf",
            FileType::Pe => "pe",
            FileType::Elf => "elf",
            FileType::MachO => "mach-o",
            FileType::Text => "text",
            FileType::Other => "data",
        }
    }

    /// Executable code for some operating system.
    pub fn is_executable(self) -> bool {
        matches!(self, FileType::Pe | FileType::Elf | FileType::MachO)
    }
}

/// Identify `data` by its magic bytes.
pub fn detect(data: &[u8]) -> FileType {
    let starts = |magic: &[u8]| data.starts_with(magic);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        FileType::Zip
    } else if starts(&[0x1f, 0x8b]) {
        FileType::Gzip
    } else if starts(b"BZh") && data.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        FileType::Bzip2
    } else if starts(b"7z\xBC\xAF\x27\x1C") {
        FileType::SevenZip
    } else if starts(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        FileType::Ole2
    } else if starts(&[0x78, 0x9F, 0x3E, 0x22]) {
        FileType::Tnef
    } else if starts(b"MZ") {
        FileType::Pe
    } else if starts(b"\x7FELF") {
        FileType::Elf
    } else if is_macho(data) {
        FileType::MachO
    } else if is_pdf(data) {
        FileType::Pdf
    } else if data.get(257..262) == Some(b"ustar") {
        FileType::Tar
    } else if is_text(data) {
        FileType::Text
    } else {
        FileType::Other
    }
}

fn is_macho(data: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 6] = [
        [0xFE, 0xED, 0xFA, 0xCE],
        [0xFE, 0xED, 0xFA, 0xCF],
        [0xCE, 0xFA, 0xED, 0xFE],
        [0xCF, 0xFA, 0xED, 0xFE],
        // Universal binaries (also Java class files, told apart by the
        // architecture count, which is small for Mach-O).
        [0xCA, 0xFE, 0xBA, 0xBE],
        [0xBE, 0xBA, 0xFE, 0xCA],
    ];
    let Some(head) = data.get(..8) else { return false };
    MAGICS.iter().any(|m| head.starts_with(m)) && !(head.starts_with(&[0xCA, 0xFE, 0xBA, 0xBE]) && head[7] > 30)
}

/// `%PDF-` within the first KB, as PDF readers accept.
fn is_pdf(data: &[u8]) -> bool {
    data[..data.len().min(1024)].windows(5).any(|w| w == b"%PDF-")
}

/// An Internet message (RFC 5322), such as a `.eml` file saved into an
/// archive: the text starts with a header section of well-formed fields,
/// at least two of them, one a field only mail has.
pub fn is_message(data: &[u8]) -> bool {
    const MAIL_ONLY: [&str; 6] = ["from", "received", "return-path", "message-id", "mime-version", "delivered-to"];
    let head = &data[..data.len().min(8192)];
    let (mut fields, mut mail_only) = (0, false);
    for (n, line) in head.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if n == 0 && line.starts_with(b"From ") {
            continue; // the mbox separator line
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if fields == 0 {
                return false;
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        fields += 1;
        mail_only |= MAIL_ONLY.iter().any(|m| m.as_bytes().eq_ignore_ascii_case(name));
    }
    fields >= 2 && mail_only
}

/// Text if the first 8 KB have no NUL and few control characters.
fn is_text(data: &[u8]) -> bool {
    let head = &data[..data.len().min(8192)];
    let odd = head.iter().filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B)).count();
    !head.contains(&0) && odd * 100 <= head.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide() {
        assert_eq!(detect(b"PK\x03\x04rest"), FileType::Zip);
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), FileType::Gzip);
        assert_eq!(detect(b"BZh91AY&SY"), FileType::Bzip2);
        assert_eq!(detect(b"BZhx"), FileType::Text);
        assert_eq!(detect(b"7z\xBC\xAF\x27\x1C\0\x04"), FileType::SevenZip);
        assert_eq!(detect(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]), FileType::Ole2);
        assert_eq!(detect(&[0x78, 0x9F, 0x3E, 0x22, 0, 0]), FileType::Tnef);
        assert_eq!(detect(b"MZ\x90\0"), FileType::Pe);
        assert_eq!(detect(b"\x7FELF\x02"), FileType::Elf);
        assert_eq!(detect(&[0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1]), FileType::MachO);
        assert_eq!(detect(&[0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 0x34]), FileType::Other, "a Java class file");
        assert_eq!(detect(b"junk\n%PDF-1.7\n"), FileType::Pdf);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar), FileType::Tar);
        assert_eq!(detect(b"Hello,\r\nworld\r\n"), FileType::Text);
        assert_eq!(detect(b"\x01\x02\x03\x00binary"), FileType::Other);
        assert_eq!(detect(b""), FileType::Text);
    }

    #[test]
    fn a_saved_message_is_told_from_other_text() {
        assert!(is_message(b"From: <a@b.test>\r\nSubject: hi\r\n\r\nbody"));
        assert!(is_message(b"From someone Mon Jan  1 00:00:00 2024\nReceived: from x\n\tby y\nTo: z\n\nbody"));
        assert!(!is_message(b"name: mxguard\nversion: 1\n\nnot mail"), "no field only mail has");
        assert!(!is_message(b"From: a@b.test\n\nonly one field"));
        assert!(!is_message(b"Dear Sir,\nFrom: me\nSubject: x\n\n"), "prose first");
    }
}
