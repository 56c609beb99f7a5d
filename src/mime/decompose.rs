//! Taking a message apart (SPEC §5): MIME leaves found with mail-parser,
//! nested messages and containers opened by content, every file recorded
//! with the path, names and type it claims and has. One [`Budget`] covers
//! the whole message; the first limit hit stops the work (the policy then
//! decides for the whole message). An undecodable container is reported
//! and left closed, but everything else is still opened, so damage in one
//! attachment cannot hide what is in the next.

use super::containers::{self, Kind, OpenError, inline, pdf};
use super::detect::{FileType, detect, is_message};
use super::limits::{Budget, LimitHit};
use super::parse::parse;
use crate::config::ContainerRule;
use mail_parser::{Encoding, MimeHeaders, PartType};
use std::ops::Range;
use std::time::Duration;

/// Where a part's bytes sit in its parent, for putting the message back
/// together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A MIME body part: its header block (with the blank line) and body
    /// within the parent message's bytes.
    Mime { header: Range<usize>, body: Range<usize>, encoded: bool },
    /// Member number `n` of the parent container.
    Member(usize),
}

/// What a part was opened as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// A nested `message/rfc822`: its children are MIME parts.
    Message,
    Archive(Kind),
}

/// One file of the message: a MIME leaf or a container member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// E.g. `2/1:invoice.zip/docs/a.exe`.
    pub path: String,
    /// Every name the part claims (`filename`, `name`, member path).
    pub names: Vec<String>,
    /// The declared MIME type, lower case; empty inside archives.
    pub declared_type: String,
    pub detected: FileType,
    /// The decoded bytes (empty for an encrypted member).
    pub data: Vec<u8>,
    /// 0 for the message's own parts, +1 per container or nested message.
    pub depth: usize,
    pub origin: Origin,
    pub holds: Option<Holds>,
    pub children: Vec<Part>,
    /// Locked by a password: the part itself, or something inside it.
    pub encrypted: bool,
}

/// A message taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decomposition {
    /// The message's own MIME leaves, each the root of its subtree.
    pub parts: Vec<Part>,
    /// The first decomposition limit hit, and where.
    pub violation: Option<(String, LimitHit)>,
    /// Why the message cannot be processed, and where.
    pub unprocessable: Option<(String, String)>,
}

impl Part {
    /// A bare part for rule tests: a name, no content.
    #[cfg(test)]
    pub(crate) fn named(path: &str, names: &[&str], encrypted: bool) -> Part {
        Part {
            path: path.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            declared_type: String::new(),
            detected: FileType::Other,
            data: Vec::new(),
            depth: 0,
            origin: Origin::Member(0),
            holds: None,
            children: Vec::new(),
            encrypted,
        }
    }
}

impl Decomposition {
    /// The parts from a top-level attachment down to the part at `path`
    /// (itself last); empty if there is none.
    pub fn lineage(&self, path: &str) -> Vec<&Part> {
        fn find<'a>(parts: &'a [Part], path: &str, chain: &mut Vec<&'a Part>) -> bool {
            for p in parts {
                chain.push(p);
                if p.path == path || find(&p.children, path, chain) {
                    return true;
                }
                chain.pop();
            }
            false
        }
        let mut chain = Vec::new();
        find(&self.parts, path, &mut chain);
        chain
    }

    /// Every part, parents before their children.
    pub fn all(&self) -> Vec<&Part> {
        let mut out = Vec::new();
        let mut stack: Vec<&Part> = self.parts.iter().rev().collect();
        while let Some(p) = stack.pop() {
            out.push(p);
            stack.extend(p.children.iter().rev());
        }
        out
    }
}

/// Take `raw` apart within the limits of `rule`.
pub fn decompose(raw: &[u8], rule: &ContainerRule) -> Decomposition {
    let mut d = Decomposer::new(rule);
    d.result.parts = d.message(raw, "", 0);
    d.result
}

/// Take a file apart as if it were an attachment named `name` (for
/// scanning files on disk): the file is the one top-level part.
pub fn decompose_file(name: &str, data: Vec<u8>, rule: &ContainerRule) -> Decomposition {
    let mut d = Decomposer::new(rule);
    let mut part = Part {
        path: name.to_string(),
        names: vec![name.to_string()],
        declared_type: String::new(),
        detected: detect(&data),
        data,
        depth: 0,
        origin: Origin::Member(0),
        holds: None,
        children: Vec::new(),
        encrypted: false,
    };
    d.expand(&mut part);
    d.result.parts = vec![part];
    d.result
}

