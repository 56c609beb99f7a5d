//! uuencode: files written inline in a text body between a
//! `begin <mode> <name>` line and an `end` line. Mail clients still decode
//! these, so attackers use them to slip blocked files past gateways that
//! only look at MIME parts; decoding here is at least as lenient as theirs.

use super::{Block, Member, OpenError};
use crate::mime::limits::Budget;

/// Bytes per encoded line, as classic uuencoders write them.
const LINE_BYTES: usize = 45;

/// Every uuencoded file in `text` (a decoded text body, CRLF or LF lines),
/// with where its block sits so the caller can cut it out or replace it.
///
/// A `begin` line opens a block only when the line after it is `end` or
/// could be encoded data, so prose that happens to start with "begin 100"
/// is left alone. A block without its `end` line runs to the next `begin`
/// line or the end of the text and is decoded as far as it goes: an
/// attacker's truncated file is still a file, and cannot swallow the next
/// one's name.
pub fn find(text: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Block>, OpenError> {
    let mut blocks = Vec::new();
    let mut lines = lines(text).peekable();
    while let Some(begin) = lines.next() {
        let Some(name) = begin_name(begin.content) else { continue };
        if !lines.peek().is_some_and(|next| is_end(next.content) || looks_encoded(next.content)) {
            continue;
        }
        budget.enter(depth)?;
        let mut data = Vec::new();
        let mut end = begin.end;
        while let Some(line) = lines.next_if(|line| begin_name(line.content).is_none()) {
            end = line.end;
            if is_end(line.content) {
                break;
            }
            decode_line(line.content, &mut data, budget)?;
        }
        blocks.push(Block { start: begin.start, end, member: Member { name, data, encrypted: false } });
    }
    Ok(blocks)
}

/// `data` as a classic uuencoded block named `name` (mode 644, 45 bytes a
/// line, CRLF line ends), for putting a replaced file back into a body.
/// Line breaks and other control characters in `name` become `_`, so the
/// name cannot end the `begin` line early.
pub fn encode(name: &str, data: &[u8]) -> Vec<u8> {
    let name: String = name.chars().map(|c| if c.is_control() { '_' } else { c }).collect();
    let mut out = format!("begin 644 {name}\r\n").into_bytes();
    for chunk in data.chunks(LINE_BYTES) {
        // A chunk holds at most LINE_BYTES (45) bytes: it fits a sextet.
        out.push(encode_sextet(chunk.len() as u8));
        for group in chunk.chunks(3) {
            let word = group.iter().zip([16, 8, 0]).fold(0u32, |word, (&b, shift)| word | u32::from(b) << shift);
            out.extend([18, 12, 6, 0].map(|shift| encode_sextet((word >> shift) as u8 & 0x3f)));
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"`\r\nend\r\n");
    out
}

/// One line of the text: where it starts, where the next one starts, and
/// its content without the line end.
struct Line<'a> {
    start: usize,
    end: usize,
    content: &'a [u8],
}

fn lines(text: &[u8]) -> impl Iterator<Item = Line<'_>> {
    text.split_inclusive(|&b| b == b'\n').scan(0, |offset, raw| {
        let start = *offset;
        *offset += raw.len();
        let content = raw.strip_suffix(b"\n").unwrap_or(raw);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        Some(Line { start, end: *offset, content })
    })
}

/// The file name of a `begin <octal mode> <name>` line (empty when the
/// line names none), or `None` for any other line.
fn begin_name(line: &[u8]) -> Option<String> {
    let rest = line.trim_ascii().strip_prefix(b"begin")?;
    if !rest.first()?.is_ascii_whitespace() {
        return None;
    }
    let rest = rest.trim_ascii_start();
    let mode_len = rest.iter().take_while(|b| (b'0'..=b'7').contains(b)).count();
    let (mode, name) = rest.split_at_checked(mode_len)?;
    if mode.is_empty() || name.first().is_some_and(|b| !b.is_ascii_whitespace()) {
        return None;
    }
    Some(String::from_utf8_lossy(name.trim_ascii()).into_owned())
}

