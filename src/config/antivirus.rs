//! The antivirus policy settings (SPEC §6) with their defaults, and the
//! checks that refuse values the policy cannot work with.

use super::validate::{Problem, range};
use crate::scan::clamd::Address;
use crate::scan::heuristics::Level;
use serde::{Deserialize, Serialize};

/// Where the shipped definitions are, relative to the working directory
/// of a gateway run from its installation directory.
pub const DEFAULT_DEFS_DIR: &str = "etc/defs";

/// `[antivirus]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Antivirus {
    pub enabled: bool,
    /// The heuristics ("Bloodhound"): off, low, medium, high.
    pub heuristic_level: Level,
    pub scan_policy: ScanPolicy,
    /// Extensions (".exe") scanned under `scan_policy = "include"`.
    pub include: Vec<String>,
    /// Extensions not scanned (nor opened) under `scan_policy = "exclude"`.
    pub exclude: Vec<String>,
    pub on_detect: OnDetect,
    pub on_unrepairable: OnUnrepairable,
    pub on_not_removed: OnNotRemoved,
    /// Put a text part where a deleted infected attachment was.
    pub replace: bool,
    pub replacement_text: String,
    /// Signature files for the built-in engine.
    pub defs_dir: String,
    /// The scanners, in chain order. The heuristics run last unless listed.
    pub scanners: Vec<ScannerConfig>,
    pub outbreak: Outbreak,
    pub quarantine: Quarantine,
}

impl Default for Antivirus {
    fn default() -> Self {
        Antivirus {
            enabled: true,
            heuristic_level: Level::Medium,
            scan_policy: ScanPolicy::All,
            include: Vec::new(),
            exclude: Vec::new(),
            on_detect: OnDetect::Repair,
            on_unrepairable: OnUnrepairable::Delete,
            on_not_removed: OnNotRemoved::Log,
            replace: true,
            replacement_text: "An attachment of this message was infected by a virus and has been removed.".into(),
            defs_dir: DEFAULT_DEFS_DIR.into(),
            scanners: vec![ScannerConfig::default()],
            outbreak: Outbreak::default(),
            quarantine: Quarantine::default(),
        }
    }
}

/// Which files are scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanPolicy {
    /// Every file, whatever its extension.
    #[default]
    All,
    /// Only files whose extension is in `include` (container members too).
    Include,
    /// Every file except those whose extension is in `exclude`; an
    /// excluded container is not looked into.
    Exclude,
}

/// What to do when a virus is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDetect {
    /// Remove the infection and keep the rest; deliver if repaired.
    #[default]
    Repair,
    /// Delete the infected attachment and deliver.
    Delete,
    /// Deliver unchanged and record it.
    Log,
}

/// What to do when repair is not possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnrepairable {
    #[default]
    Delete,
    Log,
}

/// What to do with a message whose infection was neither repaired nor
/// deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNotRemoved {
    Drop,
    #[default]
    Log,
}

/// One scanner of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerConfig {
    pub kind: ScannerKind,
    /// For clamd: `IP:port` or a Unix socket path.
    pub address: String,
    /// For clamd: seconds allowed for one file.
    pub timeout_seconds: u64,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig { kind: ScannerKind::Builtin, address: String::new(), timeout_seconds: 30 }
    }
}

/// Kinds of scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    /// The built-in engine reading ClamAV-format signatures from `defs_dir`.
    #[default]
    Builtin,
    Clamd,
    Heuristics,
}

/// `[antivirus.outbreak]`: alert when many infected messages arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outbreak {
    pub enabled: bool,
    /// Infected messages ...
    pub count: u32,
    /// ... within this many minutes make an outbreak.
    pub minutes: u32,
    /// Addresses told about it.
    pub notify: Vec<String>,
}

impl Default for Outbreak {
    fn default() -> Self {
        Outbreak { enabled: false, count: 10, minutes: 5, notify: Vec::new() }
    }
}

/// `[antivirus.quarantine]`: which infected files go to the Central
/// Quarantine (SPEC §6-7), and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quarantine {
    pub mode: QuarantineMode,
    /// The Central Quarantine's "host:port" (port 2847 when left out).
    pub server: String,
    /// This gateway's token, one of the server's `gateway_tokens`.
    pub token: String,
    /// Check the server's certificate; off only for a test server.
    pub tls_verify: bool,
    /// A PEM file of the CA (or the server's own certificate) to trust
    /// instead of the public roots; empty for the public roots.
    pub ca: String,
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            mode: QuarantineMode::Nothing,
            server: String::new(),
            token: String::new(),
            tls_verify: true,
            ca: String::new(),
        }
    }
}

/// The Central Quarantine's port when `server` names none (SPEC §7).
const QUARANTINE_PORT: u16 = 2847;

