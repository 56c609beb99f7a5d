//! Delivery status notifications (RFC 3464): the message returned to the
//! sender when recipients failed permanently or the message expired.

use crate::envelope::Recipient;
use crate::spool::queue_file::QueuedMessage;
use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::{BodyPart, MimePart};

/// One recipient the DSN reports on.
#[derive(Debug, Clone)]
pub struct FailedRecipient {
    pub recipient: Recipient,
    /// RFC 3463 status, e.g. "5.1.1" or "4.4.7".
    pub status: String,
    /// The remote server's reply or our own reason.
    pub diagnostic: String,
    /// The server that gave the reply, if any.
    pub remote: Option<String>,
}

impl FailedRecipient {
    /// Every recipient of `msg` failed for the same reason (expiry, policy).
    pub fn all(msg: &QueuedMessage, status: &str, diagnostic: &str) -> Vec<FailedRecipient> {
        msg.envelope
            .recipients
            .iter()
            .map(|r| FailedRecipient {
                recipient: r.clone(),
                status: status.to_string(),
                diagnostic: diagnostic.to_string(),
                remote: None,
            })
            .collect()
    }
}

/// How much of the original a DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// The whole message (unless the sender asked for `RET=HDRS`).
    AsAsked,
    /// Only the header: the policy refused the content itself, which is
    /// not sent back.
    Headers,
}

/// Build the DSN for `original`; `None` when none may be sent (null
/// sender: never bounce a bounce).
pub fn build(
    reporting_host: &str,
    original: &QueuedMessage,
    failed: &[FailedRecipient],
    returned: Returned,
) -> Option<Vec<u8>> {
    if original.envelope.sender.is_empty() || failed.is_empty() {
        return None;
    }
    let arrival =
        chrono::DateTime::from_timestamp(original.arrival as i64, 0).map(|d| d.to_rfc2822()).unwrap_or_default();
    let mut human = format!(
        "This is the mail system at host {reporting_host}.\r\n\r\n\
         I'm sorry to have to inform you that your message could not\r\n\
         be delivered to one or more recipients. It's attached below.\r\n\r\n"
    );
    let mut status = format!("Reporting-MTA: dns; {reporting_host}\r\nX-Mxguard-Queue-ID: {}\r\n", original.id);
    if let Some(envid) = &original.envelope.envid {
        status.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    status.push_str(&format!("Arrival-Date: {arrival}\r\n"));
    for f in failed {
        let r = &f.recipient;
        human.push_str(&format!("<{}>: {}\r\n", r.address, f.diagnostic));
        status.push_str(&format!("\r\nFinal-Recipient: rfc822; {}\r\n", r.address));
        if let Some(orcpt) = &r.orcpt {
            status.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
        }
        status.push_str(&format!("Action: failed\r\nStatus: {}\r\n", f.status));
        if let Some(remote) = &f.remote {
            status.push_str(&format!("Remote-MTA: dns; {remote}\r\n"));
        }
        let diagnostic: String = f.diagnostic.replace(['\r', '\n'], " ");
        status.push_str(&format!("Diagnostic-Code: smtp; {diagnostic}\r\n"));
    }
    let headers_only = returned == Returned::Headers || original.envelope.ret.as_deref() == Some("HDRS");
    let returned = if headers_only {
        let end = find_header_end(&original.content);
        MimePart::new("text/rfc822-headers", BodyPart::Binary(original.content[..end].to_vec().into()))
            .transfer_encoding("8bit")
    } else {
        MimePart::new("message/rfc822", BodyPart::Binary(original.content.clone().into())).transfer_encoding("8bit")
    };
    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        BodyPart::Multipart(vec![
            MimePart::new("text/plain", BodyPart::Text(human.into())),
            MimePart::new("message/delivery-status", BodyPart::Binary(status.into_bytes().into()))
                .transfer_encoding("7bit"),
            returned,
        ]),
    );
    MessageBuilder::new()
        .from(("Mail Delivery System", format!("MAILER-DAEMON@{reporting_host}").as_str()))
        .to(original.envelope.sender.as_str())
        .subject("Undelivered Mail Returned to Sender")
        .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()
        .ok()
}

/// Length of the header section including the blank line.
fn find_header_end(content: &[u8]) -> usize {
    content.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(content.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;

    fn original(sender: &str, ret: Option<&str>) -> QueuedMessage {
        QueuedMessage {
            id: "Q1".into(),
            arrival: 1_700_000_000,
            envelope: Envelope {
                sender: sender.into(),
                recipients: vec![Recipient::new("bob@example.com")],
                ret: ret.map(String::from),
                envid: Some("ENV1".into()),
                ..Envelope::default()
            },
            content: b"Subject: hello\r\nFrom: a@example.org\r\n\r\nsecret body\r\n".to_vec(),
            ..QueuedMessage::default()
        }
    }

    fn failure() -> FailedRecipient {
        FailedRecipient {
            recipient: Recipient {
                address: "bob@example.com".into(),
                notify: None,
                orcpt: Some("rfc822;bob@example.com".into()),
            },
            status: "5.1.1".into(),
            diagnostic: "550 5.1.1 no such user".into(),
            remote: Some("mail.example.com".into()),
        }
    }

    #[test]
    fn full_report() {
        let dsn = String::from_utf8(
            build("mx.test", &original("a@example.org", None), &[failure()], Returned::AsAsked).unwrap(),
        )
        .unwrap();
        for expected in [
            "multipart/report",
            "report-type=\"delivery-status\"",
            "Reporting-MTA: dns; mx.test",
            "Original-Envelope-Id: ENV1",
            "Final-Recipient: rfc822; bob@example.com",
            "Original-Recipient: rfc822;bob@example.com",
            "Action: failed",
            "Status: 5.1.1",
            "Diagnostic-Code: smtp; 550 5.1.1 no such user",
            "message/rfc822",
            "secret body",
            "To: <a@example.org>",
        ] {
            assert!(dsn.contains(expected), "missing {expected:?} in\n{dsn}");
        }
    }

    #[test]
    fn headers_only_and_no_bounce_of_bounce() {
        let dsn = String::from_utf8(
            build("mx.test", &original("a@example.org", Some("HDRS")), &[failure()], Returned::AsAsked).unwrap(),
        )
        .unwrap();
        assert!(dsn.contains("text/rfc822-headers") && dsn.contains("Subject: hello") && !dsn.contains("secret body"));
        assert!(build("mx.test", &original("", None), &[failure()], Returned::AsAsked).is_none());
        let refused = build("mx.test", &original("a@example.org", None), &[failure()], Returned::Headers).unwrap();
        assert!(!String::from_utf8(refused).unwrap().contains("secret body"), "refused content is not sent back");
    }
}
