//! Putting a message back together after parts were deleted (SPEC §5):
//! untouched parts keep their original bytes; a deleted MIME part becomes
//! a `text/plain` part with the replacement text; a deleted member of a
//! ZIP, tar, uuencode or BinHex container becomes `DELETEDn.TXT` and the
//! container is rebuilt, up through every enclosing container. A container
//! that cannot be rebuilt (7z, OLE2, TNEF) is deleted whole instead.

use super::containers::{self, Change, Replacement};
use super::decompose::{Holds, Origin, Part};
use super::headers;
use super::limits::Budget;
use std::collections::HashMap;
use std::time::Duration;

/// What becomes of a part when the message is put back together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Removed. With a text, a stand-in carrying it takes the part's place
    /// (inside zip, tar, uuencode and BinHex always: `DELETEDn.TXT`);
    /// without, a MIME part goes without a trace.
    Delete(Option<String>),
    /// Kept, with this content instead (a repaired document).
    Replace(Vec<u8>),
}

/// The parts to change, by path.
pub type Edits = HashMap<String, Edit>;

/// What became of a part.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Same,
    Changed(Vec<u8>),
    /// Deleted, with the text its stand-in carries (if any).
    Deleted(Option<String>),
}

/// The message `raw` (whose leaves are `parts`) with `edits` applied.
pub fn rebuild(raw: &[u8], parts: &[Part], edits: &Edits) -> Vec<u8> {
    let outcomes: Vec<Outcome> = parts.iter().map(|p| outcome(p, edits)).collect();
    splice(raw, parts, &outcomes)
}

fn outcome(part: &Part, edits: &Edits) -> Outcome {
    match edits.get(&part.path) {
        Some(Edit::Delete(text)) => return Outcome::Deleted(text.clone()),
        Some(Edit::Replace(bytes)) => return Outcome::Changed(bytes.clone()),
        None => {}
    }
    let outcomes: Vec<Outcome> = part.children.iter().map(|c| outcome(c, edits)).collect();
    if outcomes.iter().all(|o| *o == Outcome::Same) {
        return Outcome::Same;
    }
    match part.holds {
        Some(Holds::Message) => Outcome::Changed(splice(&part.data, &part.children, &outcomes)),
        Some(Holds::Archive(kind)) => {
            let changes = changes(&part.children, &outcomes);
            // The first decoding stayed within the message's budget; repeating it costs no more.
            let mut budget = Budget::new(u64::MAX, usize::MAX, u64::MAX, 0, Duration::from_secs(60));
            match containers::rebuild(kind, &part.data, &changes, &mut budget) {
                Some(Ok(bytes)) => Outcome::Changed(bytes),
                Some(Err(why)) => {
                    tracing::warn!(path = %part.path, "cannot rebuild the container, removing it whole: {why}");
                    Outcome::Deleted(first_text(&outcomes))
                }
                None => Outcome::Deleted(first_text(&outcomes)),
            }
        }
        None => Outcome::Same,
    }
}

/// Container changes for the members' outcomes; deletions are numbered
/// from 1 within the container.
fn changes(children: &[Part], outcomes: &[Outcome]) -> Vec<Change> {
    let mut deleted = 0;
    children
        .iter()
        .zip(outcomes)
        .filter_map(|(child, o)| {
            let Origin::Member(index) = child.origin else { return None };
            let replacement = match o {
                Outcome::Same => return None,
                Outcome::Changed(bytes) => Replacement::Content(bytes.clone()),
                Outcome::Deleted(text) => {
                    deleted += 1;
                    Replacement::Deleted { n: deleted, text: text.clone().unwrap_or_default() }
                }
            };
            Some(Change { index, replacement })
        })
        .collect()
}

/// The stand-in text for a container deleted because of something inside.
fn first_text(outcomes: &[Outcome]) -> Option<String> {
    outcomes.iter().find_map(|o| match o {
        Outcome::Deleted(text) => Some(text.clone()),
        _ => None,
    })?
}