struct Decomposer {
    budget: Budget,
    result: Decomposition,
}

impl Decomposer {
    fn new(rule: &ContainerRule) -> Decomposer {
        let budget = Budget::new(
            rule.max_extract_mb.saturating_mul(1024 * 1024),
            rule.max_depth,
            rule.max_files,
            rule.max_ratio,
            Duration::from_secs(rule.max_seconds),
        );
        Decomposer { budget, result: Decomposition::default() }
    }

    fn stopped(&self) -> bool {
        self.result.violation.is_some()
    }

    fn limit(&mut self, path: &str, hit: LimitHit) {
        self.result.violation.get_or_insert((path.to_string(), hit));
    }

    fn unprocessable(&mut self, path: &str, why: String) {
        self.result.unprocessable.get_or_insert((path.to_string(), why));
    }

    /// The leaves of the message in `raw`; their paths start with `prefix`.
    fn message(&mut self, raw: &[u8], prefix: &str, depth: usize) -> Vec<Part> {
        let Some(message) = parse(raw) else {
            self.unprocessable(prefix, "not a MIME message".into());
            return Vec::new();
        };
        leaf_numbers(&message.parts)
            .into_iter()
            .filter_map(|(id, number)| message.parts.get(id).map(|part| (part, number)))
            .map(|(part, number)| self.leaf(raw, part, format!("{prefix}{number}"), depth))
            .collect()
    }

    /// One MIME leaf, opened if it is a message or a container.
    fn leaf(&mut self, raw: &[u8], part: &mail_parser::MessagePart<'_>, path: String, depth: usize) -> Part {
        let header = span(raw.len(), part.offset_header, part.offset_body);
        let body = span(raw.len(), part.offset_body, part.offset_end);
        let encoded = part.encoding != Encoding::None;
        let data = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
            _ => transfer_decode(&raw[body.clone()], part.encoding).unwrap_or_else(|| part.contents().to_vec()),
        };
        let mut names: Vec<String> = Vec::new();
        for name in [
            part.content_disposition().and_then(|c| c.attribute("filename")),
            part.content_type().and_then(|c| c.attribute("name")),
        ]
        .into_iter()
        .flatten()
        {
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        let declared_type = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_lowercase())
            .unwrap_or_else(|| "text/plain".into());
        let mut p = Part {
            path,
            names,
            declared_type,
            detected: detect(&data),
            data,
            depth,
            origin: Origin::Mime { header, body, encoded },
            holds: None,
            children: Vec::new(),
            encrypted: false,
        };
        if matches!(part.body, PartType::Message(_)) {
            self.nested_message(&mut p);
        } else {
            self.expand(&mut p);
        }
        p
    }

    fn nested_message(&mut self, p: &mut Part) {
        if self.stopped() {
            return;
        }
        if let Err(hit) = self.budget.enter(p.depth + 1) {
            return self.limit(&p.path, hit);
        }
        p.holds = Some(Holds::Message);
        let data = std::mem::take(&mut p.data);
        p.children = self.message(&data, &format!("{}/", p.path), p.depth + 1);
        p.data = data;
    }

    /// Open `p` if its content is a container, recursively.
    fn expand(&mut self, p: &mut Part) {
        if self.stopped() {
            return;
        }
        if let Err(hit) = self.budget.check_time() {
            return self.limit(&p.path, hit);
        }
        let kind = match p.detected {
            FileType::Pdf => {
                p.encrypted = pdf::is_encrypted(&p.data);
                return;
            }
            FileType::Text if is_message(&p.data) => return self.nested_message(p),
            FileType::Text if !inline::has_inline_files(&p.data) => return,
            other => match Kind::of(other) {
                Some(kind) => kind,
                None => return,
            },
        };
        let members = match containers::open(kind, &p.data, &mut self.budget, p.depth + 1) {
            Ok(members) => members,
            Err(OpenError::Limit(hit)) => return self.limit(&p.path, hit),
            Err(OpenError::Encrypted) => {
                p.encrypted = true;
                return;
            }
            Err(OpenError::Corrupt(why)) => return self.unprocessable(&p.path, why),
        };
        p.holds = Some(Holds::Archive(kind));
        let separator = if matches!(p.origin, Origin::Mime { .. }) || p.depth == 0 { ":" } else { "/" };
        for (n, m) in members.into_iter().enumerate() {
            let name = if m.name.is_empty() { unpacked_name(p) } else { m.name };
            p.encrypted |= m.encrypted;
            let mut child = Part {
                path: format!("{}{separator}{name}", p.path),
                names: if name.is_empty() { Vec::new() } else { vec![name] },
                declared_type: String::new(),
                detected: if m.encrypted { FileType::Other } else { detect(&m.data) },
                data: m.data,
                depth: p.depth + 1,
                origin: Origin::Member(n),
                holds: None,
                children: Vec::new(),
                encrypted: m.encrypted,
            };
            if !child.encrypted {
                self.expand(&mut child);
            }
            p.children.push(child);
        }
    }
}