impl Quarantine {
    /// The server's host and port, `None` when `server` is not a
    /// "host[:port]".
    pub fn address(&self) -> Option<(String, u16)> {
        let s = self.server.trim();
        let bare_ip = s.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
        match (bare_ip, s.parse::<std::net::SocketAddr>()) {
            (Ok(ip), _) => Some((ip.to_string(), QUARANTINE_PORT)),
            (_, Ok(a)) => Some((a.ip().to_string(), a.port())),
            _ if s.contains(':') => super::parse_host_port(s),
            _ => super::parse_host_port(&format!("{s}:{QUARANTINE_PORT}")),
        }
    }
}

/// What to quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuarantineMode {
    #[default]
    Nothing,
    /// Infected files the Repair action could not repair.
    Unrepaired,
    /// Every infected file, container members included.
    All,
}

impl QuarantineMode {
    /// The configuration value, for the Status page and API.
    pub fn name(self) -> &'static str {
        match self {
            QuarantineMode::Nothing => "nothing",
            QuarantineMode::Unrepaired => "unrepaired",
            QuarantineMode::All => "all",
        }
    }
}

/// Every problem in the antivirus settings.
pub fn check(a: &Antivirus, p: &mut Vec<Problem>) {
    for (key, list) in [("antivirus.include", &a.include), ("antivirus.exclude", &a.exclude)] {
        for (i, ext) in list.iter().enumerate() {
            let bare = ext.trim().trim_start_matches('.');
            if bare.is_empty() || bare.contains(['.', '/', '\\', '*', '?', ' ']) {
                p.push(Problem::new(format!("{key}[{i}]"), ext, "a file extension such as \".exe\""));
            }
        }
    }
    if a.scan_policy == ScanPolicy::Include && a.include.is_empty() {
        p.push(Problem::new("antivirus.include", "[]", "at least one extension when scan_policy is \"include\""));
    }
    if a.enabled && a.scanners.is_empty() && a.heuristic_level == Level::Off {
        p.push(Problem::new(
            "antivirus.scanners",
            "[]",
            "at least one scanner, or heuristics, while scanning is enabled",
        ));
    }
    for (i, s) in a.scanners.iter().enumerate() {
        if s.kind == ScannerKind::Clamd && Address::parse(&s.address).is_none() {
            p.push(Problem::new(
                format!("antivirus.scanners[{i}].address"),
                &s.address,
                "clamd's \"IP:port\" (e.g. \"127.0.0.1:3310\") or socket path (e.g. \"/run/clamav/clamd.ctl\")",
            ));
        }
        range(p, &format!("antivirus.scanners[{i}].timeout_seconds"), s.timeout_seconds, 1, 3600);
    }
    range(p, "antivirus.outbreak.count", a.outbreak.count, 1, 1_000_000);
    range(p, "antivirus.outbreak.minutes", a.outbreak.minutes, 1, 10_080);
    if a.defs_dir.trim().is_empty() {
        p.push(Problem::new("antivirus.defs_dir", "", "the directory holding signature files"));
    }
    check_quarantine(&a.quarantine, p);
}

/// The Central Quarantine must be named, with a token, once something is
/// quarantined; a CA file must hold a certificate.
fn check_quarantine(q: &Quarantine, p: &mut Vec<Problem>) {
    let used = q.mode != QuarantineMode::Nothing;
    if (used || !q.server.trim().is_empty()) && q.address().is_none() {
        p.push(Problem::new(
            "antivirus.quarantine.server",
            &q.server,
            format!(
                "the Central Quarantine's \"host[:port]\" (port {QUARANTINE_PORT} if left out), e.g. \"cq.example.com\""
            ),
        ));
    }
    if used && q.token.trim().is_empty() {
        p.push(Problem::new(
            "antivirus.quarantine.token",
            "",
            "the token the Central Quarantine accepts from this gateway when mode is not \"nothing\"",
        ));
    }
    if q.token.chars().any(|c| !c.is_ascii_graphic()) {
        p.push(Problem::new("antivirus.quarantine.token", "(not shown)", "printable ASCII without spaces"));
    }
    if !q.ca.is_empty()
        && let Err(why) = crate::quarantine::upload::trust_anchors(&q.ca)
    {
        p.push(Problem::new("antivirus.quarantine.ca", &q.ca, format!("a readable PEM file of certificates ({why})")));
    }
}

