//! The built-in signature engine as a scanner, and the live signature set
//! it reads. The set is replaced whole (a definitions update, a changed
//! `defs_dir`); a scan holds the set it started with, so in-flight scans
//! finish on the old one. A set that could not be loaded makes every scan
//! fail — an empty database must never pass mail as clean.

use super::liveupdate::Installed;
use super::sigdb::Database;
use super::{Detection, ScanFailure, Scanner, Target};
use crate::config::DEFAULT_DEFS_DIR;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// A loaded signature set and where it came from.
pub struct Loaded {
    /// The directory (or package) it was read from.
    pub source: PathBuf,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
    pub db: Database,
    /// The sequence number and date of the definitions package installed
    /// in `source`, if any.
    pub sequence: Option<u64>,
    pub date: Option<String>,
}

impl Loaded {
    /// Read every signature file in `dir`; problems with single lines are
    /// logged, an unreadable directory is kept as the error.
    pub fn from_dir(dir: &Path) -> Loaded {
        let (db, error) = match Database::load_dir(dir) {
            Ok(db) => (db, None),
            Err(e) if dir == Path::new(DEFAULT_DEFS_DIR) && !dir.exists() => {
                tracing::warn!("{DEFAULT_DEFS_DIR} is not here ({e}): using the definitions built into mxguard");
                (Database::from_files(shipped()), None)
            }
            Err(e) => (Database::from_files(Vec::new()), Some(e)),
        };
        let report = db.report();
        for problem in &report.problems {
            tracing::warn!(dir = %dir.display(), "signature skipped: {problem}");
        }
        match &error {
            Some(e) => tracing::error!(dir = %dir.display(), "no signatures loaded: {e}"),
            None => tracing::info!(dir = %dir.display(), signatures = report.signatures, "signatures loaded"),
        }
        let installed = Installed::read(dir);
        Loaded {
            source: dir.to_path_buf(),
            error,
            db,
            sequence: installed.as_ref().map(|i| i.sequence),
            date: installed.map(|i| i.date),
        }
    }
}

/// The shipped `etc/defs`, built in: a gateway started elsewhere than its
/// installation directory with the default `defs_dir` still detects what
/// a fresh install does, instead of failing every scan. A `defs_dir` set
/// explicitly must exist.
fn shipped() -> Vec<(String, Vec<u8>)> {
    vec![("mxguard.ndb".into(), include_bytes!("../../etc/defs/mxguard.ndb").to_vec())]
}

/// The signature set in use.
pub struct Signatures {
    current: RwLock<Arc<Loaded>>,
    /// Held while a set loads, so concurrent workers load it once.
    loading: Mutex<()>,
}

impl Signatures {
    /// Start with the signatures in `dir`.
    pub fn new(dir: &Path) -> Signatures {
        Signatures::starting_with(Loaded::from_dir(dir))
    }

    /// Start with no set, for a gateway whose scanning is off: the first
    /// scan (once scanning is switched on) loads its directory.
    pub fn unloaded() -> Signatures {
        Signatures::starting_with(Loaded {
            source: PathBuf::new(),
            error: Some("scanning was off at start".into()),
            db: Database::from_files(Vec::new()),
            sequence: None,
            date: None,
        })
    }

    fn starting_with(loaded: Loaded) -> Signatures {
        Signatures { current: RwLock::new(Arc::new(loaded)), loading: Mutex::new(()) }
    }

    /// The set for `dir`: the current one, or `dir` loaded now if the
    /// configuration moved to another directory.
    pub fn for_dir(&self, dir: &Path) -> Arc<Loaded> {
        let current = self.current();
        if current.source == dir {
            return current;
        }
        let _one_at_a_time = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current();
        if current.source == dir {
            return current;
        }
        let loaded = Arc::new(Loaded::from_dir(dir));
        self.replace(loaded.clone());
        loaded
    }

    /// The set in use now.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Put a new set in use.
    pub fn replace(&self, loaded: Arc<Loaded>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
    }
}

/// The built-in engine over one signature set.
pub struct Builtin(pub Arc<Loaded>);

impl Scanner for Builtin {
    fn name(&self) -> &str {
        "builtin"
    }

    fn scan(&self, target: &Target<'_>) -> Result<Vec<Detection>, ScanFailure> {
        if let Some(e) = &self.0.error {
            let why = format!("no signatures from {}: {e}", self.0.source.display());
            return Err(ScanFailure { scanner: self.name().to_string(), why });
        }
        let names = self.0.db.scan(target.data, target.detected);
        Ok(names.into_iter().map(|name| Detection { name, scanner: self.name().to_string() }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::detect::FileType;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn target(data: &[u8]) -> Target<'_> {
        Target { data, detected: FileType::Text, path: "1", names: &[], declared_type: "" }
    }

    #[test]
    fn the_shipped_definitions_find_eicar() {
        let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/defs"));
        let signatures = Signatures::new(shipped);
        let builtin = Builtin(signatures.current());
        let found = builtin.scan(&target(EICAR)).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].scanner, "builtin");
        assert!(builtin.scan(&target(b"harmless")).unwrap().is_empty());
    }

    #[test]
    fn a_gateway_started_with_scanning_off_loads_its_set_when_first_needed() {
        let signatures = Signatures::unloaded();
        assert!(Builtin(signatures.current()).scan(&target(EICAR)).is_err(), "nothing loaded is not clean");
        let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/defs"));
        assert_eq!(Builtin(signatures.for_dir(shipped)).scan(&target(EICAR)).unwrap().len(), 1);
    }

    #[test]
    fn a_missing_directory_fails_every_scan_and_a_new_one_is_loaded_on_demand() {
        let signatures = Signatures::new(Path::new("/nonexistent/defs"));
        assert!(Builtin(signatures.current()).scan(&target(EICAR)).is_err(), "no database is not clean");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("own.ndb"), "Own.Test:0:*:68656c6c6f20776f726c64\n").unwrap();
        let loaded = signatures.for_dir(dir.path());
        assert_eq!(Builtin(loaded).scan(&target(b"say hello world")).unwrap()[0].name, "Own.Test");
        assert_eq!(signatures.current().source, dir.path(), "the new set is the current one");
    }
}
