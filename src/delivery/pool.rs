//! Outbound connections: the `max_outgoing_connections` limit and reuse of
//! idle connections per next hop, so a burst to one server costs one
//! handshake per connection, not per message.

use super::router::NextHop;
use crate::smtp::client::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an idle connection is kept for reuse (Postfix's connection
/// cache keeps them for seconds, not minutes).
const IDLE_LIMIT: Duration = Duration::from_secs(5);

/// A connection together with its slot under the connection limit.
pub struct Pooled {
    pub conn: Connection,
    _permit: OwnedSemaphorePermit,
}

/// Idle connections and connection slots.
pub struct Pool {
    idle: Mutex<HashMap<NextHop, Vec<(Pooled, Instant)>>>,
    slots: Arc<Semaphore>,
    size: AtomicUsize,
}

impl Pool {
    /// A pool allowing `limit` connections at once.
    pub fn new(limit: usize) -> Pool {
        Pool { idle: Mutex::new(HashMap::new()), slots: Arc::new(Semaphore::new(limit)), size: AtomicUsize::new(limit) }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<NextHop, Vec<(Pooled, Instant)>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle connection to `hop`, if one is kept.
    pub fn take(&self, hop: &NextHop) -> Option<Pooled> {
        let mut idle = self.idle();
        let list = idle.get_mut(hop)?;
        let found = list.pop().map(|(p, _)| p);
        if list.is_empty() {
            idle.remove(hop);
        }
        found
    }

    /// Keep a connection that finished a transaction cleanly.
    pub fn put(&self, hop: NextHop, conn: Pooled) {
        self.idle().entry(hop).or_default().push((conn, Instant::now()));
    }

    /// Wrap a new connection with the slot it was opened under.
    pub fn pooled(conn: Connection, permit: OwnedSemaphorePermit) -> Pooled {
        Pooled { conn, _permit: permit }
    }

    /// A slot for a new connection, waiting if `limit` are open. Idle
    /// connections are closed first so they never starve active work.
    pub async fn slot(&self, limit: usize) -> OwnedSemaphorePermit {
        self.resize(limit);
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return p;
        }
        let oldest = {
            let mut idle = self.idle();
            let hop = idle
                .iter()
                .filter_map(|(hop, list)| list.first().map(|(_, t)| (*t, hop.clone())))
                .min()
                .map(|(_, hop)| hop);
            hop.and_then(|hop| {
                let list = idle.get_mut(&hop)?;
                let (p, _) = list.remove(0);
                if list.is_empty() {
                    idle.remove(&hop);
                }
                Some(p)
            })
        };
        if let Some(p) = oldest {
            tokio::spawn(p.conn.quit());
        }
        self.slots.clone().acquire_owned().await.expect("the semaphore is never closed")
    }

    /// Follow a changed `max_outgoing_connections`.
    fn resize(&self, limit: usize) {
        let old = self.size.swap(limit, Ordering::AcqRel);
        if limit > old {
            self.slots.add_permits(limit - old);
        } else if limit < old {
            let slots = self.slots.clone();
            let shrink = u32::try_from(old - limit).unwrap_or(u32::MAX);
            tokio::spawn(async move {
                if let Ok(p) = slots.acquire_many_owned(shrink).await {
                    p.forget();
                }
            });
        }
    }

    /// Close connections idle for longer than the limit.
    pub fn close_stale(&self) {
        let now = Instant::now();
        let mut stale = Vec::new();
        self.idle().retain(|_, list| {
            let (keep, old): (Vec<_>, Vec<_>) =
                std::mem::take(list).into_iter().partition(|(_, t)| now.duration_since(*t) < IDLE_LIMIT);
            stale.extend(old.into_iter().map(|(p, _)| p));
            *list = keep;
            !list.is_empty()
        });
        for p in stale {
            tokio::spawn(p.conn.quit());
        }
    }
}
