//! Why a definitions package, a key or a build was refused. Each message
//! is a sentence an administrator can act on without reading the source:
//! it names the file, the expected and found values, or the sequences.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a package was refused or could not be made. A refused package is
/// never partly used: the caller keeps the definitions it runs.
#[derive(Debug)]
pub enum DefsError {
    /// A file or directory could not be read, listed, created or written.
    Io { action: &'static str, path: PathBuf, source: io::Error },
    /// `keygen` or `build` would replace an existing file: keys and
    /// published packages are never overwritten by accident.
    AlreadyExists { path: PathBuf },
    /// A key file or configured public key is not an ed25519 key in the
    /// format `keygen` writes.
    BadKey { key: String, reason: &'static str },
    /// `build` was given nothing valid to package.
    CannotBuild { reason: String },
    /// A source is neither a local package nor a URL this build can fetch.
    UnsupportedSource { location: String, reason: &'static str },
    /// An HTTP(S) source did not answer with a package.
    Download { url: String, reason: String },
    /// The package holds more than the caller's byte cap (counted
    /// unpacked, so a compression bomb is stopped early).
    TooLarge { max_bytes: u64 },
    /// The `.tar.gz` cannot be decompressed or unpacked.
    BadArchive { reason: String },
    /// A package entry is a directory, link or device, where a package
    /// holds only regular files.
    NotAFile { name: String },
    /// A file name that could reach outside the package or clash with the
    /// manifest.
    BadName { name: String, reason: &'static str },
    /// `manifest.toml` or `manifest.sig` is absent.
    MissingManifest { file: &'static str },
    /// `manifest.sig` does not hold a signature at all.
    MalformedSignature,
    /// The signature does not verify: the manifest was altered, or signed
    /// with a key other than the configured one.
    SignatureMismatch,
    /// The (authentic) manifest cannot be understood.
    MalformedManifest { reason: String },
    /// A file the manifest lists is absent.
    MissingFile { name: String },
    /// The package holds a file the manifest does not list.
    ExtraFile { name: String },
    /// A file's size differs from the manifest's.
    SizeMismatch { name: String, expected: u64, found: u64 },
    /// A file's SHA-256 differs from the manifest's.
    HashMismatch { name: String, expected: String, found: String },
    /// The package is not newer than the running definitions.
    NotNewer { candidate: u64, running: u64 },
}

impl DefsError {
    /// An I/O failure while doing `action` ("read", "write"...) on `path`.
    pub(super) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        DefsError::Io { action, path: path.to_path_buf(), source }
    }

    /// A manifest that cannot be used, for `reason`.
    pub(super) fn malformed(reason: impl Into<String>) -> Self {
        DefsError::MalformedManifest { reason: reason.into() }
    }
}

impl fmt::Display for DefsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefsError::Io { action, path, source } => write!(f, "could not {action} {}: {source}", path.display()),
            DefsError::AlreadyExists { path } => {
                write!(
                    f,
                    "{} already exists and is never overwritten; move it away or choose another path",
                    path.display()
                )
            }
            DefsError::BadKey { key, reason } => write!(f, "the {key} is not a usable ed25519 key: {reason}"),
            DefsError::CannotBuild { reason } => write!(f, "cannot build a definitions package: {reason}"),
            DefsError::UnsupportedSource { location, reason } => {
                write!(f, "cannot read definitions from {location}: {reason}")
            }
            DefsError::Download { url, reason } => write!(f, "cannot download definitions from {url}: {reason}"),
            DefsError::TooLarge { max_bytes } => {
                write!(f, "the package unpacks to more than the limit of {max_bytes} bytes and is refused")
            }
            DefsError::BadArchive { reason } => write!(f, "the package archive is unreadable: {reason}"),
            DefsError::NotAFile { name } => {
                write!(f, "{name} in the package is not a regular file; a package holds only regular files")
            }
            DefsError::BadName { name, reason } => write!(f, "the file name {name:?} is refused: {reason}"),
            DefsError::MissingManifest { file } => {
                write!(f, "the package has no {file}; every package needs manifest.toml and its signature manifest.sig")
            }
            DefsError::MalformedSignature => {
                write!(f, "manifest.sig does not hold an ed25519 signature (one line of 128 hex digits)")
            }
            DefsError::SignatureMismatch => write!(
                f,
                "the signature in manifest.sig does not match manifest.toml under the configured public key: \
                 the manifest was altered after signing, or signed with another key"
            ),
            DefsError::MalformedManifest { reason } => write!(f, "manifest.toml is malformed: {reason}"),
            DefsError::MissingFile { name } => {
                write!(f, "{name} is listed in manifest.toml but missing from the package")
            }
            DefsError::ExtraFile { name } => write!(f, "{name} is in the package but not listed in manifest.toml"),
            DefsError::SizeMismatch { name, expected, found } => write!(
                f,
                "{name} is {found} bytes but manifest.toml says {expected}: the file was changed after signing"
            ),
            DefsError::HashMismatch { name, expected, found } => write!(
                f,
                "{name} has SHA-256 {found} but manifest.toml says {expected}: the file was changed after signing"
            ),
            DefsError::NotNewer { candidate, running } => write!(
                f,
                "the package has sequence {candidate}, not newer than the running definitions' sequence {running}"
            ),
        }
    }
}

impl std::error::Error for DefsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DefsError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
