//! The storage quota (SPEC §7): the original bytes of the distinct samples
//! may not exceed `quota_mb`, and the two alerts: quota remaining below
//! 10 %, and disk free below what the quota still allows (the quota cannot
//! be honoured). Each alert is raised once when its condition begins (and
//! the end logged once), not at every upload.

use super::alert::Alerter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Below this share of the quota left, the low-quota alert is raised.
const LOW_PERCENT: u64 = 10;

/// The quota and the state of its alerts.
pub struct Quota {
    limit: u64,
    storage: PathBuf,
    low: AtomicBool,
    disk_short: AtomicBool,
}

impl Quota {
    /// A quota of `limit` bytes for the store in `storage`.
    pub fn new(limit: u64, storage: PathBuf) -> Quota {
        Quota { limit, storage, low: AtomicBool::new(false), disk_short: AtomicBool::new(false) }
    }

    /// Whether `extra` more bytes fit beside `used`.
    pub fn fits(&self, used: u64, extra: u64) -> bool {
        used.saturating_add(extra) <= self.limit
    }

    /// The quota in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Raise or clear the alerts for `used` bytes stored.
    pub fn watch(&self, used: u64, alerts: &Alerter) {
        let remaining = self.limit.saturating_sub(used);
        let low = remaining.saturating_mul(100) < self.limit.saturating_mul(LOW_PERCENT);
        if self.low.swap(low, Ordering::Relaxed) != low {
            if low {
                alerts.raise(
                    "Quarantine quota remaining is low",
                    format!(
                        "The quarantine quota remaining is low (under {LOW_PERCENT} %): {used} of {} bytes are used, \
                         {remaining} remain. Delete items, or raise quota_mb.",
                        self.limit
                    ),
                );
            } else {
                tracing::info!(used, quota = self.limit, "quarantine quota remaining is no longer low");
            }
        }
        let Some(free) = disk_free(&self.storage) else { return };
        let short = free < remaining;
        if self.disk_short.swap(short, Ordering::Relaxed) != short {
            if short {
                alerts.raise(
                    "Disk free space is below the quarantine quota",
                    format!(
                        "Disk free space is below the quarantine quota remaining: {free} bytes are free in {}, \
                         the quota allows {remaining} more. The quota cannot be honoured.",
                        self.storage.display()
                    ),
                );
            } else {
                tracing::info!(free, remaining, "disk free space is enough for the quarantine quota again");
            }
        }
    }

    /// Whether the low-quota alert is raised.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// Whether the disk-free alert is raised.
    pub fn is_disk_short(&self) -> bool {
        self.disk_short.load(Ordering::Relaxed)
    }
}

/// Bytes an unprivileged process may still write on the file system of
/// `dir`.
fn disk_free(dir: &std::path::Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::server::config::Settings;

    #[test]
    fn the_low_alert_follows_the_room_left() {
        let q = Quota::new(1000, std::env::temp_dir());
        let alerts = Alerter::new(&Settings::default());
        assert!(q.fits(900, 100) && !q.fits(901, 100));
        q.watch(500, &alerts);
        assert!(!q.is_low());
        q.watch(950, &alerts);
        assert!(q.is_low());
        q.watch(100, &alerts);
        assert!(!q.is_low());
        assert!(disk_free(&std::env::temp_dir()).is_some());
    }
}
