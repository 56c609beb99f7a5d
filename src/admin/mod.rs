//! The administration server (SPEC §8): the browser pages with their
//! sessions and roles, and the JSON API and Prometheus metrics for
//! scripts, on `admin.http_listen` and `admin.https_listen`.

pub mod accounts;
pub mod api;
pub mod auth;
pub mod certs;
pub mod change;
pub mod config_api;
pub mod guard;
pub mod held;
pub mod logon;
pub mod metrics;
pub mod pages;
pub mod queues_api;
pub mod reports;
pub mod server;
pub mod session;
pub mod tls;

use crate::config::ConfigHandle;
use crate::delivery::Delivery;
use crate::events::Events;
use crate::events::counters::Counters;
use crate::scan::builtin::Signatures;
use crate::spool::Spool;
use accounts::Accounts;
use certs::CertStore;
use session::Sessions;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the handlers read and act on: the live configuration, counters,
/// queues, definitions, accounts and sessions.
#[derive(Clone)]
pub struct AppState {
    pub config: ConfigHandle,
    pub counters: Arc<Counters>,
    pub spool: Arc<Spool>,
    pub signatures: Arc<Signatures>,
    /// When the gateway started (RFC 3339).
    pub started_at: String,
    pub events: Events,
    /// The fast queue's input, for held messages sent back to it.
    pub fast: mpsc::UnboundedSender<String>,
    pub delivery: Arc<Delivery>,
    pub accounts: Accounts,
    pub sessions: Arc<Sessions>,
    /// The HTTPS certificate: served, requested, installed.
    pub certs: CertStore,
}
