//! What the server's routes share: the quarantine, and for administrators
//! in a browser (the pages, and the API used from them) the accounts and
//! sessions. The accounts are the gateway's kind, kept beside the server's
//! configuration file (`cq.accounts.json` for `cq.toml`), so
//! `mxguard passwd --config cq.toml --role admin` sets the password.

use super::service::Quarantine;
use crate::admin::accounts::Accounts;
use crate::admin::guard::Site;
use crate::admin::session::Sessions;
use crate::events::Event;
use axum::extract::FromRef;
use std::sync::Arc;

/// The state of every route of the server.
#[derive(Clone)]
pub struct Console {
    pub q: Arc<Quarantine>,
    pub accounts: Accounts,
    pub sessions: Arc<Sessions>,
}

impl Console {
    /// The console of `q` with the administrators in `accounts` and no
    /// session yet.
    pub fn new(q: Arc<Quarantine>, accounts: Accounts) -> Console {
        Console { q, accounts, sessions: Arc::default() }
    }
}

/// The API handlers need the quarantine only.
impl FromRef<Console> for Arc<Quarantine> {
    fn from_ref(console: &Console) -> Arc<Quarantine> {
        console.q.clone()
    }
}

impl Site for Console {
    fn name(&self) -> &'static str {
        "Central Quarantine"
    }

    fn home(&self) -> &'static str {
        "/items"
    }

    fn cookie(&self) -> &'static str {
        "mxguard_quarantine_session"
    }

    fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    fn timeout_minutes(&self) -> u64 {
        self.q.settings.timeout_minutes
    }

    /// Every quarantine administrator may change items: the server has no
    /// read-only account.
    fn has_report_role(&self) -> bool {
        false
    }

    fn report_enabled(&self) -> bool {
        false
    }

    /// The server has no event store: logons and refused forms go to its
    /// log.
    fn record(&self, event: Event) {
        tracing::info!("{event}");
    }
}
