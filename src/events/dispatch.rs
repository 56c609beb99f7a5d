//! The one consumer of the event stream: each event is counted, turned
//! into notifications and alerts, logged, forwarded to syslog and stored.

use super::counters::Counters;
use super::syslog::{self, SyslogSender};
use super::{Item, Record};
use crate::config::ConfigHandle;
use crate::notify::Notifier;
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Everything built from events.
pub struct Consumers {
    /// For the syslog target and hostname, read at each event so changes
    /// apply at once.
    pub config: ConfigHandle,
    pub counters: Arc<Counters>,
    /// The event store's writer (its input and thread), if the store
    /// could be opened.
    pub store: Option<(UnboundedSender<Record>, std::thread::JoinHandle<()>)>,
    /// Sender and administrator notifications, system alerts; `None`
    /// when the gateway failed to start (no spool to queue them in).
    pub notifier: Option<Notifier>,
}

/// The syslog sender for the configured target, respawned when the
/// target changes.
#[derive(Default)]
struct Forwarding {
    target: String,
    sender: Option<SyslogSender>,
}

impl Forwarding {
    fn sender(&mut self, config: &ConfigHandle) -> Option<&SyslogSender> {
        let config = config.current();
        if config.logging.syslog != self.target {
            self.target.clone_from(&config.logging.syslog);
            // Validation refuses a bad target; a bad one here forwards nothing.
            self.sender = syslog::Target::parse(&self.target)
                .ok()
                .flatten()
                .map(|target| syslog::spawn(target, config.smtp.hostname.clone()));
        }
        self.sender.as_ref()
    }
}

/// Consume `rx` until a shutdown request (or until every sender is
/// gone); at shutdown the store's writer is drained and joined first.
pub async fn dispatch(mut rx: UnboundedReceiver<Item>, consumers: Consumers) {
    let Consumers { config, counters, store, notifier } = consumers;
    let (store, writer) = store.unzip();
    let mut forwarding = Forwarding::default();
    let mut finished = None;
    while let Some(item) = rx.recv().await {
        let event = match item {
            Item::Event(event) => event,
            Item::Shutdown(done) => {
                finished = Some(done);
                break;
            }
        };
        counters.observe(&event);
        if let Some(notifier) = &notifier {
            notifier.observe(&event);
        }
        tracing::info!(target: "mxguard::event", "{event}");
        let record = event.record(chrono::Utc::now().timestamp_millis());
        if let Some(syslog) = forwarding.sender(&config) {
            syslog.send(&record);
        }
        if let Some(store) = &store {
            let _ = store.send(record);
        }
    }
    if let Some(notifier) = notifier {
        notifier.idle().await;
    }
    drop(store);
    if let Some(writer) = writer {
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    }
    if let Some(done) = finished {
        let _ = done.send(());
    }
}
