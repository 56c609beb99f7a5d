//! The quarantine server's own configuration file: one `[quarantine_server]`
//! table, separate from the gateway's, because the server usually runs on
//! another host. Every key is checked and a problem names the key, the value
//! and what is allowed, like the gateway's configuration.

use super::status::Status;
use crate::config::{Problem, is_address, is_hostname, parse_host_port};
use crate::scan::defs::public_key_of;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole file: nothing but the server's table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct File {
    quarantine_server: Settings,
}

/// `[quarantine_server]`: what the server listens on, where it keeps the
/// samples, who may talk to it and where submissions go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// "IP:port" of the HTTPS API.
    pub listen: String,
    /// Samples, index, certificate and (by default) definitions.
    pub storage_dir: String,
    /// Room for the distinct samples, in MB of original bytes.
    pub quota_mb: u64,
    /// Largest single sample accepted, in MB: bounds the memory a restore,
    /// rescan or submission of one item takes.
    pub max_sample_mb: u64,
    /// Bearer tokens gateways upload with.
    pub gateway_tokens: Vec<String>,
    /// Bearer tokens for the administration API.
    pub api_tokens: Vec<String>,
    /// Where *Submit* sends samples; empty = submission off.
    pub analyst_address: String,
    /// Submit every new item as it arrives.
    pub auto_submit: bool,
    /// Blank the text of Office documents before submitting them.
    pub strip_user_data: bool,
    /// PEM certificate chain for HTTPS; empty = self-signed, made at first
    /// start and kept in `storage_dir`.
    pub tls_cert: String,
    /// PEM private key for `tls_cert`.
    pub tls_key: String,
    /// "host:port" of the SMTP relay submissions are sent through.
    pub relay: String,
    /// Envelope sender and From of submissions.
    pub submit_from: String,
    /// Name in the self-signed certificate and the SMTP greeting.
    pub hostname: String,
    /// Signature directory rescans use; empty = `<storage_dir>/defs`.
    pub defs_dir: String,
    /// Where alerts (quota, watchdog) are mailed through `relay`; empty =
    /// alerts are only logged.
    pub alert_address: String,
    /// The ed25519 private key (`defs.key` of `mxguard defs keygen`) that
    /// signs the packages *Create signature* publishes; empty = signature
    /// creation is off.
    pub signing_key: String,
    /// Where published packages are written, and served from at `/defs/`;
    /// empty = `<storage_dir>/publish`.
    pub publish_dir: String,
    /// `[quarantine_server.watchdog]`: how long an item may stay in each
    /// status before an alert.
    pub watchdog: Watchdog,
    /// Minutes without a request that end an administrator's browser
    /// session, as `admin.timeout_minutes` on the gateway.
    pub timeout_minutes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        let hostname = if hostname.is_empty() { "localhost".to_string() } else { hostname };
        Settings {
            listen: "0.0.0.0:2847".into(),
            storage_dir: "quarantine".into(),
            quota_mb: 500,
            max_sample_mb: 100,
            gateway_tokens: Vec::new(),
            api_tokens: Vec::new(),
            analyst_address: String::new(),
            auto_submit: false,
            strip_user_data: false,
            tls_cert: String::new(),
            tls_key: String::new(),
            relay: String::new(),
            submit_from: format!("quarantine@{hostname}"),
            hostname,
            defs_dir: String::new(),
            alert_address: String::new(),
            signing_key: String::new(),
            publish_dir: String::new(),
            watchdog: Watchdog::default(),
            timeout_minutes: 5,
        }
    }
}

