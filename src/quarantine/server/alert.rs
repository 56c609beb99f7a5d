//! The server's alerts (SPEC §7's quota alerts, the too-long-in-status
//! watchdog): each is logged when raised and, when `alert_address` is set,
//! mailed there through the relay by one background task, in the order
//! raised. Raising never blocks and never fails, so the code that notices
//! a condition (often under the index lock) is not held up by the mail.

use super::config::Settings;
use super::relay::deliver;
use super::service::Quarantine;
use mail_builder::MessageBuilder;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Tries to mail one alert before it is given up (it stays in the log).
const ATTEMPTS: u32 = 3;
/// Wait between two tries.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// One alert: a subject line and the text that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// One line: what happened.
    pub subject: String,
    /// What it means and what to do, with the figures.
    pub text: String,
}

/// Where alerts are raised; the mailer takes them from its outbox.
pub struct Alerter {
    /// `None` when no `alert_address` is set: alerts are only logged.
    outbox: Option<mpsc::UnboundedSender<Alert>>,
    pending: Mutex<Option<mpsc::UnboundedReceiver<Alert>>>,
}

impl Alerter {
    /// An alerter for `settings`: mailing when `alert_address` is set.
    pub fn new(settings: &Settings) -> Alerter {
        if settings.alert_address.is_empty() {
            return Alerter { outbox: None, pending: Mutex::new(None) };
        }
        let (tx, rx) = mpsc::unbounded_channel();
        Alerter { outbox: Some(tx), pending: Mutex::new(Some(rx)) }
    }

    /// Log the alert and queue it for mailing.
    pub fn raise(&self, subject: impl Into<String>, text: impl Into<String>) {
        let alert = Alert { subject: subject.into(), text: text.into() };
        tracing::warn!(alert = %alert.subject, "{}", alert.text);
        if let Some(outbox) = &self.outbox {
            // The receiver lives as long as the process: a send cannot fail
            // while anyone could still read it.
            let _ = outbox.send(alert);
        }
    }

    /// The queued alerts, for the one mailer; `None` once taken or when
    /// alerts are not mailed.
    fn take_pending(&self) -> Option<mpsc::UnboundedReceiver<Alert>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Mail every alert raised in `q` to `alert_address`, until the process
/// ends; returns at once when alerts are not mailed.
pub async fn mail(q: Arc<Quarantine>) {
    let Some(mut pending) = q.alerts().take_pending() else { return };
    while let Some(alert) = pending.recv().await {
        let message = match compose(&q.settings, &alert) {
            Ok(message) => message,
            Err(why) => {
                tracing::error!(alert = %alert.subject, "cannot build the alert message: {why}");
                continue;
            }
        };
        for attempt in 1..=ATTEMPTS {
            match deliver(&q.settings, &q.settings.alert_address, &message).await {
                Ok(reply) => {
                    tracing::info!(alert = %alert.subject, to = %q.settings.alert_address, "alert mailed: {reply}");
                    break;
                }
                Err(why) if attempt < ATTEMPTS => {
                    tracing::warn!(alert = %alert.subject, "alert not mailed yet (try {attempt}): {why}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                Err(why) => tracing::error!(alert = %alert.subject, "alert not mailed, given up: {why}"),
            }
        }
    }
}

/// The mail for `alert`, from `submit_from` to `alert_address`.
fn compose(settings: &Settings, alert: &Alert) -> Result<Vec<u8>, String> {
    let subject: String = format!("[mxguard Central Quarantine {}] {}", settings.hostname, alert.subject)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let body = format!("{}\n\n-- \nmxguard Central Quarantine on {}\n", alert.text, settings.hostname);
    MessageBuilder::new()
        .from(settings.submit_from.as_str())
        .to(settings.alert_address.as_str())
        .subject(subject)
        .text_body(body)
        .write_to_vec()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_queued_only_when_mailed() {
        let quiet = Alerter::new(&Settings::default());
        quiet.raise("logged", "only");
        assert!(quiet.take_pending().is_none());

        let settings = Settings { alert_address: "ops@x.test".into(), ..Settings::default() };
        let mailing = Alerter::new(&settings);
        mailing.raise("Quota low", "90 % used");
        let mut pending = mailing.take_pending().expect("the outbox");
        assert!(mailing.take_pending().is_none(), "one mailer");
        let alert = pending.try_recv().unwrap();
        assert_eq!(alert, Alert { subject: "Quota low".into(), text: "90 % used".into() });

        let message = compose(&settings, &alert).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&message).unwrap();
        assert!(parsed.subject().unwrap().ends_with("] Quota low"), "{:?}", parsed.subject());
        assert!(parsed.body_text(0).unwrap().starts_with("90 % used"));
    }
}
