//! Rescanning items with the server's definitions (SPEC §7): an item the
//! definitions detect becomes *available* (with the sequence that detects
//! it), one they miss becomes *needed*. One item on request, or every item
//! when the definitions change.

use super::error::ApiError;
use super::index::Change;
use super::item::Item;
use super::service::{Quarantine, SERVER_ACTOR, blocking};
use super::status::Status;
use crate::mime::detect::detect;
use crate::scan::builtin::{Builtin, Loaded};
use crate::scan::{Scanner, Target};
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How often the definitions directory is looked at for changes.
const FOLLOW_EVERY: Duration = Duration::from_secs(60);

/// What rescanning every item did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub rescanned: usize,
    pub available: usize,
    pub needed: usize,
    /// Items whose bytes could not be read (now in the error status).
    pub failed: usize,
}

/// Rescan item `id` now; the result is always recorded in its history.
pub fn rescan(q: &Quarantine, id: i64, actor: &str) -> Result<Item, ApiError> {
    rescan_with(q, &current(q)?, id, actor, true)
}

/// Rescan every item but the distributed ones; only a changed status is
/// recorded, so repeated runs do not fill the histories.
pub fn rescan_all(q: &Quarantine, actor: &str) -> Result<Summary, ApiError> {
    let defs = current(q)?;
    let mut summary = Summary::default();
    for id in q.ids()? {
        match rescan_with(q, &defs, id, actor, false) {
            Ok(item) => {
                summary.rescanned += 1;
                match item.status {
                    Status::Available => summary.available += 1,
                    Status::Needed => summary.needed += 1,
                    _ => {}
                }
            }
            // Deleted meanwhile.
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) if e.error == "definitions" => return Err(e),
            Err(_) => summary.failed += 1,
        }
    }
    tracing::info!(?summary, "quarantine rescanned");
    Ok(summary)
}

/// Rescan every item whenever the definitions directory changes, until the
/// process ends.
pub async fn follow_definitions(q: Arc<Quarantine>) {
    let mut seen: Option<Arc<Loaded>> = None;
    let mut failing: Option<String> = None;
    loop {
        match blocking(&q, current).await {
            Ok(now) => {
                let changed = seen.as_ref().is_some_and(|s| !Arc::ptr_eq(s, &now));
                seen = Some(now);
                failing = None;
                if changed && let Err(e) = blocking(&q, |q| rescan_all(q, SERVER_ACTOR)).await {
                    tracing::warn!("rescan after a definitions change failed: {}", e.message);
                }
            }
            // Said once, not every minute.
            Err(e) if failing.as_ref() != Some(&e.message) => {
                tracing::warn!("rescans are not possible: {}", e.message);
                failing = Some(e.message);
            }
            Err(_) => {}
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

fn current(q: &Quarantine) -> Result<Arc<Loaded>, ApiError> {
    q.definitions().current().map_err(|e| ApiError::unavailable("definitions", e))
}

fn rescan_with(q: &Quarantine, defs: &Arc<Loaded>, id: i64, actor: &str, always: bool) -> Result<Item, ApiError> {
    let (item, bytes) = q.sample(id)?;
    if !always && item.status == Status::Distributed {
        return Ok(item);
    }
    let names = [item.meta.file_name.clone()];
    let target =
        Target { data: &bytes, detected: detect(&bytes), path: &item.meta.mime_path, names: &names, declared_type: "" };
    let found = Builtin(defs.clone()).scan(&target).map_err(|f| ApiError::unavailable("definitions", f.why))?;
    let which = match defs.sequence {
        Some(s) => format!("the definitions with sequence {s}"),
        None => format!("the definitions in {} (no sequence number)", q.definitions().dir().display()),
    };
    let (status, note, sequence) = match found.first() {
        Some(d) => (Status::Available, format!("detected as {} by {which}", d.name), defs.sequence),
        None => (Status::Needed, format!("not detected by {which} ({} signatures)", defs.db.report().signatures), None),
    };
    if !always && item.status == status {
        return Ok(item);
    }
    let change =
        Change { status, actor: actor.into(), note, definitions_needed: Some(sequence), error: Some(String::new()) };
    q.change(id, &change)
}
