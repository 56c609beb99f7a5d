//! Policy rules. Connection and envelope rules (relay, characters, size,
//! DNSBL) are applied by the SMTP session; the content rules of SPEC §4
//! run in the fast queue through [`evaluate`], which knows their order.
//! One file per rule.

pub mod antivirus;
pub mod chars;
pub mod container;
pub mod dnsbl;
pub mod encrypted;
pub mod filename;
pub mod hosts;
pub mod relay;
pub mod sender;
pub mod size;
pub mod spam;
pub mod subject;

use crate::config::{Action, Config, EncryptedAction, Unprocessable};
use crate::mime::Decomposition;
use crate::mime::limits::LimitHit;
use crate::mime::rebuild::{Edit, Edits};
use std::fmt;

/// Something a rule found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The subject matched a listed phrase.
    Subject { pattern: String },
    /// The envelope or header sender matched an entry.
    Sender { address: String, entry: String },
    /// The client is on a DNSBL (found at connect, action log or forward).
    SpamList { zone: String },
    /// An attachment or container member has a blocked name.
    FileName { path: String, name: String, pattern: String },
    /// Decomposition broke a container limit.
    ContainerLimit { path: String, hit: LimitHit },
    /// A password-protected archive or document.
    Encrypted { path: String, name: String },
    /// The message cannot be taken apart.
    Unprocessable { path: String, why: String },
    /// The heuristic spam score reached the threshold.
    Spam { percent: u8, rules: Vec<String> },
    /// A scanner found a virus in a file.
    Virus { path: String, name: String, virus: String, scanner: String },
    /// A scanner could not scan a file: never taken as clean.
    ScanError { path: String, why: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Subject { pattern } => write!(f, "subject blocked (matches {pattern:?})"),
            Finding::Sender { address, entry } => write!(f, "sender blocked ({address} matches {entry})"),
            Finding::SpamList { zone } => write!(f, "spam list: client listed by {zone}"),
            Finding::FileName { path, name, pattern } => {
                write!(f, "attachment deleted: {name} at {path} (file name matches {pattern})")
            }
            Finding::ContainerLimit { path, hit } => write!(f, "container violation at {path}: {}", hit.describe()),
            Finding::Encrypted { path, name } => write!(f, "encrypted container {name} at {path}"),
            Finding::Unprocessable { path, why } => write!(f, "cannot be processed ({why}) at {path}"),
            Finding::Spam { percent, rules } => {
                write!(f, "heuristic spam detection: score {percent}% ({})", rules.join(", "))
            }
            Finding::Virus { path, name, virus, scanner } => {
                write!(f, "virus {virus} in {name} at {path} (found by {scanner})")
            }
            Finding::ScanError { path, why } => write!(f, "scan error at {path}: {why}"),
        }
    }
}

/// What was done about a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handling {
    Dropped,
    Logged,
    Forwarded(String),
    /// The part was removed (and replaced, if so configured).
    Deleted,
    /// The infection was removed and the rest kept.
    Repaired,
    Bounced,
    Held,
    /// Delivered unchanged as the policy says.
    Delivered,
    /// The subject was tagged.
    Tagged,
}

impl fmt::Display for Handling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handling::Dropped => f.write_str("dropped"),
            Handling::Logged => f.write_str("logged"),
            Handling::Forwarded(to) => write!(f, "forwarded to <{to}>"),
            Handling::Deleted => f.write_str("deleted"),
            Handling::Repaired => f.write_str("repaired"),
            Handling::Bounced => f.write_str("bounced"),
            Handling::Held => f.write_str("held"),
            Handling::Delivered => f.write_str("delivered"),
            Handling::Tagged => f.write_str("subject tagged"),
        }
    }
}

/// What becomes of the message as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Disposition {
    #[default]
    Deliver,
    Drop,
    /// Deliver the original to `to` instead, with `subject` if not empty.
    Forward {
        to: String,
        subject: String,
    },
    Bounce,
    Hold,
}

/// The policy's verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Everything that matched, in rule order, with what was done.
    pub findings: Vec<(Finding, Handling)>,
    pub disposition: Disposition,
    /// Parts to remove or replace.
    pub edits: Edits,
    /// New subject prefix (heuristic spam).
    pub subject_tag: Option<String>,
}

impl Decision {
    fn stop(&mut self, finding: Finding, handling: Handling, disposition: Disposition) {
        self.findings.push((finding, handling));
        self.disposition = disposition;
    }

    fn stopped(&self) -> bool {
        self.disposition != Disposition::Deliver
    }

