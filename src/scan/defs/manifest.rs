//! The manifest: what a package claims to hold, as TOML, covered by the
//! signature. Parsing checks everything that can be checked without the
//! files themselves (syntax, date, names, digests), so a package whose
//! description is wrong is refused before any file is looked at.
//!
//! ```toml
//! sequence = 42
//! version = "2025.06.01-1"
//! date = "2025-06-01T04:00:00Z"
//!
//! [[files]]
//! name = "main.ndb"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! size = 4
//! ```

use super::{DefsError, hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The manifest's file name in a package.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// The signature's file name in a package.
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// Names starting with this are the package's own; signature files may not
/// use them, so they can never be mistaken for the manifest.
const RESERVED_PREFIX: &str = "manifest.";

/// The signed description of a package: which definitions these are and
/// exactly which bytes they consist of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Grows with every package, so a gateway never goes back to older
    /// definitions (a replayed package is refused).
    pub sequence: u64,
    /// The publisher's name for this set, shown to administrators.
    pub version: String,
    /// When the package was built, RFC 3339.
    pub date: String,
    /// Every signature file, in name order.
    pub files: Vec<ManifestFile>,
}

/// One signature file as the publisher signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// A plain file name at the package's root.
    pub name: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Size of the content in bytes.
    pub size: u64,
}

impl Manifest {
    /// Parse the bytes of `manifest.toml` and check them.
    pub(super) fn parse(bytes: &[u8]) -> Result<Manifest, DefsError> {
        let text = std::str::from_utf8(bytes).map_err(|_| DefsError::malformed("it is not UTF-8 text"))?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| DefsError::malformed(toml_problem(text, &e)))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as `manifest.toml` text.
    pub(super) fn to_toml(&self) -> Result<String, DefsError> {
        toml::to_string(self).map_err(|e| DefsError::CannotBuild { reason: format!("manifest.toml: {e}") })
    }

    /// Refuse what a gateway could not use: an empty version, a date that
    /// is not RFC 3339, a file name that is not a plain name, a name listed
    /// twice, a digest that is not SHA-256 hex.
    pub(super) fn validate(&self) -> Result<(), DefsError> {
        if self.version.trim().is_empty() {
            return Err(DefsError::malformed("the version is empty"));
        }
        chrono::DateTime::parse_from_rfc3339(&self.date)
            .map_err(|_| DefsError::malformed(format!("the date {:?} is not an RFC 3339 date", self.date)))?;
        let mut seen = HashSet::new();
        for file in &self.files {
            check_file_name(&file.name)?;
            if !seen.insert(file.name.as_str()) {
                return Err(DefsError::malformed(format!("{} is listed twice", file.name)));
            }
            if !is_sha256_hex(&file.sha256) {
                return Err(DefsError::malformed(format!(
                    "the sha256 of {} is not 64 lower-case hex digits",
                    file.name
                )));
            }
        }
        Ok(())
    }
}

impl ManifestFile {
    /// The entry describing `data` under `name`.
    pub(super) fn describe(name: &str, data: &[u8]) -> Self {
        ManifestFile { name: name.to_string(), sha256: sha256_hex(data), size: data.len() as u64 }
    }

    /// Refuse `data` unless it is exactly what was signed. The size is
    /// compared first: it is cheaper and its message is plainer.
    pub(super) fn verify(&self, data: &[u8]) -> Result<(), DefsError> {
        let size = data.len() as u64;
        if size != self.size {
            return Err(DefsError::SizeMismatch { name: self.name.clone(), expected: self.size, found: size });
        }
        let found = sha256_hex(data);
        if found != self.sha256 {
            return Err(DefsError::HashMismatch { name: self.name.clone(), expected: self.sha256.clone(), found });
        }
        Ok(())
    }
}

/// The parser's message with the line it points at, on one line for logs
/// (the error's own display is a multi-line excerpt).
fn toml_problem(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let line = text.as_bytes()[..span.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
            format!("line {line}: {}", error.message())
        }
        None => error.message().to_string(),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data))
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Refuse a name that is not a single plain path component: a package's
/// names are joined to directories and must never lead outside them.
pub(super) fn check_entry_name(name: &str) -> Result<(), DefsError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name == "." || name == ".." || name.contains(['/', '\\']) {
        "it is a path, not a plain file name"
    } else if name.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(DefsError::BadName { name: name.to_string(), reason })
}

/// Refuse a name a signature file may not have: anything
/// [`check_entry_name`] refuses, and the names reserved for the manifest.
pub(super) fn check_file_name(name: &str) -> Result<(), DefsError> {
    check_entry_name(name)?;
    if is_reserved(name) {
        return Err(DefsError::BadName {
            name: name.to_string(),
            reason: "names starting with \"manifest.\" are reserved for the manifest and its signature",
        });
    }
    Ok(())
}

/// Whether `name` belongs to the package itself rather than to a
/// signature file.
pub(super) fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}
