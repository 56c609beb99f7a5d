//! The quarantine itself: sample files, their index, the quota and the
//! server's definitions, and the operations on items that keep files and
//! index consistent. Every operation here blocks (disk, SQLite); handlers
//! run them through [`blocking`] so the async runtime never waits on them.
//!
//! Files and rows change together under the index lock: a sample file is
//! put in place before the row that points at it is committed, and removed
//! only after the last such row is gone. A crash in between leaves a file
//! no row points at, which [`Quarantine::open`] removes.

use super::alert::Alerter;
use super::config::Settings;
use super::defs::Definitions;
use super::error::ApiError;
use super::index::{Change, Index};
use super::item::{Arrival, HistoryEntry, Item};
use super::publish;
use super::query::Listing;
use super::quota::Quota;
use super::status::Status;
use super::store::{Staged, Stager, Store};
use anyhow::Context;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the server records as the actor of its own changes.
pub const SERVER_ACTOR: &str = "server";

/// The open quarantine, shared by every handler.
pub struct Quarantine {
    pub settings: Settings,
    store: Store,
    index: Mutex<Index>,
    quota: Quota,
    defs: Definitions,
    alerts: Alerter,
}

/// What became of a new upload.
#[derive(Debug)]
pub struct Committed {
    pub item: Item,
    /// False when the gateway's item id was known already: the upload was a
    /// retry and the earlier item is returned.
    pub created: bool,
}

