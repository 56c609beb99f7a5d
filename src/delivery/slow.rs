//! The slow queue (SPEC §1): deferred messages retried with backoff
//! between `retry_min_seconds` and `retry_max_seconds`, reordered by
//! next-hop health, and returned to the sender after `max_days`.

use super::Delivery;
use super::dsn::{FailedRecipient, Returned};
use super::router::NextHop;
use crate::config::Config;
use crate::events::Event;
use crate::spool::Queue;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// Slow-queue deliveries running at once.
const MAX_PARALLEL: usize = 50;
/// How often the queue is looked at when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    arrival: u64,
    next_try: SystemTime,
    /// Next hops of the recipients still waiting (empty until the first
    /// attempt after a restart).
    hops: Vec<NextHop>,
    failures: u32,
    last_error: String,
    in_flight: bool,
}

#[derive(Default)]
struct Inner {
    /// Front = tried first.
    order: VecDeque<Entry>,
    /// Hops whose last connection attempt failed.
    refusing: HashSet<NextHop>,
    /// Hops that just accepted mail, for the next reordering pass.
    recovered: HashSet<NextHop>,
    /// How many entries wait for each hop.
    waiting: HashMap<NextHop, usize>,
}

impl Inner {
    fn forget_hops(&mut self, hops: &[NextHop]) {
        for h in hops {
            if let Some(n) = self.waiting.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    self.waiting.remove(h);
                }
            }
        }
    }
}

/// What a reordering pass did, for its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Reordering {
    pub moved_to_front: usize,
    pub moved_to_rear: usize,
    pub micros: u64,
}

/// The in-memory order and schedule of the slow queue; the files stay in
/// the spool, the next try time in each file's modification time.
#[derive(Default)]
pub struct SlowQueue {
    inner: Mutex<Inner>,
    wake: Notify,
}

