//! Outbound connections: the `max_outgoing_connections` limit and reuse of
//! idle connections per next hop, so a burst to one server costs one
//! handshake per connection, not per message. A connection the pool
//! holds is closed here, as one *Disconnected* event.

use super::router::NextHop;
use crate::events::{Event, Events};
use crate::smtp::client::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How long an idle connection is kept for reuse (Postfix's connection
/// cache keeps them for seconds, not minutes).
const IDLE_LIMIT: Duration = Duration::from_secs(5);

/// A connection together with its slot under the connection limit and
/// the names its events carry.
pub struct Pooled {
    pub conn: Connection,
    /// The outbound connection ID of its events.
    pub id: String,
    /// The server, as "host (address)".
    pub remote: String,
    _permit: OwnedSemaphorePermit,
}

/// What a delivery gets to work with.
pub enum Lease {
    /// A kept connection to the hop, ready for a transaction.
    Idle(Pooled),
    /// Room to open a new connection.
    Slot(OwnedSemaphorePermit),
}

/// Idle connections and connection slots.
pub struct Pool {
    idle: Mutex<HashMap<NextHop, Vec<(Pooled, Instant)>>>,
    slots: Arc<Semaphore>,
    size: AtomicUsize,
    /// Woken when a connection is returned, so a delivery waiting for a
    /// slot takes it instead of waiting for it to time out.
    returned: Notify,
    events: Events,
}

impl Pool {
    /// A pool allowing `limit` connections at once.
    pub fn new(limit: usize, events: Events) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(limit)),
            size: AtomicUsize::new(limit),
            returned: Notify::new(),
            events,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<NextHop, Vec<(Pooled, Instant)>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle connection to `hop` if one is kept, else a slot for a new
    /// one, waiting while `limit` connections are open. Idle connections
    /// to other hops are closed first so they never starve active work.
    pub async fn lease(&self, hop: &NextHop, limit: usize) -> Lease {
        self.resize(limit);
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(p) = self.take(hop) {
                return Lease::Idle(p);
            }
            if let Ok(p) = self.slots.clone().try_acquire_owned() {
                return Lease::Slot(p);
            }
            self.close_oldest_idle();
            tokio::select! {
                permit = self.slots.clone().acquire_owned() => {
                    return Lease::Slot(permit.expect("the semaphore is never closed"));
                }
                () = &mut returned => {}
            }
        }
    }

    /// An idle connection to `hop`, if one is kept.
    fn take(&self, hop: &NextHop) -> Option<Pooled> {
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
        self.returned.notify_waiters();
    }

    /// Wrap a new connection with the slot it was opened under.
    pub fn pooled(conn: Connection, id: String, remote: String, permit: OwnedSemaphorePermit) -> Pooled {
        Pooled { conn, id, remote, _permit: permit }
    }

    /// Close a connection: politely (QUIT) when it finished cleanly,
    /// at once when it failed; its slot is freed either way.
    pub fn close(&self, p: Pooled, polite: bool) {
        self.events.emit(Event::Disconnected { connection_id: p.id, host: p.remote });
        if polite {
            tokio::spawn(p.conn.quit());
        }
    }

    /// Close the connection idle the longest, to free its slot.
    fn close_oldest_idle(&self) {
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
            self.close(p, true);
        }
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
            self.close(p, true);
        }
    }
}
