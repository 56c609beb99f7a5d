//! Making a package (`mxguard defs build`): describe the signature files
//! in a manifest, sign it, and write the whole as a directory or a
//! `.tar.gz`. The manifest and names are checked with the rules a gateway
//! applies, so a package that builds is one that gateways accept.

use super::DefsError;
use super::keys::{read_signing_key, sign as sign_manifest};
use super::manifest::{MANIFEST_FILE, Manifest, ManifestFile, SIGNATURE_FILE, check_file_name, is_reserved};
use super::read::{is_tar_gz, utf8_name};
use chrono::{SecondsFormat, Utc};
use ed25519_dalek::SigningKey;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Build a package from every regular file in `src` except `manifest.*`
/// (so a previous package's directory can be rebuilt), dated now, signed
/// with the private key file `key`. Written as a `.tar.gz` file when
/// `out`'s name ends in `.tar.gz`, else as a new directory; `out` must not
/// exist. Returns the manifest written, for the publisher's records.
pub fn build(src: &Path, key: &Path, sequence: u64, version: &str, out: &Path) -> Result<Manifest, DefsError> {
    let signing_key = read_signing_key(key)?;
    if out.symlink_metadata().is_ok() {
        return Err(DefsError::AlreadyExists { path: out.to_path_buf() });
    }
    let files = read_signature_files(src)?;
    if files.is_empty() {
        return Err(DefsError::CannotBuild { reason: format!("{} holds no signature files", src.display()) });
    }
    let signed = sign_with(&signing_key, files, sequence, version)?;
    signed.write(out)?;
    Ok(signed.manifest)
}

/// A package signed in memory: its manifest and every entry of the
/// package (manifest, signature, signature files), ready to be written in
/// either form. One signing serves both, so a directory and a `.tar.gz` of
/// the same package are the same package.
#[derive(Debug, Clone)]
pub struct Signed {
    /// What the package holds, for the publisher's records.
    pub manifest: Manifest,
    entries: Vec<(String, Vec<u8>)>,
}

/// Sign `files` (name and content; names as a package allows) as package
/// `sequence` named `version`, dated now, with the private key file `key`:
/// for a publisher whose signature files are made rather than read from a
/// directory, such as the Central Quarantine.
pub fn sign(files: Vec<(String, Vec<u8>)>, key: &Path, sequence: u64, version: &str) -> Result<Signed, DefsError> {
    if files.is_empty() {
        return Err(DefsError::CannotBuild { reason: "no signature files were given".into() });
    }
    for (name, _) in &files {
        check_file_name(name)?;
    }
    sign_with(&read_signing_key(key)?, files, sequence, version)
}

fn sign_with(
    signing_key: &SigningKey,
    mut files: Vec<(String, Vec<u8>)>,
    sequence: u64,
    version: &str,
) -> Result<Signed, DefsError> {
    files.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    let manifest = Manifest {
        sequence,
        version: version.to_string(),
        date: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        files: files.iter().map(|(name, data)| ManifestFile::describe(name, data)).collect(),
    };
    manifest.validate()?;
    let text = manifest.to_toml()?;
    let signature = sign_manifest(signing_key, text.as_bytes());
    let entries =
        [(MANIFEST_FILE.to_string(), text.into_bytes()), (SIGNATURE_FILE.to_string(), signature.into_bytes())]
            .into_iter()
            .chain(files)
            .collect();
    Ok(Signed { manifest, entries })
}

impl Signed {
    /// Write the package as a `.tar.gz` file when `out`'s name ends in
    /// `.tar.gz`, else as a new directory; `out` must not exist. Written
    /// whole and synced, since publishers rename it into place next.
    pub fn write(&self, out: &Path) -> Result<(), DefsError> {
        if out.symlink_metadata().is_ok() {
            return Err(DefsError::AlreadyExists { path: out.to_path_buf() });
        }
        let date = chrono::DateTime::parse_from_rfc3339(&self.manifest.date).map(|d| d.timestamp()).unwrap_or(0);
        let write = if is_tar_gz(out) {
            write_tar_gz(out, &self.entries, u64::try_from(date).unwrap_or(0))
        } else {
            write_dir(out, &self.entries)
        };
        write.map_err(|e| DefsError::io("write", out, e))
    }
}

/// The signature files in `src`, in any order: signing sorts them, so the
/// manifest is the same however the directory lists them.
fn read_signature_files(src: &Path) -> Result<Vec<(String, Vec<u8>)>, DefsError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(src).map_err(|e| DefsError::io("list", src, e))? {
        let entry = entry.map_err(|e| DefsError::io("list", src, e))?;
        let name = utf8_name(entry.file_name())?;
        let path = entry.path();
        let unreadable = |e| DefsError::io("read", &path, e);
        if is_reserved(&name) || !fs::metadata(&path).map_err(unreadable)?.is_file() {
            continue;
        }
        check_file_name(&name)?;
        files.push((name, fs::read(&path).map_err(unreadable)?));
    }
    Ok(files)
}

fn write_dir(out: &Path, entries: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    fs::create_dir(out)?;
    for (name, data) in entries {
        let mut file = File::create_new(out.join(name))?;
        file.write_all(data)?;
        file.sync_all()?;
    }
    File::open(out)?.sync_all()
}

fn write_tar_gz(out: &Path, entries: &[(String, Vec<u8>)], mtime: u64) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(GzEncoder::new(File::create_new(out)?, Compression::best()));
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        tar.append_data(&mut header, name, data.as_slice())?;
    }
    tar.into_inner()?.finish()?.sync_all()
}
