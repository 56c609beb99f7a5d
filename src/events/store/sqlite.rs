//! The local event store: one SQLite file, `<log_dir>/events.sqlite`, in
//! WAL mode so reports (and `mxguard report` in another process) read
//! while the gateway writes. One table holds the [`Record`] columns; the
//! reports are SQL over it, shaped so the indexes answer them:
//!
//! - `events_by_action (action, time, handling, matched, bytes, smtp_id)`:
//!   each action the Summary counts is one run of this index per range,
//!   holding every column the counts read, so a summary never reads the
//!   table and costs the counted events only, not the whole range.
//! - `events_by_time (time, category)`: the Detail report walks the range
//!   in time order and skips other categories without reading their rows.
//!   The search term is tested by `mx_contains`, a function over the text
//!   columns of the rows left (Unicode case folding, which `LIKE` lacks).

use super::EventStore;
use crate::events::{Category, Record};
use crate::report::{DetailQuery, NameCount, SubjectCount, Summary};
use anyhow::Context as _;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, Row, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A connection to the events file.
pub struct SqliteStore {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    category TEXT NOT NULL,
    action TEXT NOT NULL,
    smtp_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    virus TEXT NOT NULL,
    matched TEXT NOT NULL,
    file TEXT NOT NULL,
    handling TEXT NOT NULL,
    reason TEXT NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time, category);
CREATE INDEX IF NOT EXISTS events_by_action ON events (action, time, handling, matched, bytes, smtp_id);
";

/// The columns after `id`, in [`Record::COLUMNS`] order.
const COLUMNS: &str = "time, category, action, smtp_id, connection_id, client_ip, sender, recipients, \
                       subject, virus, matched, file, handling, reason, bytes";

/// Every text column, for the search term.
const TEXT_COLUMNS: &str = "category, action, smtp_id, connection_id, client_ip, sender, recipients, subject, virus, matched, file, handling, reason";

/// The Summary's figures, in [`Summary`] field order up to the lists
/// (without the total). The
/// `action IN` list names every action counted, so only their index runs
/// are read.
const SUMMARY: &str = "
SELECT
    count(*) FILTER (WHERE action = 'Accepted'),
    coalesce(sum(bytes) FILTER (WHERE action = 'Accepted'), 0),
    count(*) FILTER (WHERE action = 'Rejected' OR (action = 'Spam list block' AND handling = 'refused')),
    count(*) FILTER (WHERE action = 'Rejected' AND matched = 'size'),
    count(*) FILTER (WHERE action = 'Bounced'),
    count(DISTINCT smtp_id) FILTER (WHERE action = 'Delivered'),
    count(*) FILTER (WHERE action = 'Delivery failed'),
    count(*) FILTER (WHERE action = 'Completed'),
    count(*) FILTER (WHERE action = 'Encrypted container' AND handling = 'deleted'),
    count(*) FILTER (WHERE action = 'Virus logged'),
    count(*) FILTER (WHERE action = 'File repaired'),
    count(*) FILTER (WHERE action = 'File deleted'),
    count(*) FILTER (WHERE action = 'File quarantined')
FROM events
WHERE action IN ('Accepted', 'Rejected', 'Spam list block', 'Bounced', 'Delivered', 'Delivery failed',
                 'Completed', 'Encrypted container', 'Virus logged', 'File repaired', 'File deleted',
                 'File quarantined')
  AND time >= ?1 AND time < ?2";

/// The actions that are infections: what was done with each infected
/// file. A quarantined file also has one of these, so *File quarantined*
/// is counted apart, never in the total.
const INFECTIONS: &str = "'Virus logged', 'File repaired', 'File deleted'";

/// Rows deleted per purge transaction, so the writer is never kept waiting
/// long by a large purge.
const PURGE_CHUNK: usize = 10_000;

impl SqliteStore {
    /// The events file in `log_dir`.
    pub fn path(log_dir: &Path) -> PathBuf {
        log_dir.join("events.sqlite")
    }

