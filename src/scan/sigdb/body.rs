//! Extended body signatures (`.ndb`):
//! `Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]`.

use super::flevel_allows;
use super::offset::Offset;
use super::pattern::{Modifiers, Pattern, compile};
use super::target::Target;

/// ClamAV's minimum length of a pattern made of literal bytes only.
const MIN_PLAIN_BYTES: usize = 3;

/// One parsed `.ndb` line.
#[derive(Debug)]
pub(super) struct BodySig<'a> {
    pub name: &'a str,
    pub target: Target,
    pub offset: Offset,
    /// Usually one; alternatives of different lengths give several.
    pub patterns: Vec<Pattern>,
}

/// Parse one `.ndb` line.
pub(super) fn parse_line(line: &str) -> Result<BodySig<'_>, String> {
    let mut fields = line.split(':');
    let (Some(name), Some(target), Some(offset), Some(hex)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected Name:TargetType:Offset:HexSignature".into());
    };
    let (min, max) = (fields.next(), fields.next());
    if fields.next().is_some() {
        return Err("too many fields".into());
    }
    if name.is_empty() {
        return Err("empty signature name".into());
    }
    flevel_allows(min, max)?;
    let target = Target::parse(target)?;
    let offset = Offset::parse(offset)?;
    if hex.len() < 2 * MIN_PLAIN_BYTES && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("signature of literal bytes shorter than {MIN_PLAIN_BYTES}"));
    }
    let patterns = compile(hex, Modifiers::default())?;
    Ok(BodySig { name, target, offset, patterns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_parsed() {
        let sig = parse_line("Test.Sig:1:EOF-10,4:414243??44").expect("valid");
        assert_eq!(sig.name, "Test.Sig");
        assert_eq!(sig.target, Target::Pe);
        assert_eq!(sig.offset, Offset::End { back: 10, shift: 4 });
        assert_eq!(sig.patterns.len(), 1);
        assert!(parse_line("Test.Sig:0:*:414243:10:300").is_ok());
        assert!(parse_line("Test.Sig:0:*:414243::300").is_ok());
    }

    #[test]
    fn rejected_lines_say_why() {
        let reason = |line: &str| parse_line(line).err().unwrap_or_default();
        assert!(reason("Test:0:*").contains("expected"));
        assert!(reason(":0:*:414243").contains("name"));
        assert!(reason("Test:3:*:414243").contains("target type 3"));
        assert!(reason("Test:0:EP+4:414243").contains("not supported"));
        assert!(reason("Test:0:*:4142").contains("shorter"));
        assert!(reason("Test:0:*:4142*43").contains("literal"));
        assert!(reason("Test:0:*:414243:300").contains("functionality level"));
        assert!(reason("Test:0:*:414243:1:100").contains("functionality level"));
        assert!(reason("Test:0:*:414243:1:300:5").contains("too many"));
        assert!(reason("Test:0:*:414243:x").contains("functionality level"));
    }
}
