//! The server's own definitions, which rescans use. The directory is read
//! at first use and again whenever its files change (a package installed by
//! LiveUpdate, a signature file dropped in by hand), so a rescan always runs
//! with what the directory holds now, without a restart.

use crate::scan::builtin::Loaded;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What the directory looked like: every file's name, length and
/// modification time, in name order.
type Stamp = Vec<(OsString, u64, Option<SystemTime>)>;

/// The signature directory and the set last loaded from it.
pub struct Definitions {
    dir: PathBuf,
    loaded: Mutex<Option<(Stamp, Arc<Loaded>)>>,
}

impl Definitions {
    /// Definitions read from `dir` when first needed.
    pub fn new(dir: PathBuf) -> Definitions {
        Definitions { dir, loaded: Mutex::new(None) }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set in the directory now, loaded again if its files changed.
    /// Blocking (loading parses every signature file). An unreadable
    /// directory is an error: a rescan without definitions proves nothing.
    pub fn current(&self) -> Result<Arc<Loaded>, String> {
        let stamp = stamp(&self.dir).map_err(|e| format!("definitions directory {}: {e}", self.dir.display()))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, set)) = loaded.as_ref()
            && *seen == stamp
        {
            return Ok(set.clone());
        }
        let set = Arc::new(Loaded::from_dir(&self.dir));
        if let Some(e) = &set.error {
            return Err(format!("definitions in {}: {e}", self.dir.display()));
        }
        *loaded = Some((stamp, set.clone()));
        Ok(set)
    }
}

fn stamp(dir: &Path) -> std::io::Result<Stamp> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        files.push((entry.file_name(), meta.len(), meta.modified().ok()));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_signature_file_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::new(dir.path().to_path_buf());
        let first = defs.current().unwrap();
        assert_eq!(first.db.report().signatures, 0);
        assert!(Arc::ptr_eq(&first, &defs.current().unwrap()), "unchanged: not loaded again");
        std::fs::write(dir.path().join("own.ndb"), "Own.Test:0:*:68656c6c6f\n").unwrap();
        assert_eq!(defs.current().unwrap().db.report().signatures, 1);
        assert!(Definitions::new(dir.path().join("missing")).current().is_err());
    }
}