    /// Apply a drop / log / forward action for a message-level finding.
    fn act(&mut self, finding: Finding, action: Action, to: &str, subject: &str) {
        match action {
            Action::Drop => self.stop(finding, Handling::Dropped, Disposition::Drop),
            Action::Log => self.findings.push((finding, Handling::Logged)),
            Action::Forward => self.stop(
                finding,
                Handling::Forwarded(to.to_string()),
                Disposition::Forward { to: to.to_string(), subject: subject.to_string() },
            ),
        }
    }
}

/// What the content rules look at.
pub struct Input<'a> {
    /// Envelope sender (empty for bounces).
    pub sender: &'a str,
    /// Addresses in the header `From:`.
    pub header_from: Vec<String>,
    /// The decoded subject.
    pub subject: &'a str,
    /// The DNSBL zone listing the client, when that was decided at connect
    /// and the action lets the message through.
    pub listed_by: Option<&'a str>,
    pub parts: &'a Decomposition,
    /// The parsed message, for the spam scorer.
    pub message: Option<&'a mail_parser::Message<'a>>,
    pub spam_rules: &'a spam::SpamRules,
}

/// Run the content rules in SPEC order; the first rule that stops the
/// message (drop, forward, bounce, hold) decides, rules that only log go on.
pub fn evaluate(config: &Config, input: &Input<'_>) -> Decision {
    let b = &config.blocking;
    let mut d = Decision::default();
    if let Some(pattern) = subject::check(&b.subject, input.subject) {
        let finding = Finding::Subject { pattern: pattern.to_string() };
        d.act(finding, b.subject.action, &b.subject.forward_to, &b.subject.forward_subject);
    }
    let mut senders: Vec<&str> = vec![input.sender];
    senders.extend(input.header_from.iter().map(String::as_str));
    if let (false, Some((address, entry))) = (d.stopped(), sender::check(&b.sender, &senders)) {
        let finding = Finding::Sender { address: address.to_string(), entry: entry.to_string() };
        d.act(finding, b.sender.action, &b.sender.forward_to, &b.sender.forward_subject);
    }
    if let (false, Some(zone)) = (d.stopped(), input.listed_by) {
        let finding = Finding::SpamList { zone: zone.to_string() };
        d.act(finding, b.dnsbl.action, &b.dnsbl.forward_to, &b.dnsbl.forward_subject);
    }
    if d.stopped() {
        return d;
    }
    if let Some((path, hit)) = input.parts.violation.as_ref() {
        let finding = Finding::ContainerLimit { path: path.clone(), hit: *hit };
        match container::check(&b.container, input.parts) {
            Some(_) => return stop(d, finding, Handling::Dropped, Disposition::Drop),
            None => d.findings.push((finding, Handling::Logged)),
        }
    }
    if let Some((path, why)) = input.parts.unprocessable.as_ref() {
        let finding = Finding::Unprocessable { path: path.clone(), why: why.clone() };
        match b.unprocessable {
            Unprocessable::Deliver => d.findings.push((finding, Handling::Delivered)),
            Unprocessable::Drop => return stop(d, finding, Handling::Dropped, Disposition::Drop),
            Unprocessable::Bounce => return stop(d, finding, Handling::Bounced, Disposition::Bounce),
            Unprocessable::Hold => return stop(d, finding, Handling::Held, Disposition::Hold),
        }
    }
    let all = input.parts.all();
    for blocked in filename::check(&b.filename, &all) {
        let stand_in = b.filename.replace.then(|| b.filename.replacement_text.clone());
        d.edits.insert(blocked.path.clone(), Edit::Delete(stand_in));
        let finding = Finding::FileName { path: blocked.path, name: blocked.name, pattern: blocked.pattern };
        d.findings.push((finding, Handling::Deleted));
    }
    for part in encrypted::check(&input.parts.parts) {
        let name = part.names.first().cloned().unwrap_or_else(|| part.path.clone());
        let finding = Finding::Encrypted { path: part.path.clone(), name };
        let e = &b.encrypted;
        match e.action {
            EncryptedAction::Delete => {
                d.edits.insert(part.path.clone(), Edit::Delete(e.replace.then(|| e.replacement_text.clone())));
                d.findings.push((finding, Handling::Deleted));
            }
            EncryptedAction::Drop => return stop(d, finding, Handling::Dropped, Disposition::Drop),
            EncryptedAction::Log => d.findings.push((finding, Handling::Logged)),
            EncryptedAction::Forward => {
                let to = e.forward_to.clone();
                let disposition = Disposition::Forward { to: to.clone(), subject: e.forward_subject.clone() };
                return stop(d, finding, Handling::Forwarded(to), disposition);
            }
        }
    }
    if let (true, Some(message)) = (b.spam.enabled && !dnsbl::whitelisted(&b.dnsbl, input.sender), input.message) {
        let score = spam::score(input.spam_rules, message);
        if spam::is_spam(&score, b.spam.sensitivity) {
            d.subject_tag = Some(b.spam.subject_tag.clone());
            d.findings.push((Finding::Spam { percent: score.percent, rules: score.hits }, Handling::Tagged));
        }
    }
    d
}

