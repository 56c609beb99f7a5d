//! The reference product's "too long in status" alerts: an item that
//! stays in one status longer than `[quarantine_server.watchdog]` allows
//! (nobody looked at it, the analyst never answered, its definitions were
//! never distributed) raises an alert, once per stay: the item's history
//! records it, and a later status change starts a new stay.

use super::error::ApiError;
use super::item::now;
use super::service::{Quarantine, blocking};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// What the watchdog's history entries are recorded under.
pub const WATCHDOG_ACTOR: &str = "watchdog";
/// The longest wait between two looks.
const MAX_PERIOD: Duration = Duration::from_secs(60);

/// Look for overdue items until the process ends; returns at once when
/// every limit is off.
pub async fn watch(q: Arc<Quarantine>) {
    let Some(period) = period(&q) else { return };
    loop {
        tokio::time::sleep(period).await;
        if let Err(e) = blocking(&q, |q| check(q, now())).await {
            tracing::warn!("the quarantine watchdog could not look at the items: {}", e.message);
        }
    }
}

/// How often to look: a quarter of the shortest limit (so an alert comes
/// at most a quarter late), at most [`MAX_PERIOD`]; `None` when no
/// limit is set.
fn period(q: &Quarantine) -> Option<Duration> {
    let shortest = q.settings.watchdog.limits().into_iter().map(|(_, m)| m).filter(|m| *m > 0).min()?;
    Some(Duration::from_secs(shortest.saturating_mul(60) / 4).clamp(Duration::from_secs(1), MAX_PERIOD))
}

/// Alert about every item overdue at `t` (Unix seconds) and not alerted
/// about yet, in one alert; how many there were.
pub fn check(q: &Quarantine, t: i64) -> Result<usize, ApiError> {
    let mut lines = Vec::new();
    for (status, minutes) in q.settings.watchdog.limits() {
        if minutes == 0 {
            continue;
        }
        let cutoff = t.saturating_sub(i64::try_from(minutes.saturating_mul(60)).unwrap_or(i64::MAX));
        for item in q.overdue(status, cutoff)? {
            let note =
                format!("too long in status {status}: since {}, the limit is {minutes} minutes", item.status_changed);
            if q.mark_overdue(item.id, status, WATCHDOG_ACTOR, &note)? {
                let m = &item.meta;
                lines.push(format!(
                    "Item {}: {} ({}) from {} via {}, {note}",
                    item.id, m.file_name, m.virus, m.sender, m.gateway
                ));
            }
        }
    }
    if !lines.is_empty() {
        let subject = match lines.len() {
            1 => "1 quarantine item too long in its status".to_string(),
            n => format!("{n} quarantine items too long in their status"),
        };
        let mut text = String::from("These items have stayed in their status longer than the watchdog allows:\n\n");
        for line in &lines {
            let _ = writeln!(text, "{line}");
        }
        q.alerts().raise(subject, text);
    }
    Ok(lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::sample::Metadata;
    use crate::quarantine::server::config::{Settings, Watchdog};
    use crate::quarantine::server::item::Arrival;

    fn open(dir: &std::path::Path, watchdog: Watchdog) -> Quarantine {
        let settings = Settings { storage_dir: dir.display().to_string(), watchdog, ..Settings::default() };
        Quarantine::open(settings).unwrap()
    }

    #[test]
    fn an_overdue_item_is_alerted_about_once_per_stay() {
        let dir = tempfile::tempdir().unwrap();
        let off = Watchdog {
            quarantined_minutes: 0,
            held_minutes: 0,
            submitted_minutes: 0,
            needed_minutes: 0,
            available_minutes: 0,
            error_minutes: 0,
        };
        assert_eq!(period(&open(&dir.path().join("off"), off.clone())), None);
        let q = open(dir.path(), Watchdog { quarantined_minutes: 1, ..off });
        assert_eq!(period(&q), Some(Duration::from_secs(15)));
        let arrival = Arrival { meta: Metadata { file_name: "a.exe".into(), ..Metadata::default() }, sample_id: None };
        let mut stager = q.stage().unwrap();
        stager.write(b"late").unwrap();
        let item = q.commit(stager.finish().unwrap(), &arrival).unwrap().item;
        assert_eq!(check(&q, now()).unwrap(), 0, "not overdue yet");
        assert_eq!(check(&q, now() + 61).unwrap(), 1);
        assert_eq!(check(&q, now() + 62).unwrap(), 0, "once per stay");
        let (_, history) = q.item(item.id).unwrap();
        assert_eq!(history.last().unwrap().actor, WATCHDOG_ACTOR);
    }
}