impl Settings {
    /// Parse and check the text of a configuration file.
    pub fn from_toml(text: &str) -> Result<Settings, Vec<Problem>> {
        let file: File = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| vec![Problem::parse(&e.path().to_string(), e.inner())])?;
        let problems = file.quarantine_server.problems();
        if problems.is_empty() { Ok(file.quarantine_server) } else { Err(problems) }
    }

    /// Read and check `path`; unlike the gateway's, the file must exist:
    /// a server without tokens would refuse everything.
    pub fn load(path: &Path) -> Result<Settings, Vec<Problem>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![Problem::new("", "", format!("cannot read {}: {e}", path.display()))])?;
        Settings::from_toml(&text)
    }

    /// The storage directory.
    pub fn storage(&self) -> PathBuf {
        PathBuf::from(&self.storage_dir)
    }

    /// The signature directory rescans read.
    pub fn definitions(&self) -> PathBuf {
        if self.defs_dir.is_empty() { self.storage().join("defs") } else { PathBuf::from(&self.defs_dir) }
    }

    /// The directory packages are published in.
    pub fn publish(&self) -> PathBuf {
        if self.publish_dir.is_empty() { self.storage().join("publish") } else { PathBuf::from(&self.publish_dir) }
    }

    /// The quota in bytes.
    pub fn quota_bytes(&self) -> u64 {
        self.quota_mb.saturating_mul(1024 * 1024)
    }

    /// The largest sample in bytes.
    pub fn max_sample_bytes(&self) -> u64 {
        self.max_sample_mb.saturating_mul(1024 * 1024)
    }

    /// Every problem; empty means the settings can be used.
    fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let key = |k: &str| format!("quarantine_server.{k}");
        if self.listen.parse::<SocketAddr>().is_err() {
            p.push(Problem::new(key("listen"), &self.listen, "an \"IP:port\" address such as \"0.0.0.0:2847\""));
        }
        if self.storage_dir.trim().is_empty() {
            p.push(Problem::new(key("storage_dir"), &self.storage_dir, "a directory path"));
        }
        if !(1..=1024 * 1024).contains(&self.quota_mb) {
            p.push(Problem::new(key("quota_mb"), self.quota_mb, "a number from 1 to 1048576"));
        }
        if !(1..=24 * 60).contains(&self.timeout_minutes) {
            p.push(Problem::new(key("timeout_minutes"), self.timeout_minutes, "a number of minutes from 1 to 1440"));
        }
        if !(1..=4096).contains(&self.max_sample_mb) {
            p.push(Problem::new(key("max_sample_mb"), self.max_sample_mb, "a number from 1 to 4096"));
        }
        for (name, tokens) in [("gateway_tokens", &self.gateway_tokens), ("api_tokens", &self.api_tokens)] {
            for t in tokens.iter().filter(|t| t.len() < 8 || t.chars().any(|c| c.is_whitespace() || c.is_control())) {
                p.push(Problem::new(key(name), t, "tokens of at least 8 characters without spaces"));
            }
        }
        if !self.analyst_address.is_empty() && !is_address(&self.analyst_address) {
            p.push(Problem::new(
                key("analyst_address"),
                &self.analyst_address,
                "an address such as analyst@av.example",
            ));
        }
        if !self.alert_address.is_empty() && !is_address(&self.alert_address) {
            p.push(Problem::new(
                key("alert_address"),
                &self.alert_address,
                "an address such as postmaster@example.com",
            ));
        }
        if !self.signing_key.is_empty()
            && let Err(e) = public_key_of(Path::new(&self.signing_key))
        {
            p.push(Problem::new(
                key("signing_key"),
                &self.signing_key,
                format!("the private key file (defs.key) of `mxguard defs keygen` ({e})"),
            ));
        }
        for (status, minutes) in self.watchdog.limits() {
            if minutes > MAX_WATCHDOG_MINUTES {
                p.push(Problem::new(
                    key(&format!("watchdog.{status}_minutes")),
                    minutes,
                    format!("a number of minutes from 0 (no alert) to {MAX_WATCHDOG_MINUTES}"),
                ));
            }
        }
        if !is_address(&self.submit_from) {
            p.push(Problem::new(key("submit_from"), &self.submit_from, "an address such as quarantine@example.com"));
        }
        if !self.relay.is_empty() && parse_host_port(&self.relay).is_none() {
            p.push(Problem::new(
                key("relay"),
                &self.relay,
                "\"host:port\" of an SMTP relay, e.g. \"mail.example.com:25\"",
            ));
        }
        if (self.auto_submit || !self.analyst_address.is_empty()) && self.relay.is_empty() {
            p.push(Problem::new(key("relay"), "", "the \"host:port\" of an SMTP relay when analyst_address is set"));
        } else if !self.alert_address.is_empty() && self.relay.is_empty() {
            p.push(Problem::new(key("relay"), "", "the \"host:port\" of an SMTP relay when alert_address is set"));
        }
        if self.auto_submit && self.analyst_address.is_empty() {
            p.push(Problem::new(key("analyst_address"), "", "an address when auto_submit is true"));
        }
        if !is_hostname(&self.hostname) {
            p.push(Problem::new(key("hostname"), &self.hostname, "a host name of letters, digits, '-' and '.'"));
        }
        match (self.tls_cert.is_empty(), self.tls_key.is_empty()) {
            (true, true) => {}
            (false, true) => p.push(Problem::new(key("tls_key"), "", "a PEM key path when tls_cert is set")),
            (true, false) => p.push(Problem::new(key("tls_cert"), "", "a PEM certificate path when tls_key is set")),
            (false, false) => {
                for (name, path) in [("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)] {
                    if std::fs::metadata(path).is_err() {
                        p.push(Problem::new(key(name), path, "an existing, readable PEM file"));
                    }
                }
            }
        }
        p
    }
}

/// The longest watchdog limit accepted: a year.
const MAX_WATCHDOG_MINUTES: u64 = 366 * 24 * 60;

