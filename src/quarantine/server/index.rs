//! The SQLite index of the quarantine: one row per item (an occurrence with
//! its message metadata, pointing at its sample by SHA-256) and the history
//! of every item. Writes commit with a full fsync, so an upload is
//! acknowledged only once its row is on disk.

use super::item::{Arrival, HistoryEntry, Item, now, rfc3339};
use super::query::Listing;
use super::status::Status;
use crate::quarantine::sample::Metadata;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    mime_path TEXT NOT NULL,
    virus TEXT NOT NULL,
    scan_result TEXT NOT NULL,
    defs_sequence INTEGER,
    gateway TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sample_id TEXT,
    received INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_changed INTEGER NOT NULL,
    definitions_needed INTEGER,
    error TEXT NOT NULL DEFAULT '',
    watchdog_alerted INTEGER,
    UNIQUE (gateway, sample_id)
);
CREATE INDEX IF NOT EXISTS items_sha256 ON items (sha256);
CREATE INDEX IF NOT EXISTS items_received ON items (received);
CREATE TABLE IF NOT EXISTS history (
    item INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    old_status TEXT,
    new_status TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_item ON history (item);
";

/// The item columns, in the order [`item`] reads them.
const COLUMNS: &str = "id, file_name, mime_path, size, sha256, virus, scan_result, defs_sequence, gateway, sender, \
     recipients, subject, message_id, sample_id, received, status, status_changed, definitions_needed, error, \
     (SELECT count(*) FROM items s WHERE s.sha256 = items.sha256) AS sightings";

/// A change to record on an item.
#[derive(Debug, Clone)]
pub struct Change {
    pub status: Status,
    pub actor: String,
    pub note: String,
    /// `Some` replaces the detecting definitions' sequence.
    pub definitions_needed: Option<Option<u64>>,
    /// `Some` replaces the error shown (empty clears it); `None` keeps it.
    pub error: Option<String>,
}

/// The open index.
pub struct Index {
    conn: Connection,
}

impl Index {
    /// Open (creating if needed) the index file.
    pub fn open(path: &Path) -> rusqlite::Result<Index> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: every commit is fsynced; a 201 means the row survives a
        // power cut.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        add_missing_columns(&conn)?;
        Ok(Index { conn })
    }

    /// The item a gateway made earlier with the same id, if any.
    pub fn find_sample_id(&self, gateway: &str, sample_id: &str) -> rusqlite::Result<Option<Item>> {
        let sql = format!("SELECT {COLUMNS} FROM items WHERE gateway = ? AND sample_id = ?");
        self.conn.query_row(&sql, params![gateway, sample_id], item).optional()
    }

    /// Record a new item for the stored sample `sha256`, with its first
    /// history entry.
    pub fn insert(&mut self, arrival: &Arrival, sha256: &str, size: u64, actor: &str) -> rusqlite::Result<Item> {
        let (t, m) = (now(), &arrival.meta);
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO items (sha256, size, file_name, mime_path, virus, scan_result, defs_sequence, gateway, \
             sender, recipients, subject, message_id, sample_id, received, status, status_changed) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                sha256,
                size as i64,
                m.file_name,
                m.mime_path,
                m.virus,
                m.scan_result,
                m.defs_sequence.map(|s| s as i64),
                m.gateway,
                m.sender,
                serde_json::to_string(&m.recipients).unwrap_or_else(|_| "[]".into()),
                m.subject,
                m.message_id,
                arrival.sample_id,
                t,
                Status::Quarantined.name(),
                t,
            ],
        )?;
        let id = tx.last_insert_rowid();
        let note = format!("received from {} as {}", m.gateway, m.virus);
        add_history(&tx, id, t, actor, None, Status::Quarantined, &note)?;
        tx.commit()?;
        self.get(id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
    }

    /// One item.
    pub fn get(&self, id: i64) -> rusqlite::Result<Option<Item>> {
        self.conn.query_row(&format!("SELECT {COLUMNS} FROM items WHERE id = ?"), [id], item).optional()
    }

    /// An item's history, oldest first.
    pub fn history(&self, id: i64) -> rusqlite::Result<Vec<HistoryEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT time, actor, old_status, new_status, note FROM history WHERE item = ? ORDER BY rowid")?;
        let rows = stmt.query_map([id], |r| {
            Ok(HistoryEntry {
                time: rfc3339(r.get(0)?),
                actor: r.get(1)?,
                old_status: r.get::<_, Option<String>>(2)?.map(|s| status(&s)),
                new_status: status(&r.get::<_, String>(3)?),
                note: r.get(4)?,
            })
        })?;
        rows.collect()
    }

    /// One page of the items `listing` selects, and how many it selects in
    /// all.
    pub fn list(&self, listing: &Listing) -> rusqlite::Result<(Vec<Item>, u64)> {
        let total: i64 = self.conn.query_row(
            &format!("SELECT count(*) FROM items WHERE {}", listing.conditions),
            params_from_iter(&listing.params),
            |r| r.get(0),
        )?;
        let sql = format!(
            "SELECT {COLUMNS} FROM items WHERE {} ORDER BY {} LIMIT {} OFFSET {}",
            listing.conditions,
            listing.order,
            listing.per_page,
            listing.offset()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let items = stmt.query_map(params_from_iter(&listing.params), item)?.collect::<rusqlite::Result<_>>()?;
        Ok((items, total as u64))
    }

    /// Every item id, oldest first.
    pub fn ids(&self) -> rusqlite::Result<Vec<i64>> {
        let mut stmt = self.conn.prepare("SELECT id FROM items ORDER BY id")?;
        stmt.query_map([], |r| r.get(0))?.collect()
    }

    /// The ids of the items holding the sample `sha256`, oldest first.
    pub fn ids_of_sample(&self, sha256: &str) -> rusqlite::Result<Vec<i64>> {
        let mut stmt = self.conn.prepare("SELECT id FROM items WHERE sha256 = ? ORDER BY id")?;
        stmt.query_map([sha256], |r| r.get(0))?.collect()
    }

    /// The items in `status` since `cutoff` (Unix seconds) or before, whose
    /// stay there the watchdog has not alerted about, oldest first.
    pub fn overdue(&self, status: Status, cutoff: i64) -> rusqlite::Result<Vec<Item>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM items WHERE status = ? AND status_changed <= ? \
             AND watchdog_alerted IS NOT status_changed ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        stmt.query_map(params![status.name(), cutoff], item)?.collect()
    }

    /// Mark item `id`'s current stay in `status` as alerted about, with a
    /// history entry; false if it is no longer in `status` or was marked.
    pub fn mark_overdue(&mut self, id: i64, status: Status, actor: &str, note: &str) -> rusqlite::Result<bool> {
        let tx = self.conn.transaction()?;
        let marked = tx.execute(
            "UPDATE items SET watchdog_alerted = status_changed \
             WHERE id = ? AND status = ? AND watchdog_alerted IS NOT status_changed",
            params![id, status.name()],
        )?;
        if marked == 1 {
            add_history(&tx, id, now(), actor, Some(status), status, note)?;
        }
        tx.commit()?;
        Ok(marked == 1)
    }

    /// Record `change` on item `id`; `None` if there is no such item.
    pub fn change(&mut self, id: i64, change: &Change) -> rusqlite::Result<Option<Item>> {
        let tx = self.conn.transaction()?;
        let old: Option<String> =
            tx.query_row("SELECT status FROM items WHERE id = ?", [id], |r| r.get(0)).optional()?;
        let Some(old) = old else { return Ok(None) };
        let t = now();
        tx.execute(
            "UPDATE items SET status = ?, error = coalesce(?, error), \
             status_changed = CASE WHEN status = ? THEN status_changed ELSE ? END WHERE id = ?",
            params![change.status.name(), change.error, change.status.name(), t, id],
        )?;
        if let Some(sequence) = change.definitions_needed {
            tx.execute(
                "UPDATE items SET definitions_needed = ? WHERE id = ?",
                params![sequence.map(|s| s as i64), id],
            )?;
        }
        add_history(&tx, id, t, &change.actor, Some(status(&old)), change.status, &change.note)?;
        tx.commit()?;
        self.get(id)
    }

    /// Remove item `id` with its history: the SHA-256 of its sample and how
    /// many items still share it, or `None` if there was no such item.
    pub fn delete(&mut self, id: i64) -> rusqlite::Result<Option<(String, u64)>> {
        let tx = self.conn.transaction()?;
        let sha: Option<String> =
            tx.query_row("SELECT sha256 FROM items WHERE id = ?", [id], |r| r.get(0)).optional()?;
        let Some(sha) = sha else { return Ok(None) };
        tx.execute("DELETE FROM items WHERE id = ?", [id])?;
        let left: i64 = tx.query_row("SELECT count(*) FROM items WHERE sha256 = ?", [&sha], |r| r.get(0))?;
        tx.commit()?;
        Ok(Some((sha, left as u64)))
    }

    /// Whether some item holds the sample `sha256`.
    pub fn has_sample(&self, sha256: &str) -> rusqlite::Result<bool> {
        self.conn.query_row("SELECT EXISTS (SELECT 1 FROM items WHERE sha256 = ?)", [sha256], |r| r.get(0))
    }

    /// Original bytes of the distinct samples, what the quota counts.
    pub fn stored_bytes(&self) -> rusqlite::Result<u64> {
        let total: i64 = self.conn.query_row(
            "SELECT coalesce(sum(size), 0) FROM (SELECT sha256, max(size) AS size FROM items GROUP BY sha256)",
            [],
            |r| r.get(0),
        )?;
        Ok(total as u64)
    }

    /// Every sample some item holds.
    pub fn digests(&self) -> rusqlite::Result<HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT DISTINCT sha256 FROM items")?;
        stmt.query_map([], |r| r.get(0))?.collect()
    }
}

