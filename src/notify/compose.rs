//! A notification as a message: From the gateway's postmaster address,
//! marked as machine-made so that auto-responders leave it alone.

use crate::config::Config;
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use std::io;

/// A notification or alert, ready to be made into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Envelope recipients, also shown in `To:`.
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// The address notifications come from: `postmaster@` the SMTP host name.
pub fn from_address(config: &Config) -> String {
    format!("postmaster@{}", config.smtp.hostname)
}

/// True if mail to `address` would reach the notifications' From address:
/// such mail can only be a reply loop, and is dropped (SPEC §9).
pub fn is_notification_address(config: &Config, address: &str) -> bool {
    address.eq_ignore_ascii_case(&from_address(config))
}

/// `addresses` without repeats (letter case aside), empty entries and
/// the notifications' own From address, which would only loop.
pub fn recipients<'a>(config: &Config, addresses: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut to: Vec<String> = Vec::new();
    for a in addresses {
        let a = a.trim();
        if !a.is_empty() && !is_notification_address(config, a) && !to.iter().any(|t| t.eq_ignore_ascii_case(a)) {
            to.push(a.to_string());
        }
    }
    to
}

/// The message for `notice`, whose queue ID is `id`.
pub fn compose(config: &Config, id: &str, notice: &Outgoing) -> io::Result<Vec<u8>> {
    let from = from_address(config);
    let subject: String = notice.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    MessageBuilder::new()
        .from((config.notify.from_name.as_str(), from.as_str()))
        .to(notice.to.iter().map(String::as_str).collect::<Vec<_>>())
        .subject(subject)
        .message_id(format!("{id}.notify@{}", config.smtp.hostname))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(notice.body.as_str())
        .write_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_is_from_postmaster_and_auto_generated() {
        let mut config = Config::default();
        config.smtp.hostname = "mx.test".into();
        let notice = Outgoing {
            to: vec!["a@x.test".into(), "b@x.test".into()],
            subject: "Virus found\r\nBcc: evil@x.test".into(),
            body: "Line one\nLine two\n".into(),
        };
        let bytes = compose(&config, "Q1", &notice).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let from = parsed.from().and_then(|a| a.first()).unwrap();
        assert_eq!((from.name(), from.address()), (Some("MXGuard"), Some("postmaster@mx.test")));
        assert_eq!(parsed.to().map(|a| a.iter().count()), Some(2));
        assert_eq!(parsed.subject(), Some("Virus found  Bcc: evil@x.test"));
        assert_eq!(parsed.message_id(), Some("Q1.notify@mx.test"));
        assert!(parsed.date().is_some());
        assert_eq!(parsed.header_raw("Auto-Submitted").map(str::trim), Some("auto-generated"));
        assert_eq!(parsed.body_text(0).as_deref(), Some("Line one\r\nLine two\r\n"));
        assert!(is_notification_address(&config, "PostMaster@MX.test"));
        assert!(!is_notification_address(&config, "postmaster@other.test"));
        let listed = ["a@x.test", "A@X.test", "", "postmaster@mx.test", "b@x.test"].map(String::from);
        assert_eq!(recipients(&config, &listed), vec!["a@x.test", "b@x.test"]);
    }
}
