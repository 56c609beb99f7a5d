//! Typed settings (SPEC defaults), validation that names key, value and what
//! is allowed, and the live handle every component reads its snapshot from.

mod alerts;
mod antivirus;
mod blocking;
mod diagnostics;
mod edit;
mod handle;
mod liveupdate;
mod logging;
mod notify;
mod validate;

pub use alerts::Alerts;
pub use antivirus::{
    Antivirus, DEFAULT_DEFS_DIR, OnDetect, OnNotRemoved, OnUnrepairable, Outbreak, Quarantine, QuarantineMode,
    ScanPolicy, ScannerConfig, ScannerKind,
};
pub use blocking::{
    Action, Blocking, ContainerRule, DnsblRule, DnsblZone, EncryptedAction, EncryptedRule, FilenameRule, SenderRule,
    SizeRule, SpamRule, SubjectRule, Unprocessable, is_address,
};
pub use diagnostics::{DataMode, Diagnostics, LogMode, Trigger};
pub use handle::{Author, ConfigHandle, UpdateError, load_file};
pub use liveupdate::LiveUpdate;
pub use logging::{Logging, Retain};
pub use notify::{Audience, Notice, NoticeKind, Notify};
pub use validate::{Problem, is_hostname, parse_host_port, parse_nameserver, validate};

use serde::{Deserialize, Serialize};

/// The configuration file used when none is named: the shipped one,
/// relative to the installation directory.
pub const DEFAULT_CONFIG: &str = "etc/mxguard.toml";

/// The whole configuration file. Every key is optional: a missing key takes
/// the SPEC default, so an empty (or absent) file is a working gateway.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub smtp: Smtp,
    pub paths: Paths,
    pub delivery: Delivery,
    pub routing: Routing,
    pub relay: Relay,
    pub dns: Dns,
    pub admin: Admin,
    pub blocking: Blocking,
    pub antivirus: Antivirus,
    pub liveupdate: LiveUpdate,
    pub logging: Logging,
    pub notify: Notify,
    pub alerts: Alerts,
    pub diagnostics: Diagnostics,
}

/// The inbound SMTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    /// Addresses to listen on, "IP:port".
    pub listen: Vec<String>,
    /// Name in the banner, EHLO reply and `Received:` header.
    pub hostname: String,
    /// Sessions served at once; more wait in the listen backlog.
    pub max_incoming_connections: usize,
    /// Hard ceiling on any message, in MB: protects the spool even when the
    /// size blocking rule is off.
    pub max_message_mb: u64,
    /// PEM certificate chain for STARTTLS; empty = self-signed.
    pub tls_cert: String,
    /// PEM private key for STARTTLS; empty = self-signed.
    pub tls_key: String,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            listen: vec!["0.0.0.0:25".into()],
            hostname: system_hostname(),
            max_incoming_connections: 15,
            max_message_mb: 100,
            tls_cert: String::new(),
            tls_key: String::new(),
        }
    }
}

/// Where state lives on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Paths {
    pub queue_dir: String,
    pub log_dir: String,
    /// Conversation logs and saved queue files (SPEC §10 diagnostics).
    pub diag_dir: String,
}

impl Default for Paths {
    fn default() -> Self {
        Paths { queue_dir: "queues".into(), log_dir: "logs".into(), diag_dir: "diag".into() }
    }
}

/// Outbound delivery and the queue switches of SPEC §1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Delivery {
    /// Accept and queue, but deliver nothing.
    pub pause: bool,
    /// New sessions get `421 4.3.2`.
    pub reject_incoming: bool,
    pub max_outgoing_connections: usize,
    /// Days a message may wait in the slow queue before it is returned to
    /// the sender. Fractions are allowed (tests use a few seconds).
    pub max_days: f64,
    pub retry_min_seconds: u64,
    pub retry_max_seconds: u64,
    /// TCP port for deliveries found by MX lookup (Postfix `smtp_tcp_port`).
    pub smtp_port: u16,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            pause: false,
            reject_incoming: false,
            max_outgoing_connections: 30,
            max_days: 5.0,
            retry_min_seconds: 300,
            retry_max_seconds: 3600,
            smtp_port: 25,
        }
    }
}

/// Which domains are local and where their mail goes (SPEC §3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Routing {
    /// "host[:port]" for non-local mail; empty = MX lookup.
    pub default_relay: String,
    pub local: Vec<LocalRoute>,
}

/// One local routing entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalRoute {
    /// Host, domain or IP; `*` and `?` wildcards.
    pub name: String,
    /// "host[:port]"; empty = deliver by MX lookup.
    pub relay: String,
}

/// Anti-relay and address-character rules (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Relay {
    pub mode: RelayMode,
    /// IPs, `1.2.3.*` prefixes, `*.name` (verified PTR) and CIDR blocks.
    pub allowed_hosts: Vec<String>,
    pub chars_enabled: bool,
    pub chars: String,
}

impl Default for Relay {
    fn default() -> Self {
        Relay { mode: RelayMode::Listed, allowed_hosts: Vec::new(), chars_enabled: false, chars: "%!".into() }
    }
}

