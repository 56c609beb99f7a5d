//! Notifications into the fast queue: each becomes a queued message with
//! the null sender (it never bounces), stored durably on the blocking
//! pool and then handed to the fast-queue workers, which process and
//! deliver it like any other mail. The IDs of recent notifications are
//! remembered, so that events about a notification never raise another.

use super::compose::{Outgoing, compose};
use crate::config::Config;
use crate::envelope::{Envelope, Recipient};
use crate::spool::queue_file::QueuedMessage;
use crate::spool::{Queue, Spool, unix_now};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How many of the latest notifications are known as ours: far more
/// than can be waiting for processing at once (events about a message
/// come while it is processed, right after it is queued).
const REMEMBERED: usize = 10_000;

/// Where notifications are queued.
pub struct Outbox {
    spool: Arc<Spool>,
    fast: mpsc::UnboundedSender<String>,
    ours: Mutex<Ours>,
    /// Stores under way, awaited by [`Outbox::idle`].
    stores: Mutex<JoinSet<()>>,
}

/// The queue IDs of the latest notifications, oldest first.
#[derive(Default)]
struct Ours {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Outbox {
    /// Queue into `spool` and announce new IDs on `fast`.
    pub fn new(spool: Arc<Spool>, fast: mpsc::UnboundedSender<String>) -> Outbox {
        Outbox { spool, fast, ours: Mutex::default(), stores: Mutex::default() }
    }

    /// True if queue ID `id` is a notification sent from here.
    pub fn is_ours(&self, id: &str) -> bool {
        lock(&self.ours).ids.contains(id)
    }

    /// Queue `notice` in the background (on the blocking pool; must be
    /// called within the tokio runtime). A failure is logged: the event
    /// that caused the notice is in the event log anyway.
    pub fn send(&self, config: Arc<Config>, notice: Outgoing) {
        let id = self.spool.new_id();
        {
            let mut ours = lock(&self.ours);
            if ours.order.len() == REMEMBERED
                && let Some(oldest) = ours.order.pop_front()
            {
                ours.ids.remove(&oldest);
            }
            ours.order.push_back(id.clone());
            ours.ids.insert(id.clone());
        }
        let (spool, fast) = (self.spool.clone(), self.fast.clone());
        let store = move || -> std::io::Result<()> {
            let content = compose(&config, &id, &notice)?;
            let msg = QueuedMessage {
                id: id.clone(),
                arrival: unix_now(),
                envelope: Envelope {
                    sender: String::new(),
                    recipients: notice.to.iter().map(Recipient::new).collect(),
                    smtputf8: !notice.to.iter().all(|a| a.is_ascii()),
                    client_ip: "127.0.0.1".into(),
                    helo: config.smtp.hostname.clone(),
                    ..Envelope::default()
                },
                ..QueuedMessage::default()
            };
            spool.store(Queue::Fast, &msg, &[&content])?;
            tracing::info!(%id, to = ?notice.to, subject = %notice.subject, "notification queued");
            let _ = fast.send(id);
            Ok(())
        };
        let mut stores = lock(&self.stores);
        while stores.try_join_next().is_some() {}
        stores.spawn_blocking(move || {
            if let Err(e) = store() {
                tracing::error!("cannot queue a notification: {e}");
            }
        });
    }

    /// Wait until every notification sent so far is on disk.
    pub async fn idle(&self) {
        let mut stores = std::mem::take(&mut *lock(&self.stores));
        while stores.join_next().await.is_some() {}
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
