//! The administration server (SPEC §8): for now the JSON API and
//! Prometheus metrics on `admin.http_listen`; the browser pages and
//! sessions join it on the same server.

pub mod api;
pub mod auth;
pub mod metrics;
pub mod reports;
pub mod server;

use crate::config::ConfigHandle;
use crate::events::counters::Counters;
use crate::scan::builtin::Signatures;
use crate::spool::Spool;
use std::sync::Arc;

/// What the handlers read: the live configuration, counters, queues and
/// definitions.
#[derive(Clone)]
pub struct AppState {
    pub config: ConfigHandle,
    pub counters: Arc<Counters>,
    pub spool: Arc<Spool>,
    pub signatures: Arc<Signatures>,
    /// When the gateway started (RFC 3339).
    pub started_at: String,
}