    /// Open (creating the directory, file and tables if needed) for
    /// writing: the gateway's store.
    pub fn open(log_dir: &Path) -> anyhow::Result<SqliteStore> {
        let path = SqliteStore::path(log_dir);
        let open = || -> anyhow::Result<Connection> {
            std::fs::create_dir_all(log_dir)?;
            let conn = Connection::open(&path)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // With WAL, NORMAL syncs at checkpoints only: a power cut may
            // lose the last events, never corrupt the file.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(SCHEMA)?;
            Ok(conn)
        };
        let conn = open().with_context(|| format!("cannot open the event store {}", path.display()))?;
        SqliteStore::ready(conn)
    }

    /// Open an existing store for reports only; works while the gateway
    /// writes to it.
    pub fn open_readonly(log_dir: &Path) -> anyhow::Result<SqliteStore> {
        let path = SqliteStore::path(log_dir);
        let open = || -> anyhow::Result<Connection> {
            let conn =
                Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'events'", [], |r| r.get::<_, i64>(0))?;
            Ok(conn)
        };
        let conn = open().with_context(|| format!("cannot read the event store {}", path.display()))?;
        SqliteStore::ready(conn)
    }

    fn ready(conn: Connection) -> anyhow::Result<SqliteStore> {
        conn.create_scalar_function(
            "mx_contains",
            -1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                let needle = ctx.get::<String>(0)?;
                Ok((1..ctx.len()).any(|i| ctx.get_raw(i).as_str().is_ok_and(|hay| contains_folded(hay, &needle))))
            },
        )?;
        Ok(SqliteStore { conn })
    }

    /// `(value, count)` of `column` over events of `actions` in the range,
    /// most frequent first, then by value.
    fn top(&self, actions: &str, column: &str, from: i64, to: i64) -> anyhow::Result<Vec<(String, u64)>> {
        let sql = format!(
            "SELECT {column}, count(*) AS n FROM events WHERE action IN ({actions}) AND time >= ?1 AND time < ?2 \
             GROUP BY {column} ORDER BY n DESC, {column}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([from, to], |r| Ok((r.get::<_, String>(0)?, count(r.get(1)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl EventStore for SqliteStore {
    fn insert(&mut self, records: &[Record]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
            ))?;
            for r in records {
                stmt.execute(params![
                    r.time,
                    r.category.map(Category::name).unwrap_or_default(),
                    r.action,
                    r.smtp_id,
                    r.connection_id,
                    r.client_ip,
                    r.sender,
                    r.recipients,
                    r.subject,
                    r.virus,
                    r.matched,
                    r.file,
                    r.handling,
                    r.reason,
                    i64::try_from(r.bytes).unwrap_or(i64::MAX),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn hourly(&self, from: i64, to: i64) -> anyhow::Result<Vec<(i64, u64, u64)>> {
        let sql = format!(
            "SELECT time / 3600000 * 3600000 AS hour, count(*) FILTER (WHERE action = 'Accepted'), \
             count(*) FILTER (WHERE action IN ({INFECTIONS})) FROM events \
             WHERE time >= ?1 AND time < ?2 AND action IN ('Accepted', {INFECTIONS}) GROUP BY hour ORDER BY hour"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([from, to], |r| Ok((r.get(0)?, count(r.get(1)?), count(r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn summary(&self, from: i64, to: i64) -> anyhow::Result<Summary> {
        let mut stmt = self.conn.prepare_cached(SUMMARY)?;
        let mut s = stmt.query_row([from, to], |r| {
            let n = |i| r.get::<_, i64>(i).map(count);
            Ok(Summary {
                messages_accepted: n(0)?,
                data_accepted_kb: n(1)? / 1024,
                messages_rejected: n(2)?,
                messages_blocked_by_size: n(3)?,
                messages_bounced: n(4)?,
                messages_delivered: n(5)?,
                message_delivery_failures: n(6)?,
                messages_completed: n(7)?,
                encrypted_files_deleted: n(8)?,
                infections_logged: n(9)?,
                infections_repaired: n(10)?,
                infections_deleted: n(11)?,
                infections_quarantined: n(12)?,
                ..Summary::default()
            })
        })?;
        s.infections_total = s.infections_logged + s.infections_repaired + s.infections_deleted;
        let names =
            |list: Vec<(String, u64)>| list.into_iter().map(|(name, count)| NameCount { name, count }).collect();
        s.viruses = names(self.top(INFECTIONS, "virus", from, to)?);
        s.attachments_deleted = names(self.top("'Attachment deleted'", "file", from, to)?);
        s.subjects_blocked = (self.top("'Subject blocked'", "subject", from, to)?.into_iter())
            .map(|(subject, count)| SubjectCount { subject, count })
            .collect();
        Ok(s)
    }

    fn detail(&self, q: &DetailQuery) -> anyhow::Result<Vec<Record>> {
        let mut sql = format!("SELECT {COLUMNS} FROM events WHERE time >= ?1 AND time < ?2");
        if !q.categories.is_empty() {
            // Category names are fixed lower-case words: safe to inline.
            let names: Vec<String> = q.categories.iter().map(|c| format!("'{}'", c.name())).collect();
            sql += &format!(" AND category IN ({})", names.join(", "));
        }
        let needle = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
        sql += &format!(" AND (?3 IS NULL OR mx_contains(?3, {TEXT_COLUMNS})) ORDER BY time, id LIMIT ?4");
        let limit = q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![q.from, q.to, needle, limit], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn purge_before(&mut self, before: i64) -> anyhow::Result<u64> {
        let mut total = 0;
        loop {
            let n = self.conn.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ?1 LIMIT ?2)",
                params![before, PURGE_CHUNK as i64],
            )?;
            total += n as u64;
            if n < PURGE_CHUNK {
                return Ok(total);
            }
        }
    }
}

/// A stored row back as a [`Record`].
fn record(r: &Row) -> rusqlite::Result<Record> {
    Ok(Record {
        time: r.get(0)?,
        category: Category::parse(r.get_ref(1)?.as_str()?),
        action: r.get(2)?,
        smtp_id: r.get(3)?,
        connection_id: r.get(4)?,
        client_ip: r.get(5)?,
        sender: r.get(6)?,
        recipients: r.get(7)?,
        subject: r.get(8)?,
        virus: r.get(9)?,
        matched: r.get(10)?,
        file: r.get(11)?,
        handling: r.get(12)?,
        reason: r.get(13)?,
        bytes: count(r.get(14)?),
    })
}

/// An SQL count or sum as a figure (they are never negative).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Whether `hay` contains `needle` (already lower-case), ignoring case.
/// ASCII needles, the usual search, compare without allocating.
fn contains_folded(hay: &str, needle: &str) -> bool {
    if needle.is_ascii() {
        let n = needle.as_bytes();
        n.is_empty() || hay.as_bytes().windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000;

    fn ev(time: i64, category: Category, action: &str) -> Record {
        Record { time, category: Some(category), action: action.into(), ..Record::default() }
    }

    fn message(time: i64, action: &str, smtp_id: &str) -> Record {
        Record { smtp_id: smtp_id.into(), ..ev(time, Category::Message, action) }
    }

    fn blocking(time: i64, action: &str, handling: &str) -> Record {
        Record { handling: handling.into(), ..ev(time, Category::Blocking, action) }
    }

    fn virus(time: i64, action: &str, name: &str) -> Record {
        Record { virus: name.into(), ..blocking(time, action, "") }
    }

    /// One of everything the Summary counts, inside `T0..T0 + 1000`, plus
    /// events just outside it.
    fn sample() -> Vec<Record> {
        let t = |i: i64| T0 + i;
        vec![
            Record { bytes: 1024, ..message(t(0), "Accepted", "A") },
            Record { bytes: 2048, ..message(t(1), "Accepted", "B") },
            Record { bytes: 1500, ..message(t(2), "Accepted", "C") },
            Record { matched: "size".into(), ..ev(t(3), Category::Smtp, "Rejected") },
            Record { matched: "relay".into(), ..ev(t(4), Category::Smtp, "Rejected") },
            blocking(t(5), "Spam list block", "refused"),
            blocking(t(6), "Spam list block", "dropped"),
            message(t(7), "Bounced", "C"),
            Record { matched: "mx1.test".into(), ..message(t(8), "Delivered", "A") },
            Record { matched: "mx2.test".into(), ..message(t(9), "Delivered", "A") },
            message(t(10), "Delivered", "B"),
            message(t(11), "Delivery failed", "C"),
            message(t(12), "Completed", "A"),
            message(t(13), "Completed", "B"),
            blocking(t(14), "Encrypted container", "deleted"),
            blocking(t(15), "Encrypted container", "logged"),
            virus(t(16), "Virus logged", "Eicar"),
            virus(t(17), "File repaired", "W97M.Macro"),
            virus(t(18), "File deleted", "Eicar"),
            virus(t(19), "File deleted", "Eicar"),
            virus(t(20), "File quarantined", "Zeus"),
            Record { subject: "Win money".into(), ..blocking(t(21), "Subject blocked", "dropped") },
            Record { subject: "Free".into(), ..blocking(t(22), "Subject blocked", "dropped") },
            Record { subject: "Win money".into(), ..blocking(t(23), "Subject blocked", "dropped") },
            Record { file: "a.exe".into(), ..blocking(t(24), "Attachment deleted", "deleted") },
            Record { file: "b.scr".into(), ..blocking(t(25), "Attachment deleted", "deleted") },
            Record { file: "b.scr".into(), ..blocking(t(26), "Attachment deleted", "deleted") },
            Record { bytes: 99_999, ..message(t(-1), "Accepted", "X") },
            Record { bytes: 99_999, ..message(t(1000), "Accepted", "Y") },
            virus(t(1000), "File deleted", "Outside"),
        ]
    }

    fn filled(dir: &Path) -> SqliteStore {
        let mut store = SqliteStore::open(dir).unwrap();
        store.insert(&sample()).unwrap();
        store
    }

    #[test]
    fn the_summary_counts_exactly_the_definitions() {
        let dir = tempfile::tempdir().unwrap();
        let s = filled(dir.path()).summary(T0, T0 + 1000).unwrap();
        let nc = |name: &str, count| NameCount { name: name.into(), count };
        let expected = Summary {
            messages_accepted: 3,
            data_accepted_kb: 4, // 4572 bytes
            messages_rejected: 3,
            messages_blocked_by_size: 1,
            messages_bounced: 1,
            messages_delivered: 2,
            message_delivery_failures: 1,
            messages_completed: 2,
            encrypted_files_deleted: 1,
            infections_logged: 1,
            infections_repaired: 1,
            infections_deleted: 2,
            infections_total: 4,
            infections_quarantined: 1,
            viruses: vec![nc("Eicar", 3), nc("W97M.Macro", 1)],
            subjects_blocked: vec![
                SubjectCount { subject: "Win money".into(), count: 2 },
                SubjectCount { subject: "Free".into(), count: 1 },
            ],
            attachments_deleted: vec![nc("b.scr", 2), nc("a.exe", 1)],
        };
        assert_eq!(s, expected);
        assert_eq!(filled(tempfile::tempdir().unwrap().path()).summary(T0 + 27, T0 + 999).unwrap(), Summary::default());
    }

    #[test]
    fn detail_filters_by_range_category_and_search_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path());
        let q = |categories: Vec<Category>, search: Option<&str>| DetailQuery {
            from: T0,
            to: T0 + 1000,
            categories,
            search: search.map(String::from),
            limit: None,
        };
        let all = store.detail(&q(vec![], None)).unwrap();
        assert_eq!(all, sample()[..27].to_vec(), "every field round-trips, in time order");
        let smtp = store.detail(&q(vec![Category::Smtp], None)).unwrap();
        assert_eq!(smtp.iter().map(|r| r.time - T0).collect::<Vec<_>>(), [3, 4]);
        let two = store.detail(&q(vec![Category::Smtp, Category::Message], None)).unwrap();
        assert_eq!(two.len(), 2 + 3 + 1 + 3 + 1 + 2);
        let eicar = store.detail(&q(vec![], Some("EICAR"))).unwrap();
        assert_eq!(eicar.iter().map(|r| r.time - T0).collect::<Vec<_>>(), [16, 18, 19]);
        assert_eq!(store.detail(&q(vec![Category::Message], Some("eicar"))).unwrap(), vec![]);
        let money = store.detail(&q(vec![], Some(" money "))).unwrap();
        assert_eq!(money.len(), 2, "the term is trimmed");
        let host = store.detail(&q(vec![], Some("MX2.test"))).unwrap();
        assert_eq!(host.iter().map(|r| r.time - T0).collect::<Vec<_>>(), [9]);
        assert_eq!(store.detail(&q(vec![], Some("blocking"))).unwrap().len(), 15, "the category column is text too");
        assert_eq!(store.detail(&DetailQuery { limit: Some(4), ..q(vec![], None) }).unwrap(), sample()[..4]);
    }

    #[test]
    fn search_folds_case_beyond_ascii() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let r = Record { subject: "Rechnung für Sie".into(), ..message(T0, "Accepted", "U") };
        store.insert(std::slice::from_ref(&r)).unwrap();
        for term in ["FÜR", "für sie", "RECHNUNG"] {
            let q = DetailQuery { from: T0, to: T0 + 1, search: Some(term.into()), ..DetailQuery::default() };
            assert_eq!(store.detail(&q).unwrap(), vec![r.clone()], "{term}");
        }
        let q = DetailQuery { from: T0, to: T0 + 1, search: Some("fur".into()), ..DetailQuery::default() };
        assert_eq!(store.detail(&q).unwrap(), vec![]);
    }

    #[test]
    fn a_reader_sees_what_the_open_writer_stored_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SqliteStore::open_readonly(dir.path()).is_err(), "no file yet");
        let mut writer = SqliteStore::open(dir.path()).unwrap();
        let mut reader = SqliteStore::open_readonly(dir.path()).unwrap();
        writer.insert(&sample()).unwrap();
        assert_eq!(reader.summary(T0, T0 + 1000).unwrap().messages_accepted, 3);
        assert!(reader.insert(&sample()).is_err());
        drop(writer);
        let reopened = SqliteStore::open_readonly(dir.path()).unwrap();
        assert_eq!(reopened.summary(T0, T0 + 1000).unwrap().messages_accepted, 3);
    }

    #[test]
    fn the_queries_use_the_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path());
        let plan = |sql: &str| -> String {
            let mut stmt = store.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([T0, T0 + 1000], |r| r.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let summary = plan(SUMMARY);
        assert!(summary.contains("USING COVERING INDEX events_by_action"), "{summary}");
        let detail = plan(&format!(
            "SELECT {COLUMNS} FROM events WHERE time >= ?1 AND time < ?2 AND category IN ('smtp') ORDER BY time, id"
        ));
        assert!(detail.contains("USING INDEX events_by_time"), "{detail}");
    }

    #[test]
    fn folding_compares_ascii_without_allocating_and_the_rest_by_lowercase() {
        assert!(contains_folded("Hello World", "o w"));
        assert!(contains_folded("anything", ""));
        assert!(!contains_folded("ab", "abc"));
        assert!(contains_folded("ÉCOLE", "école"));
    }
}
