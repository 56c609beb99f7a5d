//! Sender and administrator notifications (SPEC §9): for each kind of
//! blocked message, whether the sender and the administrators are told,
//! and the subject and body (with metatags) they get.

use super::blocking::is_address;
use super::validate::Problem;
use serde::{Deserialize, Serialize};

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "WrittenNotify")]
pub struct Notify {
    /// Display name of the notifications' From address, which is
    /// `postmaster@` the SMTP host name.
    pub from_name: String,
    /// Who gets administrator notifications and system alerts.
    pub admin_addresses: Vec<String>,
    pub virus: Notice,
    pub content: Notice,
    pub container: Notice,
    pub encrypted: Notice,
    pub spam: Notice,
    pub outbreak: Notice,
}

impl Default for Notify {
    fn default() -> Self {
        WrittenNotify::default().into()
    }
}

/// `[notify]` as written: what is left out takes its default, which for
/// a `[notify.*]` table depends on its kind.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WrittenNotify {
    from_name: Option<String>,
    admin_addresses: Vec<String>,
    virus: Written,
    content: Written,
    container: Written,
    encrypted: Written,
    spam: Written,
    outbreak: Written,
}

impl From<WrittenNotify> for Notify {
    fn from(w: WrittenNotify) -> Notify {
        Notify {
            from_name: w.from_name.unwrap_or_else(|| "MXGuard".into()),
            admin_addresses: w.admin_addresses,
            virus: w.virus.over(NoticeKind::Virus),
            content: w.content.over(NoticeKind::Content),
            container: w.container.over(NoticeKind::Container),
            encrypted: w.encrypted.over(NoticeKind::Encrypted),
            spam: w.spam.over(NoticeKind::Spam),
            outbreak: w.outbreak.over(NoticeKind::Outbreak),
        }
    }
}

impl Notify {
    /// The settings of one kind of notification.
    pub fn notice(&self, kind: NoticeKind) -> &Notice {
        match kind {
            NoticeKind::Virus => &self.virus,
            NoticeKind::Content => &self.content,
            NoticeKind::Container => &self.container,
            NoticeKind::Encrypted => &self.encrypted,
            NoticeKind::Spam => &self.spam,
            NoticeKind::Outbreak => &self.outbreak,
        }
    }
}

/// The events a notification can be about (one `[notify.*]` table each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// An infected file.
    Virus,
    /// Subject, sender or file-name rule.
    Content,
    /// A container limit.
    Container,
    /// An encrypted container.
    Encrypted,
    /// A DNSBL listing.
    Spam,
    /// Many infected messages in a short time (administrators only).
    Outbreak,
}

impl NoticeKind {
    /// Every kind, in the order a message's notification picks its
    /// template: the most serious first.
    pub const ALL: [NoticeKind; 6] = [
        NoticeKind::Virus,
        NoticeKind::Container,
        NoticeKind::Encrypted,
        NoticeKind::Content,
        NoticeKind::Spam,
        NoticeKind::Outbreak,
    ];

    /// The table's name under `[notify]`.
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::Virus => "virus",
            NoticeKind::Content => "content",
            NoticeKind::Container => "container",
            NoticeKind::Encrypted => "encrypted",
            NoticeKind::Spam => "spam",
            NoticeKind::Outbreak => "outbreak",
        }
    }
}

/// Who a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The envelope sender of the message.
    Sender,
    /// `notify.admin_addresses`.
    Admin,
}

/// One `[notify.<kind>]` table. Subjects and bodies may use the metatags
/// `{$MSGINFO}`, `{$DISPOSITION}`, `{$CONTENTINFO}`, `{$VIRUSINFO}`,
/// `{$SPAMINFO}` and `{$FILE}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// Tell the envelope sender (never for a DNSBL-listed or empty sender,
    /// so never for `spam`; an outbreak has no sender).
    pub notify_sender: bool,
    pub notify_admin: bool,
    pub sender_subject: String,
    pub sender_body: String,
    pub admin_subject: String,
    pub admin_body: String,
}

