//! The JSON API (`/api/v1/...`): the Status figures and the reports, for
//! scripts and monitoring. Handlers stay thin: they read the state and
//! hand over to `events` and `report`.

use super::AppState;
use crate::spool::Queue;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

/// The Status page figures (SPEC §8) as one object.
#[derive(Debug, Serialize)]
pub struct Status {
    pub accepted: u64,
    pub rejected: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub held: u64,
    pub forwarded: u64,
    pub repaired: u64,
    pub deleted: u64,
    pub logged: u64,
    pub quarantined: u64,
    pub mb_received: f64,
    pub attachments_stripped: u64,
    pub queue_fast: usize,
    pub queue_slow: usize,
    pub queue_hold: usize,
    pub started_at: String,
    pub scanning_enabled: bool,
    /// What is sent to the Central Quarantine: "nothing", "unrepaired"
    /// or "all" (`antivirus.quarantine.mode`).
    pub quarantine_mode: &'static str,
    /// "Delivery" or "Pause".
    pub delivery: &'static str,
    /// "Accept" or "Reject".
    pub incoming: &'static str,
    pub defs_sequence: Option<u64>,
    pub defs_date: Option<String>,
}

/// Gather the figures; queue depths are read from the spool now.
pub async fn status_of(state: &AppState) -> Result<Status, String> {
    let spool = state.spool.clone();
    let depths = tokio::task::spawn_blocking(move || -> std::io::Result<[usize; 3]> {
        Ok([spool.list(Queue::Fast)?.len(), spool.list(Queue::Slow)?.len(), spool.list(Queue::Hold)?.len()])
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot read the queues: {e}"))?;
    let c = state.counters.snapshot();
    let config = state.config.current();
    let defs = state.signatures.current();
    Ok(Status {
        accepted: c.accepted,
        rejected: c.rejected,
        delivered: c.delivered,
        dropped: c.dropped,
        held: c.held,
        forwarded: c.forwarded,
        repaired: c.repaired,
        deleted: c.deleted,
        logged: c.logged,
        quarantined: c.quarantined,
        mb_received: c.bytes_received as f64 / 1_048_576.0,
        attachments_stripped: c.attachments_stripped,
        queue_fast: depths[0],
        queue_slow: depths[1],
        queue_hold: depths[2],
        started_at: state.started_at.clone(),
        scanning_enabled: config.antivirus.enabled,
        quarantine_mode: config.antivirus.quarantine.mode.name(),
        delivery: if config.delivery.pause { "Pause" } else { "Delivery" },
        incoming: if config.delivery.reject_incoming { "Reject" } else { "Accept" },
        defs_sequence: defs.sequence,
        defs_date: defs.date.clone(),
    })
}

/// `GET /api/v1/status`.
pub async fn status(State(state): State<AppState>) -> Result<Json<Status>, (StatusCode, String)> {
    status_of(&state).await.map(Json).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// `GET /api/v1/counters`: the raw counters since start, for monitoring.
pub async fn counters(State(state): State<AppState>) -> Json<crate::events::counters::Snapshot> {
    Json(state.counters.snapshot())
}
