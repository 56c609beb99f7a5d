//! Making a package (`mxguard defs build`): describe the signature files
//! in a manifest, sign it, and write the whole as a directory or a
//! `.tar.gz`. The manifest and names are checked with the rules a gateway
//! applies, so a package that builds is one that gateways accept.

use super::DefsError;
use super::keys::{read_signing_key, sign};
use super::manifest::{MANIFEST_FILE, Manifest, ManifestFile, SIGNATURE_FILE, check_file_name, is_reserved};
use super::read::{is_tar_gz, utf8_name};
use chrono::{SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::{self, File};
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
    let now = Utc::now();
    let manifest = Manifest {
        sequence,
        version: version.to_string(),
        date: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        files: files.iter().map(|(name, data)| ManifestFile::describe(name, data)).collect(),
    };
    manifest.validate()?;
    let text = manifest.to_toml()?;
    let signature = sign(&signing_key, text.as_bytes());
    let entries: Vec<(&str, &[u8])> = [(MANIFEST_FILE, text.as_bytes()), (SIGNATURE_FILE, signature.as_bytes())]
        .into_iter()
        .chain(files.iter().map(|(name, data)| (name.as_str(), data.as_slice())))
        .collect();
    let write = if is_tar_gz(out) {
        write_tar_gz(out, &entries, u64::try_from(now.timestamp()).unwrap_or(0))
    } else {
        write_dir(out, &entries)
    };
    write.map_err(|e| DefsError::io("write", out, e))?;
    Ok(manifest)
}

/// The signature files in `src`, sorted by name so the manifest is the
/// same however the directory lists them.
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
    files.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    Ok(files)
}

fn write_dir(out: &Path, entries: &[(&str, &[u8])]) -> std::io::Result<()> {
    fs::create_dir(out)?;
    entries.iter().try_for_each(|(name, data)| fs::write(out.join(name), data))
}

fn write_tar_gz(out: &Path, entries: &[(&str, &[u8])], mtime: u64) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(GzEncoder::new(File::create_new(out)?, Compression::best()));
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        tar.append_data(&mut header, name, *data)?;
    }
    tar.into_inner()?.finish()?.sync_all()
}