/// `raw` with the MIME parts `parts` replaced according to `outcomes`.
fn splice(raw: &[u8], parts: &[Part], outcomes: &[Outcome]) -> Vec<u8> {
    let mut edits: Vec<(&Part, &Outcome)> = parts.iter().zip(outcomes).filter(|(_, o)| **o != Outcome::Same).collect();
    edits.sort_by_key(|(p, _)| match &p.origin {
        Origin::Mime { header, .. } => header.start,
        Origin::Member(_) => usize::MAX,
    });
    let mut out = Vec::with_capacity(raw.len());
    let mut cursor = 0;
    let mut deleted = 0;
    for (part, outcome) in edits {
        let Origin::Mime { header, body, encoded } = &part.origin else { continue };
        if header.start < cursor || body.end > raw.len() {
            continue;
        }
        let block = &raw[header.start..body.start];
        match outcome {
            Outcome::Deleted(None) if header.start > 0 => {
                out.extend_from_slice(&raw[cursor..delimiter_start(raw, header.start).max(cursor)]);
            }
            Outcome::Deleted(text) => {
                out.extend_from_slice(&raw[cursor..header.start]);
                deleted += 1;
                out.extend(stand_in(block, header.start == 0, deleted, text.as_deref().unwrap_or_default()));
            }
            Outcome::Changed(bytes) if part.holds == Some(Holds::Message) && !encoded => {
                out.extend_from_slice(&raw[cursor..header.start]);
                out.extend_from_slice(block);
                out.extend_from_slice(bytes);
            }
            Outcome::Changed(bytes) => {
                out.extend_from_slice(&raw[cursor..header.start]);
                out.extend(headers::without(block, |name| name.eq_ignore_ascii_case("content-transfer-encoding")));
                out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
                out.extend(base64_lines(bytes));
            }
            Outcome::Same => out.extend_from_slice(&raw[cursor..header.start]),
        }
        cursor = body.end;
    }
    out.extend_from_slice(&raw[cursor..]);
    out
}

/// Where the boundary line in front of the part starting at `header`
/// begins, with the line break before it (which belongs to the delimiter,
/// RFC 2046 §5.1.1): removing from there to the part's end leaves the
/// multipart well formed.
fn delimiter_start(raw: &[u8], header: usize) -> usize {
    let before = &raw[..header];
    let line_end =
        before.len() - [&b"\r\n"[..], b"\n"].into_iter().find(|e| before.ends_with(e)).map_or(0, |e| e.len());
    let start = memchr::memrchr(b'\n', &before[..line_end]).map_or(0, |i| i + 1);
    if !before[start..line_end].starts_with(b"--") {
        return header;
    }
    match start {
        0 => 0,
        s if s >= 2 && &before[s - 2..s] == b"\r\n" => s - 2,
        s => s - 1,
    }
}

/// The `text/plain` part that takes a deleted part's place. It keeps the
/// part's other headers; a message's own body (`root`) stays inline.
fn stand_in(block: &[u8], root: bool, n: usize, text: &str) -> Vec<u8> {
    let mut out = headers::without(block, |name| name.to_ascii_lowercase().starts_with("content-"));
    let ascii = text.is_ascii();
    out.extend_from_slice(
        format!("Content-Type: text/plain; charset={}\r\n", if ascii { "us-ascii" } else { "utf-8" }).as_bytes(),
    );
    if !root {
        let name = Replacement::deleted_name(n);
        out.extend_from_slice(format!("Content-Disposition: attachment; filename=\"{name}\"\r\n").as_bytes());
    }
    let body = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if ascii {
        out.extend_from_slice(b"Content-Transfer-Encoding: 7bit\r\n\r\n");
        out.extend_from_slice(body.as_bytes());
    } else {
        out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        out.extend(base64_lines(body.as_bytes()));
    }
    out
}

