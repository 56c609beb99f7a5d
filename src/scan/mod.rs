//! Virus scanning (SPEC §6): every file the decomposer found goes through
//! the configured chain of scanners. A scanner answers with detections or
//! fails; a failure is never taken as clean.

pub mod builtin;
pub mod clamd;
pub mod defs;
pub mod health;
pub mod heuristics;
pub mod liveupdate;
pub mod repair;
pub mod sigdb;
pub mod vba;

use crate::mime::detect::FileType;

/// One file to scan, as the decomposer found it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub data: &'a [u8],
    /// What the content is (magic bytes), which selects signatures by
    /// target type.
    pub detected: FileType,
    /// Where the file sits in the message (`2:a.zip/b.exe`), for logs.
    pub path: &'a str,
    /// Every name the file claims.
    pub names: &'a [String],
    /// The declared MIME type (empty inside archives).
    pub declared_type: &'a str,
}

/// Something a scanner found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The signature or rule name, e.g. `Eicar-Test-Signature`.
    pub name: String,
    /// Which scanner found it (`builtin`, `clamd`, `heuristics`).
    pub scanner: String,
}

/// A scanner could not give an answer for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFailure {
    pub scanner: String,
    pub why: String,
}

/// A virus scanner.
pub trait Scanner: Send + Sync {
    /// Name for logs and detections.
    fn name(&self) -> &str;
    /// Scan one file: its detections (empty = clean) or a failure.
    fn scan(&self, target: &Target<'_>) -> Result<Vec<Detection>, ScanFailure>;
}