/// The leaves of a parsed part list in document order, with their part
/// numbers (`1`, `2/1`, ...). On malformed input the parser may list a part
/// below itself; every part is visited once, so the walk always ends.
fn leaf_numbers(parts: &[mail_parser::MessagePart<'_>]) -> Vec<(usize, String)> {
    let mut leaves = Vec::new();
    let mut visited = vec![false; parts.len()];
    let mut pending = vec![(0usize, String::new())];
    while let Some((id, number)) = pending.pop() {
        let (Some(seen), Some(part)) = (visited.get_mut(id), parts.get(id)) else { continue };
        if std::mem::replace(seen, true) {
            continue;
        }
        if let PartType::Multipart(children) = &part.body {
            let base = if number.is_empty() { String::new() } else { format!("{number}/") };
            pending.extend(children.iter().enumerate().rev().map(|(i, c)| (*c as usize, format!("{base}{}", i + 1))));
        } else {
            leaves.push((id, if number.is_empty() { "1".to_string() } else { number }));
        }
    }
    leaves
}

/// `a..b` kept inside `0..len` and never reversed, whatever the parser
/// reported for a damaged message.
fn span(len: usize, a: u32, b: u32) -> Range<usize> {
    let start = (a as usize).min(len);
    start..(b as usize).clamp(start, len)
}

/// A MIME body as it was before its transfer encoding.
fn transfer_decode(body: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Base64 => mail_parser::decoders::base64::base64_decode(body),
        Encoding::QuotedPrintable => mail_parser::decoders::quoted_printable::quoted_printable_decode(body),
        Encoding::None => Some(body.to_vec()),
    }
}

