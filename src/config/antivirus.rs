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
        ] {
            assert!(problems(toml).iter().any(|k| k == key), "{key} not refused for {toml:?}: {:?}", problems(toml));
        }
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
