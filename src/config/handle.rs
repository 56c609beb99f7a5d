//! The live configuration: one shared snapshot, replaced whole when the file
//! changes, so a session or a message reads one consistent version.

use super::{Config, Problem};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How often the file is looked at; a hand edit applies within this delay.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Read and validate a configuration file. A missing file means the
/// built-in defaults, so `mxguard serve` starts with no file at all.
pub fn load_file(path: &Path) -> Result<Config, Vec<Problem>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Config::from_toml(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::from_toml(""),
        Err(e) => Err(vec![Problem {
            key: String::new(),
            value: path.display().to_string(),
            allowed: format!("{}: {e}", path.display()),
        }]),
    }
}

/// Shared access to the running configuration and its changes.
#[derive(Clone)]
pub struct ConfigHandle {
    path: Option<Arc<PathBuf>>,
    tx: Arc<watch::Sender<Arc<Config>>>,
}

impl ConfigHandle {
    /// A handle on a configuration that came from `path` (watched by
    /// [`ConfigHandle::watch_file`]) or, with `None`, from code.
    pub fn new(config: Config, path: Option<PathBuf>) -> Self {
        let (tx, _) = watch::channel(Arc::new(config));
        ConfigHandle { path: path.map(Arc::new), tx: Arc::new(tx) }
    }

    /// The snapshot to use for one unit of work.
    pub fn current(&self) -> Arc<Config> {
        self.tx.borrow().clone()
    }

    /// A receiver that wakes on every applied change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.tx.subscribe()
    }

    /// Replace the running configuration (already validated).
    pub fn apply(&self, config: Config) {
        self.tx.send_replace(Arc::new(config));
    }

    /// Poll the file and apply valid edits; an invalid edit is logged and
    /// the running configuration stays. Works when an editor renames a new
    /// file over the old one, since the path is re-read, not a descriptor.
    pub async fn watch_file(self) {
        let Some(path) = self.path.clone() else { return };
        let mut seen = fingerprint(&path);
        loop {
            tokio::time::sleep(WATCH_INTERVAL).await;
            let now = fingerprint(&path);
            if now == seen {
                continue;
            }
            seen = now;
            match load_file(&path) {
                Ok(config) if config == *self.current() => {}
                Ok(config) => {
                    tracing::info!(file = %path.display(), "configuration reloaded");
                    self.apply(config);
                }
                Err(problems) => {
                    for p in problems {
                        tracing::error!(file = %path.display(), "configuration change refused: {p}");
                    }
                }
            }
        }
    }
}

/// What identifies a version of the file: inode, size and modification time.
fn fingerprint(path: &Path) -> Option<(u64, u64, SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.modified().ok()?))
}