/// A `[notify.*]` table as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    notify_sender: Option<bool>,
    notify_admin: Option<bool>,
    sender_subject: Option<String>,
    sender_body: Option<String>,
    admin_subject: Option<String>,
    admin_body: Option<String>,
}

impl Written {
    /// The table, with what is left out taken from the defaults of `kind`.
    fn over(self, kind: NoticeKind) -> Notice {
        let n = Notice::defaults(kind);
        Notice {
            notify_sender: self.notify_sender.unwrap_or(n.notify_sender),
            notify_admin: self.notify_admin.unwrap_or(n.notify_admin),
            sender_subject: self.sender_subject.unwrap_or(n.sender_subject),
            sender_body: self.sender_body.unwrap_or(n.sender_body),
            admin_subject: self.admin_subject.unwrap_or(n.admin_subject),
            admin_body: self.admin_body.unwrap_or(n.admin_body),
        }
    }
}

impl Notice {
    /// The SPEC §9 defaults of `kind`: nobody is told until an
    /// administrator ticks a box. A body says what happened, identifies
    /// the message and gives the details of its kind.
    pub fn defaults(kind: NoticeKind) -> Notice {
        let (sender_subject, sender_intro, admin_subject, admin_intro, details) = match kind {
            NoticeKind::Virus => (
                "Virus found in message you sent",
                "A virus was found in a message you sent. Please check your computer\n\
                 with up-to-date antivirus software.",
                "Virus found",
                "A virus was found in a message.",
                "Virus found:\n{$VIRUSINFO}\n\nFiles removed:\n{$FILE}\n\n{$DISPOSITION}\n",
            ),
            NoticeKind::Content => (
                "Content violation",
                "A message you sent breaks the content policy of the recipient's mail\nsystem.",
                "Content violation",
                "A message broke the content policy.",
                "What matched:\n{$CONTENTINFO}\n\nFiles removed:\n{$FILE}\n\n{$DISPOSITION}\n",
            ),
            NoticeKind::Container => (
                "Attachment too large",
                "An attachment of a message you sent expands into more data, files or\n\
                 levels than the recipient's mail system can check.",
                "Container violation",
                "A message broke the container limits.",
                "Limit reached:\n{$CONTENTINFO}\n\n{$DISPOSITION}\n",
            ),
            NoticeKind::Encrypted => (
                "Encrypted attachment",
                "A message you sent has an encrypted (password-protected) attachment,\n\
                 which cannot be checked for viruses.",
                "Encrypted container",
                "A message has an encrypted (password-protected) attachment.",
                "Encrypted files:\n{$CONTENTINFO}\n\nFiles removed:\n{$FILE}\n\n{$DISPOSITION}\n",
            ),
            NoticeKind::Spam => (
                "Email not allowed",
                "A message you sent was not accepted: your mail server is on an\nanti-spam list.",
                "Spam violation",
                "A message came from a mail server on an anti-spam list.",
                "{$SPAMINFO}\n\n{$DISPOSITION}\n",
            ),
            NoticeKind::Outbreak => (
                "",
                "",
                "Virus outbreak",
                "A virus outbreak: {$VIRUSINFO}",
                "The detail report lists the infected messages and their senders.\n",
            ),
        };
        let body = |intro: &str| match intro {
            "" => String::new(),
            _ => [intro, "\n\n{$MSGINFO}\n\n", details].concat(),
        };
        Notice {
            notify_sender: false,
            notify_admin: false,
            sender_subject: sender_subject.into(),
            sender_body: body(sender_intro),
            admin_subject: admin_subject.into(),
            admin_body: body(admin_intro),
        }
    }

    /// The subject and body for `audience`, if that audience is told.
    pub fn template(&self, audience: Audience) -> Option<(&str, &str)> {
        match audience {
            Audience::Sender => self.notify_sender.then_some((&self.sender_subject, &self.sender_body)),
            Audience::Admin => self.notify_admin.then_some((&self.admin_subject, &self.admin_body)),
        }
        .map(|(subject, body)| (subject.as_str(), body.as_str()))
    }
}