/// Base64 in 76-character lines, CRLF between them (the CRLF before the
/// next boundary is the original's).
fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 4);
    // Writing into a Vec cannot fail.
    let _ = mail_builder::encoders::base64::base64_encode_mime(bytes, &mut out, false);
    if out.ends_with(b"\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ContainerRule;
    use crate::mime::decompose;

    fn deletions(paths: &[&str]) -> Edits {
        paths.iter().map(|p| (p.to_string(), Edit::Delete(Some("GONE".to_string())))).collect()
    }

    fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, ::zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn message(attachment: &[u8]) -> Vec<u8> {
        let encoded = String::from_utf8(mail_builder::encoders::base64::base64_encode(attachment).unwrap()).unwrap();
        format!(
            "From: a@b.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
             Content-Type: text/plain\r\n\r\nkeep this text\r\n--B\r\nContent-Type: application/zip; name=a.zip\r\n\
             X-Part-Note: kept\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--B--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn nothing_to_delete_changes_nothing() {
        let raw = message(&zip(&[("a.txt", b"x")]));
        let d = decompose(&raw, &ContainerRule::default());
        assert_eq!(rebuild(&raw, &d.parts, &Edits::new()), raw);
    }

    #[test]
    fn a_deleted_attachment_becomes_a_text_part_and_the_rest_is_untouched() {
        let raw = message(&zip(&[("a.txt", b"x")]));
        let d = decompose(&raw, &ContainerRule::default());
        let out = String::from_utf8(rebuild(&raw, &d.parts, &deletions(&["2"]))).unwrap();
        let part_start = raw.windows(29).position(|w| w == b"Content-Type: application/zip").unwrap();
        assert!(out.as_bytes().starts_with(&raw[..part_start]), "bytes before the deleted part are the original ones");
        assert!(out.contains("X-Part-Note: kept\r\nContent-Type: text/plain; charset=us-ascii\r\n"), "{out}");
        assert!(out.contains("filename=\"DELETED1.TXT\"") && out.contains("\r\n\r\nGONE\r\n--B--"), "{out}");
        assert!(!out.contains("application/zip"));
    }

    #[test]
    fn a_member_deep_inside_is_replaced_and_containers_rebuilt() {
        let inner = zip(&[("evil.exe", b"MZ"), ("ok.txt", b"fine")]);
        let raw = message(&zip(&[("inner.zip", &inner), ("top.txt", b"top")]));
        let d = decompose(&raw, &ContainerRule::default());
        let out = rebuild(&raw, &d.parts, &deletions(&["2:inner.zip/evil.exe"]));
        let again = decompose(&out, &ContainerRule::default());
        let paths: Vec<&str> = again.all().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["1", "2", "2:inner.zip", "2:inner.zip/DELETED1.TXT", "2:inner.zip/ok.txt", "2:top.txt"]);
        assert_eq!(again.all()[3].data, b"GONE");
        assert_eq!(again.parts[0].data, b"keep this text");
    }

    #[test]
    fn without_a_stand_in_the_part_goes_with_its_boundary_line() {
        let raw = message(&zip(&[("a.txt", b"x")]));
        let d = decompose(&raw, &ContainerRule::default());
        let edits = Edits::from([("2".to_string(), Edit::Delete(None))]);
        let out = String::from_utf8(rebuild(&raw, &d.parts, &edits)).unwrap();
        assert!(out.ends_with("\r\n\r\nkeep this text\r\n--B--\r\n"), "{out}");
        assert_eq!(decompose(out.as_bytes(), &ContainerRule::default()).parts.len(), 1);
    }

    #[test]
    fn a_replaced_member_keeps_its_name() {
        let raw = message(&zip(&[("doc.docm", b"with macros"), ("b.txt", b"b")]));
        let d = decompose(&raw, &ContainerRule::default());
        let edits = Edits::from([("2:doc.docm".to_string(), Edit::Replace(b"without macros".to_vec()))]);
        let again = decompose(&rebuild(&raw, &d.parts, &edits), &ContainerRule::default());
        let members: Vec<(&str, &[u8])> =
            again.parts[1].children.iter().map(|p| (p.path.as_str(), p.data.as_slice())).collect();
        assert_eq!(members, [("2:doc.docm", &b"without macros"[..]), ("2:b.txt", b"b")]);
    }

    #[test]
    fn a_single_part_body_keeps_the_message_headers() {
        let raw = b"From: a@b.test\r\nSubject: s\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nTVo=\r\n";
        let d = decompose(raw, &ContainerRule::default());
        let out = String::from_utf8(rebuild(raw, &d.parts, &deletions(&["1"]))).unwrap();
        assert_eq!(
            out,
            "From: a@b.test\r\nSubject: s\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nGONE"
        );
    }
}
