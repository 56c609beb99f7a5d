//! The gateway's durable local quarantine directory (SPEC §6): each
//! quarantined file waits here as `<id>.bin` (its bytes) beside
//! `<id>.json` (what the Central Quarantine is told about it) until the
//! server has acknowledged it, across restarts and outages. An item exists
//! once its `.json` is in place: both files are written under temporary
//! names and fsynced, renamed into place (bytes first) and the directory
//! fsynced, so a crash leaves a whole item or none. Blocking file I/O:
//! async callers use the blocking pool.

use super::sample::{Metadata, hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tokio::sync::Notify;

/// Where items go under `paths.queue_dir`.
pub const DIR_NAME: &str = "quarantine";

/// A quarantined file's description, kept beside it: what the Central
/// Quarantine is told, and what this gateway needs to send it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    /// The item's ID (see [`Sample::item_id`]); the server de-duplicates
    /// retried uploads by it.
    pub id: String,
    #[serde(flatten)]
    pub meta: Metadata,
    pub size: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// The message's queue ID on this gateway.
    pub queue_id: String,
    /// When it was quarantined (RFC 3339).
    pub quarantined_at: String,
}

impl Sample {
    /// The item ID of the file at `mime_path` of message `queue_id` on
    /// `gateway`: distinct between gateways, and the same when a message
    /// is processed again (after a crash), so the file is kept and sent
    /// once. It sorts by the queue ID, which is time-ordered.
    pub fn item_id(queue_id: &str, gateway: &str, mime_path: &str) -> String {
        let queue_id: String = queue_id.chars().filter(char::is_ascii_alphanumeric).collect();
        let digest = Sha256::digest(format!("{gateway}\0{mime_path}"));
        format!("{queue_id}-{}", hex(&digest[..6]))
    }
}

/// The local quarantine directory.
#[derive(Debug)]
pub struct LocalQuarantine {
    dir: PathBuf,
    added: Notify,
}

impl LocalQuarantine {
    /// The quarantine in `dir` (nothing is read or written yet).
    pub fn new(dir: &Path) -> LocalQuarantine {
        LocalQuarantine { dir: dir.to_path_buf(), added: Notify::new() }
    }

    /// Create the directory if needed and remove the files a crash left
    /// half written. Call it before anything is quarantined.
    pub fn recover(&self) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let orphan = path.extension().is_some_and(|e| e == "bin") && !path.with_extension("json").exists();
            if orphan || path.extension().is_some_and(|e| e == "tmp") {
                tracing::info!(path = %path.display(), "removing a quarantine file a crash left incomplete");
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// The directory, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{id}.{extension}"))
    }

    /// Keep `data`, described by `sample`, durably; then wake the
    /// forwarder. An item with the same ID is replaced.
    pub fn put(&self, sample: &Sample, data: &[u8]) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(sample).map_err(io::Error::other)?;
        for (extension, content) in [("bin", data), ("json", &json[..])] {
            let tmp = self.path(&sample.id, &format!("{extension}.tmp"));
            let written = File::create(&tmp).and_then(|mut f| {
                f.write_all(content)?;
                f.sync_all()
            });
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
        fs::rename(self.path(&sample.id, "bin.tmp"), self.path(&sample.id, "bin"))?;
        fs::rename(self.path(&sample.id, "json.tmp"), self.path(&sample.id, "json"))?;
        File::open(&self.dir)?.sync_all()?;
        self.added.notify_one();
        Ok(())
    }

    /// The IDs of the items waiting, oldest first.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".json").map(str::to_string))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// An item's description and bytes.
    pub fn load(&self, id: &str) -> io::Result<(Sample, Vec<u8>)> {
        let sample = serde_json::from_slice(&fs::read(self.path(id, "json"))?).map_err(io::Error::other)?;
        Ok((sample, fs::read(self.path(id, "bin"))?))
    }

    /// Forget an item the server has: its description first, so a crash
    /// in between leaves only bytes, removed at the next start.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        fs::remove_file(self.path(id, "json"))?;
        match fs::remove_file(self.path(id, "bin")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Move an item that cannot be read out of the way, into `damaged/`,
    /// where an administrator can look at it; it is not sent again.
    pub fn set_aside(&self, id: &str) -> io::Result<PathBuf> {
        let damaged = self.dir.join("damaged");
        fs::create_dir_all(&damaged)?;
        for extension in ["bin", "json"] {
            match fs::rename(self.path(id, extension), damaged.join(format!("{id}.{extension}"))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(damaged)
    }

    /// Resolves once an item has been added since the last call.
    pub async fn added(&self) {
        self.added.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::sample::sha256_hex;

    fn sample(id: &str, data: &[u8]) -> Sample {
        let meta =
            Metadata { file_name: "eicar.com".into(), recipients: vec!["b@example.com".into()], ..Metadata::default() };
        Sample { id: id.into(), meta, size: data.len() as u64, sha256: sha256_hex(data), ..Sample::default() }
    }

    fn open(dir: &Path) -> LocalQuarantine {
        let store = LocalQuarantine::new(dir);
        store.recover().unwrap();
        store
    }

    #[test]
    fn items_survive_reopening_and_leave_no_trace_once_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.put(&sample("B-2", b"second"), b"second").unwrap();
        store.put(&sample("A-1", b"first"), b"first").unwrap();
        store.put(&sample("A-1", b"first"), b"first").unwrap();
        let store = open(dir.path());
        assert_eq!(store.list().unwrap(), ["A-1", "B-2"], "oldest first, the same item once");
        let (meta, data) = store.load("A-1").unwrap();
        assert_eq!((meta, data), (sample("A-1", b"first"), b"first".to_vec()));
        store.remove("A-1").unwrap();
        assert_eq!(store.list().unwrap(), ["B-2"]);
        store.remove("B-2").unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn opening_removes_what_a_crash_left_half_written() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("X-1.bin"), b"no description").unwrap();
        fs::write(dir.path().join("X-2.json.tmp"), b"{").unwrap();
        fs::write(dir.path().join("X-3.bin"), b"kept").unwrap();
        fs::write(dir.path().join("X-3.json"), serde_json::to_vec(&sample("X-3", b"kept")).unwrap()).unwrap();
        let store = open(dir.path());
        assert_eq!(store.list().unwrap(), ["X-3"]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn an_unreadable_item_is_set_aside_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fs::write(dir.path().join("Z-1.json"), b"not json").unwrap();
        fs::write(dir.path().join("Z-1.bin"), b"bytes").unwrap();
        assert!(store.load("Z-1").is_err());
        let damaged = store.set_aside("Z-1").unwrap();
        assert!(store.list().unwrap().is_empty());
        assert_eq!(fs::read(damaged.join("Z-1.bin")).unwrap(), b"bytes");
    }

    #[test]
    fn item_ids_are_stable_per_file_and_apart_per_gateway() {
        let id = Sample::item_id("0000ABC", "gw1.test", "2:a.zip/e.com");
        assert_eq!(id, Sample::item_id("0000ABC", "gw1.test", "2:a.zip/e.com"));
        assert!(id.starts_with("0000ABC-") && id.len() == "0000ABC-".len() + 12, "{id}");
        assert_ne!(id, Sample::item_id("0000ABC", "gw2.test", "2:a.zip/e.com"));
        assert_ne!(id, Sample::item_id("0000ABC", "gw1.test", "3"));
        assert!(!Sample::item_id("../x", "g", "1").contains('/'));
    }
}
