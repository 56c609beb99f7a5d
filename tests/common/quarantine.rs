//! The Central Quarantine server as the tests run it: the real
//! `mxguard quarantine serve` with a configuration written per test, on a
//! loopback port over HTTPS (its self-signed certificate), samples uploaded
//! the way a gateway does, and administrator passwords set with
//! `mxguard passwd`.

use super::{free_port, wait_port};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// The token gateways upload with.
pub const GATEWAY_TOKEN: &str = "gateway-token-one";
/// The token of the administration API.
pub const API_TOKEN: &str = "quarantine-api-token";

/// What a gateway declares about one upload.
#[derive(Debug, Clone)]
pub struct Sample<'a> {
    pub file: &'a str,
    pub virus: &'a str,
    pub gateway: &'a str,
    pub sender: &'a str,
    /// Comma-separated.
    pub recipients: &'a str,
    /// Already encoded for a header (`%XX` for anything but printable ASCII).
    pub subject: &'a str,
}

/// A running server.
pub struct CentralQuarantine {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub port: u16,
    child: Child,
}

impl CentralQuarantine {
    /// Start with the base settings plus `extra` lines in its table.
    pub fn start(root: &Path, extra: &str) -> CentralQuarantine {
        let port = free_port();
        let config_path = root.join("cq.toml");
        std::fs::write(
            &config_path,
            format!(
                "[quarantine_server]\nlisten = \"127.0.0.1:{port}\"\nstorage_dir = \"{}\"\n\
                 gateway_tokens = [\"{GATEWAY_TOKEN}\"]\napi_tokens = [\"{API_TOKEN}\"]\nhostname = \"cq.test\"\n{extra}\n",
                root.join("store").display()
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(root.join("cq.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mxguard"))
            .args(["quarantine", "serve", "--config"])
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = CentralQuarantine { root: root.to_path_buf(), config_path, port, child };
        assert!(wait_port(port, Duration::from_secs(30)), "not listening; log:\n{}", server.log());
        server
    }

    /// Everything the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("cq.log")).unwrap_or_default()
    }

    /// The HTTPS address of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Upload `body` as `sample`; the new item's id.
    pub fn upload(&self, body: &[u8], sample: &Sample) -> i64 {
        let sha256: String = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        let mut response = agent()
            .post(self.url("/api/v1/samples"))
            .header("Authorization", format!("Bearer {GATEWAY_TOKEN}"))
            .header("X-Sample-File", sample.file)
            .header("X-Sample-Size", body.len().to_string())
            .header("X-Sample-Checksum", sha256)
            .header("X-Scan-Virus-Name", sample.virus)
            .header("X-Scan-Result", "unrepairable")
            .header("X-Platform-Host", sample.gateway)
            .header("X-Mail-From", sample.sender)
            .header("X-Rcpt-To", sample.recipients)
            .header("X-Mail-Subject", sample.subject)
            .header("X-Message-Id", "<m1@sender.test>")
            .header("X-Mime-Path", "2")
            .send(body)
            .expect("the server answers");
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(response.status().as_u16(), 201, "upload refused: {text}");
        let receipt: Value = serde_json::from_str(&text).unwrap();
        receipt["id"].as_i64().expect("a numeric item id")
    }

    /// Set `role`'s password for this server.
    pub fn passwd(&self, role: &str, password: &str) {
        super::passwd(&self.config_path, role, password);
    }
}

impl Drop for CentralQuarantine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client that takes the server's self-signed certificate, does
/// not follow redirects and reports every status as it is.
pub fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder().disable_verification(true).build();
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).tls_config(tls).build().into()
}
