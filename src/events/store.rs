//! The durable event store behind the reports (SPEC §10). [`EventStore`]
//! is what the writer, the retention job and the reports need from a
//! store, so a shared PostgreSQL store (SPEC §11) can replace the local
//! SQLite file without touching them.

mod retention;
mod sqlite;
mod writer;

pub use retention::{purge, retention_job};
pub use sqlite::SqliteStore;
pub use writer::spawn_writer;

use super::Record;
use crate::report::{DetailQuery, Summary};

/// Storage of event [`Record`]s and the report queries over them. Times
/// are ms since the epoch, UTC; ranges are `from <= time < to`.
pub trait EventStore {
    /// Store `records` together: all or none.
    fn insert(&mut self, records: &[Record]) -> anyhow::Result<()>;

    /// The Summary report over `from <= time < to`.
    fn summary(&self, from: i64, to: i64) -> anyhow::Result<Summary>;

    /// The events `query` selects, in time order.
    fn detail(&self, query: &DetailQuery) -> anyhow::Result<Vec<Record>>;

    /// Messages accepted and infections found per hour over
    /// `from <= time < to`: `(hour start in ms, accepted, infections)`,
    /// hours without either left out. Feeds the Status page charts.
    fn hourly(&self, from: i64, to: i64) -> anyhow::Result<Vec<(i64, u64, u64)>>;

    /// Delete every event older than `before`; returns how many went.
    fn purge_before(&mut self, before: i64) -> anyhow::Result<u64>;
}
