//! Sender and administrator notifications about one message (SPEC §9):
//! its findings are gathered into one notification per audience, made
//! from the template of its most serious finding; and who may be told.
//! Also the outbreak notification, which is about no one message.

use super::compose::{Outgoing, is_notification_address, recipients};
use super::templates::{About, Tags};
use crate::config::{Audience, Config, NoticeKind};
use crate::events::MessageRef;
use crate::policy::{Finding, Handling};
use chrono::{DateTime, Local};

/// The `[notify.*]` table a finding is told under; `None` for what no
/// notification is sent about: heuristic spam (SPEC §9) and scan errors
/// (an alert instead).
pub fn kind_of(finding: &Finding) -> Option<NoticeKind> {
    match finding {
        Finding::Virus { .. } => Some(NoticeKind::Virus),
        Finding::Subject { .. } | Finding::Sender { .. } | Finding::FileName { .. } => Some(NoticeKind::Content),
        Finding::ContainerLimit { .. } => Some(NoticeKind::Container),
        Finding::Encrypted { .. } => Some(NoticeKind::Encrypted),
        Finding::SpamList { .. } => Some(NoticeKind::Spam),
        Finding::Spam { .. } | Finding::ScanError { .. } | Finding::Unprocessable { .. } => None,
    }
}

/// What was found in one message, gathered until its processing ends.
#[derive(Debug, Clone)]
pub struct Group {
    message: MessageRef,
    /// When the first finding was seen.
    time: DateTime<Local>,
    findings: Vec<(Finding, Handling)>,
    /// What became of the message, when processing said so.
    ended: Option<Handling>,
    /// Refused during the SMTP session (DNSBL), never accepted.
    at_smtp: bool,
}

impl Group {
    /// A message with nothing found yet.
    pub fn new(message: MessageRef, time: DateTime<Local>) -> Group {
        Group { message, time, findings: Vec::new(), ended: None, at_smtp: false }
    }

    /// A client refused at `MAIL FROM` because `zone` lists it: told now,
    /// as nothing more will be found.
    pub fn refused(client_ip: &str, sender: &str, zone: &str, time: DateTime<Local>) -> Group {
        let message = MessageRef { sender: sender.into(), client_ip: client_ip.into(), ..MessageRef::default() };
        let findings = vec![(Finding::SpamList { zone: zone.into() }, Handling::Dropped)];
        Group { message, time, findings, ended: None, at_smtp: true }
    }

    /// Add a finding; one seen before (the message processed again after
    /// a crash) is not repeated.
    pub fn add(&mut self, finding: &Finding, handling: &Handling) {
        if !self.findings.iter().any(|(f, h)| f == finding && h == handling) {
            self.findings.push((finding.clone(), handling.clone()));
        }
    }

    /// Processing ended with the message `handling` (dropped, held,
    /// bounced), which its findings may not show.
    pub fn end(&mut self, handling: Handling) {
        self.ended = Some(handling);
    }

    /// The notifications due under `config`: at most one to the sender
    /// and one to the administrators, each from the template of the most
    /// serious kind of finding that audience is told about.
    pub fn notices(&self, config: &Config) -> Vec<Outgoing> {
        let kinds: Vec<NoticeKind> =
            NoticeKind::ALL.into_iter().filter(|k| self.findings.iter().any(|(f, _)| kind_of(f) == Some(*k))).collect();
        let tags = Tags::of(&About {
            message: &self.message,
            time: self.time,
            findings: &self.findings,
            ended: self.ended.as_ref(),
            at_smtp: self.at_smtp,
        });
        let audiences = [
            (Audience::Sender, self.sender_to_tell(config, &kinds).into_iter().collect()),
            (Audience::Admin, recipients(config, &config.notify.admin_addresses)),
        ];
        let mut out = Vec::new();
        for (audience, to) in audiences {
            let template = kinds.iter().find_map(|k| config.notify.notice(*k).template(audience));
            if let (Some((subject, body)), false) = (template, to.is_empty()) {
                out.push(Outgoing { to, subject: tags.fill(subject), body: tags.fill(body) });
            }
        }
        out
    }

    /// The envelope sender, unless it must not be told: the null sender
    /// (a bounce or a notification), a sender whose client a DNSBL lists
    /// (unverifiable: telling it would be backscatter), or the
    /// notifications' own address.
    fn sender_to_tell(&self, config: &Config, kinds: &[NoticeKind]) -> Option<String> {
        let sender = &self.message.sender;
        let unverifiable = self.at_smtp || kinds.contains(&NoticeKind::Spam);
        (!sender.is_empty() && !unverifiable && !is_notification_address(config, sender)).then(|| sender.clone())
    }
}

