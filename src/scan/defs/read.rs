//! Reading a package's entries into memory, from a directory or a
//! `.tar.gz`, before anything is verified. Nothing read here is trusted:
//! no declared size (tar header, file length) decides an allocation, every
//! byte counts against one cap for the whole package (counted after
//! decompression), and every entry name is checked to be a plain name.

use super::DefsError;
use super::manifest::check_entry_name;
use flate2::read::GzDecoder;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

/// A package's entries by name, before verification.
pub(super) type Entries = BTreeMap<String, Vec<u8>>;

/// Whether `path` names a `.tar.gz` package rather than a directory.
pub(super) fn is_tar_gz(path: &Path) -> bool {
    path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.ends_with(".tar.gz"))
}

/// The entries of the package at `path`: a directory or a `.tar.gz` file.
pub(super) fn read_path(path: &Path, max_bytes: u64) -> Result<Entries, DefsError> {
    let metadata = fs::metadata(path).map_err(|e| DefsError::io("read", path, e))?;
    if metadata.is_dir() {
        read_dir(path, max_bytes)
    } else if is_tar_gz(path) {
        read_tar_gz(File::open(path).map_err(|e| DefsError::io("read", path, e))?, max_bytes)
    } else {
        Err(DefsError::UnsupportedSource {
            location: path.display().to_string(),
            reason: "it is neither a directory nor a .tar.gz file",
        })
    }
}

/// The entries of a package directory: every entry must be a regular file
/// (links are followed).
fn read_dir(dir: &Path, max_bytes: u64) -> Result<Entries, DefsError> {
    let budget = Budget::new(max_bytes);
    let mut entries = Entries::new();
    for entry in fs::read_dir(dir).map_err(|e| DefsError::io("list", dir, e))? {
        let entry = entry.map_err(|e| DefsError::io("list", dir, e))?;
        let name = utf8_name(entry.file_name())?;
        check_entry_name(&name)?;
        let path = entry.path();
        let unreadable = |e| DefsError::io("read", &path, e);
        if !fs::metadata(&path).map_err(unreadable)?.is_file() {
            return Err(DefsError::NotAFile { name });
        }
        let mut data = Vec::new();
        let file = File::open(&path).map_err(unreadable)?;
        budget.reader(file).read_to_end(&mut data).map_err(|e| budget.error(e, unreadable))?;
        entries.insert(name, data);
    }
    Ok(entries)
}

/// The entries of a gzip-compressed tar with the files at its root, read
/// from `compressed` as a stream.
pub(super) fn read_tar_gz(compressed: impl Read, max_bytes: u64) -> Result<Entries, DefsError> {
    let budget = Budget::new(max_bytes);
    let corrupt = |e: io::Error| budget.error(e, |e| DefsError::BadArchive { reason: e.to_string() });
    let mut archive = tar::Archive::new(budget.reader(GzDecoder::new(compressed)));
    let mut entries = Entries::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|e| not_utf8(&String::from_utf8_lossy(e.as_bytes())))?;
        check_entry_name(&name)?;
        if !entry.header().entry_type().is_file() {
            return Err(DefsError::NotAFile { name });
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(corrupt)?;
        if entries.contains_key(&name) {
            return Err(DefsError::BadArchive { reason: format!("{name} appears twice") });
        }
        entries.insert(name, data);
    }
    Ok(entries)
}

/// A directory entry's name, refused unless it is UTF-8 (manifest names
/// are TOML strings).
pub(super) fn utf8_name(name: OsString) -> Result<String, DefsError> {
    name.into_string().map_err(|name| not_utf8(&name.to_string_lossy()))
}

fn not_utf8(lossy: &str) -> DefsError {
    DefsError::BadName { name: lossy.to_string(), reason: "it is not UTF-8" }
}

/// The bytes a package may still take. Shared (through `Cell`s) by every
/// reader of one package, and remembers whether a read failed because the
/// cap was reached, so that failure is reported as such and not as
/// whatever error the tar reader makes of it.
struct Budget {
    max_bytes: u64,
    left: Cell<u64>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn new(max_bytes: u64) -> Self {
        Budget { max_bytes, left: Cell::new(max_bytes), exceeded: Cell::new(false) }
    }

    /// `inner`, drawing on this budget.
    fn reader<R: Read>(&self, inner: R) -> Capped<'_, R> {
        Capped { inner, budget: self }
    }

    /// The error for a failed read: [`DefsError::TooLarge`] if the cap
    /// caused it, else `otherwise(error)`.
    fn error(&self, error: io::Error, otherwise: impl FnOnce(io::Error) -> DefsError) -> DefsError {
        if self.exceeded.get() { DefsError::TooLarge { max_bytes: self.max_bytes } } else { otherwise(error) }
    }
}

/// A reader that fails once its budget is spent and more bytes come.
struct Capped<'a, R> {
    inner: R,
    budget: &'a Budget,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.left.get();
        // One byte more than is left, so reaching the cap exactly is fine
        // and going past it is seen.
        let allowed = usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX);
        let len = buf.len().min(allowed);
        let n = self.inner.read(&mut buf[..len])?;
        let n_bytes = n as u64;
        if n_bytes > left {
            self.budget.exceeded.set(true);
            return Err(io::Error::other("package size cap reached"));
        }
        self.budget.left.set(left - n_bytes);
        Ok(n)
    }
}
