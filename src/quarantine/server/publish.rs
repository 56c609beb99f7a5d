//! The Central Quarantine as a definitions publisher (SPEC §7, closing the
//! loop): its own signature set (hash signatures made from items) signed
//! as a package, published where a gateway's LiveUpdate reads it, and put
//! into the server's own definitions so its rescans detect what it
//! publishes.
//!
//! `publish_dir` holds the newest package in both forms a gateway's
//! `liveupdate.sources` takes:
//! - `current.tar.gz`, also served read-only at
//!   `https://HOST:PORT/defs/current.tar.gz` (no token: definitions are
//!   not secret, and a forged package fails its signature);
//! - `current`, a link to the directory `packages/<sequence>`, for
//!   gateways that read the directory (a share or a mirror of it).
//!
//! Both are replaced by a rename, so a reader sees the old package or the
//! new one, never half of one. The set is recorded first, in
//! `<storage_dir>/published.toml` with the sequence it is published as,
//! and published after; a publication an interruption left unfinished is
//! finished at the next start, so a recorded signature is never lost.

use super::config::Settings;
use super::service::Quarantine;
use crate::scan::defs::{self, Signed};
use crate::scan::liveupdate::{Installed, install};
use crate::scan::sigdb::Database;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// The record of the set, in the storage directory.
const SET_FILE: &str = "published.toml";
/// The signature file every package holds; a name of its own, so that
/// installing it on a gateway replaces no other publisher's file.
pub const SIGNATURE_FILE: &str = "quarantine.hsb";
/// The newest package as a `.tar.gz`, in `publish_dir` and under `/defs/`.
pub const CURRENT_PACKAGE: &str = "current.tar.gz";
/// The newest package as a directory (a link into [`PACKAGES`]).
pub const CURRENT_DIR: &str = "current";
/// Where the package directories are kept: the newest two, so a gateway
/// still reading the one before is not cut off.
const PACKAGES: &str = "packages";
/// Package directories kept.
const KEEP_PACKAGES: usize = 2;

/// Every signature the server publishes, and the sequence it publishes
/// them as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignatureSet {
    /// The sequence the set is published as; 0 before the first.
    pub sequence: u64,
    pub signatures: Vec<Signature>,
}

/// One hash signature made from an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The name gateways report when it matches.
    pub name: String,
    /// The SHA-256 and size of the bytes it matches, as in the `.hsb` line.
    pub sha256: String,
    pub size: u64,
    /// The first sequence that holds it.
    pub sequence: u64,
    /// Who created it, from which item, when (RFC 3339).
    pub actor: String,
    pub item: i64,
    pub created: String,
}