fn is_end(line: &[u8]) -> bool {
    line.trim_ascii() == b"end"
}

/// Whether a line could be uuencoded data: every character in the
/// encoding's range (space to backtick). Prose almost always has
/// lower-case letters, which are outside it.
fn looks_encoded(line: &[u8]) -> bool {
    !line.is_empty() && line.iter().all(|b| (b' '..=b'`').contains(b))
}

/// Append one data line's bytes: as many as its first character says,
/// decoded from the 4-character groups after it. Characters missing at the
/// end of the line count as zero (mail systems strip trailing spaces, and a
/// space encodes zero); characters past the count are ignored.
fn decode_line(line: &[u8], out: &mut Vec<u8>, budget: &mut Budget) -> Result<(), OpenError> {
    let Some((&count, groups)) = line.split_first() else { return Ok(()) };
    let mut left = usize::from(decode_sextet(count));
    budget.take(left as u64)?;
    let mut sextets = groups.iter().map(|&c| decode_sextet(c));
    while left > 0 {
        let word = (0..4).fold(0u32, |word, _| word << 6 | u32::from(sextets.next().unwrap_or(0)));
        let produced = left.min(3);
        out.extend(word.to_be_bytes().into_iter().skip(1).take(produced));
        left -= produced;
    }
    Ok(())
}

/// A character's 6-bit value; backtick and space both mean zero.
fn decode_sextet(c: u8) -> u8 {
    c.wrapping_sub(b' ') & 0x3f
}

