//! The metatags of SPEC §9 (`{$MSGINFO}`, `{$DISPOSITION}`,
//! `{$CONTENTINFO}`, `{$VIRUSINFO}`, `{$SPAMINFO}`, `{$FILE}`): their text
//! for one message, and templates filled with them.

use crate::events::MessageRef;
use crate::policy::{Finding, Handling};
use chrono::{DateTime, Local};

/// What a notification says about its message, by metatag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags {
    values: [(&'static str, String); 6],
}

/// Shown for a metatag with nothing to say.
const NONE: &str = "(none)";

/// What a notification is about: a message and what was found in it.
pub struct About<'a> {
    pub message: &'a MessageRef,
    /// When the gateway found it.
    pub time: DateTime<Local>,
    pub findings: &'a [(Finding, Handling)],
    /// What became of the message as a whole, when processing told
    /// (dropped, held, bounced); `None` leaves it to the findings.
    pub ended: Option<&'a Handling>,
    /// Refused during the SMTP session, never accepted.
    pub at_smtp: bool,
}

impl Tags {
    /// The metatags for a message.
    pub fn of(s: &About<'_>) -> Tags {
        let lines = |line: &dyn Fn(&Finding, &Handling) -> Option<String>| {
            s.findings.iter().filter_map(|(f, h)| line(f, h)).collect::<Vec<_>>()
        };
        Tags::new(
            message_info(s.message, s.time),
            disposition(s),
            lines(&|f, _| content_info(f)),
            lines(&|f, h| match f {
                Finding::Virus { virus, scanner, .. } => {
                    Some(format!("{virus} in {} (found by {scanner}): {h}", file_name(f)?))
                }
                _ => None,
            }),
            lines(&|f, _| match f {
                Finding::SpamList { zone } => Some(format!(
                    "The sender {} connected from {}, which {zone} lists.",
                    shown(&s.message.sender),
                    s.message.client_ip
                )),
                _ => None,
            }),
            lines(&|f, h| (*h == Handling::Deleted).then(|| file_name(f)).flatten()),
        )
    }

    /// The metatags for an outbreak: `messages` infected messages within
    /// `minutes`, noticed at `time`.
    pub fn outbreak(messages: usize, minutes: u32, time: DateTime<Local>) -> Tags {
        let what = format!("{messages} infected messages arrived within {minutes} minutes.");
        Tags::new(format!("Date: {}", time.to_rfc2822()), String::new(), vec![], vec![what], vec![], vec![])
    }

    fn new(
        msginfo: String,
        disposition: String,
        content: Vec<String>,
        virus: Vec<String>,
        spam: Vec<String>,
        file: Vec<String>,
    ) -> Tags {
        let text = |s: String| if s.is_empty() { NONE.to_string() } else { s };
        let list = |l: Vec<String>| text(l.join("\n"));
        Tags {
            values: [
                ("{$MSGINFO}", text(msginfo)),
                ("{$DISPOSITION}", text(disposition)),
                ("{$CONTENTINFO}", list(content)),
                ("{$VIRUSINFO}", list(virus)),
                ("{$SPAMINFO}", list(spam)),
                ("{$FILE}", list(file)),
            ],
        }
    }