/// Columns added since the first release, added to an index made before.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT 1 FROM pragma_table_info('items') WHERE name = 'watchdog_alerted'")?;
    if !stmt.exists([])? {
        conn.execute_batch("ALTER TABLE items ADD COLUMN watchdog_alerted INTEGER")?;
    }
    Ok(())
}

fn add_history(
    conn: &Connection,
    id: i64,
    time: i64,
    actor: &str,
    old: Option<Status>,
    new: Status,
    note: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO history (item, time, actor, old_status, new_status, note) VALUES (?, ?, ?, ?, ?, ?)",
        params![id, time, actor, old.map(Status::name), new.name(), note],
    )?;
    Ok(())
}

/// A stored status word; anything unknown (never written by us) shows as
/// an error rather than failing the whole list.
fn status(word: &str) -> Status {
    Status::parse(word).unwrap_or(Status::Error)
}

fn item(r: &Row<'_>) -> rusqlite::Result<Item> {
    let recipients: String = r.get(10)?;
    let meta = Metadata {
        file_name: r.get(1)?,
        mime_path: r.get(2)?,
        virus: r.get(5)?,
        scan_result: r.get(6)?,
        defs_sequence: r.get::<_, Option<i64>>(7)?.map(|s| s as u64),
        gateway: r.get(8)?,
        sender: r.get(9)?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        subject: r.get(11)?,
        message_id: r.get(12)?,
    };
    Ok(Item {
        id: r.get(0)?,
        meta,
        size: r.get::<_, i64>(3)? as u64,
        sha256: r.get(4)?,
        sample_id: r.get(13)?,
        received: rfc3339(r.get(14)?),
        status: status(&r.get::<_, String>(15)?),
        status_changed: rfc3339(r.get(16)?),
        definitions_needed: r.get::<_, Option<i64>>(17)?.map(|s| s as u64),
        error: r.get(18)?,
        sightings: r.get::<_, i64>(19)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(gateway: &str, sample_id: Option<&str>) -> Arrival {
        let meta = Metadata {
            file_name: "eicar.com".into(),
            virus: "Eicar".into(),
            gateway: gateway.into(),
            recipients: vec!["a@x.test".into(), "b@x.test".into()],
            ..Metadata::default()
        };
        Arrival { meta, sample_id: sample_id.map(Into::into) }
    }

    fn open() -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.sqlite")).unwrap();
        (dir, index)
    }

    #[test]
    fn items_share_samples_and_count_sightings() {
        let (_dir, mut index) = open();
        let a = index.insert(&arrival("gw1", Some("1")), &"a".repeat(64), 10, "gateway gw1").unwrap();
        assert_eq!((a.status, a.sightings, a.meta.recipients.len()), (Status::Quarantined, 1, 2));
        index.insert(&arrival("gw2", Some("1")), &"a".repeat(64), 10, "gateway gw2").unwrap();
        index.insert(&arrival("gw2", None), &"b".repeat(64), 5, "gateway gw2").unwrap();
        assert_eq!(index.get(a.id).unwrap().unwrap().sightings, 2);
        assert_eq!(index.stored_bytes().unwrap(), 15);
        assert!(index.insert(&arrival("gw1", Some("1")), &"c".repeat(64), 1, "x").is_err(), "unique per gateway");
        assert_eq!(index.find_sample_id("gw2", "1").unwrap().unwrap().meta.gateway, "gw2");
        assert_eq!(index.delete(a.id).unwrap(), Some(("a".repeat(64), 1)));
        assert_eq!(index.delete(a.id).unwrap(), None);
        assert!(index.history(a.id).unwrap().is_empty(), "history goes with the item");
    }

    #[test]
    fn changes_are_kept_in_the_history() {
        let (_dir, mut index) = open();
        let a = index.insert(&arrival("gw1", None), &"a".repeat(64), 10, "gateway gw1").unwrap();
        let change = Change {
            status: Status::Available,
            actor: "api".into(),
            note: "detected".into(),
            definitions_needed: Some(Some(42)),
            error: Some("kept".into()),
        };
        let changed = index.change(a.id, &change).unwrap().unwrap();
        assert_eq!((changed.status, changed.definitions_needed), (Status::Available, Some(42)));
        let noted = Change { error: None, note: "looked at".into(), ..change.clone() };
        assert_eq!(index.change(a.id, &noted).unwrap().unwrap().error, "kept", "None keeps the error");
        let history = index.history(a.id).unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!((history[0].old_status, history[0].new_status), (None, Status::Quarantined));
        assert_eq!((history[1].old_status, history[1].new_status), (Some(Status::Quarantined), Status::Available));
        assert_eq!(history[1].actor, "api");
        assert!(index.change(999, &change).unwrap().is_none());
    }

    #[test]
    fn lists_filter_sort_and_page() {
        let (_dir, mut index) = open();
        for n in 0..5 {
            let mut a = arrival("gw1", None);
            a.meta.virus = format!("Virus.{n}");
            index.insert(&a, &format!("{n}").repeat(64), 1, "x").unwrap();
        }
        let q = |p: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            index.list(&Listing::parse(&pairs).unwrap()).unwrap()
        };
        let (items, total) = q(&[("virus", "virus.3")]);
        assert_eq!((items.len(), total, items[0].meta.virus.as_str()), (1, 1, "Virus.3"));
        let (items, total) = q(&[("sort", "virus"), ("order", "asc"), ("per_page", "2"), ("page", "2")]);
        assert_eq!(total, 5);
        assert_eq!(items.iter().map(|i| i.meta.virus.as_str()).collect::<Vec<_>>(), ["Virus.2", "Virus.3"]);
        assert_eq!(q(&[("status", "held")]).1, 0);
        assert_eq!(q(&[("recipient", "B@X")]).1, 5);
    }

    #[test]
    fn the_watchdog_marks_each_stay_once() {
        let (_dir, mut index) = open();
        let a = index.insert(&arrival("gw1", None), &"a".repeat(64), 10, "gateway gw1").unwrap();
        let later = now() + 10;
        assert!(index.overdue(Status::Quarantined, now() - 3600).unwrap().is_empty(), "not long enough");
        assert_eq!(index.overdue(Status::Quarantined, later).unwrap().len(), 1);
        assert!(index.overdue(Status::Held, later).unwrap().is_empty());
        assert!(index.mark_overdue(a.id, Status::Quarantined, "watchdog", "too long").unwrap());
        assert!(!index.mark_overdue(a.id, Status::Quarantined, "watchdog", "again").unwrap(), "once per stay");
        assert!(index.overdue(Status::Quarantined, later).unwrap().is_empty());
        assert!(!index.mark_overdue(a.id, Status::Held, "watchdog", "not held").unwrap());
        let history = index.history(a.id).unwrap();
        assert_eq!((history.len(), history[1].note.as_str()), (2, "too long"));
        assert_eq!(index.ids_of_sample(&"a".repeat(64)).unwrap(), [a.id]);
    }

    #[test]
    fn an_index_from_before_the_watchdog_gets_its_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let old = SCHEMA.replace("    watchdog_alerted INTEGER,\n", "");
        Connection::open(&path).unwrap().execute_batch(&old).unwrap();
        let mut index = Index::open(&path).unwrap();
        let a = index.insert(&arrival("gw1", None), &"a".repeat(64), 10, "gateway gw1").unwrap();
        assert_eq!(index.overdue(Status::Quarantined, now() + 10).unwrap()[0].id, a.id);
        drop(index);
        Index::open(&path).unwrap();
    }
}
