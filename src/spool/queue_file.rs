//! The on-disk format of one queued message: a short text header (envelope,
//! arrival, processing attempts, hold reason) followed by the message bytes.
//!
//! ```text
//! MXQ1 attempts=0
//! id 0123456789ABCDEF
//! arrival 1764000000
//! sender alice@example.org
//! rcpt bob@example.com<TAB>NOTIFY<TAB>ORCPT
//! ...
//!
//! <message>
//! ```
//! The attempts digit sits at a fixed offset so it can be rewritten in place
//! without copying the message.

use crate::envelope::{Envelope, Recipient};
use std::io;

/// First line; the digit after `attempts=` is at [`ATTEMPTS_OFFSET`].
const MAGIC: &str = "MXQ1 attempts=";
/// Byte offset of the processing-attempt digit.
pub const ATTEMPTS_OFFSET: u64 = MAGIC.len() as u64;

/// A message as stored in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueuedMessage {
    pub id: String,
    /// Unix seconds when it was first accepted (expiry counts from here).
    pub arrival: u64,
    pub envelope: Envelope,
    /// Processing attempts that did not finish (crash counter, 0-9).
    pub attempts: u8,
    /// Why it is in the hold queue, if it is.
    pub reason: String,
    /// A copy forwarded from the hold queue: delivered without processing.
    pub unscanned: bool,
    /// The message content, trace header included.
    pub content: Vec<u8>,
}

/// Only what `queue list` and the slow queue need, without the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub message: QueuedMessage,
    /// Where the content starts in the file.
    pub content_offset: usize,
}

/// Serialise the header part (everything before the content).
pub fn header_bytes(m: &QueuedMessage) -> Vec<u8> {
    let e = &m.envelope;
    let mut h =
        format!("{MAGIC}{}\nid {}\narrival {}\nsender {}\n", m.attempts.min(9), m.id, m.arrival, clean(&e.sender));
    let mut field = |key: &str, value: &str| h.push_str(&format!("{key} {}\n", clean(value)));
    if let Some(r) = &e.ret {
        field("ret", r);
    }
    if let Some(v) = &e.envid {
        field("envid", v);
    }
    if e.body_8bit {
        field("body", "8BITMIME");
    }
    if e.smtputf8 {
        field("smtputf8", "yes");
    }
    field("client", &e.client_ip);
    field("helo", &e.helo);
    if let Some(zone) = &e.listed_by {
        field("listed-by", zone);
    }
    if !m.reason.is_empty() {
        field("reason", &m.reason);
    }
    if m.unscanned {
        field("unscanned", "yes");
    }
    for r in &e.recipients {
        h.push_str(&format!(
            "rcpt {}\t{}\t{}\n",
            clean(&r.address),
            clean(r.notify.as_deref().unwrap_or("")),
            clean(r.orcpt.as_deref().unwrap_or(""))
        ));
    }
    h.push('\n');
    h.into_bytes()
}

/// Newlines and tabs would break the line format; they never occur in
/// values the SMTP parser accepted, but reasons come from anywhere.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Parse a queue file (or just its beginning, for the header).
pub fn parse(bytes: &[u8]) -> io::Result<Header> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad queue file: {why}"));
    let end = bytes.windows(2).position(|w| w == b"\n\n").ok_or_else(|| bad("no end of header"))?;
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| bad("header is not UTF-8"))?;
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let attempts = first.strip_prefix(MAGIC).and_then(|d| d.parse::<u8>().ok()).ok_or_else(|| bad("unknown format"))?;
    let mut m = QueuedMessage { attempts, ..QueuedMessage::default() };
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let e = &mut m.envelope;
        match key {
            "id" => m.id = value.to_string(),
            "arrival" => m.arrival = value.parse().map_err(|_| bad("arrival"))?,
            "sender" => e.sender = value.to_string(),
            "ret" => e.ret = Some(value.to_string()),
            "envid" => e.envid = Some(value.to_string()),
            "body" => e.body_8bit = true,
            "smtputf8" => e.smtputf8 = true,
            "client" => e.client_ip = value.to_string(),
            "helo" => e.helo = value.to_string(),
            "listed-by" => e.listed_by = Some(value.to_string()),
            "reason" => m.reason = value.to_string(),
            "unscanned" => m.unscanned = true,
            "rcpt" => {
                let mut f = value.split('\t');
                let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(String::from);
                e.recipients.push(Recipient {
                    address: f.next().unwrap_or("").to_string(),
                    notify: opt(f.next()),
                    orcpt: opt(f.next()),
                });
            }
            _ => return Err(bad(&format!("unknown field {key:?}"))),
        }
    }
    if m.id.is_empty() {
        return Err(bad("no id"));
    }
    Ok(Header { message: m, content_offset: end + 2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = QueuedMessage {
            id: "ABC".into(),
            arrival: 1_700_000_000,
            envelope: Envelope {
                sender: String::new(),
                recipients: vec![
                    Recipient {
                        address: "a@example.com".into(),
                        notify: Some("FAILURE".into()),
                        orcpt: Some("rfc822;a@example.com".into()),
                    },
                    Recipient::new("b@example.com"),
                ],
                ret: Some("HDRS".into()),
                envid: Some("xyz".into()),
                body_8bit: true,
                smtputf8: false,
                client_ip: "192.0.2.1".into(),
                helo: "client.example".into(),
                listed_by: Some("bl.example.org".into()),
            },
            attempts: 2,
            reason: "crashed\nthree times".into(),
            unscanned: true,
            content: Vec::new(),
        };
        let mut bytes = header_bytes(&m);
        assert_eq!(bytes[ATTEMPTS_OFFSET as usize], b'2');
        bytes.extend_from_slice(b"Subject: x\r\n\r\nbody\n\nmore");
        let h = parse(&bytes).unwrap();
        let mut expected = m.clone();
        expected.reason = "crashed three times".into();
        assert_eq!(h.message, expected);
        assert_eq!(&bytes[h.content_offset..], b"Subject: x\r\n\r\nbody\n\nmore");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&b""[..], b"hello\n\n", b"MXQ1 attempts=x\nid a\n\n", b"MXQ1 attempts=0\n\n", b"\xff\n\n"] {
            assert!(parse(bad).is_err());
        }
    }
}