/// The outbreak notification: to `antivirus.outbreak.notify`, and to
/// `notify.admin_addresses` when `notify.outbreak.notify_admin` is set.
pub fn outbreak(config: &Config, messages: usize, minutes: u32, time: DateTime<Local>) -> Option<Outgoing> {
    let n = &config.notify;
    let admins = n.outbreak.notify_admin.then_some(&n.admin_addresses).into_iter().flatten();
    let to = recipients(config, config.antivirus.outbreak.notify.iter().chain(admins));
    let tags = Tags::outbreak(messages, minutes, time);
    (!to.is_empty()).then(|| Outgoing {
        to,
        subject: tags.fill(&n.outbreak.admin_subject),
        body: tags.fill(&n.outbreak.admin_body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sender: bool, admin: bool) -> Config {
        let mut c = Config::default();
        c.smtp.hostname = "mx.test".into();
        c.notify.admin_addresses = vec!["admin@corp.test".into()];
        let n = &mut c.notify;
        for notice in [&mut n.virus, &mut n.content, &mut n.container, &mut n.encrypted, &mut n.spam, &mut n.outbreak] {
            (notice.notify_sender, notice.notify_admin) = (sender, admin);
        }
        c
    }

    fn group(sender: &str, findings: &[(Finding, Handling)]) -> Group {
        let message = MessageRef {
            id: "Q1".into(),
            sender: sender.into(),
            recipients: vec!["bob@corp.test".into()],
            subject: "Hi".into(),
            client_ip: "192.0.2.7".into(),
        };
        let mut g = Group::new(message, Local::now());
        for (f, h) in findings {
            g.add(f, h);
        }
        g
    }

    fn virus() -> (Finding, Handling) {
        let f =
            Finding::Virus { path: "2".into(), name: "e.com".into(), virus: "Eicar".into(), scanner: "builtin".into() };
        (f, Handling::Deleted)
    }

    fn subject() -> (Finding, Handling) {
        (Finding::Subject { pattern: "*hi*".into() }, Handling::Logged)
    }

    #[test]
    fn several_findings_make_one_notice_per_audience_from_the_most_serious() {
        let g = group("alice@ext.test", &[subject(), virus(), virus()]);
        let notices = g.notices(&config(true, true));
        assert_eq!(notices.len(), 2);
        assert_eq!(
            (notices[0].to.clone(), notices[0].subject.as_str()),
            (vec!["alice@ext.test".to_string()], "Virus found in message you sent")
        );
        assert_eq!(
            (notices[1].to.clone(), notices[1].subject.as_str()),
            (vec!["admin@corp.test".to_string()], "Virus found")
        );
        assert_eq!(notices[1].body.matches("Eicar in e.com").count(), 1, "a repeated finding is told once");
        let mut content_only = config(false, false);
        content_only.notify.content.notify_admin = true;
        let notices = g.notices(&content_only);
        assert_eq!(notices.len(), 1, "the virus table is off; the content one speaks");
        assert_eq!(notices[0].subject, "Content violation");
        assert!(notices[0].body.contains("The subject matches the blocked subject \"*hi*\"."), "{}", notices[0].body);
        assert!(g.notices(&config(false, false)).is_empty());
    }

    #[test]
    fn heuristic_spam_and_scan_errors_are_never_notified() {
        let spam = (Finding::Spam { percent: 90, rules: vec!["caps".into()] }, Handling::Tagged);
        let error = (Finding::ScanError { path: "2".into(), why: "clamd down".into() }, Handling::Held);
        assert!(group("alice@ext.test", &[spam, error]).notices(&config(true, true)).is_empty());
    }

    #[test]
    fn no_sender_notice_to_the_null_sender_a_listed_sender_or_ourselves() {
        let c = config(true, true);
        let admin_only = |g: Group| {
            let notices = g.notices(&c);
            notices.len() == 1 && notices[0].to == vec!["admin@corp.test"]
        };
        assert!(admin_only(group("", &[virus()])));
        assert!(admin_only(group("postmaster@MX.test", &[virus()])));
        let listed = (Finding::SpamList { zone: "bl.test".into() }, Handling::Logged);
        assert!(admin_only(group("alice@ext.test", &[listed, virus()])), "a listed message's sender is not told");
        let refused = Group::refused("192.0.2.8", "spammer@ext.test", "bl.test", Local::now());
        let notices = refused.notices(&c);
        assert!(admin_only(refused));
        assert_eq!(notices[0].subject, "Spam violation");
        assert!(notices[0].body.contains("spammer@ext.test connected from 192.0.2.8, which bl.test lists"));
        assert!(notices[0].body.contains("refused during the SMTP session"));
    }

    #[test]
    fn an_outbreak_goes_to_its_list_and_to_administrators_when_asked() {
        let mut c = config(false, false);
        c.antivirus.outbreak.notify = vec!["soc@corp.test".into(), "admin@corp.test".into()];
        let notice = outbreak(&c, 11, 5, Local::now()).unwrap();
        assert_eq!(
            (notice.to.clone(), notice.subject.as_str()),
            (vec!["soc@corp.test".to_string(), "admin@corp.test".to_string()], "Virus outbreak")
        );
        assert!(notice.body.starts_with("A virus outbreak: 11 infected messages arrived within 5 minutes."));
        c.antivirus.outbreak.notify.clear();
        assert_eq!(outbreak(&c, 11, 5, Local::now()), None);
        c.notify.outbreak.notify_admin = true;
        assert_eq!(outbreak(&c, 11, 5, Local::now()).map(|n| n.to), Some(vec!["admin@corp.test".to_string()]));
    }
}
