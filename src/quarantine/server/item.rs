//! A quarantine item as the API shows it, what a gateway tells about a new
//! one, and an entry of its history. Times are RFC 3339 in UTC on the wire
//! and Unix seconds in the index.

use super::status::Status;
use crate::quarantine::sample::Metadata;
use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

/// What a gateway declares about an upload (its `X-` headers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Arrival {
    pub meta: Metadata,
    /// The gateway's own id for the item: a retried upload carries the same
    /// one and finds the item made the first time.
    pub sample_id: Option<String>,
}

/// One quarantined occurrence with its message metadata and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub id: i64,
    /// What the gateway declared; flat in the JSON, like the upload's
    /// headers.
    #[serde(flatten)]
    pub meta: Metadata,
    pub size: u64,
    pub sha256: String,
    pub sample_id: Option<String>,
    pub received: String,
    pub status: Status,
    pub status_changed: String,
    /// The sequence of the server's definitions that detect it, once a
    /// rescan found one (the reference product's "Definitions Needed").
    pub definitions_needed: Option<u64>,
    /// The last thing that went wrong with it; empty when nothing did.
    pub error: String,
    /// How many items share these bytes (this one included).
    pub sightings: u64,
}

/// One change of an item, with who made it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub time: String,
    pub actor: String,
    /// `None` for the entry that created the item.
    pub old_status: Option<Status>,
    pub new_status: Status,
    pub note: String,
}

/// Unix seconds as RFC 3339 (UTC, `Z`).
pub fn rfc3339(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The time now in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
