//! ClamAV target types: which kind of file a body signature is meant
//! for, mapped onto what the gateway can tell a file is
//! ([`FileType`]). Types whose signatures are written against ClamAV's
//! normalised forms (HTML, mail, normalised text, …) cannot be honoured
//! on raw bytes and are refused, never approximated.

use crate::mime::detect::FileType;

/// The file kinds a body signature can be limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Any,
    Pe,
    Ole2,
    Elf,
    MachO,
    Pdf,
}

impl Target {
    /// Parse a target type number.
    pub fn parse(text: &str) -> Result<Target, String> {
        let number: u32 = text.parse().map_err(|_| format!("bad target type {text:?}"))?;
        let unsupported = |what: &str| Err(format!("target type {number} ({what}) not supported, signature skipped"));
        match number {
            0 => Ok(Target::Any),
            1 => Ok(Target::Pe),
            2 => Ok(Target::Ole2),
            6 => Ok(Target::Elf),
            9 => Ok(Target::MachO),
            10 => Ok(Target::Pdf),
            3 => unsupported("normalised HTML"),
            4 => unsupported("mail"),
            5 => unsupported("graphics"),
            7 => unsupported("normalised ASCII text"),
            11 => unsupported("Flash"),
            12 => unsupported("Java class"),
            8 | 13 | 14 => unsupported("reserved"),
            _ => Err(format!("unknown target type {number}")),
        }
    }

    /// Whether a signature for this target applies to a file of type `file`.
    pub fn applies_to(self, file: FileType) -> bool {
        match self {
            Target::Any => true,
            Target::Pe => file == FileType::Pe,
            Target::Ole2 => file == FileType::Ole2,
            Target::Elf => file == FileType::Elf,
            Target::MachO => file == FileType::MachO,
            Target::Pdf => file == FileType::Pdf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiable_types_map_to_file_types() {
        assert_eq!(Target::parse("0"), Ok(Target::Any));
        assert!(Target::parse("0").is_ok_and(|t| t.applies_to(FileType::Text)));
        for (number, file) in [
            ("1", FileType::Pe),
            ("2", FileType::Ole2),
            ("6", FileType::Elf),
            ("9", FileType::MachO),
            ("10", FileType::Pdf),
        ] {
            let target = Target::parse(number).expect("supported");
            assert!(target.applies_to(file), "{number}");
            assert!(!target.applies_to(FileType::Text), "{number} on text");
            assert!(!target.applies_to(FileType::Other), "{number} on data");
        }
    }

    #[test]
    fn normalised_types_are_refused() {
        for n in ["3", "4", "5", "7", "8", "11", "12", "13", "14"] {
            assert!(Target::parse(n).is_err_and(|e| e.contains("not supported")), "{n}");
        }
        for bad in ["15", "-1", "x", ""] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
