//! Content-addressed sample files: `samples/<2 hex>/<sha256>` under the
//! storage directory, in the inert form, so identical bytes are stored once
//! however many items share them. An upload is written to `incoming/` while
//! it arrives, hashed on the way, fsynced, and renamed into place only once
//! it has been verified; a crash leaves at most a temporary file, cleared at
//! the next start.

use super::inert::{self, InertWriter};
use crate::quarantine::sample::hex;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Uniquifies temporary names within this process.
static STAGED: AtomicU64 = AtomicU64::new(0);

/// The sample files.
pub struct Store {
    samples: PathBuf,
    incoming: PathBuf,
}

impl Store {
    /// The store under `dir`, made if missing; temporary files a previous
    /// run left behind are removed.
    pub fn open(dir: &Path) -> io::Result<Store> {
        let store = Store { samples: dir.join("samples"), incoming: dir.join("incoming") };
        std::fs::create_dir_all(&store.samples)?;
        std::fs::create_dir_all(&store.incoming)?;
        for entry in std::fs::read_dir(&store.incoming)? {
            std::fs::remove_file(entry?.path())?;
        }
        Ok(store)
    }

    /// A new temporary file to write an arriving sample into.
    pub fn stage(&self) -> io::Result<Stager> {
        let name = format!("{}-{}", std::process::id(), STAGED.fetch_add(1, Ordering::Relaxed));
        let path = self.incoming.join(name);
        let file = File::options().write(true).create_new(true).open(&path)?;
        let temp = TempFile(Some(path));
        Ok(Stager { out: InertWriter::new(BufWriter::new(file))?, hasher: Sha256::new(), size: 0, temp })
    }

    /// Put a verified sample in place, durably. False if those bytes were
    /// stored already (the staged copy is then dropped).
    pub fn keep(&self, mut staged: Staged) -> io::Result<bool> {
        let dest = self.path(&staged.sha256)?;
        if dest.exists() {
            return Ok(false);
        }
        let parent = dest.parent().unwrap_or(&self.samples);
        if !parent.exists() {
            std::fs::create_dir_all(parent)?;
            sync_dir(&self.samples)?;
        }
        let temp = staged.temp.0.take().unwrap_or_default();
        std::fs::rename(&temp, &dest)?;
        sync_dir(parent)?;
        Ok(true)
    }

    /// The original bytes of the sample `sha256`, which must be `size`
    /// long and hash to its name: damage is an error, never wrong bytes.
    pub fn read(&self, sha256: &str, size: u64) -> io::Result<Vec<u8>> {
        let file = File::open(self.path(sha256)?)?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(64 << 20));
        inert::reader(io::BufReader::new(file))?.take(size.saturating_add(1)).read_to_end(&mut bytes)?;
        if bytes.len() as u64 != size || hex(&Sha256::digest(&bytes)) != sha256 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("stored sample {sha256} is damaged")));
        }
        Ok(bytes)
    }

    /// Remove the sample `sha256` (gone already is fine).
    pub fn remove(&self, sha256: &str) -> io::Result<()> {
        let path = self.path(sha256)?;
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(path.parent().unwrap_or(&self.samples)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The SHA-256 of every stored sample.
    pub fn digests(&self) -> io::Result<Vec<String>> {
        let mut all = Vec::new();
        for dir in std::fs::read_dir(&self.samples)? {
            let dir = dir?.path();
            if dir.is_dir() {
                for file in std::fs::read_dir(&dir)? {
                    let name = file?.file_name().to_string_lossy().into_owned();
                    if is_digest(&name) {
                        all.push(name);
                    }
                }
            }
        }
        Ok(all)
    }

    fn path(&self, sha256: &str) -> io::Result<PathBuf> {
        if !is_digest(sha256) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{sha256:?} is not a SHA-256")));
        }
        Ok(self.samples.join(&sha256[..2]).join(sha256))
    }
}

/// An arriving sample being written: hashed, counted and stored inert as
/// the chunks come.
pub struct Stager {
    out: InertWriter<BufWriter<File>>,
    hasher: Sha256,
    size: u64,
    temp: TempFile,
}

impl Stager {
    /// Add the next chunk.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.out.write_all(chunk)
    }

    /// Everything has arrived: flush and fsync, and tell what it was.
    pub fn finish(self) -> io::Result<Staged> {
        let file = self.out.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok(Staged { sha256: hex(&self.hasher.finalize()), size: self.size, temp: self.temp })
    }
}

/// A complete sample in its temporary file, removed unless kept.
pub struct Staged {
    pub sha256: String,
    pub size: u64,
    temp: TempFile,
}

/// A temporary file removed when dropped, unless taken.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A SHA-256 as stored: 64 lower-case hexadecimal digits.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(store: &Store, bytes: &[u8]) -> Staged {
        let mut s = store.stage().unwrap();
        s.write(bytes).unwrap();
        s.finish().unwrap()
    }

    #[test]
    fn identical_bytes_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = staged(&store, b"same bytes");
        let sha = first.sha256.clone();
        assert_eq!(sha, hex(&Sha256::digest(b"same bytes")));
        assert!(store.keep(first).unwrap());
        assert!(!store.keep(staged(&store, b"same bytes")).unwrap());
        assert_eq!(store.digests().unwrap(), vec![sha.clone()]);
        assert_eq!(std::fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0, "no temporary left");
        assert_eq!(store.read(&sha, 10).unwrap(), b"same bytes");
        store.remove(&sha).unwrap();
        assert!(store.digests().unwrap().is_empty());
        store.remove(&sha).unwrap();
    }

    #[test]
    fn an_abandoned_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        drop(staged(&store, b"never verified"));
        let mut half = store.stage().unwrap();
        half.write(b"cut").unwrap();
        drop(half);
        assert_eq!(std::fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
    }

    #[test]
    fn damage_and_bad_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = staged(&store, b"original");
        let sha = s.sha256.clone();
        store.keep(s).unwrap();
        assert!(store.read(&sha, 7).is_err(), "wrong size");
        assert!(store.read("../../etc/passwd", 1).is_err());
        assert!(store.remove("zz").is_err());
    }
}
