//! What a gateway tells the Central Quarantine about a quarantined file,
//! defined once for both ends: the gateway keeps it beside the file in its
//! local quarantine and sends it as `X-` headers of the upload; the server
//! reads those headers back and keeps it with the item. Sharing the
//! fields, the header names and their encoding means the two ends cannot
//! drift apart.
//!
//! Header values are printable ASCII: any other byte (UTF-8 in a subject
//! or file name, a control character) and `%` itself travel as `%XX`.

use crate::mime::names::unescape_percent;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The upload's header names (SPEC §7 and issue 7's contract), spelled
/// once for the gateway that writes them and the server that reads them.
pub mod header {
    /// The gateway's own id for the item, so a retried upload finds the
    /// item made the first time.
    pub const ID: &str = "X-Sample-Id";
    /// The body's length in bytes, checked against what arrives.
    pub const SIZE: &str = "X-Sample-Size";
    /// The body's SHA-256, hex, checked against what arrives.
    pub const CHECKSUM: &str = "X-Sample-Checksum";
    /// [`Metadata::file_name`](super::Metadata::file_name).
    pub const FILE: &str = "X-Sample-File";
    /// [`Metadata::mime_path`](super::Metadata::mime_path).
    pub const MIME_PATH: &str = "X-Mime-Path";
    /// [`Metadata::virus`](super::Metadata::virus).
    pub const VIRUS: &str = "X-Scan-Virus-Name";
    /// [`Metadata::scan_result`](super::Metadata::scan_result).
    pub const RESULT: &str = "X-Scan-Result";
    /// [`Metadata::defs_sequence`](super::Metadata::defs_sequence).
    pub const DEFS_SEQUENCE: &str = "X-Defs-Sequence";
    /// [`Metadata::gateway`](super::Metadata::gateway).
    pub const GATEWAY: &str = "X-Platform-Host";
    /// [`Metadata::sender`](super::Metadata::sender).
    pub const SENDER: &str = "X-Mail-From";
    /// [`Metadata::recipients`](super::Metadata::recipients), separated by
    /// commas.
    pub const RECIPIENTS: &str = "X-Rcpt-To";
    /// [`Metadata::subject`](super::Metadata::subject).
    pub const SUBJECT: &str = "X-Mail-Subject";
    /// [`Metadata::message_id`](super::Metadata::message_id).
    pub const MESSAGE_ID: &str = "X-Message-Id";
}

/// Longest metadata value kept when read back; the rest is cut.
const MAX_VALUE: usize = 4096;

/// The file and the message it came in, as the gateway that quarantined
/// it saw them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// The file's name as the message gave it.
    pub file_name: String,
    /// Where the file was in the message, e.g. `2:invoice.zip/a.exe`.
    pub mime_path: String,
    /// What the gateway's scanners named it (several joined by ", ").
    pub virus: String,
    /// What was done with the file: repaired, unrepairable, deleted,
    /// logged. Local quarantine files written before this name was shared
    /// call it `result`.
    #[serde(alias = "result")]
    pub scan_result: String,
    /// The definitions sequence in use when it was found, if known.
    pub defs_sequence: Option<u64>,
    /// The host name of the gateway that quarantined it.
    pub gateway: String,
    /// The message's envelope sender.
    pub sender: String,
    /// The message's envelope recipients.
    pub recipients: Vec<String>,
    /// The message's subject.
    pub subject: String,
    /// The message's `Message-ID`, to find it in the gateway's logs.
    pub message_id: String,
}

/// A header of an upload that is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadHeader {
    /// A required header is absent or empty.
    Missing(&'static str),
    /// A header's value is not what it must be.
    Invalid { name: &'static str, value: String, allowed: &'static str },
}

impl fmt::Display for BadHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadHeader::Missing(name) => write!(f, "{name} is missing"),
            BadHeader::Invalid { name, value, allowed } => write!(f, "{name}: {value:?} is not {allowed}"),
        }
    }
}