impl Antivirus {
    /// True if a file with these claimed names is to be scanned.
    pub fn scans(&self, names: &[String]) -> bool {
        let listed = |list: &[String]| {
            names.iter().any(|n| {
                crate::mime::names::forms(n).iter().any(|form| {
                    list.iter()
                        .any(|ext| form.ends_with(&format!(".{}", ext.trim().trim_start_matches('.').to_lowercase())))
                })
            })
        };
        match self.scan_policy {
            ScanPolicy::All => true,
            ScanPolicy::Include => listed(&self.include),
            ScanPolicy::Exclude => !listed(&self.exclude),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn problems(toml: &str) -> Vec<String> {
        Config::from_toml(toml).err().unwrap_or_default().iter().map(|p| p.key.clone()).collect()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let a = Antivirus::default();
        assert!(a.enabled && a.heuristic_level == Level::Medium && a.scan_policy == ScanPolicy::All);
        assert_eq!(
            (a.on_detect, a.on_unrepairable, a.on_not_removed),
            (OnDetect::Repair, OnUnrepairable::Delete, OnNotRemoved::Log)
        );
        assert_eq!(a.scanners, vec![ScannerConfig::default()]);
        assert!(!a.outbreak.enabled && a.outbreak.count == 10 && a.outbreak.minutes == 5);
    }

    #[test]
    fn bad_values_are_refused() {
        for (toml, key) in [
            ("[antivirus]\ninclude = [\"*.exe\"]", "antivirus.include[0]"),
            ("[antivirus]\nscan_policy = \"include\"", "antivirus.include"),
            ("[antivirus]\nexclude = [\"\"]", "antivirus.exclude[0]"),
            ("[antivirus]\nscanners = []\nheuristic_level = \"off\"", "antivirus.scanners"),
            ("[[antivirus.scanners]]\nkind = \"clamd\"\naddress = \"clamd\"", "antivirus.scanners[0].address"),
            (
                "[[antivirus.scanners]]\nkind = \"clamd\"\naddress = \"127.0.0.1:3310\"\ntimeout_seconds = 0",
                "antivirus.scanners[0].timeout_seconds",
            ),
            ("[antivirus.outbreak]\ncount = 0", "antivirus.outbreak.count"),
            ("[antivirus]\non_detect = \"quarantine\"", "antivirus.on_detect"),
            ("[antivirus]\nheuristic_level = \"extreme\"", "antivirus.heuristic_level"),
            ("[antivirus.quarantine]\nmode = \"some\"", "antivirus.quarantine.mode"),
            ("[antivirus.quarantine]\nmode = \"all\"\ntoken = \"t\"", "antivirus.quarantine.server"),
            ("[antivirus.quarantine]\nserver = \"cq:port\"", "antivirus.quarantine.server"),
            ("[antivirus.quarantine]\nmode = \"unrepaired\"\nserver = \"cq\"", "antivirus.quarantine.token"),
            ("[antivirus.quarantine]\ntoken = \"two words\"", "antivirus.quarantine.token"),
            ("[antivirus.quarantine]\nca = \"/nonexistent/ca.pem\"", "antivirus.quarantine.ca"),
        ] {
            assert!(problems(toml).iter().any(|k| k == key), "{key} not refused for {toml:?}: {:?}", problems(toml));
        }
    }

    #[test]
    fn the_quarantine_is_off_by_default_and_its_port_is_2847() {
        let q = Config::from_toml("").unwrap().antivirus.quarantine;
        assert_eq!((q.mode, q.tls_verify, q.mode.name()), (QuarantineMode::Nothing, true, "nothing"));
        let text = "[antivirus.quarantine]\nmode = \"all\"\nserver = \"CQ.example.com\"\ntoken = \"t1\"";
        let q = Config::from_toml(text).unwrap().antivirus.quarantine;
        assert_eq!((q.mode, q.address()), (QuarantineMode::All, Some(("cq.example.com".into(), QUARANTINE_PORT))));
        for (server, address) in [
            ("10.0.0.1", ("10.0.0.1", QUARANTINE_PORT)),
            ("10.0.0.1:443", ("10.0.0.1", 443)),
            ("::1", ("::1", QUARANTINE_PORT)),
            ("[::1]:9", ("::1", 9)),
            ("cq:8443", ("cq", 8443)),
        ] {
            let q = Quarantine { server: server.into(), ..Quarantine::default() };
            assert_eq!(q.address(), Some((address.0.to_string(), address.1)), "{server}");
        }
        let problem = Config::from_toml("[antivirus.quarantine]\nmode = \"al\"").unwrap_err();
        assert!(problem[0].to_string().contains("unrepaired"), "the allowed values are named: {}", problem[0]);
    }

    #[test]
    fn scan_policy_by_extension() {
        let names = |n: &str| vec![n.to_string()];
        let include = Antivirus {
            scan_policy: ScanPolicy::Include,
            include: vec![".exe".into(), "zip".into()],
            ..Antivirus::default()
        };
        assert!(include.scans(&names("A.EXE")) && include.scans(&names("x.zip")) && !include.scans(&names("a.txt")));
        let exclude =
            Antivirus { scan_policy: ScanPolicy::Exclude, exclude: vec![".ttt".into()], ..Antivirus::default() };
        assert!(!exclude.scans(&names("data.TTT")) && exclude.scans(&names("data.txt")) && exclude.scans(&[]));
    }
}
