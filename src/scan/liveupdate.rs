//! LiveUpdate (SPEC §6): find the first source that answers with a valid
//! package, refuse it unless it is newer than what runs and all its
//! signatures load, install its files into the definitions directory and
//! swap the engine to the new set. On any refusal the running set stays.

use super::builtin::{Loaded, Signatures};
use super::defs::{self, Manifest};
use super::sigdb::Database;
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Largest package accepted, unpacked.
const MAX_PACKAGE_BYTES: u64 = 512 * 1024 * 1024;
/// Written into the definitions directory: what was installed last.
pub const STATE_FILE: &str = "liveupdate.toml";

/// The installed package, as recorded in [`STATE_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub sequence: u64,
    pub version: String,
    pub date: String,
}

impl Installed {
    /// What `dir` holds, if a package was ever installed there.
    pub fn read(dir: &Path) -> Option<Installed> {
        toml::from_str(&std::fs::read_to_string(dir.join(STATE_FILE)).ok()?).ok()
    }
}

/// What an update attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A newer package is installed and in use.
    Updated(Installed),
    /// The sources offer nothing newer than what runs (why not).
    UpToDate(String),
}

/// One update attempt with the current configuration.
pub fn update_now(config: &Config, signatures: &Signatures) -> Result<Outcome, String> {
    let l = &config.liveupdate;
    if l.sources.is_empty() {
        return Err("no liveupdate.sources configured".into());
    }
    let dir = Path::new(&config.antivirus.defs_dir);
    let running = Installed::read(dir).map(|i| i.sequence);
    let mut refused = Vec::new();
    let package =
        l.sources.iter().find_map(|source| match defs::read_source(source, &l.public_key, &l.ca, MAX_PACKAGE_BYTES) {
            Ok(p) => Some(p),
            Err(e) => {
                refused.push(format!("{source}: {e}"));
                None
            }
        });
    let Some(package) = package else { return Err(refused.join("; ")) };
    if let Err(e) = defs::check_newer(&package.manifest, running) {
        return Ok(Outcome::UpToDate(e.to_string()));
    }
    let trial = Database::from_files(package.files.clone());
    if let Some(problem) = trial.report().problems.first() {
        return Err(format!(
            "package {} refused: its signatures do not all load ({problem})",
            package.manifest.sequence
        ));
    }
    let installed = install(dir, &package.manifest, &package.files).map_err(|e| format!("cannot install: {e}"))?;
    signatures.replace(Arc::new(Loaded::from_dir(dir)));
    Ok(Outcome::Updated(installed))
}

/// Write the package's files into `dir`, each under a temporary name then
/// renamed, and the state file last: a gateway's LiveUpdate, and the
/// Central Quarantine putting what it publishes into its own definitions.
pub fn install(dir: &Path, manifest: &Manifest, files: &[(String, Vec<u8>)]) -> std::io::Result<Installed> {
    std::fs::create_dir_all(dir)?;
    let installed =
        Installed { sequence: manifest.sequence, version: manifest.version.clone(), date: manifest.date.clone() };
    let state = toml::to_string(&installed).map_err(std::io::Error::other)?;
    let all = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).chain([(STATE_FILE, state.as_bytes())]);
    for (name, data) in all {
        let tmp = dir.join(format!(".{name}.new"));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::detect::FileType;

    /// A signed package with `files` at `sequence`, and its public key.
    fn package(keys: &Path, out: &Path, sequence: u64, files: &[(&str, &str)]) -> String {
        let src = out.with_extension("src");
        std::fs::create_dir_all(&src).unwrap();
        for (name, text) in files {
            std::fs::write(src.join(name), text).unwrap();
        }
        defs::build(&src, &keys.join(defs::PRIVATE_KEY_FILE), sequence, &format!("v{sequence}"), out).unwrap();
        std::fs::read_to_string(keys.join(defs::PUBLIC_KEY_FILE)).unwrap().trim().to_string()
    }

    fn config(defs_dir: &Path, sources: &[&Path], key: &str) -> Config {
        let mut c = Config::default();
        c.antivirus.defs_dir = defs_dir.display().to_string();
        c.liveupdate.sources = sources.iter().map(|s| s.display().to_string()).collect();
        c.liveupdate.public_key = key.to_string();
        c
    }

    #[test]
    fn a_newer_package_is_installed_and_used_and_older_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        defs::keygen(&keys).unwrap();
        let defs_dir = dir.path().join("defs");
        let signatures = Signatures::new(&defs_dir);
        let v2 = dir.path().join("v2");
        let key = package(&keys, &v2, 2, &[("new.ndb", "Update.Test:0:*:7570646174656420736967\n")]);
        let missing = dir.path().join("nowhere");
        let c = config(&defs_dir, &[&missing, &v2], &key);

        let Ok(Outcome::Updated(installed)) = update_now(&c, &signatures) else { panic!("update refused") };
        assert_eq!((installed.sequence, installed.version.as_str()), (2, "v2"));
        assert_eq!(signatures.current().db.scan(b"an updated sig here", FileType::Text), ["Update.Test"]);
        assert_eq!(Installed::read(&defs_dir), Some(installed));
        let again = update_now(&c, &signatures);
        assert!(matches!(&again, Ok(Outcome::UpToDate(why)) if why.contains("sequence 2, not newer")), "{again:?}");

        let v1 = dir.path().join("v1");
        package(&keys, &v1, 1, &[("old.ndb", "Old.Test:0:*:6f6c64207369676e6174757265\n")]);
        let older = update_now(&config(&defs_dir, &[&v1], &key), &signatures);
        assert!(matches!(&older, Ok(Outcome::UpToDate(why)) if why.contains("sequence 1, not newer")), "{older:?}");
        assert!(!defs_dir.join("old.ndb").exists(), "an older package is not installed");
    }

    #[test]
    fn bad_packages_are_refused_and_the_running_set_stays() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        defs::keygen(&keys).unwrap();
        let defs_dir = dir.path().join("defs");
        std::fs::create_dir_all(&defs_dir).unwrap();
        std::fs::write(defs_dir.join("own.ndb"), "Own.Test:0:*:6f776e207369676e6174757265\n").unwrap();
        let signatures = Signatures::new(&defs_dir);

        let broken = dir.path().join("broken");
        let key = package(&keys, &broken, 5, &[("bad.ndb", "Bad.Test:0:*:zz-not-hex\n")]);
        let err = update_now(&config(&defs_dir, &[&broken], &key), &signatures).unwrap_err();
        assert!(err.contains("do not all load") && err.contains("bad.ndb"), "{err}");

        let other_keys = dir.path().join("other-keys");
        defs::keygen(&other_keys).unwrap();
        let forged = dir.path().join("forged");
        package(&other_keys, &forged, 6, &[("f.ndb", "Forged.Test:0:*:666f72676564207369676e\n")]);
        let err = update_now(&config(&defs_dir, &[&forged], &key), &signatures).unwrap_err();
        assert!(err.contains("signature"), "{err}");

        assert_eq!(signatures.current().db.scan(b"own signature", FileType::Text), ["Own.Test"], "the old set stays");
        assert_eq!(Installed::read(&defs_dir), None);
    }
}