/// The character for a 6-bit value, zero as backtick so that no line ends
/// in a space a mail system could strip.
fn encode_sextet(value: u8) -> u8 {
    if value == 0 { b'`' } else { b' ' + value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;
    use std::time::Duration;

    /// A budget of `bytes` and `files`, deep and slow enough for any test.
    fn limited(bytes: u64, files: u64) -> Budget {
        Budget::new(bytes, 5, files, 0, Duration::from_secs(30))
    }

    fn find_all(text: &[u8]) -> Result<Vec<Block>, OpenError> {
        find(text, &mut limited(1 << 20, 100), 1)
    }

    /// `len` bytes running through all byte values.
    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 256) as u8).collect()
    }

    #[test]
    fn known_encoding() {
        assert_eq!(encode("cat.txt", b"Cat"), b"begin 644 cat.txt\r\n#0V%T\r\n`\r\nend\r\n");
        let blocks = find_all(b"begin 644 cat.txt\n#0V%T\n`\nend\n").unwrap();
        assert_eq!(blocks[0].member.data, b"Cat");
    }

    #[test]
    fn round_trips_at_line_boundaries() {
        for len in [0, 1, 2, 3, 44, 45, 46, 90, 1000] {
            let data = sample(len);
            let block = encode("file.bin", &data);
            let found = find_all(&block).unwrap();
            assert_eq!(found.len(), 1, "length {len}");
            assert_eq!(found[0].member, Member { name: "file.bin".into(), data, encrypted: false });
            assert_eq!((found[0].start, found[0].end), (0, block.len()));
        }
    }

    #[test]
    fn block_positions_in_surrounding_text() {
        let first = encode("a.exe", b"MZ first");
        let second = encode("b b.com", &sample(100)).iter().filter(|&&b| b != b'\r').copied().collect::<Vec<_>>();
        let mut text = b"Hello,\r\nsee below.\r\n".to_vec();
        let first_at = text.len();
        text.extend(&first);
        text.extend(b"between\n");
        let second_at = text.len();
        text.extend(&second);
        text.extend(b"bye\n");

        let found = find_all(&text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].start, found[0].end), (first_at, first_at + first.len()));
        assert_eq!(found[0].member.name, "a.exe");
        assert_eq!(found[0].member.data, b"MZ first");
        assert_eq!((found[1].start, found[1].end), (second_at, second_at + second.len()));
        assert_eq!(found[1].member.name, "b b.com", "names keep inner spaces");
        assert_eq!(found[1].member.data, sample(100));
    }

    #[test]
    fn lenient_decoding() {
        // Trailing spaces stripped in transit, spaces for zero, padding and
        // garbage after the counted characters, blank lines, a padded name.
        let text = b"  begin 0755   evil.exe  \r\n$    \r\n#0V%T   junk\r\n\r\n#\r\n end \r\n";
        let found = find_all(text).unwrap();
        assert_eq!(found[0].member.name, "evil.exe");
        assert_eq!(found[0].member.data, b"\0\0\0\0Cat\0\0\0");
    }

    #[test]
    fn unterminated_block_runs_to_the_end() {
        let mut text = encode("x.exe", &sample(100));
        text.truncate(text.len() - b"`\r\nend\r\n".len());
        let found = find_all(&text).unwrap();
        assert_eq!(found[0].member.data, sample(100));
        assert_eq!(found[0].end, text.len());
    }

    #[test]
    fn unterminated_block_ends_at_the_next_begin() {
        let mut first = encode("a.txt", b"harmless");
        first.truncate(first.len() - b"`\r\nend\r\n".len());
        let second = encode("evil.exe", b"MZ");
        let found = find_all(&[&first[..], &second].concat()).unwrap();
        let names: Vec<_> = found.iter().map(|b| (b.member.name.as_str(), b.member.data.as_slice(), b.end)).collect();
        assert_eq!(names, [("a.txt", &b"harmless"[..], first.len()), ("evil.exe", b"MZ", first.len() + second.len())]);
    }

    #[test]
    fn begin_line_alone_is_not_a_block() {
        for text in [
            &b"begin 100 pushups today\nthen rest\n"[..],
            b"begin-base64 644 x\n#0V%T\nend\n",
            b"begin 6x4 x\n#0V%T\nend\n",
            b"beginning 644 x\n#0V%T\nend\n",
            b"begin 644 x",
        ] {
            assert!(find_all(text).unwrap().is_empty(), "{}", String::from_utf8_lossy(text));
        }
        let empty = find_all(b"begin 644\nend\n").unwrap();
        assert_eq!(empty[0].member, Member::default(), "no name and no data is still a block");
    }

    #[test]
    fn every_decoded_byte_is_drawn_from_the_budget() {
        let block = encode("big.bin", &sample(10 * 1024));
        assert!(find(&block, &mut limited(10 * 1024, 1), 1).is_ok());
        assert_eq!(find(&block, &mut limited(10 * 1024 - 1, 1), 1), Err(OpenError::Limit(LimitHit::Size)));
        assert_eq!(find(&block, &mut limited(1024, 1), 1), Err(OpenError::Limit(LimitHit::Size)));
    }

    #[test]
    fn each_block_is_a_file() {
        let text = [encode("a", b"a"), encode("b", b"b")].concat();
        assert_eq!(find(&text, &mut limited(100, 2), 1).map(|found| found.len()), Ok(2));
        assert_eq!(find(&text, &mut limited(100, 1), 1), Err(OpenError::Limit(LimitHit::Files)));
        assert_eq!(find(&text, &mut limited(100, 2), 6), Err(OpenError::Limit(LimitHit::Depth)));
    }

    #[test]
    fn any_data_line_decodes_without_panic() {
        for byte in 0..=u8::MAX {
            for len in [1, 2, 5, 61, 62, 63, 64, 200] {
                let text = [&b"begin 644 g\nM\n"[..], &vec![byte; len], b"\nend"].concat();
                let found = find_all(&text).unwrap();
                assert_eq!(found.len(), 1);
                assert!(found[0].member.data.len() <= 45 + 63);
            }
        }
        assert_eq!(find_all(b"begin 644 \xff\xfe\n`\nend").unwrap()[0].member.name, "\u{fffd}\u{fffd}");
    }
}
