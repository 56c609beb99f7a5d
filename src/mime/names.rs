//! File names as a mail client or an archiver will show and use them.
//! Attackers dress a blocked name up so a naive match misses it: trailing
//! dots or spaces (Windows drops them), a right-to-left override that makes
//! `invoice<U+202E>fdp.exe` display as `invoiceexe.pdf`, percent escapes in an
//! RFC 2231 segment that is not marked as encoded, and directory parts.
//! [`forms`] gives every form a name may take, so rules match them all.

/// Unicode bidirectional formatting characters: invisible, and they reorder
/// what the reader sees.
const BIDI_CONTROLS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}',
];

/// The forms of `name` a rule must consider, lower-cased and cleaned:
/// the whole name, its last path component, and both again with percent
/// escapes decoded. Duplicates are removed; empty forms are skipped.
pub fn forms(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let decoded = percent_decode(name);
    for candidate in [Some(name.to_string()), decoded].into_iter().flatten() {
        let clean = clean(&candidate);
        let base = clean.rsplit(['/', '\\']).next().map(str::to_string).unwrap_or_default();
        for form in [clean, base] {
            if !form.is_empty() && !out.contains(&form) {
                out.push(form);
            }
        }
    }
    out
}

/// Bidi and other invisible format characters removed, trailing dots and
/// spaces stripped from every path component, lower case.
fn clean(name: &str) -> String {
    let visible: String = name
        .chars()
        .filter(|c| !BIDI_CONTROLS.contains(c) && !matches!(c, '\u{200B}' | '\u{FEFF}') && !c.is_control())
        .collect();
    visible
        .split_inclusive(['/', '\\'])
        .map(|part| {
            let (body, sep) = match part.strip_suffix(['/', '\\']) {
                Some(b) => (b, &part[b.len()..]),
                None => (part, ""),
            };
            format!("{}{sep}", body.trim().trim_end_matches(['.', ' ']))
        })
        .collect::<String>()
        .to_lowercase()
}

/// `name` with `%XX` escapes decoded, if it has any that decode to UTF-8.
fn percent_decode(name: &str) -> Option<String> {
    if !name.contains('%') {
        return None;
    }
    String::from_utf8(unescape_percent(name.as_bytes())).ok().filter(|d| d != name)
}

/// `raw` with every `%XX` escape replaced by its byte; a `%` without two
/// hex digits after it stays as it is. Forgiving, for text from senders
/// (file names here, the Central Quarantine's upload headers).
pub fn unescape_percent(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (raw[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::forms;

    #[test]
    fn evasions_are_undone() {
        assert_eq!(forms("Evil.EXE"), vec!["evil.exe"]);
        assert_eq!(forms("evil.exe. . "), vec!["evil.exe"]);
        assert_eq!(forms("invoice\u{202E}fdp.exe"), vec!["invoicefdp.exe"]);
        assert_eq!(forms("evil%2Eexe"), vec!["evil%2eexe", "evil.exe"]);
        assert_eq!(forms("docs/sub.dir./run.vbs "), vec!["docs/sub.dir/run.vbs", "run.vbs"]);
        assert_eq!(forms("C:\\Temp\\x.scr"), vec!["c:\\temp\\x.scr", "x.scr"]);
        assert_eq!(forms("100%"), vec!["100%"]);
        assert!(forms(" . ").is_empty());
    }
}
