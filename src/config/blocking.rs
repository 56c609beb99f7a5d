//! The blocking policy settings (SPEC §4) with their defaults, and the
//! checks that refuse values the policy cannot work with.

use super::validate::{Problem, is_hostname, range};
use serde::{Deserialize, Serialize};

/// `[blocking]`: every rule of the blocking policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Blocking {
    /// What happens to a message that cannot be taken apart.
    pub unprocessable: Unprocessable,
    pub size: SizeRule,
    pub subject: SubjectRule,
    pub filename: FilenameRule,
    pub container: ContainerRule,
    pub encrypted: EncryptedRule,
    pub sender: SenderRule,
    pub dnsbl: DnsblRule,
    pub spam: SpamRule,
}

/// Messages that cannot be processed (malformed MIME, corrupt archives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unprocessable {
    Deliver,
    /// The recommended default.
    #[default]
    Drop,
    /// Return to the sender with a delivery status notification.
    Bounce,
    /// Keep in the hold queue for the administrator.
    Hold,
}

/// What a message-level rule does with a message that matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Drop,
    /// Deliver and record the event.
    Log,
    /// Deliver to `forward_to` (with `forward_subject`) instead.
    Forward,
}

/// What happens to an encrypted container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptedAction {
    /// Remove the container and deliver the rest.
    #[default]
    Delete,
    Drop,
    Log,
    Forward,
}

/// `[blocking.size]`: refuse big messages at SMTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SizeRule {
    pub enabled: bool,
    /// Whole megabytes.
    pub max_mb: u64,
}

impl Default for SizeRule {
    fn default() -> Self {
        SizeRule { enabled: false, max_mb: 50 }
    }
}

/// `[blocking.subject]`: subjects with `*` and `?` wildcards.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubjectRule {
    pub enabled: bool,
    pub patterns: Vec<String>,
    pub action: Action,
    pub forward_to: String,
    pub forward_subject: String,
}

/// `[blocking.filename]`: attachment and member names to delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilenameRule {
    pub enabled: bool,
    pub patterns: Vec<String>,
    /// Put a text part (or `DELETEDn.TXT` member) where the file was.
    pub replace: bool,
    pub replacement_text: String,
}

/// The SPEC's pre-filled list: only active when the rule is enabled.
pub const DEFAULT_BLOCKED_NAMES: [&str; 45] = [
    "*.ad", "*.ade", "*.adp", "*.asp", "*.bas", "*.bat", "*.chm", "*.cmd", "*.com", "*.cpl", "*.crt", "*.exe", "*.hlp",
    "*.hta", "*.inf", "*.ins", "*.isp", "*.js", "*.jse", "*.lnk", "*.mda", "*.mde", "*.msc", "*.msi", "*.msp", "*.mst",
    "*.pcd", "*.pif", "*.reg", "*.scr", "*.sct", "*.shb", "*.shs", "*.url", "*.vb", "*.vbe", "*.vbs", "*.vsd", "*.vss",
    "*.vst", "*.vsw", "*.ws", "*.wsc", "*.wsf", "*.wsh",
];

impl Default for FilenameRule {
    fn default() -> Self {
        FilenameRule {
            enabled: false,
            patterns: DEFAULT_BLOCKED_NAMES.iter().map(|s| s.to_string()).collect(),
            replace: true,
            replacement_text: "An attachment was removed from this message because its file name is not \
                               allowed by the mail policy of the recipient's organisation."
                .into(),
        }
    }
}

/// `[blocking.container]`: decomposition limits; a message that exceeds
/// them is dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerRule {
    pub enabled: bool,
    pub max_extract_mb: u64,
    pub max_depth: usize,
    pub max_files: u64,
    pub max_ratio: u64,
    pub max_seconds: u64,
}

impl Default for ContainerRule {
    fn default() -> Self {
        ContainerRule {
            enabled: true,
            max_extract_mb: 100,
            max_depth: 10,
            max_files: 1000,
            max_ratio: 100,
            max_seconds: 30,
        }
    }
}

/// `[blocking.encrypted]`: password-protected archives and documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptedRule {
    pub action: EncryptedAction,
    pub forward_to: String,
    pub forward_subject: String,
    pub replace: bool,
    pub replacement_text: String,
}

impl Default for EncryptedRule {
    fn default() -> Self {
        EncryptedRule {
            action: EncryptedAction::Delete,
            forward_to: String::new(),
            forward_subject: String::new(),
            replace: true,
            replacement_text: "An encrypted attachment was removed from this message: its content cannot be \
                               checked for viruses."
                .into(),
        }
    }
}