impl Metadata {
    /// The headers that carry it, values already encoded.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (header::FILE, encode(&self.file_name)),
            (header::MIME_PATH, encode(&self.mime_path)),
            (header::VIRUS, encode(&self.virus)),
            (header::RESULT, encode(&self.scan_result)),
            (header::GATEWAY, encode(&self.gateway)),
            (header::SENDER, encode(&self.sender)),
            (header::RECIPIENTS, encode(&self.recipients.join(","))),
            (header::SUBJECT, encode(&self.subject)),
            (header::MESSAGE_ID, encode(&self.message_id)),
        ];
        if let Some(sequence) = self.defs_sequence {
            headers.push((header::DEFS_SEQUENCE, sequence.to_string()));
        }
        headers
    }

    /// Read it back from an upload's headers; `raw` gives a header's raw
    /// value, if the upload has it. The file name, the virus and the
    /// gateway are required: an item without them means nothing.
    pub fn from_headers<'a>(raw: impl Fn(&str) -> Option<&'a [u8]>) -> Result<Metadata, BadHeader> {
        let optional = |name: &str| raw(name).and_then(decode);
        let required = |name: &'static str| optional(name).ok_or(BadHeader::Missing(name));
        let defs_sequence = match optional(header::DEFS_SEQUENCE) {
            Some(s) => Some(s.parse::<u64>().map_err(|_| BadHeader::Invalid {
                name: header::DEFS_SEQUENCE,
                value: s,
                allowed: "a sequence number",
            })?),
            None => None,
        };
        let recipients = optional(header::RECIPIENTS).unwrap_or_default();
        Ok(Metadata {
            file_name: required(header::FILE)?,
            mime_path: optional(header::MIME_PATH).unwrap_or_default(),
            virus: required(header::VIRUS)?,
            scan_result: optional(header::RESULT).unwrap_or_default(),
            defs_sequence,
            gateway: required(header::GATEWAY)?,
            sender: optional(header::SENDER).unwrap_or_default(),
            recipients: recipients.split(',').map(str::trim).filter(|r| !r.is_empty()).map(String::from).collect(),
            subject: optional(header::SUBJECT).unwrap_or_default(),
            message_id: optional(header::MESSAGE_ID).unwrap_or_default(),
        })
    }
}

/// SHA-256 of `data` as lower-case hex: how both ends name a sample.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex of a finished digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `value` as a header value: printable ASCII stays, any other byte and
/// `%` itself become `%XX`, as in a URL.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b' '..=b'~' if byte != b'%' => out.push(char::from(byte)),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A header value back as text: `%XX` decoded as UTF-8 (invalid sequences
/// replaced; a `%` without two hex digits stays as it is), control
/// characters as spaces, trimmed and cut to [`MAX_VALUE`]; `None` if
/// nothing is left.
pub fn decode(raw: &[u8]) -> Option<String> {
    let bytes = unescape_percent(raw);
    let text = String::from_utf8_lossy(&bytes);
    let value: String = text.trim().chars().take(MAX_VALUE).map(|c| if c.is_control() { ' ' } else { c }).collect();
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn metadata() -> Metadata {
        Metadata {
            file_name: "résumé.doc".into(),
            mime_path: "2:a.zip/résumé.doc".into(),
            virus: "Test.Virus".into(),
            scan_result: "unrepairable".into(),
            defs_sequence: Some(12),
            gateway: "gw1.test".into(),
            sender: "a@x.test".into(),
            recipients: vec!["b@x.test".into(), "c@x.test".into()],
            subject: "50% off".into(),
            message_id: "<m@x.test>".into(),
        }
    }

    fn read_back(headers: &[(&'static str, String)]) -> Result<Metadata, BadHeader> {
        let map: HashMap<&str, &str> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        Metadata::from_headers(|name| map.get(name).map(|v| v.as_bytes()))
    }

    #[test]
    fn metadata_survives_the_headers() {
        let headers = metadata().to_headers();
        assert!(headers.iter().all(|(_, v)| v.bytes().all(|b| (b' '..=b'~').contains(&b))), "{headers:?}");
        assert_eq!(read_back(&headers).unwrap(), metadata());
        let bare = Metadata { defs_sequence: None, recipients: vec![], ..metadata() };
        assert_eq!(read_back(&bare.to_headers()).unwrap(), bare);
    }

    #[test]
    fn a_missing_or_bad_header_is_named() {
        let mut headers = metadata().to_headers();
        headers.retain(|(n, _)| *n != header::GATEWAY);
        assert_eq!(read_back(&headers).unwrap_err().to_string(), "X-Platform-Host is missing");
        let mut headers = metadata().to_headers();
        headers.iter_mut().find(|(n, _)| *n == header::DEFS_SEQUENCE).unwrap().1 = "new".into();
        assert!(read_back(&headers).unwrap_err().to_string().starts_with("X-Defs-Sequence: \"new\""));
    }

    #[test]
    fn values_are_encoded_and_decoded_forgivingly() {
        assert_eq!(encode("Re: invoice.pdf"), "Re: invoice.pdf");
        assert_eq!(encode("50% é\r\n"), "50%25 %C3%A9%0D%0A");
        assert_eq!(decode(b"100%").as_deref(), Some("100%"));
        assert_eq!(decode(b"%zz%41").as_deref(), Some("%zzA"));
        assert_eq!(decode(b"%FF").as_deref(), Some("\u{FFFD}"));
        assert_eq!(decode(b"a%0D%0AB").as_deref(), Some("a  B"));
        assert_eq!(decode(b"  %20 "), None);
    }

    #[test]
    fn older_local_files_still_read() {
        let old: Metadata = serde_json::from_str(r#"{"file_name":"a.com","result":"deleted"}"#).unwrap();
        assert_eq!((old.file_name.as_str(), old.scan_result.as_str()), ("a.com", "deleted"));
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
