//! Free disk space and memory, checked every minute (SPEC §9 alerts "Low
//! disk space", "Low memory"): falling below `alerts.min_free_percent` is
//! an event once, and again only after it recovered.

use crate::config::{Config, ConfigHandle};
use crate::events::{Event, Events};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// Time between two checks.
const EVERY: Duration = Duration::from_secs(60);

/// Percentage of `dir`'s file system available to the gateway.
pub fn disk_free_percent(dir: &Path) -> Option<u8> {
    let s = rustix::fs::statvfs(dir).ok()?;
    (s.f_blocks > 0).then(|| (s.f_bavail.saturating_mul(100) / s.f_blocks).min(100) as u8)
}

/// Percentage of memory available (`MemAvailable` of `MemTotal`).
pub fn memory_free_percent() -> Option<u8> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    let (available, total) = (field("MemAvailable:")?, field("MemTotal:")?);
    (total > 0).then(|| (available * 100 / total).min(100) as u8)
}

/// What to watch: the log, queue and temporary directories, and memory.
fn readings(config: &Config) -> Vec<(String, Option<u8>)> {
    let queue = Path::new(&config.paths.queue_dir);
    let mut out: Vec<(String, Option<u8>)> = [Path::new(&config.paths.log_dir), queue, &queue.join("tmp")]
        .into_iter()
        .map(|dir| (dir.display().to_string(), disk_free_percent(dir)))
        .collect();
    out.push(("memory".into(), memory_free_percent()));
    out
}

/// Check forever; emit `LowResource` when something falls below the
/// threshold.
pub async fn watch(config: ConfigHandle, events: Events) {
    let mut low: HashSet<String> = HashSet::new();
    loop {
        let current = config.current();
        let threshold = current.alerts.min_free_percent;
        let found = tokio::task::spawn_blocking(move || readings(&current)).await.unwrap_or_default();
        for (what, free) in found {
            let Some(free_percent) = free else { continue };
            if free_percent >= threshold {
                low.remove(&what);
            } else if low.insert(what.clone()) {
                events.emit(Event::LowResource { what, free_percent });
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_and_memory_are_percentages() {
        let disk = disk_free_percent(Path::new("/")).expect("statvfs works on /");
        assert!(disk <= 100);
        assert!(disk_free_percent(Path::new("/nonexistent/dir")).is_none());
        let memory = memory_free_percent().expect("/proc/meminfo is readable");
        assert!(memory > 0 && memory <= 100, "{memory}");
    }
}
