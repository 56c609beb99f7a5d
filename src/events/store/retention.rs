//! Deleting events past the retention period (`logging.retain`).

use super::EventStore;
use crate::config::Retain;
use std::time::Duration;

/// How often the retention job runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Delete the events `retain` no longer keeps at `now` (ms since the
/// epoch); returns how many were deleted.
pub fn purge(store: &mut impl EventStore, retain: Retain, now: i64) -> anyhow::Result<u64> {
    match retain.cutoff(now) {
        Some(before) => store.purge_before(before),
        None => Ok(0),
    }
}

/// Purge at once and then hourly, with the period `retain()` gives at each
/// run (so a configuration change applies within the hour), until the
/// task is aborted. `store` should be a connection of its own: the purge
/// runs on a blocking thread, beside the writer.
pub async fn retention_job<S>(mut store: S, retain: impl Fn() -> Retain)
where
    S: EventStore + Send + 'static,
{
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (retain, now) = (retain(), chrono::Utc::now().timestamp_millis());
        let run = tokio::task::spawn_blocking(move || {
            let result = purge(&mut store, retain, now);
            (store, result)
        });
        let Ok((back, result)) = run.await else {
            tracing::error!("the event retention job stopped: a purge panicked");
            return;
        };
        store = back;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} event(s) older than the retention period deleted"),
            Err(e) => tracing::error!("old events not deleted: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Record;
    use crate::events::store::SqliteStore;
    use crate::report::DetailQuery;

    const DAY: i64 = 86_400_000;

    fn times(store: &SqliteStore) -> Vec<i64> {
        let all = DetailQuery { from: 0, to: i64::MAX, ..DetailQuery::default() };
        store.detail(&all).unwrap().iter().map(|r| r.time).collect()
    }

    fn at(time: i64) -> Record {
        Record { time, action: "Completed".into(), ..Record::default() }
    }

    #[test]
    fn old_events_go_and_new_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let now = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let old: Vec<Record> = (0..25_000).map(|i| at(now - 8 * DAY - i)).collect();
        store.insert(&old).unwrap();
        store.insert(&[at(now - 7 * DAY), at(now - DAY), at(now)]).unwrap();
        assert_eq!(purge(&mut store, Retain::Never, now).unwrap(), 0);
        assert_eq!(times(&store).len(), 25_003);
        assert_eq!(purge(&mut store, Retain::OneWeek, now).unwrap(), 25_000);
        assert_eq!(times(&store), vec![now - 7 * DAY, now - DAY, now]);
        assert_eq!(purge(&mut store, Retain::OneWeek, now).unwrap(), 0);
    }

    #[tokio::test]
    async fn the_job_purges_when_it_starts() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        store.insert(&[at(now - 400 * DAY), at(now - DAY)]).unwrap();
        let job = tokio::spawn(retention_job(SqliteStore::open(dir.path()).unwrap(), || Retain::OneYear));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while times(&store).len() > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        job.abort();
        assert_eq!(times(&store), vec![now - DAY]);
    }
}
