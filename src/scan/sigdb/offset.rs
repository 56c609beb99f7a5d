//! Where in a file a body signature may start: ClamAV's offset field
//! (`*`, `n`, `n,m`, `EOF-n`, `EOF-n,m`). The executable-relative forms
//! (`EP+n`, `Sx+n`, `SEx`, `SL+n`, `VI`) need ClamAV's PE/ELF/Mach-O
//! parsers and are rejected as unsupported rather than approximated.

/// A parsed offset field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Offset {
    /// `*`: anywhere.
    Any,
    /// `n[,shift]`: from byte `at` to `at + shift`.
    Start { at: usize, shift: usize },
    /// `EOF-n[,shift]`: from `n` bytes before the end to `shift` later.
    End { back: usize, shift: usize },
}

impl Offset {
    /// Parse an offset field.
    pub fn parse(text: &str) -> Result<Offset, String> {
        if text == "*" {
            return Ok(Offset::Any);
        }
        let number = |s: &str| {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("bad offset {text:?}"));
            }
            s.parse::<usize>().map_err(|_| format!("offset {text:?} too large"))
        };
        let (base, shift) = match text.split_once(',') {
            Some((base, shift)) => (base, number(shift)?),
            None => (text, 0),
        };
        if let Some(back) = base.strip_prefix("EOF-") {
            return Ok(Offset::End { back: number(back)?, shift });
        }
        if ["EP", "S", "VI"].iter().any(|p| base.starts_with(p)) {
            return Err(format!("offset {text:?} needs executable parsing: not supported"));
        }
        Ok(Offset::Start { at: number(base)?, shift })
    }

    /// The first and last allowed start in a file of `len` bytes; None
    /// when the offset lies outside the file.
    pub fn range(self, len: usize) -> Option<(usize, usize)> {
        match self {
            Offset::Any => Some((0, usize::MAX)),
            Offset::Start { at, shift } => Some((at, at.saturating_add(shift))),
            Offset::End { back, shift } => len.checked_sub(back).map(|at| (at, at.saturating_add(shift))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_ranges() {
        assert_eq!(Offset::parse("*").map(|o| o.range(10)), Ok(Some((0, usize::MAX))));
        assert_eq!(Offset::parse("4").map(|o| o.range(10)), Ok(Some((4, 4))));
        assert_eq!(Offset::parse("4,3").map(|o| o.range(10)), Ok(Some((4, 7))));
        assert_eq!(Offset::parse("EOF-3").map(|o| o.range(10)), Ok(Some((7, 7))));
        assert_eq!(Offset::parse("EOF-3,2").map(|o| o.range(10)), Ok(Some((7, 9))));
        assert_eq!(Offset::parse("EOF-11,5").map(|o| o.range(10)), Ok(None), "before the file start");
    }

    #[test]
    fn bad_and_unsupported_forms() {
        for bad in ["", "x", "-1", "4,", ",4", "*,4", "EOF+3", "EOF-", "4,x", "99999999999999999999999"] {
            assert!(Offset::parse(bad).is_err(), "{bad:?}");
        }
        for exe in ["EP+10", "EP-4,8", "S0+4", "SE1", "SL+0", "VI"] {
            assert!(Offset::parse(exe).is_err_and(|e| e.contains("not supported")), "{exe:?}");
        }
    }
}
