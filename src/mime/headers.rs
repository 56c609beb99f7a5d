//! Editing the top header block of a message in place: the Subject is
//! tagged or replaced, an `X-MXGuard` field records what was done. Every
//! other byte of the message stays as it was.

use std::ops::Range;

/// The header block of `raw`: from the start to just before the blank line.
fn header_block(raw: &[u8]) -> Range<usize> {
    let mut at = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        at += line.len();
    }
    0..at
}

/// The header section of `raw`, the blank line that ends it included:
/// enough to read the subject and addresses without decoding any body.
pub fn section(raw: &[u8]) -> &[u8] {
    let end = header_block(raw).end;
    let blank = raw[end..].iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    &raw[..end + blank]
}

/// Where each field of the header block starts and ends (continuation
/// lines included), with its name.
fn fields(raw: &[u8]) -> Vec<(String, Range<usize>)> {
    let block = header_block(raw);
    let mut out: Vec<(String, Range<usize>)> = Vec::new();
    let mut at = 0;
    for line in raw[block].split_inclusive(|&b| b == b'\n') {
        let range = at..at + line.len();
        at += line.len();
        match (line.first(), out.last_mut()) {
            (Some(b' ' | b'\t'), Some((_, last))) => last.end = range.end,
            _ => {
                let name = line.split(|&b| b == b':').next().unwrap_or_default();
                out.push((String::from_utf8_lossy(name).trim().to_string(), range));
            }
        }
    }
    out
}

/// The decoded `Subject:` of `raw` (empty if none), for events and
/// reports: only the header section is parsed.
pub fn subject(raw: &[u8]) -> String {
    let parsed = super::parse::parse(section(raw));
    parsed.and_then(|m| m.subject().map(str::to_string)).unwrap_or_default()
}

/// The unfolded value of the first `name` field, as written (encoded words
/// left encoded).
pub fn value(raw: &[u8], name: &str) -> Option<String> {
    let (_, range) = fields(raw).into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    let field = String::from_utf8_lossy(&raw[range]).into_owned();
    let (_, v) = field.split_once(':')?;
    Some(v.replace(['\r', '\n'], "").trim().to_string())
}

/// `raw` with the first `name` field set to `value` (added at the end of
/// the header block if there is none).
pub fn set(raw: &[u8], name: &str, value: &str) -> Vec<u8> {
    let new = fold(name, value);
    let (at, replaced) = match fields(raw).into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some((_, range)) => (range.start, range.end),
        None => {
            let end = header_block(raw).end;
            (end, end)
        }
    };
    [&raw[..at], new.as_bytes(), &raw[replaced..]].concat()
}

/// `raw` without any top-level `name` field (a sender may not plant one
/// that downstream filters would trust).
pub fn remove(raw: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut cursor = 0;
    for (_, range) in fields(raw).into_iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
        out.extend_from_slice(&raw[cursor..range.start]);
        cursor = range.end;
    }
    out.extend_from_slice(&raw[cursor..]);
    out
}

/// `raw` with a `name` field added in front of all others.
pub fn prepend(raw: &[u8], name: &str, value: &str) -> Vec<u8> {
    [fold(name, value).as_bytes(), raw].concat()
}

/// `s` in printable ASCII: anything else (an attacker's right-to-left
/// override in a file name, say) shown as `<U+XXXX>`, so a trace field
/// reads the same everywhere and hides nothing.
pub fn visible_ascii(s: &str) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c.to_string() } else { format!("<U+{:04X}>", u32::from(c)) })
        .collect()
}

/// `Name: value` CRLF, folded before words that would pass 78 columns;
/// non-ASCII values become an RFC 2047 encoded word.
fn fold(name: &str, value: &str) -> String {
    let value: String = value.chars().filter(|c| !c.is_control()).collect();
    if !value.is_ascii() {
        let encoded = mail_builder::encoders::base64::base64_encode(value.as_bytes()).unwrap_or_default();
        return format!("{name}: =?utf-8?B?{}?=\r\n", String::from_utf8_lossy(&encoded));
    }
    let mut out = format!("{name}:");
    let mut column = out.len();
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if column + 1 + word.len() > 78 && column > name.len() + 1 {
            out.push_str("\r\n\t");
            column = 1;
        } else {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += word.len();
    }
    out.push_str("\r\n");
    out
}

/// The header fields of a part's header `block` (continuation lines
/// included) except those whose name `drop` selects; the blank line that
/// ends the block is left out.
pub fn without(block: &[u8], drop: impl Fn(&str) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len());
    let mut keeping = true;
    for line in block.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            keeping = !drop(String::from_utf8_lossy(name).trim());
        }
        if keeping {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Received: from x\r\n\tby y; date\r\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\tand more\r\nFrom: a@b\r\n\r\nSubject: not a header\r\n";

    #[test]
    fn read_and_replace_the_subject() {
        assert_eq!(value(MSG, "subject").as_deref(), Some("=?utf-8?Q?Gr=C3=BC=C3=9Fe?=\tand more"));
        let tagged = set(MSG, "Subject", "[Spam] hello");
        assert_eq!(
            tagged,
            b"Received: from x\r\n\tby y; date\r\nSubject: [Spam] hello\r\nFrom: a@b\r\n\r\nSubject: not a header\r\n"
        );
        let added = set(b"From: a@b\r\n\r\nbody", "Subject", "new");
        assert_eq!(added, b"From: a@b\r\nSubject: new\r\n\r\nbody");
        assert_eq!(value(b"From: a@b\n\nSubject: body", "subject"), None, "bare LF messages too");
        assert_eq!(&MSG[section(MSG).len()..], b"Subject: not a header\r\n");
        assert_eq!(section(b"A: b"), b"A: b");
    }

    #[test]
    fn prepend_folds_long_values_and_encodes_utf8() {
        let long = "attachment deleted: a.exe (file name matches *.exe); ".repeat(3);
        let out = String::from_utf8(prepend(b"From: a@b\r\n\r\n", "X-MXGuard", &long)).unwrap();
        assert!(out.starts_with("X-MXGuard: attachment deleted:"));
        assert!(out.lines().all(|l| l.len() <= 78), "{out}");
        assert!(out.contains("\r\n\t"));
        assert_eq!(fold("Subject", "Grüße"), "Subject: =?utf-8?B?R3LDvMOfZQ==?=\r\n");
        assert_eq!(visible_ascii("invoice\u{202E}fdp.exe\t"), "invoice<U+202E>fdp.exe<U+0009>");
    }

    #[test]
    fn planted_fields_are_removed() {
        let planted = b"X-MXGuard: clean\r\nSubject: s\r\nx-mxguard: also\r\n folded\r\n\r\nX-MXGuard: body\r\n";
        assert_eq!(remove(planted, "X-MXGuard"), b"Subject: s\r\n\r\nX-MXGuard: body\r\n");
    }

    #[test]
    fn fields_can_be_left_out() {
        let block =
            b"Content-Type: text/plain;\r\n\tname=a.exe\r\nX-Keep: 1\r\nContent-Transfer-Encoding: base64\r\n\r\n";
        assert_eq!(without(block, |n| n.to_ascii_lowercase().starts_with("content-")), b"X-Keep: 1\r\n");
    }
}