fn stop(mut d: Decision, finding: Finding, handling: Handling, disposition: Disposition) -> Decision {
    d.stop(finding, handling, disposition);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Unprocessable;
    use crate::mime::{Decomposition, Part};

    fn part(path: &str, name: &str, encrypted: bool) -> Part {
        Part::named(path, &[name], encrypted)
    }

    fn run(config: &Config, subject: &str, parts: &Decomposition) -> Decision {
        let input = Input {
            sender: "a@sender.test",
            header_from: vec!["boss@corp.test".into()],
            subject,
            listed_by: None,
            parts,
            message: None,
            spam_rules: spam::SpamRules::builtin(),
        };
        evaluate(config, &input)
    }

    fn config(toml: &str) -> Config {
        Config::from_toml(toml).unwrap()
    }

    fn parts(list: Vec<Part>) -> Decomposition {
        Decomposition { parts: list, ..Decomposition::default() }
    }

    #[test]
    fn a_stopping_rule_ends_evaluation_and_logging_rules_go_on() {
        let c =
            config("[blocking.subject]\nenabled = true\npatterns = [\"*bad*\"]\n[blocking.filename]\nenabled = true\n");
        let d = run(&c, "a bad subject", &parts(vec![part("2", "x.exe", false)]));
        assert_eq!(d.disposition, Disposition::Drop);
        assert!(d.edits.is_empty(), "no file-name work after a drop");
        let logging = config(
            "[blocking.subject]\nenabled = true\npatterns = [\"*bad*\"]\naction = \"log\"\n[blocking.filename]\nenabled = true\n",
        );
        let d = run(&logging, "a bad subject", &parts(vec![part("2", "x.exe", false)]));
        assert_eq!(d.disposition, Disposition::Deliver);
        assert_eq!(d.findings.len(), 2);
        assert_eq!(d.findings[0].1, Handling::Logged);
        assert_eq!((d.findings[1].1.clone(), d.edits.contains_key("2")), (Handling::Deleted, true));
    }

    #[test]
    fn header_senders_count_and_forwarding_names_the_address() {
        let c = config(
            "[blocking.sender]\nenabled = true\nentries = [\"@corp.test\"]\naction = \"forward\"\nforward_to = \"r@review.test\"\nforward_subject = \"Review\"\n",
        );
        let d = run(&c, "s", &Decomposition::default());
        assert_eq!(d.disposition, Disposition::Forward { to: "r@review.test".into(), subject: "Review".into() });
        assert!(matches!(&d.findings[0].0, Finding::Sender { address, .. } if address == "boss@corp.test"));
    }

    #[test]
    fn container_limits_drop_only_while_enabled() {
        let d = Decomposition { violation: Some(("2:bomb.zip".into(), LimitHit::Size)), ..Decomposition::default() };
        assert_eq!(run(&Config::default(), "s", &d).disposition, Disposition::Drop);
        let off = config("[blocking.container]\nenabled = false\n");
        let decision = run(&off, "s", &d);
        assert_eq!((decision.disposition, decision.findings[0].1.clone()), (Disposition::Deliver, Handling::Logged));
    }

    #[test]
    fn unprocessable_follows_its_setting() {
        let d = Decomposition { unprocessable: Some(("2".into(), "zip: bad".into())), ..Decomposition::default() };
        for (setting, expected) in [
            (Unprocessable::Deliver, Disposition::Deliver),
            (Unprocessable::Drop, Disposition::Drop),
            (Unprocessable::Bounce, Disposition::Bounce),
            (Unprocessable::Hold, Disposition::Hold),
        ] {
            let mut c = Config::default();
            c.blocking.unprocessable = setting;
            assert_eq!(run(&c, "s", &d).disposition, expected, "{setting:?}");
        }
    }

    #[test]
    fn encrypted_containers_by_action() {
        let d = parts(vec![part("2", "secret.zip", true)]);
        let deleted = run(&Config::default(), "s", &d);
        assert_eq!((deleted.disposition, deleted.edits.len()), (Disposition::Deliver, 1), "delete is the default");
        assert_eq!(run(&config("[blocking.encrypted]\naction = \"drop\""), "s", &d).disposition, Disposition::Drop);
        let logged = run(&config("[blocking.encrypted]\naction = \"log\""), "s", &d);
        assert!(logged.edits.is_empty() && logged.findings[0].1 == Handling::Logged);
    }
}