    /// `template` with every metatag replaced, in one pass: text that
    /// came from the message is never read as a metatag. Anything else in
    /// braces is left as written.
    pub fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 256);
        let mut rest = template;
        while let Some(at) = rest.find("{$") {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            match self.values.iter().find(|(tag, _)| tail.starts_with(tag)) {
                Some((tag, value)) => {
                    out.push_str(value);
                    rest = &tail[tag.len()..];
                }
                None => {
                    out.push_str("{$");
                    rest = &tail[2..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `{$MSGINFO}`: the lines that identify the message.
fn message_info(m: &MessageRef, time: DateTime<Local>) -> String {
    let mut info = format!("From: {}\n", shown(&m.sender));
    for (name, value) in [("To", m.recipients.join(", ")), ("Subject", m.subject.clone())] {
        if !value.is_empty() {
            info.push_str(&format!("{name}: {value}\n"));
        }
    }
    info.push_str(&format!("Date: {}", time.to_rfc2822()));
    for (name, value) in [("Client", &m.client_ip), ("Queue ID", &m.id)] {
        if !value.is_empty() {
            info.push_str(&format!("\n{name}: {value}"));
        }
    }
    info
}

/// An envelope sender as people read it: the null sender is `<>`.
fn shown(sender: &str) -> &str {
    if sender.is_empty() { "<>" } else { sender }
}

/// `{$DISPOSITION}`: what became of the message.
fn disposition(s: &About<'_>) -> String {
    if s.at_smtp {
        return "The message was refused during the SMTP session.".into();
    }
    let fate = s.ended.into_iter().chain(s.findings.iter().map(|(_, h)| h)).find_map(|h| match h {
        Handling::Dropped => Some("The message was dropped: it was not delivered.".to_string()),
        Handling::Bounced => Some("The message was returned to its sender: it was not delivered.".into()),
        Handling::Held => Some("The message is held for an administrator: it has not been delivered.".into()),
        Handling::Forwarded(to) => {
            Some(format!("The message was not delivered to its recipients: it was forwarded to <{to}>."))
        }
        _ => None,
    });
    fate.unwrap_or_else(|| {
        let count = |handling: Handling| s.findings.iter().filter(|(_, h)| *h == handling).count();
        let changes: Vec<String> = [(count(Handling::Deleted), "removed"), (count(Handling::Repaired), "repaired")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} file(s) {what}"))
            .collect();
        match changes.is_empty() {
            true => "The message was delivered unchanged.".into(),
            false => format!("The message was delivered with {}.", changes.join(" and ")),
        }
    })
}

/// A `{$CONTENTINFO}` line: the rule and what matched.
fn content_info(f: &Finding) -> Option<String> {
    Some(match f {
        Finding::Subject { pattern } => format!("The subject matches the blocked subject \"{pattern}\"."),
        Finding::Sender { address, entry } => format!("The sender {address} matches the blocked sender {entry}."),
        Finding::FileName { name, pattern, .. } => format!("The file {name} matches the blocked name {pattern}."),
        Finding::ContainerLimit { path, hit } => format!("Container limit at part {path}: {}.", hit.describe()),
        Finding::Encrypted { name, .. } => format!("{name} is encrypted and cannot be checked."),
        _ => return None,
    })
}

/// The file a finding is about, as named in the message.
fn file_name(f: &Finding) -> Option<String> {
    match f {
        Finding::Virus { name, path, .. } => Some(if name.is_empty() { path } else { name }.clone()),
        Finding::FileName { name, .. } | Finding::Encrypted { name, .. } => Some(name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;

    fn message() -> MessageRef {
        MessageRef {
            id: "Q1".into(),
            sender: "alice@s.test".into(),
            recipients: vec!["bob@r.test".into(), "carol@r.test".into()],
            subject: "Invoice {$FILE}".into(),
            client_ip: "192.0.2.7".into(),
        }
    }

    fn tags(findings: &[(Finding, Handling)], ended: Option<&Handling>) -> Tags {
        let message = message();
        let time = DateTime::parse_from_rfc3339("2026-03-02T10:00:00+00:00").unwrap().with_timezone(&Local);
        Tags::of(&About { message: &message, time, findings, ended, at_smtp: false })
    }

    fn virus(name: &str) -> Finding {
        Finding::Virus { path: "2".into(), name: name.into(), virus: "Eicar-Test".into(), scanner: "builtin".into() }
    }

    #[test]
    fn every_metatag_is_filled_once_and_message_text_is_not_a_tag() {
        let findings = [
            (virus("eicar.com"), Handling::Deleted),
            (
                Finding::FileName { path: "3".into(), name: "run.exe".into(), pattern: "*.exe".into() },
                Handling::Deleted,
            ),
            (Finding::ContainerLimit { path: "4".into(), hit: LimitHit::Depth }, Handling::Logged),
        ];
        let t = tags(&findings, None);
        let text = t.fill("{$MSGINFO}|{$DISPOSITION}|{$CONTENTINFO}|{$VIRUSINFO}|{$SPAMINFO}|{$FILE}|{$OTHER}");
        let parts: Vec<&str> = text.split('|').collect();
        assert!(parts[0].starts_with("From: alice@s.test\nTo: bob@r.test, carol@r.test\nSubject: Invoice {$FILE}\n"));
        assert!(parts[0].contains("\nDate: ") && parts[0].contains(" 2026 "), "{}", parts[0]);
        assert!(parts[0].ends_with("Client: 192.0.2.7\nQueue ID: Q1"), "{}", parts[0]);
        assert_eq!(parts[1], "The message was delivered with 2 file(s) removed.");
        assert_eq!(
            parts[2],
            "The file run.exe matches the blocked name *.exe.\n\
             Container limit at part 4: the extracted attachment depth exceeded set limits."
        );
        assert_eq!(parts[3], "Eicar-Test in eicar.com (found by builtin): deleted");
        assert_eq!((parts[4], parts[5], parts[6]), ("(none)", "eicar.com\nrun.exe", "{$OTHER}"));
    }

    #[test]
    fn the_disposition_says_what_became_of_the_message() {
        let subject = (Finding::Subject { pattern: "*hot*".into() }, Handling::Logged);
        let fill = |findings: &[(Finding, Handling)], ended| tags(findings, ended).fill("{$DISPOSITION}");
        assert_eq!(fill(std::slice::from_ref(&subject), None), "The message was delivered unchanged.");
        assert_eq!(
            fill(std::slice::from_ref(&subject), Some(&Handling::Held)).split(':').next(),
            Some("The message is held for an administrator")
        );
        let forwarded = (Finding::Subject { pattern: "*hot*".into() }, Handling::Forwarded("q@x.test".into()));
        assert!(fill(&[forwarded], None).ends_with("forwarded to <q@x.test>."));
        let mixed = [(virus("a.doc"), Handling::Repaired), (virus("b.exe"), Handling::Dropped)];
        assert_eq!(fill(&mixed, None), "The message was dropped: it was not delivered.");
        assert_eq!(fill(&mixed[..1], None), "The message was delivered with 1 file(s) repaired.");
        let spam = [(Finding::SpamList { zone: "bl.test".into() }, Handling::Logged)];
        assert_eq!(
            tags(&spam, None).fill("{$SPAMINFO}"),
            "The sender alice@s.test connected from 192.0.2.7, which bl.test lists."
        );
    }

    #[test]
    fn an_outbreak_names_its_size() {
        let t = Tags::outbreak(12, 5, Local::now());
        assert_eq!(t.fill("{$VIRUSINFO} {$FILE}"), "12 infected messages arrived within 5 minutes. (none)");
        assert!(t.fill("{$MSGINFO}").starts_with("Date: "));
    }
}