/// `[blocking.sender]`: envelope and header senders to block.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderRule {
    pub enabled: bool,
    /// `user@domain`, `@domain` (exactly that domain) or `.domain` (its
    /// subdomains).
    pub entries: Vec<String>,
    pub action: Action,
    pub forward_to: String,
    pub forward_subject: String,
}

/// `[blocking.dnsbl]`: DNS block lists queried for the client's address.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsblRule {
    pub enabled: bool,
    pub zones: Vec<DnsblZone>,
    /// `drop` refuses the client at SMTP with `554 5.7.1`.
    pub action: Action,
    pub forward_to: String,
    pub forward_subject: String,
    /// The anti-spam white list: sender domains (`@domain` / `.domain`)
    /// that bypass the DNSBL and heuristic spam checks.
    pub whitelist: Vec<String>,
}

/// One block list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsblZone {
    pub zone: String,
    pub enabled: bool,
    /// Only these answers count as listed; empty = any answer.
    pub codes: Vec<String>,
}

impl Default for DnsblZone {
    fn default() -> Self {
        DnsblZone { zone: String::new(), enabled: true, codes: Vec::new() }
    }
}

/// `[blocking.spam]`: the heuristic spam scorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpamRule {
    pub enabled: bool,
    /// 1 (fewest false positives) … 5 (catches most).
    pub sensitivity: u8,
    /// Put in front of the subject of a message judged spam.
    pub subject_tag: String,
    /// An administrator's own rules file; empty = the shipped
    /// `etc/spam-rules.toml`.
    pub rules_file: String,
}

impl Default for SpamRule {
    fn default() -> Self {
        SpamRule { enabled: false, sensitivity: 1, subject_tag: "[Spam]".into(), rules_file: String::new() }
    }
}

/// Every problem in the blocking settings.
pub fn check(b: &Blocking, p: &mut Vec<Problem>) {
    range(p, "blocking.size.max_mb", b.size.max_mb, 1, 4096);
    for (i, s) in b.subject.patterns.iter().enumerate() {
        if s.trim().is_empty() {
            p.push(Problem::new(format!("blocking.subject.patterns[{i}]"), s, "a subject, optionally with * and ?"));
        }
    }
    forwarding(p, "blocking.subject", b.subject.action == Action::Forward, &b.subject.forward_to);
    for (i, name) in b.filename.patterns.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() || name == "*" || name == "*.*" {
            p.push(Problem::new(
                format!("blocking.filename.patterns[{i}]"),
                name,
                "a file name or pattern such as \"*.exe\" or \"badnews.doc\" (\"*\" and \"*.*\" would block everything)",
            ));
        }
    }
    let c = &b.container;
    range(p, "blocking.container.max_extract_mb", c.max_extract_mb, 1, 100_000);
    range(p, "blocking.container.max_depth", c.max_depth, 1, 1000);
    range(p, "blocking.container.max_files", c.max_files, 1, 10_000_000);
    range(p, "blocking.container.max_ratio", c.max_ratio, 1, 1_000_000);
    range(p, "blocking.container.max_seconds", c.max_seconds, 1, 3600);
    forwarding(p, "blocking.encrypted", b.encrypted.action == EncryptedAction::Forward, &b.encrypted.forward_to);
    for (i, e) in b.sender.entries.iter().enumerate() {
        if !is_sender_entry(e) {
            p.push(Problem::new(
                format!("blocking.sender.entries[{i}]"),
                e,
                "an address (\"user@example.com\"), \"@example.com\" for that domain or \".example.com\" for its subdomains",
            ));
        }
    }
    forwarding(p, "blocking.sender", b.sender.action == Action::Forward, &b.sender.forward_to);
    check_dnsbl(&b.dnsbl, p);
    range(p, "blocking.spam.sensitivity", b.spam.sensitivity, 1, 5);
}

fn check_dnsbl(d: &DnsblRule, p: &mut Vec<Problem>) {
    if d.zones.len() > 3 {
        p.push(Problem::new("blocking.dnsbl.zones", d.zones.len(), "at most 3 block lists"));
    }
    for (i, z) in d.zones.iter().enumerate() {
        if !is_hostname(z.zone.trim_end_matches('.')) {
            p.push(Problem::new(
                format!("blocking.dnsbl.zones[{i}].zone"),
                &z.zone,
                "a DNS zone such as \"zen.example.org\"",
            ));
        }
        for (j, code) in z.codes.iter().enumerate() {
            if code.parse::<std::net::Ipv4Addr>().is_err() {
                p.push(Problem::new(
                    format!("blocking.dnsbl.zones[{i}].codes[{j}]"),
                    code,
                    "an IPv4 return code such as \"127.0.0.2\"",
                ));
            }
        }
    }
    for (i, w) in d.whitelist.iter().enumerate() {
        if !(w.starts_with('@') || w.starts_with('.')) || !is_hostname(&w[1..]) {
            p.push(Problem::new(
                format!("blocking.dnsbl.whitelist[{i}]"),
                w,
                "a sender domain: \"@example.com\" for that domain or \".example.com\" for its subdomains",
            ));
        }
    }
    forwarding(p, "blocking.dnsbl", d.action == Action::Forward, &d.forward_to);
}

