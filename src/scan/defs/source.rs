//! Where a package comes from: one entry of the configured LiveUpdate
//! source list, a local path (an intranet mirror mounted or synced here)
//! or a URL (`http://`, `https://` or `file://`) naming a `.tar.gz`
//! package. Each kind of source is one arm of [`read_source`]; whatever
//! the transport, the package is verified the same way.

use super::package::{Package, open, open_tar_gz};
use super::{DefsError, hex};
use crate::quarantine::upload::trust_anchors;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use ureq::tls::{RootCerts, TlsConfig};

/// Read and verify the package at `source`: a local directory or
/// `.tar.gz` path, a `file://` URL to one, or an `http(s)://` URL of a
/// `.tar.gz` package. `ca` is the PEM file of the certificates an HTTPS
/// server is checked against instead of the public roots (a Central
/// Quarantine with its own certificate); empty = the public roots.
pub fn read_source(source: &str, public_key: &str, ca: &str, max_bytes: u64) -> Result<Package, DefsError> {
    let Some((scheme, rest)) = split_url(source) else {
        return open(Path::new(source), public_key, max_bytes);
    };
    match scheme.as_str() {
        "file" => open(&file_url_path(source, rest)?, public_key, max_bytes),
        "http" | "https" => download(source, public_key, ca, max_bytes),
        _ => Err(unsupported(source, "unknown URL scheme; use http://, https://, file:// or a local path")),
    }
}

/// Fetch a `.tar.gz` package (at most `max_bytes`, within five minutes)
/// and verify it as a local one. HTTPS servers are checked against the
/// certificates in `ca`, or the Mozilla root certificates.
fn download(url: &str, public_key: &str, ca: &str, max_bytes: u64) -> Result<Package, DefsError> {
    let failed = |reason: String| DefsError::Download { url: url.to_string(), reason };
    let roots = match ca {
        "" => RootCerts::WebPki,
        path => RootCerts::new_with_certs(&trust_anchors(path).map_err(failed)?),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .timeout_global(Some(Duration::from_secs(300)))
        .user_agent(concat!("mxguard/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let body = response.body_mut().with_config().limit(max_bytes).read_to_vec().map_err(|e| failed(e.to_string()))?;
    open_tar_gz(&body, public_key, max_bytes)
}

/// The lower-cased scheme and the rest, when `source` is a URL; `None` for
/// a path (which may contain `://` further on without being a URL).
fn split_url(source: &str) -> Option<(String, &str)> {
    let (scheme, rest) = source.split_once("://")?;
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme.then(|| (scheme.to_ascii_lowercase(), rest))
}

/// The local path of `file://[localhost]/path`, percent-decoded.
fn file_url_path(source: &str, rest: &str) -> Result<PathBuf, DefsError> {
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
        return Err(unsupported(source, "a file:// URL must name a local path (no host, or localhost)"));
    }
    if path.is_empty() {
        return Err(unsupported(source, "the file:// URL has no path"));
    }
    let bytes = percent_decode(path).ok_or_else(|| unsupported(source, "the URL has a bad %-escape"))?;
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

/// `text` with every `%XX` replaced by its byte; `None` for a `%` not
/// followed by two hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let [escaped] = hex::decode::<1>(&[bytes.next()?, bytes.next()?])?;
            decoded.push(escaped);
        } else {
            decoded.push(byte);
        }
    }
    Some(decoded)
}

fn unsupported(source: &str, reason: &'static str) -> DefsError {
    DefsError::UnsupportedSource { location: source.to_string(), reason }
}
