//! Definitions packages (SPEC §6, LiveUpdate): the signed, versioned sets
//! of signature files the scanner runs on, and the checks that decide
//! whether a package may replace the running one.
//!
//! A package is a directory, or a `.tar.gz` with the same files at its
//! root:
//!
//! - `manifest.toml`: sequence number, version, date and every signature
//!   file with its size and SHA-256 ([`Manifest`]);
//! - `manifest.sig`: the ed25519 signature over the exact bytes of
//!   `manifest.toml`, as one line of hex;
//! - the signature files, each listed in the manifest, and nothing else.
//!
//! Opening a package checks, in this order: the signature, the manifest's
//! syntax, then every file's presence, size and hash, then that no file is
//! unlisted. Any failure refuses the whole package with a [`DefsError`]
//! naming what is wrong, so the caller keeps the set it runs. Whether a
//! package is newer than the running set is [`check_newer`]'s decision.
//!
//! Everything here is synchronous and holds the package in memory, read
//! under a byte cap the caller chooses.

mod build;
mod error;
mod hex;
mod keys;
mod manifest;
mod package;
mod read;
mod source;
#[cfg(test)]
mod tests;

pub use build::{Signed, build, sign};
pub use error::DefsError;
pub use keys::{PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, keygen, public_key_of};
pub use manifest::{MANIFEST_FILE, Manifest, ManifestFile, SIGNATURE_FILE};
pub use package::{Package, check_newer, open, open_tar_gz};
pub use source::read_source;