/// Every problem in the notification settings.
pub fn check(n: &Notify, p: &mut Vec<Problem>) {
    if n.from_name.trim().is_empty() || n.from_name.contains(|c: char| c.is_control() || c == '"') {
        p.push(Problem::new("notify.from_name", &n.from_name, "a display name on one line, without '\"'"));
    }
    for (i, a) in n.admin_addresses.iter().enumerate() {
        if !is_address(a) {
            p.push(Problem::new(format!("notify.admin_addresses[{i}]"), a, "an address such as \"admin@example.com\""));
        }
    }
    for kind in NoticeKind::ALL {
        let notice = n.notice(kind);
        for (field, subject) in [("sender_subject", &notice.sender_subject), ("admin_subject", &notice.admin_subject)] {
            if subject.contains(char::is_control) {
                p.push(Problem::new(format!("notify.{}.{field}", kind.name()), subject, "a subject on one line"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn defaults_follow_the_spec_table() {
        let n = Config::from_toml("").unwrap().notify;
        assert_eq!((n.from_name.as_str(), n.admin_addresses.len()), ("MXGuard", 0));
        let subjects: Vec<(&str, &str)> = NoticeKind::ALL
            .iter()
            .map(|k| (n.notice(*k).sender_subject.as_str(), n.notice(*k).admin_subject.as_str()))
            .collect();
        assert_eq!(
            subjects,
            [
                ("Virus found in message you sent", "Virus found"),
                ("Attachment too large", "Container violation"),
                ("Encrypted attachment", "Encrypted container"),
                ("Content violation", "Content violation"),
                ("Email not allowed", "Spam violation"),
                ("", "Virus outbreak"),
            ]
        );
        for kind in NoticeKind::ALL {
            let notice = n.notice(kind);
            assert!(!notice.notify_sender && !notice.notify_admin, "{kind:?} is off by default");
            assert!(notice.admin_body.contains("{$MSGINFO}"), "{kind:?}");
        }
        assert!(n.virus.sender_body.contains("{$VIRUSINFO}") && n.content.admin_body.contains("{$CONTENTINFO}"));
        assert!(n.spam.admin_body.contains("{$SPAMINFO}") && n.virus.admin_body.contains("{$FILE}"));
    }

    #[test]
    fn a_partial_table_keeps_its_kinds_defaults() {
        let n = Config::from_toml("[notify.container]\nnotify_sender = true\nadmin_body = \"x\"\n").unwrap().notify;
        assert!(n.container.notify_sender && !n.container.notify_admin);
        assert_eq!(
            (n.container.sender_subject.as_str(), n.container.admin_body.as_str()),
            ("Attachment too large", "x")
        );
        assert_eq!(n.container.template(Audience::Sender).map(|t| t.0), Some("Attachment too large"));
        assert_eq!(n.container.template(Audience::Admin), None);
        assert_eq!(n.virus, Notice::defaults(NoticeKind::Virus));
    }

    #[test]
    fn bad_values_name_their_key() {
        for (toml, key) in [
            ("[notify]\nadmin_addresses = [\"admin\"]", "notify.admin_addresses[0]"),
            ("[notify]\nfrom_name = \"\"", "notify.from_name"),
            ("[notify.spam]\nadmin_subject = \"a\\nb\"", "notify.spam.admin_subject"),
            ("[notify.virus]\nnotify_sendr = true", "notify.virus.notify_sendr"),
            ("[notify.outbreak]\nnotify_admin = \"yes\"", "notify.outbreak.notify_admin"),
        ] {
            let err = Config::from_toml(toml).unwrap_err();
            assert!(err.iter().any(|p| p.key == key), "{key} not refused for {toml:?}: {err:?}");
        }
    }
}
