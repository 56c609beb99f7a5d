//! The one writer of the event store. It runs on its own OS thread, so the
//! SMTP path and the workers never wait on disk: they only hand records
//! to a channel.
//!
//! The channel is tokio's unbounded mpsc, like the event channel itself:
//! sending never blocks nor fails while the writer lives, from async code
//! or from a thread, and the writer's thread takes records with
//! `blocking_recv`. Records wait in memory while the disk is slow; a
//! bounded channel would instead make mail wait, or lose events.
//!
//! Batching is group commit: each transaction takes the first record that
//! arrives plus whatever queues up within [`GATHER`], up to [`MAX_BATCH`].
//! A transaction costs far more than a row, so under SMTP load a few large
//! transactions keep the store's CPU share small; an event is on disk at
//! most [`GATHER`] later than it happened.

use super::EventStore;
use crate::events::Record;
use std::thread::JoinHandle;
use tokio::sync::mpsc::UnboundedReceiver;

/// The most records written in one transaction.
const MAX_BATCH: usize = 1000;
/// How long a transaction waits for more records after the first.
const GATHER: std::time::Duration = std::time::Duration::from_millis(50);

/// Start the writer: it stores every record `receiver` delivers while
/// `enabled()` (local logging on) and discards them while not. It ends
/// after storing what is left once every sender is dropped; join the handle
/// at shutdown so nothing is lost. A failed insert is logged and its batch
/// dropped: events must never stop the gateway.
pub fn spawn_writer<S>(
    mut store: S,
    mut receiver: UnboundedReceiver<Record>,
    enabled: impl Fn() -> bool + Send + 'static,
) -> std::io::Result<JoinHandle<()>>
where
    S: EventStore + Send + 'static,
{
    std::thread::Builder::new().name("event-store".into()).spawn(move || {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = receiver.blocking_recv() {
            batch.push(first);
            std::thread::sleep(GATHER);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            if enabled()
                && let Err(e) = store.insert(&batch)
            {
                tracing::error!("{} event(s) not stored: {e:#}", batch.len());
            }
            batch.clear();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::store::SqliteStore;
    use crate::report::DetailQuery;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn records(from: i64, n: i64) -> impl Iterator<Item = Record> {
        (from..from + n).map(|time| Record { time, action: "Accepted".into(), ..Record::default() })
    }

    fn stored(dir: &std::path::Path) -> Vec<i64> {
        let all = DetailQuery { from: 0, to: i64::MAX, ..DetailQuery::default() };
        SqliteStore::open_readonly(dir).unwrap().detail(&all).unwrap().iter().map(|r| r.time).collect()
    }

    #[test]
    fn everything_sent_is_stored_in_order_by_the_time_the_writer_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let writer = spawn_writer(SqliteStore::open(dir.path()).unwrap(), rx, || true).unwrap();
        for r in records(1, 2500) {
            tx.send(r).unwrap();
        }
        drop(tx);
        writer.join().unwrap();
        assert_eq!(stored(dir.path()), (1..=2500).collect::<Vec<_>>());
    }

    #[test]
    fn nothing_is_stored_while_logging_is_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let asked = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let count = asked.clone();
        let enabled = move || count.fetch_add(1, Ordering::SeqCst) == usize::MAX;
        let writer = spawn_writer(SqliteStore::open(dir.path()).unwrap(), rx, enabled).unwrap();
        for r in records(1, 100) {
            tx.send(r).unwrap();
        }
        drop(tx);
        writer.join().unwrap();
        assert!(asked.load(Ordering::SeqCst) >= 1, "the switch is read for every batch");
        assert_eq!(stored(dir.path()), Vec::<i64>::new());
    }
}
