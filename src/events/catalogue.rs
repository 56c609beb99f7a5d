//! Each event's place in the catalogue of SPEC §10 — its category and
//! action name — and its flat [`Record`], from which the log line, the
//! store row, the CSV row and the syslog message are all made.

use super::{Category, Event, MessageRef, Record};
use crate::policy::{Finding, Handling};
use std::fmt;

impl Event {
    /// The detail report's action category.
    pub fn category(&self) -> Category {
        use Event::*;
        match self {
            ServiceStarted { .. }
            | ServiceStartFailed { .. }
            | ServiceStopped
            | Logon { .. }
            | Logoff { .. }
            | UnauthorizedAttempt { .. }
            | HttpProtocolViolation { .. }
            | ObjectModified { .. }
            | UpdateAttempted { .. }
            | DefinitionsUpdated { .. }
            | ReorderingStarted
            | ReorderingStopped { .. }
            | Outbreak { .. }
            | ScannerUnavailable { .. }
            | ScannerAvailable { .. }
            | LowResource { .. }
            | FileAccessError { .. }
            | QuarantineAccumulating { .. } => Category::System,
            ConnectionFrom { .. }
            | ConnectionClosed { .. }
            | ProtocolViolation { .. }
            | Rejected { .. }
            | ConnectedTo { .. }
            | Disconnected { .. } => Category::Smtp,
            Accepted { .. }
            | Dropped { .. }
            | Bounced { .. }
            | Held { .. }
            | Forwarded { .. }
            | Delivered { .. }
            | DeliveryFailed { .. }
            | Completed { .. }
            | DeliverySuppressed { .. } => Category::Message,
            Blocking { .. } | Quarantined { .. } | SpamListRefused { .. } => Category::Blocking,
        }
    }

