//! Notifications and alerts (SPEC §9), made from the event stream: sender
//! and administrator notifications about blocked messages, the outbreak
//! notification, and system alerts. Each is a real message, queued in
//! the fast queue and delivered like any other mail.
//!
//! The findings of one message are gathered until its processing ends
//! (its next event that is not a finding: delivered, dropped, held...)
//! or [`GATHER`] passes, then told in one notification per audience.
//! Events about the notifications themselves raise nothing, so a
//! notification can never cause another.

mod alerts;
mod compose;
mod notices;
mod outbox;
mod templates;

pub use alerts::AlertKind;
pub use compose::{from_address, is_notification_address};

use crate::config::{Config, ConfigHandle};
use crate::events::{Event, MessageRef};
use crate::policy::Handling;
use crate::spool::Spool;
use alerts::AlertState;
use compose::Outgoing;
use notices::{Group, kind_of};
use outbox::Outbox;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The longest a message's findings wait for the end of its processing
/// (which a slow scan or a deferred first delivery may keep from coming).
pub const GATHER: Duration = Duration::from_secs(60);

/// Turns events into notification and alert messages; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: ConfigHandle,
    outbox: Outbox,
    gather: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Messages with findings not yet told, by queue ID, each with the
    /// serial number of its gathering timer.
    groups: HashMap<String, (u64, Group)>,
    serial: u64,
    alerts: AlertState,
}

impl Notifier {
    /// A notifier queueing into `spool` and announcing each new message
    /// on `fast`, the fast queue's input.
    pub fn new(config: ConfigHandle, spool: Arc<Spool>, fast: mpsc::UnboundedSender<String>) -> Notifier {
        Notifier::gathering(config, spool, fast, GATHER)
    }

    fn gathering(
        config: ConfigHandle,
        spool: Arc<Spool>,
        fast: mpsc::UnboundedSender<String>,
        gather: Duration,
    ) -> Notifier {
        let outbox = Outbox::new(spool, fast);
        Notifier { inner: Arc::new(Inner { config, outbox, gather, state: Mutex::default() }) }
    }

    /// Act on one event: called by the event dispatcher for every event,
    /// within the tokio runtime. Never waits for I/O: messages are stored
    /// on the blocking pool. Most events only cost a lookup.
    pub fn observe(&self, event: &Event) {
        if message_of(event).is_some_and(|m| self.inner.outbox.is_ours(&m.id)) {
            return;
        }
        let config = self.inner.config.current();
        let now = chrono::Local::now();
        let mut out: Vec<Outgoing> = Vec::new();
        {
            let mut state = self.lock();
            match event {
                Event::Blocking { message, finding, handling } if kind_of(finding).is_some() => {
                    let State { groups, serial, .. } = &mut *state;
                    let (_, group) = groups.entry(message.id.clone()).or_insert_with(|| {
                        *serial += 1;
                        self.expire_later(message.id.clone(), *serial);
                        (*serial, Group::new(message.clone(), now))
                    });
                    group.add(finding, handling);
                }
                Event::SpamListRefused { client_ip, sender, zone } => {
                    out.extend(Group::refused(client_ip, sender, zone, now).notices(&config));
                }
                Event::Outbreak { messages, minutes } => {
                    out.extend(notices::outbreak(&config, *messages, *minutes, now))
                }
                Event::ServiceStopped => {
                    out.extend(state.groups.drain().flat_map(|(_, (_, group))| group.notices(&config)));
                }
                _ => {}
            }
            if let Some(id) = finished(event)
                && let Some((_, mut group)) = state.groups.remove(id)
            {
                if let Some(handling) = ending(event) {
                    group.end(handling);
                }
                out.extend(group.notices(&config));
            }
            out.extend(state.alerts.observe(&config, event, Instant::now()));
        }
        self.send(&config, out);
    }

    /// Wait until every notification queued so far is on disk: after the
    /// dispatcher has observed `ServiceStopped` (which tells every message
    /// still gathering), before the process exits.
    pub async fn idle(&self) {
        self.inner.outbox.idle().await;
    }