impl Quarantine {
    /// Open (creating) the storage directory, its index and store, and
    /// remove what an interrupted run left behind.
    pub fn open(settings: Settings) -> anyhow::Result<Quarantine> {
        let dir = settings.storage();
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if settings.defs_dir.is_empty() {
            let defs = settings.definitions();
            std::fs::create_dir_all(&defs).with_context(|| format!("cannot create {}", defs.display()))?;
        }
        let store = Store::open(&dir).with_context(|| format!("cannot open the sample store in {}", dir.display()))?;
        let index_path = dir.join("index.sqlite");
        let index = Index::open(&index_path).with_context(|| format!("cannot open {}", index_path.display()))?;
        let held = index.digests()?;
        for orphan in store.digests()?.into_iter().filter(|d| !held.contains(d)) {
            tracing::info!(sha256 = %orphan, "removing a sample no item refers to");
            store.remove(&orphan)?;
        }
        let alerts = Alerter::new(&settings);
        let quota = Quota::new(settings.quota_bytes(), dir);
        quota.watch(index.stored_bytes()?, &alerts);
        let defs = Definitions::new(settings.definitions());
        if let Err(why) = publish::recover(&settings) {
            tracing::error!("the signatures recorded for publishing are not published yet: {why}");
        }
        Ok(Quarantine { settings, store, index: Mutex::new(index), quota, defs, alerts })
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before reading an upload's body: the item made by an earlier try of
    /// the same upload, if any; otherwise whether `size` bytes that hash to
    /// `sha256` would fit in the quota.
    pub fn prepare(&self, arrival: &Arrival, sha256: &str, size: u64) -> Result<Option<Item>, ApiError> {
        let index = self.index();
        if let Some(id) = &arrival.sample_id
            && let Some(item) = index.find_sample_id(&arrival.meta.gateway, id)?
        {
            return if item.sha256 == sha256 {
                Ok(Some(item))
            } else {
                Err(ApiError::conflict(format!(
                    "{} already sent item {id} with SHA-256 {}, not {sha256}",
                    arrival.meta.gateway, item.sha256
                )))
            };
        }
        self.admit(&index, sha256, size)?;
        Ok(None)
    }

    /// Refuse a new sample the quota has no room for; known bytes cost
    /// nothing.
    fn admit(&self, index: &Index, sha256: &str, size: u64) -> Result<(), ApiError> {
        let used = index.stored_bytes()?;
        if index.has_sample(sha256)? || self.quota.fits(used, size) {
            return Ok(());
        }
        tracing::warn!(used, size, quota = self.quota.limit(), "upload refused: the quarantine quota is full");
        Err(ApiError::quota(format!(
            "the quarantine holds {used} of its {} bytes: no room for {size} more (quota_mb = {})",
            self.quota.limit(),
            self.settings.quota_mb
        )))
    }

    /// A temporary file for an arriving sample.
    pub fn stage(&self) -> Result<Stager, ApiError> {
        Ok(self.store.stage()?)
    }

    /// Keep a verified sample and record its item, durably (file and
    /// directory fsynced, row committed) before returning.
    pub fn commit(&self, staged: Staged, arrival: &Arrival) -> Result<Committed, ApiError> {
        let mut index = self.index();
        if let Some(id) = &arrival.sample_id
            && let Some(item) = index.find_sample_id(&arrival.meta.gateway, id)?
        {
            return Ok(Committed { item, created: false });
        }
        self.admit(&index, &staged.sha256, staged.size)?;
        let (sha256, size) = (staged.sha256.clone(), staged.size);
        self.store.keep(staged)?;
        let item = index.insert(arrival, &sha256, size, &format!("gateway {}", arrival.meta.gateway))?;
        self.quota.watch(index.stored_bytes()?, &self.alerts);
        let (gateway, virus) = (&item.meta.gateway, &item.meta.virus);
        tracing::info!(id = item.id, %gateway, %virus, %sha256, "item quarantined");
        Ok(Committed { item, created: true })
    }

    /// One item and its history.
    pub fn item(&self, id: i64) -> Result<(Item, Vec<HistoryEntry>), ApiError> {
        let index = self.index();
        let item = index.get(id)?.ok_or_else(|| ApiError::not_found(id))?;
        Ok((item, index.history(id)?))
    }

    /// A page of items and how many match in all.
    pub fn list(&self, listing: &Listing) -> Result<(Vec<Item>, u64), ApiError> {
        Ok(self.index().list(listing)?)
    }

    /// Every item id.
    pub fn ids(&self) -> Result<Vec<i64>, ApiError> {
        Ok(self.index().ids()?)
    }

    /// The ids of the items holding the sample `sha256`.
    pub fn ids_of_sample(&self, sha256: &str) -> Result<Vec<i64>, ApiError> {
        Ok(self.index().ids_of_sample(sha256)?)
    }

    /// The items in `status` since `cutoff` (Unix seconds) or longer that
    /// the watchdog has not alerted about in this stay.
    pub fn overdue(&self, status: Status, cutoff: i64) -> Result<Vec<Item>, ApiError> {
        Ok(self.index().overdue(status, cutoff)?)
    }

    /// Record the watchdog's alert about item `id`'s stay in `status` in
    /// its history; false if the item left that status meanwhile or was
    /// alerted about already, so each stay is alerted about once.
    pub fn mark_overdue(&self, id: i64, status: Status, actor: &str, note: &str) -> Result<bool, ApiError> {
        Ok(self.index().mark_overdue(id, status, actor, note)?)
    }

    /// Delete item `id`; its sample goes with the last item holding it.
    pub fn delete(&self, id: i64, actor: &str) -> Result<(), ApiError> {
        let mut index = self.index();
        let (sha256, left) = index.delete(id)?.ok_or_else(|| ApiError::not_found(id))?;
        if left == 0 {
            self.store.remove(&sha256)?;
        }
        self.quota.watch(index.stored_bytes()?, &self.alerts);
        tracing::info!(id, %actor, %sha256, samples_left = left, "item deleted");
        Ok(())
    }

    /// Record a change of item `id` in its status and history: the one way
    /// statuses change, for the API, rescans, submissions and signature
    /// creation.
    pub fn change(&self, id: i64, change: &Change) -> Result<Item, ApiError> {
        let item = self.index().change(id, change)?.ok_or_else(|| ApiError::not_found(id))?;
        tracing::info!(id, status = %change.status, actor = %change.actor, note = %change.note, "item changed");
        Ok(item)
    }

    /// Item `id` and its original bytes. Bytes that cannot be read put the
    /// item in the error status, with why.
    pub fn sample(&self, id: i64) -> Result<(Item, Vec<u8>), ApiError> {
        let item = self.index().get(id)?.ok_or_else(|| ApiError::not_found(id))?;
        if item.size > self.settings.max_sample_bytes() {
            return Err(ApiError::too_large(format!(
                "item {id} has {} bytes, more than max_sample_mb = {} allows",
                item.size, self.settings.max_sample_mb
            )));
        }
        match self.store.read(&item.sha256, item.size) {
            Ok(bytes) => Ok((item, bytes)),
            Err(e) => {
                let why = format!("the stored sample cannot be read: {e}");
                let change = Change {
                    status: Status::Error,
                    actor: SERVER_ACTOR.into(),
                    note: why.clone(),
                    definitions_needed: None,
                    error: Some(why.clone()),
                };
                self.change(id, &change)?;
                Err(ApiError::internal(format_args!("item {id}: {why}")))
            }
        }
    }

    /// The server's definitions.
    pub fn definitions(&self) -> &Definitions {
        &self.defs
    }

    /// Where the server's alerts are raised.
    pub fn alerts(&self) -> &Alerter {
        &self.alerts
    }

    /// Figures for monitoring: items, distinct samples, bytes against the
    /// quota and the state of its alerts.
    pub fn figures(&self) -> Result<serde_json::Value, ApiError> {
        let index = self.index();
        let used = index.stored_bytes()?;
        Ok(serde_json::json!({
            "items": index.ids()?.len(),
            "samples": index.digests()?.len(),
            "stored_bytes": used,
            "quota_bytes": self.quota.limit(),
            "quota_low": self.quota.is_low(),
            "disk_below_quota": self.quota.is_disk_short(),
        }))
    }
}

/// Run `work` on the blocking pool with the quarantine.
pub async fn blocking<T, F>(q: &Arc<Quarantine>, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Quarantine) -> Result<T, ApiError> + Send + 'static,
{
    let q = q.clone();
    tokio::task::spawn_blocking(move || work(&q)).await.unwrap_or_else(|e| Err(ApiError::internal(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::sample::Metadata;

    fn open(dir: &std::path::Path, quota_mb: u64) -> Quarantine {
        let settings = Settings { storage_dir: dir.display().to_string(), quota_mb, ..Settings::default() };
        Quarantine::open(settings).unwrap()
    }

    fn upload(q: &Quarantine, bytes: &[u8], sample_id: Option<&str>) -> Result<Committed, ApiError> {
        let meta = Metadata { gateway: "gw".into(), ..Metadata::default() };
        let arrival = Arrival { meta, sample_id: sample_id.map(Into::into) };
        let mut stager = q.stage()?;
        stager.write(bytes)?;
        q.commit(stager.finish()?, &arrival)
    }

    #[test]
    fn the_last_item_takes_its_sample_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path(), 1);
        let a = upload(&q, b"twice", None).unwrap().item;
        let b = upload(&q, b"twice", None).unwrap().item;
        assert_eq!(q.item(b.id).unwrap().0.sightings, 2);
        q.delete(a.id, "test").unwrap();
        assert_eq!(q.sample(b.id).unwrap().1, b"twice");
        q.delete(b.id, "test").unwrap();
        assert!(q.store.digests().unwrap().is_empty());
        assert_eq!(q.delete(b.id, "test").unwrap_err().status, axum::http::StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_retry_finds_the_first_item_and_the_quota_holds() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path(), 1);
        let first = upload(&q, b"retried", Some("x1")).unwrap();
        let again = upload(&q, b"retried", Some("x1")).unwrap();
        assert!(first.created && !again.created);
        assert_eq!(first.item.id, again.item.id);
        let big = vec![7u8; 1024 * 1024];
        assert_eq!(upload(&q, &big, None).unwrap_err().error, "quota");
        assert_eq!(q.store.digests().unwrap().len(), 1, "the refused sample was not kept");
    }

    #[test]
    fn orphans_left_by_a_crash_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path(), 1);
        let mut stager = q.stage().unwrap();
        stager.write(b"orphan").unwrap();
        q.store.keep(stager.finish().unwrap()).unwrap();
        drop(q);
        let q = open(dir.path(), 1);
        assert!(q.store.digests().unwrap().is_empty());
    }
}