/// `[quarantine_server.watchdog]`: minutes an item may stay in a status
/// before the reference product's "too long in status" alert; 0 = no
/// alert for that status. *Distributed* is where an item's life ends, so
/// it has no limit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Watchdog {
    /// Nobody has looked at it.
    pub quarantined_minutes: u64,
    /// Waiting for a manual submission.
    pub held_minutes: u64,
    /// The analyst has not answered.
    pub submitted_minutes: u64,
    /// No definitions detect it yet.
    pub needed_minutes: u64,
    /// Definitions detect it but have not been distributed.
    pub available_minutes: u64,
    /// Something went wrong and nobody fixed it.
    pub error_minutes: u64,
}

impl Default for Watchdog {
    fn default() -> Self {
        const DAY: u64 = 24 * 60;
        Watchdog {
            quarantined_minutes: DAY,
            held_minutes: DAY,
            submitted_minutes: 7 * DAY,
            needed_minutes: 7 * DAY,
            available_minutes: 3 * DAY,
            error_minutes: 60,
        }
    }
}

impl Watchdog {
    /// Each watched status with its limit in minutes (0 = none).
    pub fn limits(&self) -> [(Status, u64); 6] {
        [
            (Status::Quarantined, self.quarantined_minutes),
            (Status::Held, self.held_minutes),
            (Status::Submitted, self.submitted_minutes),
            (Status::Needed, self.needed_minutes),
            (Status::Available, self.available_minutes),
            (Status::Error, self.error_minutes),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_holds_the_defaults() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/quarantine.toml")).unwrap();
        assert_eq!(Settings::from_toml(&text).unwrap(), Settings::default());
    }

    #[test]
    fn the_defaults_need_only_a_table() {
        let s = Settings::from_toml("[quarantine_server]\nstorage_dir = \"/srv/cq\"\n").unwrap();
        assert_eq!((s.listen.as_str(), s.quota_mb, s.auto_submit), ("0.0.0.0:2847", 500, false));
        assert_eq!(s.definitions(), Path::new("/srv/cq/defs"));
        assert_eq!(s.quota_bytes(), 500 * 1024 * 1024);
    }

    #[test]
    fn problems_name_key_value_and_what_is_allowed() {
        let err = Settings::from_toml("[quarantine_server]\nlisten = \"nowhere\"\nquota_mb = 0\ntimeout_minutes = 0\n")
            .unwrap_err();
        let text: Vec<String> = err.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|t| t.contains("quarantine_server.timeout_minutes = \"0\"")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("quarantine_server.listen = \"nowhere\"") && t.contains("IP:port")));
        assert!(text.iter().any(|t| t.contains("quarantine_server.quota_mb = \"0\"")), "{text:?}");
    }

    #[test]
    fn unknown_keys_and_tables_are_refused() {
        let err = Settings::from_toml("[quarantine_server]\nlisten_on = \"x\"\n").unwrap_err();
        assert!(err[0].to_string().contains("listen_on"), "{err:?}");
        assert!(Settings::from_toml("[smtp]\nlisten = []\n").is_err());
    }

    #[test]
    fn submission_needs_a_relay() {
        let err = Settings::from_toml("[quarantine_server]\nanalyst_address = \"a@av.test\"\n").unwrap_err();
        assert_eq!(err[0].key, "quarantine_server.relay");
        assert!(
            Settings::from_toml("[quarantine_server]\nanalyst_address = \"a@av.test\"\nrelay = \"127.0.0.1:25\"\n")
                .is_ok()
        );
    }

    #[test]
    fn alerts_and_signatures_are_checked() {
        let err = Settings::from_toml(
            "[quarantine_server]\nalert_address = \"ops\"\nsigning_key = \"/nonexistent/defs.key\"\n\
             [quarantine_server.watchdog]\nheld_minutes = 99999999\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = err.iter().map(|p| p.key.as_str()).collect();
        for key in ["alert_address", "signing_key", "watchdog.held_minutes"] {
            assert!(keys.contains(&format!("quarantine_server.{key}").as_str()), "{key}: {err:?}");
        }
        let err = Settings::from_toml("[quarantine_server]\nalert_address = \"ops@x.test\"\n").unwrap_err();
        assert_eq!(err[0].key, "quarantine_server.relay");
        let s = Settings::from_toml(
            "[quarantine_server]\nstorage_dir = \"/srv/cq\"\n[quarantine_server.watchdog]\nerror_minutes = 0\n",
        )
        .unwrap();
        assert_eq!(s.publish(), Path::new("/srv/cq/publish"));
        assert_eq!(s.watchdog.limits()[5], (Status::Error, 0));
        assert_eq!(s.watchdog.limits()[0], (Status::Quarantined, 1440));
    }
}