impl SlowQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A message found in the slow queue at startup.
    pub fn load(&self, id: &str, arrival: u64, next_try: SystemTime) {
        self.lock().order.push_back(Entry {
            id: id.to_string(),
            arrival,
            next_try,
            hops: Vec::new(),
            failures: 1,
            last_error: String::new(),
            in_flight: false,
        });
    }

    /// A delivery attempt was deferred; returns when to try next. The delay
    /// doubles from `retry_min_seconds` up to `retry_max_seconds`.
    pub fn deferred(
        &self,
        config: &Config,
        id: &str,
        arrival: u64,
        hops: Vec<NextHop>,
        last_error: String,
    ) -> SystemTime {
        let mut inner = self.lock();
        let pos = inner.order.iter().position(|e| e.id == id);
        let mut entry = match pos.and_then(|p| inner.order.remove(p)) {
            Some(e) => e,
            None => Entry {
                id: id.to_string(),
                arrival,
                next_try: SystemTime::now(),
                hops: Vec::new(),
                failures: 0,
                last_error: String::new(),
                in_flight: false,
            },
        };
        let old_hops = std::mem::take(&mut entry.hops);
        inner.forget_hops(&old_hops);
        for h in &hops {
            *inner.waiting.entry(h.clone()).or_default() += 1;
        }
        entry.failures += 1;
        let d = &config.delivery;
        let backoff = d.retry_min_seconds.saturating_mul(1u64 << (entry.failures - 1).min(20)).min(d.retry_max_seconds);
        entry.next_try = SystemTime::now() + Duration::from_secs(backoff);
        entry.hops = hops;
        entry.last_error = last_error;
        entry.in_flight = false;
        let next = entry.next_try;
        match pos {
            Some(p) => {
                let at = p.min(inner.order.len());
                inner.order.insert(at, entry)
            }
            None => inner.order.push_back(entry),
        }
        next
    }

    /// The message is done (delivered, bounced or expired).
    pub fn remove(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(e) = inner.order.iter().position(|e| e.id == id).and_then(|p| inner.order.remove(p)) {
            inner.forget_hops(&e.hops);
        }
    }

    /// A delivery to `hop` was attempted: `delivered` if it accepted
    /// recipients, `connected` if a server answered at all.
    pub fn record_hop(&self, hop: &NextHop, delivered: bool, connected: bool) {
        let mut inner = self.lock();
        if delivered {
            let was_refusing = inner.refusing.remove(hop);
            if was_refusing || inner.waiting.contains_key(hop) {
                inner.recovered.insert(hop.clone());
                drop(inner);
                self.wake.notify_one();
            }
        } else if !connected {
            inner.refusing.insert(hop.clone());
        }
    }

    /// Make everything due now (`queue flush`).
    pub fn flush(&self) {
        let now = SystemTime::now();
        for e in self.lock().order.iter_mut() {
            e.next_try = now;
        }
        self.wake.notify_one();
    }

    /// Reordering (SPEC §1): messages for hops that just accepted mail move
    /// to the front and become due; messages whose every hop is refusing
    /// move to the rear. `None` when there was nothing to do.
    pub fn reorder(&self) -> Option<Reordering> {
        let mut inner = self.lock();
        if inner.recovered.is_empty() {
            return None;
        }
        let start = Instant::now();
        let recovered = std::mem::take(&mut inner.recovered);
        let now = SystemTime::now();
        let (mut front, mut middle, mut rear) = (VecDeque::new(), VecDeque::new(), VecDeque::new());
        for mut e in std::mem::take(&mut inner.order) {
            if e.hops.iter().any(|h| recovered.contains(h)) {
                e.next_try = e.next_try.min(now);
                front.push_back(e);
            } else if !e.hops.is_empty() && e.hops.iter().all(|h| inner.refusing.contains(h)) {
                rear.push_back(e);
            } else {
                middle.push_back(e);
            }
        }
        let (moved_to_front, moved_to_rear) = (front.len(), rear.len());
        front.append(&mut middle);
        front.append(&mut rear);
        inner.order = front;
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        Some(Reordering { moved_to_front, moved_to_rear, micros })
    }

    /// IDs due for a try, front first, marked as in flight.
    fn take_due(&self, now: SystemTime) -> Vec<String> {
        let mut inner = self.lock();
        let busy = inner.order.iter().filter(|e| e.in_flight).count();
        let room = MAX_PARALLEL.saturating_sub(busy);
        inner
            .order
            .iter_mut()
            .filter(|e| !e.in_flight && e.next_try <= now)
            .take(room)
            .map(|e| {
                e.in_flight = true;
                e.id.clone()
            })
            .collect()
    }

    /// IDs past `max_days`, marked as in flight, with their last error.
    fn take_expired(&self, config: &Config, now: u64) -> Vec<(String, String)> {
        let max_age = (config.delivery.max_days * 86_400.0) as u64;
        let mut inner = self.lock();
        inner
            .order
            .iter_mut()
            .filter(|e| !e.in_flight && e.arrival.saturating_add(max_age) <= now)
            .map(|e| {
                e.in_flight = true;
                (e.id.clone(), e.last_error.clone())
            })
            .collect()
    }

    /// An attempt ended without settling (file unreadable): try later.
    fn release(&self, id: &str) {
        if let Some(e) = self.lock().order.iter_mut().find(|e| e.id == id) {
            e.in_flight = false;
            e.next_try = SystemTime::now() + TICK * 30;
        }
    }
}

