//! Opening a package: its entries are read under the byte cap, then
//! verified against the public key and the manifest. Only a package that
//! passes every check becomes a [`Package`]; the scanner never sees the
//! bytes of one that does not.

use super::DefsError;
use super::keys::{self, parse_public_key};
use super::manifest::{MANIFEST_FILE, Manifest, SIGNATURE_FILE};
use super::read::{self, Entries};
use ed25519_dalek::VerifyingKey;
use std::path::Path;

/// A verified package held in memory: its manifest and the signature
/// files' bytes, ready for the signature engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub manifest: Manifest,
    /// Every signature file's name and content, in the manifest's order.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Read and verify the package at `path`, a directory or a `.tar.gz`
/// file, with `public_key` (the content of `defs.pub`). At most
/// `max_bytes` are read, counted after decompression.
pub fn open(path: &Path, public_key: &str, max_bytes: u64) -> Result<Package, DefsError> {
    let key = parse_public_key(public_key)?;
    verify(read::read_path(path, max_bytes)?, &key)
}

/// Read and verify a `.tar.gz` package already in memory (a body fetched
/// over HTTP), as [`open`] does for a file.
pub fn open_tar_gz(bytes: &[u8], public_key: &str, max_bytes: u64) -> Result<Package, DefsError> {
    let key = parse_public_key(public_key)?;
    verify(read::read_tar_gz(bytes, max_bytes)?, &key)
}

/// Refuse a `candidate` that is not newer than the running definitions
/// (`None` when none run yet), so an old package, replayed by a mirror or
/// an attacker, can never roll the scanner back.
pub fn check_newer(candidate: &Manifest, running_sequence: Option<u64>) -> Result<(), DefsError> {
    match running_sequence {
        Some(running) if candidate.sequence <= running => {
            Err(DefsError::NotNewer { candidate: candidate.sequence, running })
        }
        _ => Ok(()),
    }
}

/// The package in `entries` if the signature holds over the manifest's
/// exact bytes, the manifest parses, and the files are exactly the listed
/// ones with the listed sizes and hashes. The manifest is only parsed once
/// it is known to be authentic.
fn verify(mut entries: Entries, key: &VerifyingKey) -> Result<Package, DefsError> {
    let manifest_bytes = take_manifest_part(&mut entries, MANIFEST_FILE)?;
    let signature = take_manifest_part(&mut entries, SIGNATURE_FILE)?;
    keys::verify(key, &manifest_bytes, &signature)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let mut files = Vec::with_capacity(manifest.files.len());
    for listed in &manifest.files {
        let data = entries.remove(&listed.name).ok_or_else(|| DefsError::MissingFile { name: listed.name.clone() })?;
        listed.verify(&data)?;
        files.push((listed.name.clone(), data));
    }
    if let Some(name) = entries.into_keys().next() {
        return Err(DefsError::ExtraFile { name });
    }
    Ok(Package { manifest, files })
}

fn take_manifest_part(entries: &mut Entries, file: &'static str) -> Result<Vec<u8>, DefsError> {
    entries.remove(file).ok_or(DefsError::MissingManifest { file })
}
