//! The gateway's own life as events: started (after a crash or not),
//! stopped, and configuration changes. A run marker in the queue
//! directory tells a clean stop from a crash: it is written at start and
//! removed only by a clean stop, so finding it at start means the last
//! run died (`kill -9`, power loss, panic).

use crate::config::{Config, ConfigHandle};
use crate::events::{Event, Events};
use std::path::{Path, PathBuf};

/// The run marker: the pid of the running gateway.
fn marker(queue_dir: &Path) -> PathBuf {
    queue_dir.join("mxguard.pid")
}

/// Record that the gateway runs; true if the previous run did not stop
/// cleanly.
pub fn mark_running(queue_dir: &Path) -> std::io::Result<bool> {
    let path = marker(queue_dir);
    let crashed = path.exists();
    std::fs::write(&path, format!("{}\n", std::process::id()))?;
    Ok(crashed)
}

/// Record a clean stop.
pub fn mark_stopped(queue_dir: &Path) -> std::io::Result<()> {
    std::fs::remove_file(marker(queue_dir))
}

/// The top-level sections whose settings differ between `old` and `new`.
pub fn changed_sections(old: &Config, new: &Config) -> Vec<String> {
    let table = |c: &Config| toml::Table::try_from(c).unwrap_or_default();
    let (old, new) = (table(old), table(new));
    let mut names: Vec<String> = old.keys().chain(new.keys()).filter(|k| old.get(*k) != new.get(*k)).cloned().collect();
    names.sort();
    names.dedup();
    names
}

/// Emit an "Object modified" event for every configuration change that
/// takes effect (edits to the file, or from the administration pages).
pub async fn watch_changes(config: ConfigHandle, events: Events) {
    let mut changes = config.subscribe();
    let mut previous = changes.borrow_and_update().clone();
    while changes.changed().await.is_ok() {
        let current = changes.borrow_and_update().clone();
        let sections = changed_sections(&previous, &current);
        if !sections.is_empty() {
            let what = format!("configuration: {}", sections.join(", "));
            let author = config.take_author();
            let (user, client_ip) = author.map_or(("file".into(), String::new()), |a| (a.user, a.client_ip));
            events.emit(Event::ObjectModified { what, user, client_ip });
        }
        previous = current;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_left_behind_means_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!mark_running(dir.path()).unwrap(), "first run");
        assert!(mark_running(dir.path()).unwrap(), "the marker of a run that never stopped");
        mark_stopped(dir.path()).unwrap();
        assert!(!mark_running(dir.path()).unwrap(), "after a clean stop");
    }

    #[test]
    fn changed_sections_are_named() {
        let old = Config::default();
        let mut new = Config::default();
        new.delivery.retry_max_seconds += 1;
        new.antivirus.enabled = false;
        assert_eq!(changed_sections(&old, &new), ["antivirus", "delivery"]);
        assert!(changed_sections(&old, &old).is_empty());
    }
}