/// Anti-relay mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// No restrictions: any client may relay anywhere.
    Allow,
    /// Do not allow, except for listed hosts.
    Listed,
}

/// Resolver settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dns {
    /// "IP" or "IP:port"; empty = the system resolver.
    pub nameservers: Vec<String>,
}

/// The browser administration (SPEC §8). Passwords are not here: they
/// live hashed in the accounts file beside the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    pub http_listen: String,
    pub https_listen: String,
    /// Bearer tokens accepted by the JSON API and `/metrics`.
    pub api_tokens: Vec<String>,
    /// The Report-only administrator may log on (once a password is set).
    pub report_only_enabled: bool,
    /// Minutes of inactivity that end a session, for both roles.
    pub timeout_minutes: u64,
    /// Logon and password pages are only served over HTTPS.
    pub ssl_for_logons: bool,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            http_listen: "0.0.0.0:8003".into(),
            https_listen: "0.0.0.0:8043".into(),
            api_tokens: Vec::new(),
            report_only_enabled: false,
            timeout_minutes: 5,
            ssl_for_logons: false,
        }
    }
}

impl Config {
    /// Parse TOML text and validate it; every problem is returned.
    pub fn from_toml(text: &str) -> Result<Config, Vec<Problem>> {
        let config: Config = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| vec![Problem::parse(&e.path().to_string(), e.inner())])?;
        let problems = validate(&config);
        if problems.is_empty() { Ok(config) } else { Err(problems) }
    }

    /// Build and validate a configuration from its JSON form (what the
    /// admin API and forms edit), naming the key of every problem.
    pub fn from_json(value: serde_json::Value) -> Result<Config, Vec<Problem>> {
        let config: Config = serde_path_to_error::deserialize(value)
            .map_err(|e| vec![Problem::invalid(&e.path().to_string(), e.inner())])?;
        let problems = validate(&config);
        if problems.is_empty() { Ok(config) } else { Err(problems) }
    }
}

/// The machine's host name, the SPEC default for `smtp.hostname`.
fn system_hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() { "localhost".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_spec_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.smtp.listen, vec!["0.0.0.0:25"]);
        assert_eq!(c.smtp.max_incoming_connections, 15);
        assert_eq!(c.delivery.max_outgoing_connections, 30);
        assert_eq!(c.delivery.max_days, 5.0);
        assert_eq!(c.relay.mode, RelayMode::Listed);
        assert_eq!(c.relay.chars, "%!");
        assert_eq!(c.admin.http_listen, "0.0.0.0:8003");
        assert_eq!(c.admin.https_listen, "0.0.0.0:8043");
        assert_eq!(c.paths.queue_dir, "queues");
    }

    #[test]
    fn shipped_file_is_valid_and_equals_defaults_except_examples() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/mxguard.toml")).unwrap();
        let shipped = Config::from_toml(&text).unwrap();
        let defaults = Config::default();
        assert_eq!(shipped.delivery, defaults.delivery);
        assert_eq!(shipped.relay, defaults.relay);
        assert_eq!(shipped.admin, defaults.admin);
        assert_eq!(shipped.paths, defaults.paths);
        assert_eq!(shipped.blocking, defaults.blocking);
        assert_eq!(shipped.antivirus, defaults.antivirus);
        assert_eq!(shipped.liveupdate, defaults.liveupdate);
        assert_eq!(shipped.logging, defaults.logging);
        assert_eq!(shipped.notify, defaults.notify);
        assert_eq!(shipped.alerts, defaults.alerts);
        assert_eq!(shipped.diagnostics, defaults.diagnostics);
    }

    #[test]
    fn integer_max_days_is_accepted() {
        let c = Config::from_toml("[delivery]\nmax_days = 2\n").unwrap();
        assert_eq!(c.delivery.max_days, 2.0);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[smtp]\nlisten_on = 1\n").unwrap_err();
        let text = err[0].to_string();
        assert_eq!(err[0].key, "smtp.listen_on");
        assert!(text.contains("expected one of") && text.contains("`listen`"), "{text}");
    }

    #[test]
    fn unknown_section_is_named() {
        let err = Config::from_toml("[smpt]\n").unwrap_err();
        assert!(err[0].to_string().contains("smpt"));
    }

    #[test]
    fn bad_enum_value_lists_allowed_values() {
        let err = Config::from_toml("[relay]\nmode = \"open\"\n").unwrap_err();
        assert_eq!(err[0].key, "relay.mode");
        let text = err[0].to_string();
        assert!(text.contains("open") && text.contains("allow") && text.contains("listed"), "{text}");
    }

    #[test]
    fn wrong_type_is_refused() {
        let err = Config::from_toml("[delivery]\npause = \"yes\"\n").unwrap_err();
        assert_eq!(err[0].key, "delivery.pause");
        let err =
            Config::from_toml("[[routing.local]]\nname = \"a.test\"\n[[routing.local]]\nrelay = 25\n").unwrap_err();
        assert_eq!(err[0].key, "routing.local[1].relay");
    }
}
