//! BinHex 4.0 (RFC 1741): Macintosh files written inline in a text body
//! after the line `(This file must be converted with BinHex 4.0)`. Mail
//! clients and archivers still decode them, so a blocked file can hide in
//! one; the gateway takes out the data fork, the part other systems use.
//!
//! Layers, outside in: 6-bit characters between two colons, a run-length
//! code (0x90 marks a run), then a header, the data fork and the resource
//! fork, each followed by a CRC-16/XMODEM.

use super::{Block, Member, OpenError};
use crate::mime::limits::Budget;
use std::ops::Range;

/// The line that announces a BinHex block.
const INTRO: &[u8] = b"(This file must be converted with BinHex 4.0)";

/// The 64 characters of the 6-bit code, in value order.
const ALPHABET: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/// Each character's value, or `INVALID` for characters outside the code.
const VALUES: [u8; 256] = {
    let mut values = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        values[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    values
};
const INVALID: u8 = 0xff;

/// The run-length marker: `b 0x90 n` is `n` copies of `b` in all,
/// `0x90 0x00` a literal 0x90.
const RUN: u8 = 0x90;

/// Characters per line when encoding, as BinHex writes them.
const LINE_CHARS: usize = 64;

/// The longest name a Macintosh file (and so a BinHex header) may have.
const MAX_NAME: usize = 63;

/// Header bytes after the name: version, type, creator, flags and the two
/// fork lengths.
const HEADER_TAIL: usize = 1 + 4 + 4 + 2 + 4 + 4;

/// Every BinHex file in `text` (a decoded text body), its data fork named
/// as the header says, with where its block sits so the caller can cut it
/// out or replace it. A block starts at the beginning of the intro line and
/// ends after the line holding its closing colon.
///
/// Every expanded byte, resource fork included, is drawn from `budget` as
/// the run-length code produces it, so a tiny block of long runs cannot
/// allocate more than the budget allows; the fork lengths the header
/// declares are only checked against what is there. A truncated block,
/// a character outside the code or a CRC mismatch is `Corrupt`.
pub fn find(text: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Block>, OpenError> {
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(intro) = position(text, from, INTRO) {
        let start =
            text.get(..intro).and_then(|before| before.iter().rposition(|&b| b == b'\n')).map_or(0, |nl| nl + 1);
        let open = position(text, intro + INTRO.len(), b":").ok_or_else(|| corrupt("no ':' opens the data"))?;
        let close = position(text, open + 1, b":").ok_or_else(|| corrupt("the data is truncated (no closing ':')"))?;
        let end = position(text, close, b"\n").map_or(text.len(), |nl| nl + 1);
        budget.enter(depth)?;
        let packed = decode_chars(text.get(open + 1..close).unwrap_or_default())?;
        let member = parse(expand_runs(&packed, budget)?)?;
        blocks.push(Block { start, end, member });
        from = end;
    }
    Ok(blocks)
}

/// `data` as a complete BinHex 4.0 block named `name` (type and creator
/// `????`, no resource fork), for putting a replaced file back into a body.
/// The name is cut to the Macintosh limit of 63 bytes; data of 4 GiB or
/// more cannot be described by the header (no message is that large).
pub fn encode(name: &str, data: &[u8]) -> Vec<u8> {
    let name = name.get(..name.floor_char_boundary(MAX_NAME)).unwrap_or_default();
    // The name is at most MAX_NAME (63) bytes long: its length fits a byte.
    let mut stream = vec![name.len() as u8];
    stream.extend(name.as_bytes());
    stream.push(0); // version
    stream.extend(b"????????"); // type and creator: unknown
    stream.extend([0, 0]); // Finder flags
    stream.extend(u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    stream.extend(0u32.to_be_bytes()); // resource fork length
    stream.extend(crc16(&stream).to_be_bytes());
    stream.extend(data);
    stream.extend(crc16(data).to_be_bytes());
    stream.extend(crc16(&[]).to_be_bytes()); // the empty resource fork's CRC

    let mut body = vec![b':'];
    body.extend(encode_chars(&compress_runs(&stream)));
    body.push(b':');
    let mut out = [INTRO, b"\r\n"].concat();
    for line in body.chunks(LINE_CHARS) {
        out.extend(line);
        out.extend(b"\r\n");
    }
    out
}

/// The position of `needle` in `text` at or after `from`.
fn position(text: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let haystack = text.get(from..)?;
    haystack.windows(needle.len()).position(|window| window == needle).map(|at| from + at)
}

fn corrupt(why: &str) -> OpenError {
    OpenError::Corrupt(format!("BinHex: {why}"))
}

/// The bytes the 6-bit characters encode; whitespace (line breaks) is
/// skipped, bits left over after the last whole byte are padding.
fn decode_chars(chars: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut bytes = Vec::with_capacity(chars.len() / 4 * 3 + 2);
    let (mut bits, mut count) = (0u32, 0u32);
    for &c in chars.iter().filter(|c| !c.is_ascii_whitespace()) {
        // Indexing a 256-entry table by a byte cannot go out of bounds.
        let value = VALUES[usize::from(c)];
        if value == INVALID {
            return Err(corrupt(&format!("invalid character {:?} in the data", char::from(c))));
        }
        bits = (bits << 6 | u32::from(value)) & 0xffff;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    Ok(bytes)
}

/// `bytes` as 6-bit characters, the last one padded with zero bits.
fn encode_chars(bytes: &[u8]) -> Vec<u8> {
    let mut chars = Vec::with_capacity(bytes.len() / 3 * 4 + 4);
    let (mut bits, mut count) = (0u32, 0u32);
    for &b in bytes {
        bits = (bits << 8 | u32::from(b)) & 0xffff;
        count += 8;
        while count >= 6 {
            count -= 6;
            // Masked to 6 bits: always inside the 64-entry alphabet.
            chars.push(ALPHABET[(bits >> count) as usize & 0x3f]);
        }
    }
    if count > 0 {
        chars.push(ALPHABET[(bits << (6 - count)) as usize & 0x3f]);
    }
    chars
}

/// Apply the run-length code: runs of 4 to 255 equal bytes become
/// `b 0x90 n`, and every literal 0x90 is escaped as `0x90 0x00` (never run
/// together, which some decoders mishandle).
fn compress_runs(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(&b) = rest.first() {
        let run = if b == RUN { 1 } else { rest.iter().take(255).take_while(|&&next| next == b).count() };
        match run {
            _ if b == RUN => out.extend([RUN, 0]),
            1..=3 => out.extend(std::iter::repeat_n(b, run)),
            // At most 255: it fits the count byte.
            _ => out.extend([b, RUN, run as u8]),
        }
        rest = rest.get(run..).unwrap_or_default();
    }
    out
}

/// Undo the run-length code, drawing every produced byte from `budget`.
fn expand_runs(packed: &[u8], budget: &mut Budget) -> Result<Vec<u8>, OpenError> {
    let mut out = Vec::new();
    let mut bytes = packed.iter().copied();
    while let Some(b) = bytes.next() {
        if b != RUN {
            budget.take(1)?;
            out.push(b);
            continue;
        }
        match bytes.next().ok_or_else(|| corrupt("the data ends inside a run"))? {
            0 => {
                budget.take(1)?;
                out.push(RUN);
            }
            total => {
                let &repeated = out.last().ok_or_else(|| corrupt("a run at the start repeats nothing"))?;
                let extra = usize::from(total - 1);
                budget.take(extra as u64)?;
                out.resize(out.len() + extra, repeated);
            }
        }
    }
    Ok(out)
}

/// The data fork and name out of the expanded stream, after checking the
/// three CRCs. Bytes after the resource fork's CRC are ignored.
fn parse(mut stream: Vec<u8>) -> Result<Member, OpenError> {
    let name_len = usize::from(*stream.first().ok_or_else(|| corrupt("the header is truncated"))?);
    let header = checked(&stream, 0, 1 + name_len + HEADER_TAIL, "header")?;
    let fields = stream.get(header.clone()).unwrap_or_default();
    let name = String::from_utf8_lossy(fields.get(1..=name_len).unwrap_or_default()).into_owned();
    let [d0, d1, d2, d3, r0, r1, r2, r3] =
        *fields.last_chunk::<8>().ok_or_else(|| corrupt("the header is truncated"))?;
    let fork_len = |bytes: [u8; 4]| usize::try_from(u32::from_be_bytes(bytes)).unwrap_or(usize::MAX);
    let data = checked(&stream, header.end + 2, fork_len([d0, d1, d2, d3]), "data fork")?;
    checked(&stream, data.end + 2, fork_len([r0, r1, r2, r3]), "resource fork")?;
    stream.truncate(data.end);
    stream.drain(..data.start);
    Ok(Member { name, data: stream, encrypted: false })
}

/// The range of the `len` bytes at `at`, after checking the big-endian
/// CRC that follows them.
fn checked(stream: &[u8], at: usize, len: usize, what: &str) -> Result<Range<usize>, OpenError> {
    let range = at..at.checked_add(len).ok_or_else(|| corrupt(&format!("the {what} is truncated")))?;
    let body = stream.get(range.clone()).ok_or_else(|| corrupt(&format!("the {what} is truncated")))?;
    let stored = stream
        .get(range.end..)
        .and_then(|rest| rest.first_chunk::<2>())
        .ok_or_else(|| corrupt(&format!("the {what} CRC is truncated")))?;
    if crc16(body) != u16::from_be_bytes(*stored) {
        return Err(corrupt(&format!("the {what} CRC does not match")));
    }
    Ok(range)
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0), as BinHex uses it.
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (0..8).fold(crc ^ u16::from(b) << 8, |crc, _| if crc & 0x8000 != 0 { crc << 1 ^ 0x1021 } else { crc << 1 })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;
    use std::time::Duration;

    fn budget(bytes: u64) -> Budget {
        Budget::new(bytes, 5, 100, 0, Duration::from_secs(30))
    }

    fn find_all(text: &[u8]) -> Result<Vec<Block>, OpenError> {
        find(text, &mut budget(1 << 24), 1)
    }

    /// A block around already run-length-coded bytes.
    fn wrap(packed: &[u8]) -> Vec<u8> {
        [INTRO, b"\r\n:", &encode_chars(packed), b":\r\n"].concat()
    }

    /// A header for `name` declaring the fork lengths, with its CRC.
    fn header(name: &[u8], data_len: u32, rsrc_len: u32) -> Vec<u8> {
        let mut header = vec![name.len() as u8];
        header.extend(name);
        header.extend(b"\0APPLTEST\0\0");
        header.extend(data_len.to_be_bytes());
        header.extend(rsrc_len.to_be_bytes());
        header.extend(crc16(&header).to_be_bytes());
        header
    }

    fn corrupt_reason(text: &[u8]) -> String {
        match find_all(text) {
            Err(OpenError::Corrupt(why)) => why,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    fn malware_like() -> Vec<u8> {
        [&b"MZ"[..], &[RUN; 3], &[0; 300], b"This program cannot be run in DOS mode.\r\n", &[RUN, 0, RUN, 5]].concat()
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    #[test]
    fn decodes_a_block_from_another_encoder() {
        // Written by Python 2.7's binhex module: type APPL, creator TEST, a
        // 23-byte resource fork, LF line ends and a blank line after the intro.
        let text = b"Here it is:\n(This file must be converted with BinHex 4.0)\n\n\
:#A0PG(9`,Q9iC3\"\"8&\"-9%969!#3\"!&H!!!!&e3c69U3!*!!N!!!N2m!N#e8D'P\n\
c)(\"bEfGbB@dJBf&ZEQpd)'*P)(*eEL\"TEL\"%6e-JE@pNC5i0#T!!!*!!\"E(0FQ9\n\
cEh9bBf8JCQpbDrq3#ReI:\nthanks\n";
        let found = find_all(text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].member, Member { name: "setup.exe".into(), data: malware_like(), encrypted: false });
        assert_eq!(found[0].start, b"Here it is:\n".len());
        assert_eq!(found[0].end, text.len() - b"thanks\n".len());
    }

    #[test]
    fn round_trips() {
        let long_run = [vec![7u8; 1000], vec![RUN; 600], vec![1, 2, 2, 2, 2, 3]].concat();
        for data in [Vec::new(), b"x".to_vec(), malware_like(), long_run, (0..=255).collect()] {
            let block = encode("payload.exe", &data);
            let found = find_all(&block).unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].member, Member { name: "payload.exe".into(), data, encrypted: false });
            assert_eq!((found[0].start, found[0].end), (0, block.len()));
        }
    }

    #[test]
    fn encoded_layout() {
        let block = encode("a.bin", &(0..=255).cycle().take(5000).collect::<Vec<u8>>());
        let text = String::from_utf8(block).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.first(), Some(&"(This file must be converted with BinHex 4.0)"));
        assert!(lines[1].starts_with(':') && text.ends_with(":\r\n") && !text.contains("\n\n"));
        assert!(lines[1..lines.len() - 1].iter().all(|line| line.len() == LINE_CHARS));
        assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    }

    #[test]
    fn long_names_are_cut_at_a_character() {
        let name = format!("{}é.exe", "a".repeat(62));
        let found = find_all(&encode(&name, b"data")).unwrap();
        assert_eq!(found[0].member.name, "a".repeat(62), "the 2-byte é would pass 63 bytes");
    }

    #[test]
    fn several_blocks_in_a_body() {
        let first = encode("one.exe", b"first");
        let second = encode("two.com", b"second");
        let text = [&b"hi\r\n"[..], &first, b"-- \r\n", &second].concat();
        let found = find_all(&text).unwrap();
        let spans: Vec<_> = found.iter().map(|b| (b.start, b.end, b.member.name.as_str())).collect();
        let second_at = 4 + first.len() + 5;
        assert_eq!(spans, [(4, 4 + first.len(), "one.exe"), (second_at, text.len(), "two.com")]);
    }

    #[test]
    fn damaged_blocks_are_corrupt() {
        let good = [header(b"x.exe", 3, 0), b"abc".to_vec(), crc16(b"abc").to_be_bytes().to_vec(), vec![0, 0]].concat();
        assert!(find_all(&wrap(&compress_runs(&good))).is_ok());

        let mut bad_header = good.clone();
        bad_header[2] ^= 1;
        assert!(corrupt_reason(&wrap(&compress_runs(&bad_header))).contains("header CRC"));
        let mut bad_data = good.clone();
        bad_data[header(b"x.exe", 3, 0).len()] = b'X';
        assert!(corrupt_reason(&wrap(&compress_runs(&bad_data))).contains("data fork CRC"));
        let no_rsrc_crc = &good[..good.len() - 2];
        assert!(corrupt_reason(&wrap(&compress_runs(no_rsrc_crc))).contains("resource fork CRC is truncated"));

        let claims_more = [header(b"x.exe", 4000, 0), b"abc".to_vec()].concat();
        assert!(corrupt_reason(&wrap(&claims_more)).contains("data fork is truncated"));
        let claims_all = [header(b"x.exe", u32::MAX, u32::MAX), b"abc".to_vec()].concat();
        assert!(corrupt_reason(&wrap(&claims_all)).contains("data fork is truncated"));

        assert!(corrupt_reason(&wrap(&[RUN, 5])).contains("repeats nothing"));
        assert!(corrupt_reason(&wrap(&[1, RUN])).contains("inside a run"));
        assert!(corrupt_reason(&wrap(&[])).contains("header is truncated"));
        assert!(corrupt_reason(b"(This file must be converted with BinHex 4.0)\r\n:!!!!").contains("closing"));
        assert!(corrupt_reason(b"(This file must be converted with BinHex 4.0)\r\n").contains("opens"));
        assert!(corrupt_reason(b"(This file must be converted with BinHex 4.0)\r\n:!!g!!:").contains("'g'"));
    }

    #[test]
    fn run_length_bomb_is_stopped_by_the_budget() {
        // 20 KB of text claiming a 4 GiB data fork and expanding 127 times.
        let mut packed = header(b"bomb.exe", u32::MAX, 0);
        packed.push(0);
        for _ in 0..10_000 {
            packed.extend([RUN, 0xff]);
        }
        let bomb = wrap(&packed);
        assert!(bomb.len() < 30_000);
        assert_eq!(find(&bomb, &mut budget(1 << 20), 1), Err(OpenError::Limit(LimitHit::Size)));
        // Within a larger budget it is merely truncated: nothing was
        // allocated from the declared length.
        assert!(corrupt_reason(&bomb).contains("data fork is truncated"));
    }

    #[test]
    fn expanded_size_and_depth_are_limited() {
        let zeros = encode("zeros.bin", &[0; 10 * 1024]);
        assert!(zeros.len() < 1024, "runs compress to {} bytes", zeros.len());
        assert_eq!(find(&zeros, &mut budget(1024), 1), Err(OpenError::Limit(LimitHit::Size)));
        assert_eq!(find(&zeros, &mut budget(1 << 20), 6), Err(OpenError::Limit(LimitHit::Depth)));
        let mut one_file = Budget::new(1 << 20, 5, 1, 0, Duration::from_secs(30));
        let two = [zeros.clone(), zeros].concat();
        assert_eq!(find(&two, &mut one_file, 1), Err(OpenError::Limit(LimitHit::Files)));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 7u32;
        for len in 0..400 {
            let chars: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    ALPHABET[(seed >> 16) as usize % 64]
                })
                .collect();
            let text = [INTRO, b"\n:", &chars, b":"].concat();
            assert!(!matches!(find_all(&text), Err(OpenError::Limit(_) | OpenError::Encrypted)));
        }
    }
}
