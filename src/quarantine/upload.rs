//! One upload to the Central Quarantine (SPEC §7): `POST /api/v1/samples`
//! over HTTPS with the gateway's token, the file's bytes as the body and
//! its description as `X-` headers, and what the answer means for the
//! local item. Blocking: run on the blocking pool.

use super::local::Sample;
use super::sample::{encode, header};
use crate::config::Quarantine;
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole upload may take (samples can be large).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the server may stay silent or stop reading.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an answer read: the acknowledgement is a small JSON object.
const MAX_ANSWER: u64 = 64 * 1024;

/// What became of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// The server acknowledged the same size and SHA-256 (its item ID):
    /// the local copy may go.
    Stored(String),
    /// The server refused this item or acknowledged something else
    /// (`underrun`, `overrun`, `content`, another checksum…): keep it and
    /// try again later.
    Refused(String),
    /// The server cannot be reached, fails, or refuses the gateway's
    /// token: keep every item and try again later.
    Unavailable(String),
}

/// An HTTPS client for one Central Quarantine.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl Client {
    /// A client for the server `q` names, trusting what `q` says.
    pub fn new(q: &Quarantine) -> Result<Client, String> {
        let (host, port) = q.address().ok_or_else(|| {
            format!("no Central Quarantine is configured (antivirus.quarantine.server = {:?})", q.server)
        })?;
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let roots = match q.ca.as_str() {
            "" => RootCerts::WebPki,
            path => RootCerts::new_with_certs(&trust_anchors(path)?),
        };
        let tls = TlsConfig::builder().root_certs(roots).disable_verification(!q.tls_verify).build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(UPLOAD_TIMEOUT))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .timeout_per_write(Some(STALL_TIMEOUT))
            .user_agent(concat!("mxguard/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client { agent, url: format!("https://{host}:{port}/api/v1/samples"), token: q.token.clone() })
    }

    /// Send one item and judge the answer. The size and SHA-256 declared
    /// are those recorded when the file was quarantined, so bytes damaged
    /// on disk since are refused by the server (`content`), never stored.
    pub fn upload(&self, sample: &Sample, data: &[u8]) -> Upload {
        let sha256 = &sample.sha256;
        let mut request = self
            .agent
            .post(&self.url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/octet-stream")
            .header(header::ID, encode(&sample.id))
            .header(header::SIZE, sample.size.to_string())
            .header(header::CHECKSUM, sha256);
        for (name, value) in sample.meta.to_headers() {
            request = request.header(name, value);
        }
        let mut response = match request.send(data) {
            Ok(response) => response,
            Err(e) => return Upload::Unavailable(format!("cannot reach {}: {e}", self.url)),
        };
        let status = response.status().as_u16();
        let answer = response.body_mut().with_config().limit(MAX_ANSWER).read_to_string().unwrap_or_default();
        judge(status, &answer, sample.size, sha256)
    }
}

/// What an answer with `status` and body `answer` means for an item of
/// `size` bytes with SHA-256 `sha256`.
fn judge(status: u16, answer: &str, size: u64, sha256: &str) -> Upload {
    let answer_text = answer.chars().take(300).collect::<String>();
    match status {
        200 | 201 => {
            let ack: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
            let id = match &ack["id"] {
                serde_json::Value::String(id) => id.clone(),
                other => other.to_string(),
            };
            let same_hash = ack["sha256"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(sha256));
            if same_hash && ack["size"].as_u64() == Some(size) {
                Upload::Stored(id)
            } else {
                Upload::Refused(format!(
                    "the server acknowledged {answer_text:?}, not {size} bytes with SHA-256 {sha256}"
                ))
            }
        }
        401 | 403 => Upload::Unavailable(format!("the server refused the gateway token ({status}: {answer_text})")),
        400..=499 => Upload::Refused(format!("the server refused the item ({status}: {answer_text})")),
        _ => Upload::Unavailable(format!("the server answered {status}: {answer_text}")),
    }
}

/// The certificates in the PEM file at `path`, to trust instead of the
/// public roots.
pub fn trust_anchors(path: &str) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| format!("{path} is not valid PEM: {e}"))? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(format!("{path} holds no certificate"));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::sample::sha256_hex;

    #[test]
    fn only_a_matching_acknowledgement_lets_the_item_go() {
        let sha = sha256_hex(b"data");
        let ack = |size: u64, sha: &str| format!("{{\"id\":42,\"sha256\":\"{sha}\",\"size\":{size}}}");
        assert_eq!(judge(201, &ack(4, &sha), 4, &sha), Upload::Stored("42".into()));
        assert_eq!(judge(200, &ack(4, &sha.to_uppercase()), 4, &sha), Upload::Stored("42".into()));
        assert!(matches!(judge(201, &ack(3, &sha), 4, &sha), Upload::Refused(_)));
        assert!(matches!(judge(201, &ack(4, "00"), 4, &sha), Upload::Refused(_)));
        assert!(matches!(judge(201, "created", 4, &sha), Upload::Refused(_)));
        let underrun = judge(400, "{\"error\":\"underrun\"}", 4, &sha);
        assert!(matches!(&underrun, Upload::Refused(why) if why.contains("underrun")), "{underrun:?}");
        assert!(matches!(judge(401, "", 4, &sha), Upload::Unavailable(why) if why.contains("token")));
        assert!(matches!(judge(503, "", 4, &sha), Upload::Unavailable(_)));
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let empty = empty.to_str().unwrap();
        assert!(trust_anchors(empty).unwrap_err().contains("no certificate"));
        assert!(trust_anchors("/nonexistent/ca.pem").unwrap_err().contains("cannot read"));
        let q = Quarantine { ca: empty.into(), server: "cq.test".into(), ..Quarantine::default() };
        assert!(Client::new(&q).is_err());
        assert!(Client::new(&Quarantine::default()).err().is_some_and(|e| e.contains("no Central Quarantine")));
    }
}