    /// Tell message `id` after [`GATHER`], unless it was told meanwhile
    /// (and gathered again under a new `serial`).
    fn expire_later(&self, id: String, serial: u64) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.inner.gather).await;
            let group = {
                let mut state = me.lock();
                match state.groups.get(&id) {
                    Some((s, _)) if *s == serial => state.groups.remove(&id).map(|(_, group)| group),
                    _ => None,
                }
            };
            let config = me.inner.config.current();
            me.send(&config, group.map(|g| g.notices(&config)).unwrap_or_default());
        });
    }

    fn send(&self, config: &Arc<Config>, out: Vec<Outgoing>) {
        for notice in out {
            self.inner.outbox.send(config.clone(), notice);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The message an event is about, if any.
fn message_of(event: &Event) -> Option<&MessageRef> {
    match event {
        Event::Accepted { message, .. }
        | Event::Dropped { message, .. }
        | Event::Bounced { message, .. }
        | Event::Held { message, .. }
        | Event::Forwarded { message, .. }
        | Event::Delivered { message, .. }
        | Event::DeliveryFailed { message, .. }
        | Event::Completed { message }
        | Event::DeliverySuppressed { message, .. }
        | Event::Blocking { message, .. } => Some(message),
        _ => None,
    }
}

/// The message whose processing `event` shows to be over: any event
/// about a message but its arrival and its findings.
fn finished(event: &Event) -> Option<&str> {
    match event {
        Event::Accepted { .. } | Event::Blocking { .. } => None,
        _ => message_of(event).map(|m| m.id.as_str()),
    }
}

/// What an event that ends processing says about the whole message.
fn ending(event: &Event) -> Option<Handling> {
    match event {
        Event::Dropped { .. } => Some(Handling::Dropped),
        Event::Held { .. } => Some(Handling::Held),
        Event::Bounced { .. } => Some(Handling::Bounced),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Finding;
    use crate::spool::Queue;
    use crate::spool::queue_file::QueuedMessage;

    struct Setup {
        notifier: Notifier,
        spool: Arc<Spool>,
        fast: mpsc::UnboundedReceiver<String>,
        _dir: tempfile::TempDir,
    }

    fn setup(gather: Duration) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let mut config = Config::default();
        config.smtp.hostname = "mx.test".into();
        config.notify.admin_addresses = vec!["admin@corp.test".into()];
        (config.notify.virus.notify_sender, config.notify.virus.notify_admin) = (true, true);
        config.notify.content.notify_admin = true;
        let (tx, fast) = mpsc::unbounded_channel();
        let notifier = Notifier::gathering(ConfigHandle::new(config, None), spool.clone(), tx, gather);
        Setup { notifier, spool, fast, _dir: dir }
    }

    impl Setup {
        /// The messages announced on the fast queue so far, as stored.
        async fn queued(&mut self) -> Vec<QueuedMessage> {
            self.notifier.idle().await;
            let mut out = Vec::new();
            while let Ok(id) = self.fast.try_recv() {
                out.push(self.spool.load(Queue::Fast, &id).unwrap());
            }
            out.sort_by_key(|m| m.envelope.recipients[0].address.clone());
            out
        }
    }

    fn message(id: &str) -> MessageRef {
        MessageRef {
            id: id.into(),
            sender: "alice@ext.test".into(),
            recipients: vec!["bob@corp.test".into()],
            subject: "Quarterly report".into(),
            client_ip: "192.0.2.7".into(),
        }
    }

    fn blocking(id: &str, finding: Finding, handling: Handling) -> Event {
        Event::Blocking { message: message(id), finding, handling }
    }

    fn virus(id: &str, file: &str) -> Event {
        let finding = Finding::Virus {
            path: "2".into(),
            name: file.into(),
            virus: "Eicar-Test".into(),
            scanner: "builtin".into(),
        };
        blocking(id, finding, Handling::Deleted)
    }

    fn recipients(m: &QueuedMessage) -> Vec<&str> {
        m.envelope.recipients.iter().map(|r| r.address.as_str()).collect()
    }

    #[tokio::test]
    async fn a_message_s_findings_are_queued_as_one_notice_per_audience_when_processing_ends() {
        let mut s = setup(GATHER);
        s.notifier.observe(&Event::Accepted { message: message("Q1"), connection_id: "C1".into(), bytes: 10 });
        s.notifier.observe(&virus("Q1", "a.com"));
        s.notifier.observe(&blocking("Q1", Finding::Subject { pattern: "*report*".into() }, Handling::Logged));
        s.notifier.observe(&virus("Q1", "b.com"));
        assert!(s.queued().await.is_empty(), "still gathering");
        s.notifier.observe(&Event::Completed { message: message("Q1") });
        let queued = s.queued().await;
        assert_eq!(queued.iter().map(recipients).collect::<Vec<_>>(), [["admin@corp.test"], ["alice@ext.test"]]);
        for m in &queued {
            assert_eq!((m.envelope.sender.as_str(), m.attempts), ("", 0), "the null sender: never bounced");
            let parsed = mail_parser::MessageParser::default().parse(&m.content).unwrap();
            let body = parsed.body_text(0).unwrap();
            assert!(body.contains("Eicar-Test in a.com") && body.contains("Eicar-Test in b.com"), "{body}");
            assert!(body.contains("Subject: Quarterly report") && body.contains("2 file(s) removed"), "{body}");
            let from = parsed.from().and_then(|a| a.first()).and_then(|a| a.address()).unwrap();
            assert_eq!(from, "postmaster@mx.test");
            assert!(parsed.subject().unwrap().starts_with("Virus found"));
        }
        s.notifier.observe(&Event::Delivered { message: message("Q1"), recipients: vec![], host: "h".into() });
        assert!(s.queued().await.is_empty(), "told once");
    }

    #[tokio::test]
    async fn events_about_a_notification_raise_nothing() {
        let mut s = setup(GATHER);
        s.notifier.observe(&virus("Q1", "a.com"));
        s.notifier.observe(&Event::Dropped { message: message("Q1"), reason: "infected".into() });
        let queued = s.queued().await;
        assert_eq!(queued.len(), 2);
        let body = String::from_utf8_lossy(&queued[0].content).to_string();
        assert!(body.contains("The message was dropped"), "{body}");
        let notice = MessageRef { sender: String::new(), ..message(&queued[0].id) };
        let finding = Finding::Subject { pattern: "*virus*".into() };
        s.notifier.observe(&Event::Blocking { message: notice.clone(), finding, handling: Handling::Dropped });
        s.notifier.observe(&Event::Held { message: notice.clone(), reason: "crashed".into() });
        s.notifier.observe(&Event::Dropped { message: notice, reason: "subject".into() });
        assert!(s.queued().await.is_empty(), "no notice, no suspect-message alert");
        s.notifier.observe(&Event::Held { message: message("Q2"), reason: "crashed".into() });
        let alert = s.queued().await;
        assert_eq!(alert.len(), 1);
        assert!(String::from_utf8_lossy(&alert[0].content).contains("alert: Suspect message"));
    }

    #[tokio::test]
    async fn findings_are_told_after_the_gathering_time_or_at_stop() {
        let mut s = setup(Duration::from_millis(50));
        s.notifier.observe(&blocking("Q1", Finding::Subject { pattern: "*x*".into() }, Handling::Logged));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let queued = s.queued().await;
        assert_eq!(queued.iter().map(recipients).collect::<Vec<_>>(), [["admin@corp.test"]]);
        let mut s = setup(GATHER);
        s.notifier.observe(&virus("Q2", "a.com"));
        let spam = Finding::Spam { percent: 99, rules: vec!["caps".into()] };
        s.notifier.observe(&blocking("Q3", spam, Handling::Tagged));
        s.notifier.observe(&Event::ServiceStopped);
        let queued = s.queued().await;
        let mut subjects: Vec<String> = queued
            .iter()
            .map(|m| mail_parser::MessageParser::default().parse(&m.content).unwrap().subject().unwrap().to_string())
            .collect();
        subjects.sort();
        assert_eq!(subjects, ["MXGuard alert: Application stop", "Virus found", "Virus found in message you sent"]);
    }
}
