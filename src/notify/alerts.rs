//! System alerts (SPEC §9): which event raises which alert, at most one
//! alert of a kind every five minutes (the next one counts those held
//! back), and failed logons counted in a row.

use super::compose::{Outgoing, recipients};
use crate::config::{Alerts, Config};
use crate::events::Event;
use crate::policy::Finding;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The alerts of SPEC §9, one `[alerts]` switch each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    ApplicationStart,
    ApplicationStartAfterCrash,
    ApplicationStop,
    LowDiskSpace,
    LowMemory,
    DefinitionsUpdateComplete,
    ConfigurationChange,
    SuspectMessage,
    ScanError,
    FileAccessError,
    SmtpProtocolViolation,
    /// Raised by no event yet: the administration server emits none.
    HttpProtocolViolation,
    FrequentFailedLogons,
    SmtpConnectionFailure,
    /// Raised by no event yet: the administration server emits none.
    UnauthorizedAccess,
    /// Items wait in the local quarantine (SPEC §6).
    QuarantineAccumulating,
}

impl AlertKind {
    /// The alert's name in subjects.
    pub fn title(self) -> &'static str {
        match self {
            AlertKind::ApplicationStart => "Application start",
            AlertKind::ApplicationStartAfterCrash => "Application start after crash",
            AlertKind::ApplicationStop => "Application stop",
            AlertKind::LowDiskSpace => "Low disk space",
            AlertKind::LowMemory => "Low memory",
            AlertKind::DefinitionsUpdateComplete => "Definitions update complete",
            AlertKind::ConfigurationChange => "Configuration change",
            AlertKind::SuspectMessage => "Suspect message",
            AlertKind::ScanError => "Scan error",
            AlertKind::FileAccessError => "File access error",
            AlertKind::SmtpProtocolViolation => "SMTP protocol violation",
            AlertKind::HttpProtocolViolation => "HTTP protocol violation",
            AlertKind::FrequentFailedLogons => "Frequent failed logon attempts",
            AlertKind::SmtpConnectionFailure => "SMTP connection failure",
            AlertKind::UnauthorizedAccess => "Unauthorized access attempt",
            AlertKind::QuarantineAccumulating => "Quarantine items accumulating",
        }
    }

    /// Whether the administrator wants this alert.
    pub fn enabled(self, a: &Alerts) -> bool {
        match self {
            AlertKind::ApplicationStart => a.application_start,
            AlertKind::ApplicationStartAfterCrash => a.application_start_after_crash,
            AlertKind::ApplicationStop => a.application_stop,
            AlertKind::LowDiskSpace => a.low_disk_space,
            AlertKind::LowMemory => a.low_memory,
            AlertKind::DefinitionsUpdateComplete => a.definitions_update_complete,
            AlertKind::ConfigurationChange => a.configuration_change,
            AlertKind::SuspectMessage => a.suspect_message,
            AlertKind::ScanError => a.scan_error,
            AlertKind::FileAccessError => a.file_access_error,
            AlertKind::SmtpProtocolViolation => a.smtp_protocol_violation,
            AlertKind::HttpProtocolViolation => a.http_protocol_violation,
            AlertKind::FrequentFailedLogons => a.frequent_failed_logons,
            AlertKind::SmtpConnectionFailure => a.smtp_connection_failure,
            AlertKind::UnauthorizedAccess => a.unauthorized_access,
            AlertKind::QuarantineAccumulating => a.quarantine_accumulating,
        }
    }
}

/// The least time between two alerts of one kind.
pub const QUIET: Duration = Duration::from_secs(5 * 60);

/// Failed logons in a row that raise an alert (and every one after).
const FAILED_LOGONS: u32 = 3;

/// What alerting remembers between events.
#[derive(Debug, Default)]
pub struct AlertState {
    /// Per kind: when the last alert was sent, and how many were held
    /// back since.
    sent: HashMap<AlertKind, (Option<Instant>, u32)>,
    /// Failed logons since the last successful one.
    failed_logons: u32,
}

impl AlertState {
    /// The alert `event` raises at `now`, if any is due.
    pub fn observe(&mut self, config: &Config, event: &Event, now: Instant) -> Option<Outgoing> {
        let kind = self.kind_of(event)?;
        let to = recipients(config, &config.notify.admin_addresses);
        if !kind.enabled(&config.alerts) || to.is_empty() {
            return None;
        }
        let held_back = self.admit(kind, now)?;
        let time = chrono::Local::now().to_rfc2822();
        let mut body = format!("{} on {} at {time}.\n\n{event}\n", kind.title(), config.smtp.hostname);
        if kind == AlertKind::FrequentFailedLogons {
            body.push_str(&format!("\nFailed logons in a row: {}\n", self.failed_logons));
        }
        if held_back > 0 {
            let minutes = QUIET.as_secs() / 60;
            body.push_str(&format!(
                "\n{held_back} more alert(s) of this kind were not sent in the last {minutes} minutes.\n"
            ));
        }
        Some(Outgoing { to, subject: format!("{} alert: {}", config.notify.from_name, kind.title()), body })
    }