/// The name of what a nameless compressed stream holds: the container's
/// name without its compression suffix (`a.exe.gz` holds `a.exe`).
fn unpacked_name(container: &Part) -> String {
    let Some(name) = container.names.first() else { return String::new() };
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    [(".tgz", ".tar"), (".tbz2", ".tar"), (".gz", ""), (".bz2", ""), (".gzip", "")]
        .into_iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
        .map(|(suffix, becomes)| format!("{}{becomes}", &base[..base.len() - suffix.len()]))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;
    use std::io::Write;

    pub(crate) fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, ::zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    pub(crate) fn message(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut m =
            b"From: a@b.test\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
                .to_vec();
        for (headers, body) in parts {
            m.extend_from_slice(b"--B\r\n");
            m.extend_from_slice(headers.as_bytes());
            m.extend_from_slice(b"\r\n\r\n");
            m.extend_from_slice(body);
            m.extend_from_slice(b"\r\n");
        }
        m.extend_from_slice(b"--B--\r\n");
        m
    }

    fn b64(data: &[u8]) -> Vec<u8> {
        mail_builder::encoders::base64::base64_encode(data).unwrap()
    }

    #[test]
    fn paths_names_types_and_nesting() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"MZ inside gzip").unwrap();
        let archive = zip(&[("docs/a.txt", b"alpha"), ("b.exe.gz", &gz.finish().unwrap())]);
        let inner = b"Subject: inner\r\nContent-Type: text/plain\r\n\r\nhello inside";
        let raw = message(&[
            (
                "Content-Type: multipart/alternative; boundary=A\r\n\r\n--A\r\nContent-Type: text/plain\r\n\r\nplain\r\n--A\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--A--",
                b"",
            ),
            (
                "Content-Type: application/zip; name=\"bundle.zip\"\r\nContent-Disposition: attachment; filename=\"other.zip\"\r\nContent-Transfer-Encoding: base64",
                &b64(&archive),
            ),
            ("Content-Type: message/rfc822", inner),
        ]);
        let d = decompose(&raw, &ContainerRule::default());
        assert_eq!((d.violation.clone(), d.unprocessable.clone()), (None, None));
        let all: Vec<(&str, usize)> = d.all().iter().map(|p| (p.path.as_str(), p.depth)).collect();
        assert_eq!(
            all,
            [
                ("1/1", 0),
                ("1/2", 0),
                ("2", 0),
                ("2:docs/a.txt", 1),
                ("2:b.exe.gz", 1),
                ("2:b.exe.gz/b.exe", 2),
                ("3", 0),
                ("3/1", 1),
            ]
        );
        let attachment = &d.parts[2];
        assert_eq!(attachment.names, ["other.zip", "bundle.zip"], "filename and name both kept");
        assert_eq!((attachment.declared_type.as_str(), attachment.detected), ("application/zip", FileType::Zip));
        assert_eq!(attachment.children[1].children[0].data, b"MZ inside gzip");
        assert_eq!(attachment.children[1].children[0].detected, FileType::Pe);
        assert_eq!(d.parts[3].holds, Some(Holds::Message));
        let lineage: Vec<&str> = d.lineage("2:b.exe.gz/b.exe").iter().map(|p| p.path.as_str()).collect();
        assert_eq!(lineage, ["2", "2:b.exe.gz", "2:b.exe.gz/b.exe"]);
        assert!(d.lineage("9").is_empty());
        assert_eq!(d.parts[3].children[0].data, b"hello inside");
    }

    #[test]
    fn limits_and_damage_are_reported_with_their_place() {
        let deep = (0..5).fold(b"x".to_vec(), |inner, i| zip(&[(&format!("l{i}"), &inner)]));
        let raw = message(&[("Content-Type: application/zip\r\nContent-Transfer-Encoding: base64", &b64(&deep))]);
        let rule = ContainerRule { max_depth: 3, ..ContainerRule::default() };
        let d = decompose(&raw, &rule);
        assert_eq!(d.violation, Some(("1:l4/l3/l2".to_string(), LimitHit::Depth)));
        let broken = message(&[
            ("Content-Type: application/octet-stream", b"PK\x03\x04 not really"),
            ("Content-Type: application/zip\r\nContent-Transfer-Encoding: base64", &b64(&zip(&[("later.exe", b"MZ")]))),
        ]);
        let d = decompose(&broken, &ContainerRule::default());
        assert!(matches!(&d.unprocessable, Some((path, _)) if path == "1"));
        assert_eq!(d.parts[1].children[0].path, "2:later.exe", "damage in one part hides nothing in the next");
    }

    /// Found by the `decompose` fuzz target: for `Content-Type:multipart;
    /// boundary=b\n\n--bContent-Type:message/rfc822...` mail-parser 0.11.9
    /// (release build) lists part 1 as a child of itself and of the root;
    /// walking that naively never ends and eats all memory.
    #[test]
    fn a_part_listed_below_itself_is_walked_once() {
        let part = |body| mail_parser::MessagePart { body, ..Default::default() };
        let cyclic = vec![
            part(PartType::Multipart(vec![1])),
            part(PartType::Multipart(vec![0, 1, 2])),
            part(PartType::Text("leaf".into())),
        ];
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(leaf_numbers(&cyclic)));
        let leaves = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the walk ends");
        assert_eq!(leaves, [(2, "1/3".to_string())]);
    }

    #[test]
    fn a_single_part_message_is_part_one() {
        let d = decompose(b"Subject: s\r\n\r\nbody text\r\n", &ContainerRule::default());
        assert_eq!(d.parts.len(), 1);
        assert_eq!((d.parts[0].path.as_str(), d.parts[0].data.as_slice()), ("1", &b"body text\r\n"[..]));
    }
}