/// A forwarding action needs somewhere to forward to.
fn forwarding(p: &mut Vec<Problem>, section: &str, forwards: bool, to: &str) {
    if forwards && !is_address(to) {
        p.push(Problem::new(
            format!("{section}.forward_to"),
            to,
            "an address such as \"quarantine@example.com\" when action is \"forward\"",
        ));
    }
}

/// True for `local@host.name`.
pub fn is_address(s: &str) -> bool {
    s.rsplit_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !local.contains(char::is_whitespace) && is_hostname(domain))
}

fn is_sender_entry(e: &str) -> bool {
    match e.chars().next() {
        Some('@' | '.') => is_hostname(&e[1..]),
        _ => is_address(e),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(toml: &str) -> Vec<String> {
        match Config::from_toml(toml) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(|p| p.key.clone()).collect(),
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let b = Config::default().blocking;
        assert!(!b.size.enabled && b.size.max_mb == 50);
        assert!(
            !b.filename.enabled && b.filename.patterns.len() == 45 && b.filename.patterns.contains(&"*.vbs".into())
        );
        assert!(b.container.enabled && b.container.max_depth == 10 && b.container.max_files == 1000);
        assert_eq!(b.encrypted.action, super::EncryptedAction::Delete);
        assert_eq!(b.unprocessable, super::Unprocessable::Drop);
        assert_eq!((b.spam.sensitivity, b.spam.subject_tag.as_str()), (1, "[Spam]"));
    }

    #[test]
    fn every_bad_value_is_refused() {
        for (toml, key) in [
            ("[blocking.size]\nmax_mb = 0", "blocking.size.max_mb"),
            ("[blocking.subject]\npatterns = [\" \"]", "blocking.subject.patterns[0]"),
            ("[blocking.subject]\naction = \"forward\"", "blocking.subject.forward_to"),
            ("[blocking.filename]\npatterns = [\"*.exe\", \"*\"]", "blocking.filename.patterns[1]"),
            ("[blocking.filename]\npatterns = [\"*.*\"]", "blocking.filename.patterns[0]"),
            ("[blocking.container]\nmax_extract_mb = 0", "blocking.container.max_extract_mb"),
            ("[blocking.container]\nmax_depth = 0", "blocking.container.max_depth"),
            ("[blocking.container]\nmax_files = 0", "blocking.container.max_files"),
            ("[blocking.container]\nmax_ratio = 0", "blocking.container.max_ratio"),
            ("[blocking.container]\nmax_seconds = 0", "blocking.container.max_seconds"),
            ("[blocking.encrypted]\naction = \"forward\"\nforward_to = \"nobody\"", "blocking.encrypted.forward_to"),
            ("[blocking.sender]\nentries = [\"spam.test\"]", "blocking.sender.entries[0]"),
            ("[blocking.dnsbl]\nzones = [{ zone = \"bad zone\" }]", "blocking.dnsbl.zones[0].zone"),
            ("[blocking.dnsbl]\nzones = [{ zone = \"bl.test\", codes = [\"2\"] }]", "blocking.dnsbl.zones[0].codes[0]"),
            (
                "[blocking.dnsbl]\nzones = [{ zone = \"a.test\" }, { zone = \"b.test\" }, { zone = \"c.test\" }, { zone = \"d.test\" }]",
                "blocking.dnsbl.zones",
            ),
            ("[blocking.dnsbl]\nwhitelist = [\"friend.test\"]", "blocking.dnsbl.whitelist[0]"),
            ("[blocking.spam]\nsensitivity = 6", "blocking.spam.sensitivity"),
            ("[blocking]\nunprocessable = \"ignore\"", "blocking.unprocessable"),
            ("[blocking.encrypted]\naction = \"repair\"", "blocking.encrypted.action"),
        ] {
            assert!(problems(toml).iter().any(|k| k == key), "{key} not refused for {toml:?}: {:?}", problems(toml));
        }
    }

    #[test]
    fn good_values_pass() {
        let ok = "[blocking.sender]\nentries = [\"@spam.test\", \".bulk.test\", \"bad@evil.test\"]\naction = \"forward\"\n\
                  forward_to = \"review@example.com\"\n[blocking.dnsbl]\nenabled = true\nwhitelist = [\"@friend.test\"]\n\
                  zones = [{ zone = \"bl.example.org\", codes = [\"127.0.0.2\"] }]\n";
        assert_eq!(problems(ok), Vec::<String>::new());
    }
}