    /// The alert `event` is about, counting logons on the way.
    fn kind_of(&mut self, event: &Event) -> Option<AlertKind> {
        Some(match event {
            Event::ServiceStarted { after_crash: false } => AlertKind::ApplicationStart,
            Event::ServiceStarted { after_crash: true } => AlertKind::ApplicationStartAfterCrash,
            Event::ServiceStopped => AlertKind::ApplicationStop,
            Event::LowResource { what, .. } if what == "memory" => AlertKind::LowMemory,
            Event::LowResource { .. } => AlertKind::LowDiskSpace,
            Event::DefinitionsUpdated { .. } => AlertKind::DefinitionsUpdateComplete,
            Event::ObjectModified { .. } => AlertKind::ConfigurationChange,
            Event::Held { .. } => AlertKind::SuspectMessage,
            Event::Blocking { finding: Finding::ScanError { .. } | Finding::Unprocessable { .. }, .. }
            | Event::ScannerUnavailable { .. } => AlertKind::ScanError,
            Event::FileAccessError { .. } => AlertKind::FileAccessError,
            Event::ProtocolViolation { .. } => AlertKind::SmtpProtocolViolation,
            Event::HttpProtocolViolation { .. } => AlertKind::HttpProtocolViolation,
            Event::UnauthorizedAttempt { .. } => AlertKind::UnauthorizedAccess,
            Event::QuarantineAccumulating { .. } => AlertKind::QuarantineAccumulating,
            Event::Logon { success: true, .. } => {
                self.failed_logons = 0;
                return None;
            }
            Event::Logon { success: false, .. } => {
                self.failed_logons += 1;
                return (self.failed_logons >= FAILED_LOGONS).then_some(AlertKind::FrequentFailedLogons);
            }
            Event::ConnectedTo { result, .. } if !connected(result) => AlertKind::SmtpConnectionFailure,
            Event::DeliveryFailed { reason, .. } if unreachable(reason) => AlertKind::SmtpConnectionFailure,
            _ => return None,
        })
    }

    /// Whether an alert of `kind` may go out at `now`; if so, how many
    /// were held back before it.
    fn admit(&mut self, kind: AlertKind, now: Instant) -> Option<u32> {
        let (last, held_back) = self.sent.entry(kind).or_insert((None, 0));
        if last.is_some_and(|t| now.duration_since(t) < QUIET) {
            *held_back += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held_back))
    }
}

/// A `ConnectedTo` result that means the connection was made: it starts
/// with "connected", "ok", "success" or a 2xx greeting. Anything else
/// ("failed: ...", "refused", "timed out", "421 ...") is a failure.
fn connected(result: &str) -> bool {
    let r = result.trim_start().to_ascii_lowercase();
    ["connected", "ok", "success", "2"].iter().any(|start| r.starts_with(start))
}