impl Delivery {
    /// The slow-queue scheduler: expiry, reordering and retries, forever.
    pub async fn run_slow_queue(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.slow.wake.notified() => {}
            }
            self.close_stale_connections();
            let config = self.config.current();
            if config.delivery.pause {
                continue;
            }
            for (id, last_error) in self.slow.take_expired(&config, crate::spool::unix_now()) {
                let me = self.clone();
                tokio::spawn(async move { me.expire(id, last_error).await });
            }
            if let Some(Reordering { moved_to_front, moved_to_rear, micros }) = self.slow.reorder() {
                self.events.emit(Event::ReorderingStarted);
                self.events.emit(Event::ReorderingStopped { moved_to_front, moved_to_rear, micros });
            }
            for id in self.slow.take_due(SystemTime::now()) {
                let me = self.clone();
                tokio::spawn(async move { me.retry(id).await });
            }
        }
    }

    async fn retry(self: Arc<Self>, id: String) {
        let config = self.config.current();
        let spool = self.spool.clone();
        let load_id = id.clone();
        let msg = match tokio::task::spawn_blocking(move || spool.load(Queue::Slow, &load_id)).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return self.slow.remove(&id),
            _ => return self.slow.release(&id),
        };
        let outcomes = self.attempt(&config, &msg).await;
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.settle(Queue::Slow, msg, outcomes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.events.file_access_error(self.spool.path(Queue::Slow, &id).display(), e);
                self.slow.release(&id);
            }
            Err(_) => self.slow.release(&id),
        }
    }

    /// `max_days` passed: return the message to its sender and remove it.
    async fn expire(self: Arc<Self>, id: String, last_error: String) {
        let me = self.clone();
        let done = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let config = me.config.current();
            let msg = me.spool.load(Queue::Slow, &id)?;
            let days = config.delivery.max_days;
            let why = if last_error.is_empty() { "no delivery attempt succeeded".to_string() } else { last_error };
            let diagnostic =
                format!("delivery time expired: message was queued for more than {days} days; last error: {why}");
            let failed = FailedRecipient::all(&msg, "4.4.7", &diagnostic);
            tracing::info!(%id, "expired after {days} days in the slow queue; returned to sender");
            me.bounce(&config, &msg, &failed, Returned::AsAsked)?;
            me.spool.remove(Queue::Slow, &id)?;
            me.slow.remove(&id);
            Ok(())
        })
        .await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::error!("could not expire a slow-queue message: {done:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(d: &str) -> NextHop {
        NextHop::Mx { domain: d.into() }
    }

    fn config() -> Config {
        let mut c = Config::default();
        c.delivery.retry_min_seconds = 10;
        c.delivery.retry_max_seconds = 35;
        c
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let q = SlowQueue::default();
        let c = config();
        let delays: Vec<u64> = (0..4)
            .map(|_| {
                let t = q.deferred(&c, "A", 0, vec![hop("a")], "x".into());
                t.duration_since(SystemTime::now()).unwrap().as_secs() + 1
            })
            .collect();
        assert_eq!(delays, vec![10, 20, 35, 35]);
    }

    #[test]
    fn recovered_hop_moves_its_messages_to_the_front_and_refusing_to_the_rear() {
        let q = SlowQueue::default();
        let c = config();
        q.deferred(&c, "down1", 0, vec![hop("down")], String::new());
        q.deferred(&c, "other", 0, vec![hop("other")], String::new());
        q.deferred(&c, "back1", 0, vec![hop("back")], String::new());
        q.deferred(&c, "back2", 0, vec![hop("back")], String::new());
        q.record_hop(&hop("down"), false, false);
        assert_eq!(q.reorder(), None, "nothing recovered yet");
        q.record_hop(&hop("back"), true, true);
        let r = q.reorder().unwrap();
        assert_eq!((r.moved_to_front, r.moved_to_rear), (2, 1));
        let order: Vec<String> = q.lock().order.iter().map(|e| e.id.clone()).collect();
        assert_eq!(order, vec!["back1", "back2", "other", "down1"]);
        assert_eq!(q.take_due(SystemTime::now()), vec!["back1", "back2"]);
        assert!(q.take_due(SystemTime::now()).is_empty(), "in flight entries are not handed out twice");
    }

    #[test]
    fn expiry_and_flush() {
        let q = SlowQueue::default();
        let mut c = config();
        c.delivery.max_days = 1.0;
        q.deferred(&c, "old", 1000, vec![hop("a")], "451 busy".into());
        q.deferred(&c, "new", crate::spool::unix_now(), vec![hop("a")], String::new());
        assert_eq!(q.take_expired(&c, crate::spool::unix_now()), vec![("old".to_string(), "451 busy".to_string())]);
        assert!(q.take_due(SystemTime::now()).is_empty());
        q.flush();
        assert_eq!(q.take_due(SystemTime::now()), vec!["new"]);
        q.remove("old");
        q.remove("new");
        assert!(q.is_empty());
    }
}