    /// The catalogue name of the event.
    pub fn action(&self) -> &'static str {
        use Event::*;
        match self {
            ServiceStarted { .. } => "Service started",
            ServiceStartFailed { .. } => "Service start failed",
            ServiceStopped => "Service stopped",
            Logon { .. } => "Logon",
            Logoff { .. } => "Logoff",
            UnauthorizedAttempt { .. } => "Unauthorized attempt",
            HttpProtocolViolation { .. } => "HTTP protocol violation",
            ObjectModified { .. } => "Object modified",
            UpdateAttempted { .. } => "Update",
            DefinitionsUpdated { .. } => "Definitions updated",
            ReorderingStarted => "Reordering started",
            ReorderingStopped { .. } => "Reordering stopped",
            Outbreak { .. } => "Virus outbreak",
            ScannerUnavailable { .. } => "Scanner unavailable",
            ScannerAvailable { .. } => "Scanner available",
            LowResource { what, .. } if what == "memory" => "Low memory",
            LowResource { .. } => "Low disk space",
            FileAccessError { .. } => "File access error",
            QuarantineAccumulating { .. } => "Quarantine accumulating",
            ConnectionFrom { .. } => "Connection from",
            ConnectionClosed { .. } => "Connection closed",
            ProtocolViolation { .. } => "Protocol violation",
            Rejected { .. } => "Rejected",
            ConnectedTo { .. } => "Connected to",
            Disconnected { .. } => "Disconnected",
            Accepted { .. } => "Accepted",
            Dropped { .. } => "Dropped",
            Bounced { .. } => "Bounced",
            Held { .. } => "Held",
            Forwarded { .. } => "Forwarded",
            Delivered { .. } => "Delivered",
            DeliveryFailed { .. } => "Delivery failed",
            Completed { .. } => "Completed",
            DeliverySuppressed { .. } => "Delivery suppressed",
            Blocking { finding, handling, .. } => blocking_action(finding, handling),
            Quarantined { .. } => "File quarantined",
            SpamListRefused { .. } => "Spam list block",
        }
    }

    /// The event as a row, stamped `time` (ms since the epoch).
    pub fn record(&self, time: i64) -> Record {
        use Event::*;
        let mut r = Record { time, category: Some(self.category()), action: self.action().into(), ..Record::default() };
        match self {
            ServiceStarted { after_crash } => {
                r.reason = if *after_crash { "started after a crash" } else { "started" }.into()
            }
            ServiceStartFailed { reason } => r.reason = reason.clone(),
            ServiceStopped | ReorderingStarted => {}
            Logon { user, client_ip, success } => {
                (r.matched, r.client_ip) = (user.clone(), client_ip.clone());
                r.reason = if *success { "success" } else { "failure" }.into();
            }
            Logoff { user, client_ip } => (r.matched, r.client_ip) = (user.clone(), client_ip.clone()),
            UnauthorizedAttempt { user, client_ip, what } => {
                (r.matched, r.client_ip, r.file) = (user.clone(), client_ip.clone(), what.clone())
            }
            HttpProtocolViolation { client_ip, request, response } => {
                (r.client_ip, r.file, r.reason) = (client_ip.clone(), request.clone(), response.clone())
            }
            ObjectModified { what, user, client_ip } => {
                (r.file, r.matched, r.client_ip) = (what.clone(), user.clone(), client_ip.clone())
            }
            UpdateAttempted { result } => r.reason = result.clone(),
            DefinitionsUpdated { sequence, date } => r.reason = format!("sequence {sequence} of {date}"),
            ReorderingStopped { moved_to_front, moved_to_rear, micros } => {
                let seconds = *micros as f64 / 1e6;
                r.reason = format!(
                    "{moved_to_front} moved to the front, {moved_to_rear} to the rear, in {seconds:.6} seconds"
                );
            }
            Outbreak { messages, minutes } => {
                r.reason = format!("{messages} infected messages within {minutes} minutes");
            }
            ScannerUnavailable { scanner, why } => (r.matched, r.reason) = (scanner.clone(), why.clone()),
            ScannerAvailable { scanner } => r.matched = scanner.clone(),
            LowResource { what, free_percent } => {
                (r.file, r.reason) = (what.clone(), format!("{free_percent} % free"));
            }
            FileAccessError { path, why } => (r.file, r.reason) = (path.clone(), why.clone()),
            QuarantineAccumulating { pending, server, why } => {
                r.matched = server.clone();
                r.reason = format!("{pending} items wait in the local quarantine: {why}");
            }
            ConnectionFrom { connection_id, client_ip, result } => {
                (r.connection_id, r.client_ip, r.reason) = (connection_id.clone(), client_ip.clone(), result.clone());
            }
            ConnectionClosed { connection_id, client_ip, last_command, last_response } => {
                (r.connection_id, r.client_ip) = (connection_id.clone(), client_ip.clone());
                r.reason = format!("last command {last_command:?}, last response {last_response:?}");
            }
            ProtocolViolation { connection_id, client_ip, command, response } => {
                (r.connection_id, r.client_ip) = (connection_id.clone(), client_ip.clone());
                r.reason = format!("{command:?} answered {response:?}");
            }
            Rejected { connection_id, client_ip, sender, recipient, rule, reason } => {
                (r.connection_id, r.client_ip, r.sender) = (connection_id.clone(), client_ip.clone(), sender.clone());
                (r.recipients, r.matched, r.reason) = (recipient.clone(), rule.name().into(), reason.clone());
            }
            ConnectedTo { connection_id, host, result, cached } => {
                (r.connection_id, r.matched) = (connection_id.clone(), host.clone());
                r.reason = format!("{result} ({})", if *cached { "cached" } else { "new" });
            }
            Disconnected { connection_id, host } => {
                (r.connection_id, r.matched) = (connection_id.clone(), host.clone())
            }
            Accepted { message, connection_id, bytes } => {
                message_fields(&mut r, message);
                (r.connection_id, r.bytes) = (connection_id.clone(), *bytes);
            }
            Dropped { message, reason }
            | Bounced { message, reason }
            | Held { message, reason }
            | DeliverySuppressed { message, reason } => {
                message_fields(&mut r, message);
                r.reason = reason.clone();
            }
            Forwarded { message, to } => {
                message_fields(&mut r, message);
                r.matched = to.clone();
            }
            Delivered { message, recipients, host } => {
                message_fields(&mut r, message);
                (r.recipients, r.matched) = (recipients.join(","), host.clone());
            }
            DeliveryFailed { message, recipients, reason } => {
                message_fields(&mut r, message);
                (r.recipients, r.reason) = (recipients.join(","), reason.clone());
            }
            Completed { message } => message_fields(&mut r, message),
            Blocking { message, finding, handling } => {
                message_fields(&mut r, message);
                finding_fields(&mut r, finding);
                (r.handling, r.reason) = (handling.to_string(), finding.to_string());
            }
            Quarantined { message, path, name, virus, result, item, bytes } => {
                message_fields(&mut r, message);
                (r.virus, r.file) = (virus.clone(), if name.is_empty() { path.clone() } else { name.clone() });
                (r.handling, r.matched, r.bytes) = ("quarantined".into(), item.clone(), *bytes);
                r.reason = format!("{result}; kept for the Central Quarantine as item {item}");
            }
            SpamListRefused { client_ip, sender, zone } => {
                (r.client_ip, r.sender, r.matched) = (client_ip.clone(), sender.clone(), zone.clone());
                r.handling = "refused".into();
            }
        }
        r
    }
}

