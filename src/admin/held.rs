//! The hold queue as the administrator sees it: each held message with
//! its arrival, envelope and reason, for the Hold Queue tab and the API.

use super::AppState;
use crate::control::{self, ControlCommand};
use crate::spool::{Queue, Spool};
use serde::Serialize;

/// A held message as listed.
#[derive(Debug, Serialize)]
pub struct Held {
    pub id: String,
    /// Local time, `YYYY-MM-DD HH:MM:SS`.
    pub arrival: String,
    /// `<>` for the null sender.
    pub sender: String,
    pub recipients: Vec<String>,
    /// Why it was held (SPEC §1).
    pub reason: String,
}

/// Every held message, oldest first; unreadable files are left out (the
/// spool reports them as *File access error* events).
pub fn list(spool: &Spool) -> Vec<Held> {
    let mut held: Vec<(u64, Held)> = spool
        .list(Queue::Hold)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|id| {
            let m = spool.load_header(Queue::Hold, &id).ok()?.message;
            let arrival = chrono::DateTime::from_timestamp(i64::try_from(m.arrival).ok()?, 0)?
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let recipients = m.envelope.recipients.iter().map(|r| r.address.clone()).collect();
            let sender = if m.envelope.sender.is_empty() { "<>".into() } else { m.envelope.sender.clone() };
            Some((m.arrival, Held { id, arrival, sender, recipients, reason: m.reason }))
        })
        .collect();
    held.sort_by_key(|(arrival, _)| *arrival);
    held.into_iter().map(|(_, h)| h).collect()
}

/// One of the three hold-queue actions of SPEC §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reprocess,
    Drop,
    /// Send an unscanned copy to an address.
    Forward,
}

impl Action {
    /// `reprocess`, `drop` or `forward`, as the form and the API name them.
    pub fn parse(name: &str) -> Option<Action> {
        match name {
            "reprocess" => Some(Action::Reprocess),
            "drop" => Some(Action::Drop),
            "forward" => Some(Action::Forward),
            _ => None,
        }
    }
}

/// Apply `action` to each of `which` (IDs, or `all`) through the control
/// commands the CLI uses too; what was done, or the first refusal with
/// what was done before it.
pub async fn act(state: &AppState, action: Action, which: Vec<String>, to: &str) -> Result<Vec<String>, ActError> {
    if which.is_empty() {
        return Err(ActError { done: Vec::new(), why: "no message chosen: give IDs or \"all\"".into() });
    }
    if action == Action::Forward && !crate::config::is_address(to) {
        return Err(ActError { done: Vec::new(), why: format!("{to:?} is not an e-mail address to forward to") });
    }
    let mut done = Vec::new();
    for which in which {
        let command = match action {
            Action::Reprocess => ControlCommand::Reprocess(which),
            Action::Drop => ControlCommand::Drop(which),
            Action::Forward => ControlCommand::Forward {
                which,
                to: to.to_string(),
                subject: "Copy of a message in the mxguard hold queue".into(),
            },
        };
        match control::run(state, command).await {
            Ok(text) => done.push(text),
            Err(why) => return Err(ActError { done, why }),
        }
    }
    Ok(done)
}

/// A hold-queue action that stopped part way.
#[derive(Debug)]
pub struct ActError {
    /// What was done before the refusal.
    pub done: Vec<String>,
    pub why: String,
}