/// A permanent delivery failure that is about the next hop rather than
/// the recipient: some reply's enhanced status is in the "network and
/// routing" class X.4.X of RFC 3463 (no answer, bad connection, routing
/// loop, unable to route...). The reason is "CODE X.Y.Z text" per
/// recipient, joined by "; ".
fn unreachable(reason: &str) -> bool {
    reason.split("; ").any(|reply| {
        let status = reply.split_whitespace().nth(1).unwrap_or("");
        let parts: Vec<&str> = status.split('.').collect();
        matches!(parts.as_slice(), [class, "4", detail]
            if matches!(*class, "4" | "5") && !detail.is_empty() && detail.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MessageRef;

    fn config() -> Config {
        let mut c = Config::default();
        c.smtp.hostname = "mx.test".into();
        c.notify.admin_addresses = vec!["admin@corp.test".into()];
        c
    }

    fn logon(success: bool) -> Event {
        Event::Logon { user: "admin".into(), client_ip: "192.0.2.5".into(), success }
    }

    #[test]
    fn events_raise_their_alert_with_details() {
        let (c, now) = (config(), Instant::now());
        let mut s = AlertState::default();
        let alert = s.observe(&c, &Event::ServiceStarted { after_crash: true }, now).unwrap();
        assert_eq!(alert.to, vec!["admin@corp.test"]);
        assert_eq!(alert.subject, "MXGuard alert: Application start after crash");
        assert!(alert.body.starts_with("Application start after crash on mx.test at "), "{}", alert.body);
        assert!(alert.body.contains("started after a crash"), "{}", alert.body);
        let memory = Event::LowResource { what: "memory".into(), free_percent: 4 };
        assert_eq!(s.observe(&c, &memory, now).unwrap().subject, "MXGuard alert: Low memory");
        let held = Event::Held { message: MessageRef::default(), reason: "crashed".into() };
        assert!(s.observe(&c, &held, now).unwrap().body.contains("reason: crashed"));
        let waiting =
            Event::QuarantineAccumulating { pending: 3, server: "cq.test:2847".into(), why: "refused".into() };
        let alert = s.observe(&c, &waiting, now).unwrap();
        assert_eq!(alert.subject, "MXGuard alert: Quarantine items accumulating");
        assert!(alert.body.contains("3 items wait") && alert.body.contains("cq.test:2847"), "{}", alert.body);
        let violation = Event::ProtocolViolation {
            connection_id: "C1".into(),
            client_ip: "192.0.2.9".into(),
            command: "HELO".into(),
            response: "501".into(),
        };
        assert_eq!(s.observe(&c, &violation, now), None, "off by default");
        let mut quiet = config();
        quiet.notify.admin_addresses.clear();
        assert_eq!(s.observe(&quiet, &Event::ServiceStopped, now), None, "nobody to tell");
        assert!(s.observe(&c, &Event::ServiceStopped, now).is_some(), "a kind not sent is not counted");
    }

    #[test]
    fn one_alert_per_kind_per_five_minutes_and_the_next_counts_the_rest() {
        let (c, start) = (config(), Instant::now());
        let mut s = AlertState::default();
        let stopped = Event::ServiceStopped;
        assert!(s.observe(&c, &stopped, start).is_some());
        assert!(s.observe(&c, &stopped, start + Duration::from_secs(10)).is_none());
        assert!(s.observe(&c, &stopped, start + Duration::from_secs(299)).is_none());
        assert!(s.observe(&c, &Event::ServiceStarted { after_crash: false }, start).is_some(), "kinds are apart");
        let next = s.observe(&c, &stopped, start + QUIET).unwrap();
        assert!(
            next.body.contains("2 more alert(s) of this kind were not sent in the last 5 minutes."),
            "{}",
            next.body
        );
        let after = s.observe(&c, &stopped, start + QUIET * 2).unwrap();
        assert!(!after.body.contains("more alert(s)"), "{}", after.body);
    }

    #[test]
    fn the_third_failed_logon_in_a_row_alerts_and_a_success_starts_again() {
        let (c, now) = (config(), Instant::now());
        let mut s = AlertState::default();
        assert!(s.observe(&c, &logon(false), now).is_none());
        assert!(s.observe(&c, &logon(false), now).is_none());
        let alert = s.observe(&c, &logon(false), now).unwrap();
        assert_eq!(alert.subject, "MXGuard alert: Frequent failed logon attempts");
        assert!(alert.body.contains("Failed logons in a row: 3"), "{}", alert.body);
        let later = now + QUIET;
        let fourth = s.observe(&c, &logon(false), later).unwrap();
        assert!(fourth.body.contains("Failed logons in a row: 4"), "every failure after the third alerts");
        assert!(s.observe(&c, &logon(true), later).is_none());
        let much_later = later + QUIET;
        assert!(s.observe(&c, &logon(false), much_later).is_none(), "counted again from the success");
        assert!(s.observe(&c, &logon(false), much_later).is_none());
        assert!(s.observe(&c, &logon(false), much_later).is_some());
    }

    #[test]
    fn connection_failures_are_about_the_next_hop() {
        assert!(connected("connected") && connected("220 mx ready") && connected("OK"));
        assert!(!connected("failed: connection refused") && !connected("421 busy") && !connected("timed out"));
        assert!(unreachable("550 5.4.6 routing loop") && unreachable("250 2.0.0 x; 554 4.4.1 no answer"));
        assert!(!unreachable("550 5.1.1 no such user") && !unreachable("550 no status") && !unreachable(""));
        let (c, now) = (config(), Instant::now());
        let mut s = AlertState::default();
        let failed = |reason: &str| Event::DeliveryFailed {
            message: MessageRef::default(),
            recipients: vec!["x@y.test".into()],
            reason: reason.into(),
        };
        assert!(s.observe(&c, &failed("550 5.1.1 no such user"), now).is_none());
        assert!(s.observe(&c, &failed("550 5.4.6 mail for y.test loops back to myself"), now).is_some());
    }
}