/// The action name of a blocking finding, by what was done about it.
fn blocking_action(finding: &Finding, handling: &Handling) -> &'static str {
    match finding {
        Finding::Virus { .. } => match handling {
            Handling::Repaired => "File repaired",
            Handling::Deleted => "File deleted",
            _ => "Virus logged",
        },
        Finding::ScanError { .. } | Finding::Unprocessable { .. } => "Scan error",
        Finding::Subject { .. } => "Subject blocked",
        Finding::Sender { .. } => "Sender blocked",
        Finding::FileName { .. } => "Attachment deleted",
        Finding::ContainerLimit { .. } => "Container violation",
        Finding::Encrypted { .. } => "Encrypted container",
        Finding::SpamList { .. } => "Spam list block",
        Finding::Spam { .. } => "Heuristic spam detection",
    }
}

fn message_fields(r: &mut Record, m: &MessageRef) {
    (r.smtp_id, r.sender, r.recipients) = (m.id.clone(), m.sender.clone(), m.recipients.join(","));
    (r.subject, r.client_ip) = (m.subject.clone(), m.client_ip.clone());
}

fn finding_fields(r: &mut Record, finding: &Finding) {
    match finding {
        Finding::Virus { path, name, virus, .. } => {
            (r.virus, r.file) = (virus.clone(), if name.is_empty() { path.clone() } else { name.clone() });
        }
        Finding::Subject { pattern } => r.matched = pattern.clone(),
        Finding::Sender { entry, .. } => r.matched = entry.clone(),
        Finding::SpamList { zone } => r.matched = zone.clone(),
        Finding::FileName { name, pattern, .. } => (r.file, r.matched) = (name.clone(), pattern.clone()),
        Finding::ContainerLimit { path, hit } => (r.file, r.matched) = (path.clone(), hit.describe().to_string()),
        Finding::Encrypted { name, .. } => r.file = name.clone(),
        Finding::Unprocessable { path, .. } | Finding::ScanError { path, .. } => r.file = path.clone(),
        Finding::Spam { percent, rules } => (r.matched, r.bytes) = (rules.join(", "), u64::from(*percent)),
    }
}

/// One log line: the action, then every filled column.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.record(0);
        write!(f, "{} [{}]", r.action, self.category())?;
        let fields = [
            ("id", &r.smtp_id),
            ("connection", &r.connection_id),
            ("client", &r.client_ip),
            ("from", &r.sender),
            ("to", &r.recipients),
            ("subject", &r.subject),
            ("virus", &r.virus),
            ("matched", &r.matched),
            ("file", &r.file),
            ("handling", &r.handling),
            ("reason", &r.reason),
        ];
        for (name, value) in fields.into_iter().filter(|(_, v)| !v.is_empty()) {
            write!(f, "; {name}: {value}")?;
        }
        if r.bytes > 0 {
            write!(f, "; bytes: {}", r.bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> MessageRef {
        MessageRef {
            id: "ID1".into(),
            sender: "a@s.test".into(),
            recipients: vec!["b@x.test".into(), "c@x.test".into()],
            subject: "Hello".into(),
            client_ip: "192.0.2.1".into(),
        }
    }

    #[test]
    fn a_virus_deletion_is_a_blocking_row_with_every_field() {
        let finding =
            Finding::Virus { path: "2".into(), name: "e.com".into(), virus: "Eicar".into(), scanner: "builtin".into() };
        let event = Event::Blocking { message: message(), finding, handling: Handling::Deleted };
        let r = event.record(1_700_000_000_000);
        assert_eq!((r.category, r.action.as_str()), (Some(Category::Blocking), "File deleted"));
        assert_eq!((r.smtp_id.as_str(), r.recipients.as_str()), ("ID1", "b@x.test,c@x.test"));
        assert_eq!((r.virus.as_str(), r.file.as_str(), r.handling.as_str()), ("Eicar", "e.com", "deleted"));
        assert_eq!(r.time, 1_700_000_000_000);
        let line = event.to_string();
        assert!(line.starts_with("File deleted [blocking]; id: ID1;") && line.contains("virus: Eicar"), "{line}");
    }

    #[test]
    fn the_same_finding_names_its_action_by_handling() {
        let virus = Finding::Virus { path: "2".into(), name: String::new(), virus: "V".into(), scanner: "s".into() };
        assert_eq!(blocking_action(&virus, &Handling::Repaired), "File repaired");
        assert_eq!(blocking_action(&virus, &Handling::Logged), "Virus logged");
        let memory = Event::LowResource { what: "memory".into(), free_percent: 5 };
        assert_eq!((memory.action(), memory.category()), ("Low memory", Category::System));
        let rejected = Event::Rejected {
            connection_id: "C1".into(),
            client_ip: "192.0.2.9".into(),
            sender: "a@s.test".into(),
            recipient: "x@y.test".into(),
            rule: super::super::RejectRule::Size,
            reason: "too big".into(),
        };
        assert_eq!((rejected.category(), rejected.record(0).matched.as_str()), (Category::Smtp, "size"));
        assert_eq!(Category::parse("SMTP"), Some(Category::Smtp));
    }
}
