//! The status line at the top of every quarantine page: how many items,
//! the room the samples take against the quota, and which definitions the
//! server rescans with, so an administrator sees at a glance whether the
//! quarantine is filling up or its definitions are behind.

use crate::quarantine::server::error::ApiError;
use crate::quarantine::server::service::{Quarantine, blocking};
use std::sync::Arc;

/// The figures as shown.
#[derive(Debug, Clone)]
pub struct Figures {
    pub items: u64,
    /// MB of distinct samples stored, one decimal.
    pub used: String,
    pub quota: String,
    /// Used as a whole percentage of the quota.
    pub percent: u64,
    /// One of the quota alerts of SPEC §7 is on.
    pub short: bool,
    /// The server's definitions: sequence and date, or why none are read.
    pub definitions: String,
}

/// The figures of `q` now.
pub async fn figures(q: &Arc<Quarantine>) -> Result<Figures, ApiError> {
    blocking(q, |q| {
        let f = q.figures()?;
        let number = |key: &str| f[key].as_u64().unwrap_or(0);
        let flag = |key: &str| f[key].as_bool().unwrap_or(false);
        let (stored, quota) = (number("stored_bytes"), number("quota_bytes"));
        let definitions = match q.definitions().current() {
            Ok(set) => match (set.sequence, &set.date) {
                (Some(sequence), Some(date)) => format!("sequence {sequence} of {date}"),
                (Some(sequence), None) => format!("sequence {sequence}"),
                (None, _) => "no sequence number".to_string(),
            },
            Err(why) => format!("not readable: {why}"),
        };
        Ok(Figures {
            items: number("items"),
            used: megabytes(stored),
            quota: megabytes(quota),
            percent: stored.saturating_mul(100).checked_div(quota).unwrap_or(0),
            short: flag("quota_low") || flag("disk_below_quota"),
            definitions,
        })
    })
    .await
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megabytes_have_one_decimal() {
        assert_eq!(megabytes(0), "0.0 MB");
        assert_eq!(megabytes(500 * 1024 * 1024), "500.0 MB");
        assert_eq!(megabytes(1536 * 1024), "1.5 MB");
    }
}