impl SignatureSet {
    /// The recorded set; empty before the first signature.
    pub fn load(settings: &Settings) -> Result<SignatureSet, String> {
        let path = settings.storage().join(SET_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(SignatureSet::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Record the set durably: a new file synced and renamed over the old.
    pub fn save(&self, settings: &Settings) -> Result<(), String> {
        let dir = settings.storage();
        let text = toml::to_string(self).map_err(|e| format!("cannot record the signature set: {e}"))?;
        replace_file(&dir, SET_FILE, text.as_bytes())
            .map_err(|e| format!("cannot write {SET_FILE} in {}: {e}", dir.display()))
    }

    /// The signature of the sample `sha256`, if it has one.
    pub fn find(&self, sha256: &str) -> Option<&Signature> {
        self.signatures.iter().find(|s| s.sha256 == sha256)
    }

    /// The set as a ClamAV `.hsb` file: `sha256:size:Name`, one a line.
    pub fn hsb(&self) -> String {
        self.signatures.iter().map(|s| format!("{}:{}:{}\n", s.sha256, s.size, s.name)).collect()
    }

    /// Whether the recorded set is published: the server's definitions run
    /// its sequence or a later one.
    pub fn is_published(&self, settings: &Settings) -> bool {
        installed(settings) >= self.sequence
    }
}

/// The sequence of the next publication: after the last one recorded and
/// after the definitions the server runs, so that neither the server nor
/// a gateway that updates from the same key takes it for an old package.
pub fn next_sequence(settings: &Settings, set: &SignatureSet) -> u64 {
    set.sequence.max(installed(settings)).saturating_add(1)
}

fn installed(settings: &Settings) -> u64 {
    Installed::read(&settings.definitions()).map_or(0, |i| i.sequence)
}

/// Where gateways fetch the newest package over HTTPS.
pub fn url(settings: &Settings) -> String {
    let port = settings.listen.parse::<std::net::SocketAddr>().map_or(2847, |a| a.port());
    format!("https://{}:{port}/defs/{CURRENT_PACKAGE}", settings.hostname)
}

/// Sign `set` as package `set.sequence`, write it into `publish_dir` and
/// install it into the server's definitions. The set must load as a
/// gateway would load it: a package a gateway refuses would stop every
/// later update too.
pub fn publish(settings: &Settings, set: &SignatureSet) -> Result<(), String> {
    let files = vec![(SIGNATURE_FILE.to_string(), set.hsb().into_bytes())];
    if let Some(problem) = Database::from_files(files.clone()).report().problems.first() {
        return Err(format!("the signature set does not load: {problem}"));
    }
    let version = format!("quarantine-{}", set.sequence);
    let signed = defs::sign(files.clone(), Path::new(&settings.signing_key), set.sequence, &version)
        .map_err(|e| format!("cannot sign the package: {e}"))?;
    let dir = settings.publish();
    write_current(&dir, &signed).map_err(|e| format!("cannot publish in {}: {e}", dir.display()))?;
    let defs = settings.definitions();
    install(&defs, &signed.manifest, &files)
        .map_err(|e| format!("cannot install the package into {}: {e}", defs.display()))?;
    tracing::info!(sequence = set.sequence, signatures = set.signatures.len(), url = %url(settings), "definitions published");
    Ok(())
}

/// Finish a publication an interrupted run recorded but did not finish.
pub fn recover(settings: &Settings) -> Result<(), String> {
    let set = SignatureSet::load(settings)?;
    if set.signatures.is_empty() || set.is_published(settings) {
        return Ok(());
    }
    if settings.signing_key.is_empty() {
        return Err(format!("sequence {} needs quarantine_server.signing_key", set.sequence));
    }
    publish(settings, &set)
}

/// Put `signed` in place as the current package, in both forms.
fn write_current(dir: &Path, signed: &Signed) -> Result<(), String> {
    let packages = dir.join(PACKAGES);
    fs::create_dir_all(&packages).map_err(|e| e.to_string())?;
    let sequence = signed.manifest.sequence.to_string();
    let package_dir = packages.join(&sequence);
    // What an interrupted run left half written.
    remove(&package_dir).map_err(|e| e.to_string())?;
    signed.write(&package_dir).map_err(|e| e.to_string())?;
    sync_dir(&packages).map_err(|e| e.to_string())?;
    // Named to end in .tar.gz: the name chooses the form written.
    let staged = dir.join(format!(".new.{CURRENT_PACKAGE}"));
    remove(&staged).map_err(|e| e.to_string())?;
    signed.write(&staged).map_err(|e| e.to_string())?;
    fs::rename(&staged, dir.join(CURRENT_PACKAGE)).map_err(|e| e.to_string())?;
    let link = dir.join(format!(".{CURRENT_DIR}.new"));
    remove(&link).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(Path::new(PACKAGES).join(&sequence), &link).map_err(|e| e.to_string())?;
    fs::rename(&link, dir.join(CURRENT_DIR)).map_err(|e| e.to_string())?;
    sync_dir(dir).map_err(|e| e.to_string())?;
    if let Err(e) = prune(&packages) {
        tracing::warn!(dir = %packages.display(), "old package directories not removed: {e}");
    }
    Ok(())
}

/// Remove all but the newest [`KEEP_PACKAGES`] package directories.
fn prune(packages: &Path) -> io::Result<()> {
    let mut sequences: Vec<u64> =
        fs::read_dir(packages)?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    sequences.sort_unstable_by(|a, b| b.cmp(a));
    for old in sequences.iter().skip(KEEP_PACKAGES) {
        fs::remove_dir_all(packages.join(old.to_string()))?;
    }
    Ok(())
}

/// Remove a file, link or directory; gone already is fine.
fn remove(path: &Path) -> io::Result<()> {
    let result = match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Write `name` in `dir` as a new file, synced, renamed over the old one.
fn replace_file(dir: &Path, name: &str, content: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let staged = dir.join(format!(".{name}.new"));
    let mut file = File::create(&staged)?;
    file.write_all(content)?;
    file.sync_all()?;
    fs::rename(&staged, dir.join(name))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `GET /defs/{name}`: a file at the top of `publish_dir`. Only regular
/// files with plain names (the packages) can be reached; links, the
/// package directories and files being written cannot.
pub async fn serve_file(State(q): State<Arc<Quarantine>>, UrlPath(name): UrlPath<String>) -> Response {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']);
    let path = q.settings.publish().join(&name);
    let is_file = plain && tokio::fs::symlink_metadata(&path).await.is_ok_and(|m| m.is_file());
    let content = if is_file { tokio::fs::read(&path).await.ok() } else { None };
    let Some(content) = content else {
        return (StatusCode::NOT_FOUND, "no such published file\n").into_response();
    };
    let kind = if name.ends_with(".tar.gz") { "application/gzip" } else { "application/octet-stream" };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Body::from(content),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> Settings {
        crate::scan::defs::keygen(&dir.join("keys")).unwrap();
        Settings {
            storage_dir: dir.join("store").display().to_string(),
            signing_key: dir.join("keys").join(defs::PRIVATE_KEY_FILE).display().to_string(),
            listen: "0.0.0.0:2847".into(),
            hostname: "cq.test".into(),
            ..Settings::default()
        }
    }

    fn signature(sha: char, sequence: u64) -> Signature {
        Signature {
            name: format!("Test.{sha}"),
            sha256: sha.to_string().repeat(64),
            size: 5,
            sequence,
            actor: "admin".into(),
            item: 1,
            created: "2025-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn each_publication_replaces_the_current_package_in_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        let key = defs::public_key_of(Path::new(&s.signing_key)).unwrap();
        let mut set = SignatureSet::default();
        for (n, sha) in ['a', 'b', 'c'].into_iter().enumerate() {
            set.sequence = next_sequence(&s, &set);
            assert_eq!(set.sequence, n as u64 + 1);
            set.signatures.push(signature(sha, set.sequence));
            set.save(&s).unwrap();
            assert!(!set.is_published(&s));
            publish(&s, &set).unwrap();
            assert!(set.is_published(&s));
        }
        assert_eq!(SignatureSet::load(&s).unwrap(), set);
        let publish_dir = s.publish();
        for form in [CURRENT_PACKAGE, CURRENT_DIR] {
            let package = defs::open(&publish_dir.join(form), &key, 1 << 20).unwrap();
            assert_eq!(package.manifest.sequence, 3);
            assert_eq!(package.files, [(SIGNATURE_FILE.to_string(), set.hsb().into_bytes())]);
        }
        let kept: Vec<_> = fs::read_dir(publish_dir.join(PACKAGES)).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(kept.len(), KEEP_PACKAGES, "{kept:?}");
        let installed = fs::read_to_string(s.definitions().join(SIGNATURE_FILE)).unwrap();
        assert_eq!(installed.lines().count(), 3);
        assert!(installed.starts_with(&format!("{}:5:Test.a\n", "a".repeat(64))));
        assert_eq!(url(&s), "https://cq.test:2847/defs/current.tar.gz");
    }

    #[test]
    fn an_unfinished_publication_is_finished_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        let set = SignatureSet { sequence: 4, signatures: vec![signature('d', 4)] };
        set.save(&s).unwrap();
        recover(&s).unwrap();
        assert!(set.is_published(&s));
        assert_eq!(next_sequence(&s, &set), 5);
        assert!(s.publish().join(CURRENT_PACKAGE).is_file());
        let unsigned = Settings { signing_key: String::new(), ..s.clone() };
        let later = SignatureSet { sequence: 5, signatures: vec![signature('d', 4), signature('e', 5)] };
        later.save(&unsigned).unwrap();
        assert!(recover(&unsigned).unwrap_err().contains("signing_key"));
    }

    #[test]
    fn a_bad_set_is_not_published() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        let mut bad = signature('f', 1);
        bad.sha256 = "not hex".into();
        let set = SignatureSet { sequence: 1, signatures: vec![bad] };
        assert!(publish(&s, &set).unwrap_err().contains("does not load"));
        assert!(!s.publish().join(CURRENT_PACKAGE).exists());
    }
}
