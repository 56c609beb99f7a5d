//! The signing keys: making a pair, reading it back, signing a manifest
//! and checking a signature.
//!
//! Both key files hold one line of lower-case hex: `defs.key` the 32-byte
//! ed25519 secret (seed), `defs.pub` the 32-byte public key, which is also
//! the form the gateway's configuration takes. A signature is one line of
//! 128 hex digits.

use super::{DefsError, hex};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::OsRng;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The private key's file name in the directory given to [`keygen`]; it
/// stays on the machine that builds packages.
pub const PRIVATE_KEY_FILE: &str = "defs.key";
/// The public key's file name in the directory given to [`keygen`]; its
/// content is what every gateway verifies packages with.
pub const PUBLIC_KEY_FILE: &str = "defs.pub";

/// Make a new key pair from OS randomness as `dir/defs.key` (readable by
/// its owner only) and `dir/defs.pub`, creating `dir` if needed. Refuses
/// if either file exists: replacing a key would make every gateway
/// configured with the old one refuse the next package.
pub fn keygen(dir: &Path) -> Result<(), DefsError> {
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    for path in [&private, &public] {
        if path.symlink_metadata().is_ok() {
            return Err(DefsError::AlreadyExists { path: path.clone() });
        }
    }
    fs::create_dir_all(dir).map_err(|e| DefsError::io("create", dir, e))?;
    let key = SigningKey::generate(&mut OsRng);
    write_key(&private, 0o600, key.as_bytes())?;
    write_key(&public, 0o644, key.verifying_key().as_bytes())
}

/// Write `bytes` as a new file of one hex line; `create_new` closes the
/// race with another keygen between the check and the write.
fn write_key(path: &Path, mode: u32, bytes: &[u8]) -> Result<(), DefsError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| DefsError::io("create", path, e))?;
    writeln!(file, "{}", hex::encode(bytes)).map_err(|e| DefsError::io("write", path, e))
}

/// The private key in the file at `path`, as `keygen` wrote it.
pub(super) fn read_signing_key(path: &Path) -> Result<SigningKey, DefsError> {
    let text = fs::read(path).map_err(|e| DefsError::io("read", path, e))?;
    let secret = hex::decode(&text).ok_or_else(|| DefsError::BadKey {
        key: format!("private key file {}", path.display()),
        reason: "expected one line of 64 hex digits, as `mxguard defs keygen` writes",
    })?;
    Ok(SigningKey::from_bytes(&secret))
}

/// The public key, as `defs.pub` holds it, of the private key file at
/// `path`: what gateways must be configured with to accept what that key
/// signs.
pub fn public_key_of(path: &Path) -> Result<String, DefsError> {
    Ok(hex::encode(read_signing_key(path)?.verifying_key().as_bytes()))
}

/// The public key given as text (the content of `defs.pub`).
pub(super) fn parse_public_key(text: &str) -> Result<VerifyingKey, DefsError> {
    let bad = |reason| DefsError::BadKey { key: "configured public key".to_string(), reason };
    let bytes = hex::decode(text.as_bytes()).ok_or_else(|| bad("expected 64 hex digits, the content of defs.pub"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad("the digits are not an ed25519 public key"))
}

/// The signature over `message`, as the line stored in `manifest.sig`.
pub(super) fn sign(key: &SigningKey, message: &[u8]) -> String {
    format!("{}\n", hex::encode(&key.sign(message).to_bytes()))
}

/// Check `signature` (the bytes of `manifest.sig`) over `message`. Strict
/// verification also refuses the weak keys and non-canonical signatures
/// that plain ed25519 verification lets through.
pub(super) fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> Result<(), DefsError> {
    let bytes = hex::decode(signature).ok_or(DefsError::MalformedSignature)?;
    key.verify_strict(message, &Signature::from_bytes(&bytes)).map_err(|_| DefsError::SignatureMismatch)
}
