//! The Status page figures of SPEC §8 since the gateway started, counted
//! from the event stream (components never count for themselves). Queue
//! depths are not counted: they are read live from the spool by whoever
//! shows them.

use super::Event;
use crate::policy::{Finding, Handling};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals; updated by the event dispatcher, read by the status
/// API and `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    held: AtomicU64,
    forwarded: AtomicU64,
    repaired: AtomicU64,
    deleted: AtomicU64,
    logged: AtomicU64,
    quarantined: AtomicU64,
    bytes_received: AtomicU64,
    attachments_stripped: AtomicU64,
    /// When the last definitions update was attempted (RFC 3339) and how
    /// it ended, for the Status page.
    last_update: Mutex<Option<(String, String)>>,
}

/// One reading of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Snapshot {
    /// Messages received over SMTP and queued.
    pub accepted: u64,
    /// Commands refused by policy (size, relay, characters, DNSBL…).
    pub rejected: u64,
    /// Deliveries downstream (one per message and next hop).
    pub delivered: u64,
    pub dropped: u64,
    pub held: u64,
    pub forwarded: u64,
    /// Infected files repaired, deleted, logged, quarantined.
    pub repaired: u64,
    pub deleted: u64,
    pub logged: u64,
    pub quarantined: u64,
    pub bytes_received: u64,
    /// Top-level attachments removed by a blocking rule or the antivirus.
    pub attachments_stripped: u64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    /// Count what `event` says happened.
    pub fn observe(&self, event: &Event) {
        match event {
            Event::Accepted { bytes, .. } => {
                bump(&self.accepted, 1);
                bump(&self.bytes_received, *bytes);
            }
            Event::Rejected { .. } | Event::SpamListRefused { .. } => bump(&self.rejected, 1),
            Event::Delivered { .. } => bump(&self.delivered, 1),
            Event::Dropped { .. } => bump(&self.dropped, 1),
            Event::Held { .. } => bump(&self.held, 1),
            Event::Blocking { finding, handling, .. } => self.blocking(finding, handling),
            Event::Quarantined { .. } => bump(&self.quarantined, 1),
            Event::UpdateAttempted { result } => {
                let at = chrono::Local::now().format("%Y-%m-%d %H:%M").to_string();
                *self.last_update.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, result.clone()));
            }
            _ => {}
        }
    }

    fn blocking(&self, finding: &Finding, handling: &Handling) {
        if matches!(handling, Handling::Forwarded(_)) {
            bump(&self.forwarded, 1);
        }
        let top_level = |path: &str| !path.contains([':', '/']);
        match (finding, handling) {
            (Finding::Virus { path, .. }, Handling::Deleted) => {
                bump(&self.deleted, 1);
                if top_level(path) {
                    bump(&self.attachments_stripped, 1);
                }
            }
            (Finding::Virus { .. }, Handling::Repaired) => bump(&self.repaired, 1),
            (Finding::Virus { .. }, _) => bump(&self.logged, 1),
            (Finding::FileName { path, .. } | Finding::Encrypted { path, .. }, Handling::Deleted)
                if top_level(path) =>
            {
                bump(&self.attachments_stripped, 1)
            }
            _ => {}
        }
    }

    /// When the last definitions update was attempted, and its outcome.
    pub fn last_update(&self) -> Option<(String, String)> {
        self.last_update.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current figures.
    pub fn snapshot(&self) -> Snapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            accepted: read(&self.accepted),
            rejected: read(&self.rejected),
            delivered: read(&self.delivered),
            dropped: read(&self.dropped),
            held: read(&self.held),
            forwarded: read(&self.forwarded),
            repaired: read(&self.repaired),
            deleted: read(&self.deleted),
            logged: read(&self.logged),
            quarantined: read(&self.quarantined),
            bytes_received: read(&self.bytes_received),
            attachments_stripped: read(&self.attachments_stripped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{MessageRef, RejectRule};

    #[test]
    fn figures_follow_the_events() {
        let c = Counters::default();
        let m = MessageRef::default();
        let virus = |path: &str| Finding::Virus {
            path: path.into(),
            name: "e.com".into(),
            virus: "Eicar".into(),
            scanner: "builtin".into(),
        };
        for event in [
            Event::Accepted { message: m.clone(), connection_id: "C1".into(), bytes: 2048 },
            Event::Accepted { message: m.clone(), connection_id: "C1".into(), bytes: 1024 },
            Event::Rejected {
                connection_id: "C2".into(),
                client_ip: "192.0.2.1".into(),
                sender: String::new(),
                recipient: "x@y.test".into(),
                rule: RejectRule::Relay,
                reason: "relay".into(),
            },
            Event::Blocking { message: m.clone(), finding: virus("2"), handling: Handling::Deleted },
            Event::Blocking { message: m.clone(), finding: virus("2:a.zip/e.com"), handling: Handling::Deleted },
            Event::Blocking { message: m.clone(), finding: virus("3:b.zip/e.com"), handling: Handling::Repaired },
            Event::Blocking {
                message: m.clone(),
                finding: Finding::Subject { pattern: "*x*".into() },
                handling: Handling::Forwarded("q@r.test".into()),
            },
            Event::Quarantined {
                message: m.clone(),
                path: "2".into(),
                name: "e.com".into(),
                virus: "Eicar".into(),
                result: "unrepairable".into(),
                item: "Q1".into(),
                bytes: 68,
            },
            Event::Dropped { message: m.clone(), reason: "subject".into() },
            Event::Delivered { message: m, recipients: vec!["b@x.test".into()], host: "mx.x.test".into() },
        ] {
            c.observe(&event);
        }
        let s = c.snapshot();
        assert_eq!((s.accepted, s.bytes_received, s.rejected), (2, 3072, 1));
        assert_eq!((s.deleted, s.repaired, s.logged, s.attachments_stripped), (2, 1, 0, 1));
        assert_eq!(s.quarantined, 1, "a quarantined file is also counted by what was done with it");
        assert_eq!((s.forwarded, s.dropped, s.delivered), (1, 1, 1));
    }
}
