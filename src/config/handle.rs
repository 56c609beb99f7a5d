//! The live configuration: one shared snapshot, replaced whole when the file
//! changes, so a session or a message reads one consistent version.

use super::{Config, Problem};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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

/// Who made a change, for its *Object modified* event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub user: String,
    pub client_ip: String,
}

/// Shared access to the running configuration and its changes.
#[derive(Clone)]
pub struct ConfigHandle {
    path: Option<Arc<PathBuf>>,
    tx: Arc<watch::Sender<Arc<Config>>>,
    /// The author of the change being applied; taken by the change
    /// watcher. Held across an update so edits never interleave.
    author: Arc<Mutex<Option<Author>>>,
}

impl ConfigHandle {
    /// A handle on a configuration that came from `path` (watched by
    /// [`ConfigHandle::watch_file`]) or, with `None`, from code.
    pub fn new(config: Config, path: Option<PathBuf>) -> Self {
        let (tx, _) = watch::channel(Arc::new(config));
        ConfigHandle { path: path.map(Arc::new), tx: Arc::new(tx), author: Arc::default() }
    }

    /// The file the configuration comes from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().map(PathBuf::as_path)
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

    /// An administrator's change: `edit` turns the running configuration
    /// into the new one (validated by the caller); the changed keys are
    /// saved to the file, then the change applies. With an error nothing
    /// is saved or applied.
    pub fn update(
        &self,
        author: Author,
        edit: impl FnOnce(&Config) -> Result<Config, Vec<Problem>>,
    ) -> Result<(), UpdateError> {
        let mut slot = self.author.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current();
        let new = edit(&old).map_err(UpdateError::Invalid)?;
        if new == *old {
            return Ok(());
        }
        if let Some(path) = &self.path {
            super::edit::save(path, &old, &new).map_err(|e| UpdateError::Save(format!("{}: {e:#}", path.display())))?;
        }
        *slot = Some(author);
        self.apply(new);
        Ok(())
    }

    /// Who made the change just applied (`None` for a hand edit of the file).
    pub fn take_author(&self) -> Option<Author> {
        self.author.lock().unwrap_or_else(|e| e.into_inner()).take()
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

/// Why an administrator's change was not made.
#[derive(Debug)]
pub enum UpdateError {
    /// The new values are refused, each problem naming its key.
    Invalid(Vec<Problem>),
    /// The file could not be written; nothing changed.
    Save(String),
}

/// What identifies a version of the file: inode, size and modification time.
fn fingerprint(path: &Path) -> Option<(u64, u64, SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.modified().ok()?))
}
