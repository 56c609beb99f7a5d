//! The HTTPS certificate of the administration server (SPEC §8): the
//! self-signed one made at first start so HTTPS always works, the key and
//! request the Certificate Management page generates, the certificate the
//! CA returns installed over it, and the dates the page and Status show.
//!
//! Everything lives in one directory: `serving.pem` (the key and chain the
//! HTTPS listener presents) and `request.pem` (the key of the latest request
//! and the request itself). Each file holds its key together with its
//! certificate or request, after a few `Name: value` lines that PEM readers
//! ignore, so one rename replaces a whole pair and its dates at once.

use chrono::{DateTime, Datelike, Days, NaiveDate, SecondsFormat, SubsecRound, Utc};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, Ia5String, KeyPair, PrintableString,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const SERVING: &str = "serving.pem";
const REQUEST: &str = "request.pem";
const KEY_CREATED: &str = "Key created";
const INSTALLED: &str = "Installed";
const REQUEST_BEGIN: &str = "-----BEGIN CERTIFICATE REQUEST-----";
/// PKCS #9 emailAddress, the attribute CAs read the request's E-mail from.
const EMAIL_ADDRESS: [u64; 7] = [1, 2, 840, 113549, 1, 9, 1];
/// Long enough never to bother anyone; browsers warn about it regardless.
const SELF_SIGNED_DAYS: u64 = 3650;

/// The certificate directory (`<queue_dir>/admin-tls/`). The HTTPS listener
/// and the page each hold a clone and meet only through its files.
#[derive(Clone, Debug)]
pub struct CertStore {
    dir: PathBuf,
}

/// The Certificate Management form (deserialisable from it; a field not
/// posted counts as empty). Empty optional fields are left out of the
/// request; values are trimmed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrFields {
    pub common_name: String,
    pub organization: String,
    pub organizational_unit: String,
    pub locality: String,
    pub state: String,
    pub country: String,
    pub email: String,
}

/// A request waiting for the CA: the PEM text to copy and when its key was
/// made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRequest {
    pub request_pem: String,
    pub key_created: DateTime<Utc>,
}

/// What the Certificate Management and Status pages show about the
/// certificate HTTPS presents now.
#[derive(Clone, Debug)]
pub struct CertInfo {
    /// When the serving key was made.
    pub key_created: DateTime<Utc>,
    /// When a CA's certificate was installed; `None` ("Not installed") while
    /// the self-signed one made at first start is served.
    pub installed: Option<DateTime<Utc>>,
    pub expires: DateTime<Utc>,
    /// The subject as `CN=..., O=...`.
    pub subject: String,
    /// Issuer and subject are the same: browsers will warn.
    pub self_signed: bool,
    /// The latest request, until the certificate for it is installed.
    pub pending_request: Option<PendingRequest>,
}

/// Why a request could not be made or a certificate installed. Each message
/// is a sentence for the page, naming the field or the problem; nothing is
/// changed on disk when one is returned.
#[derive(Debug)]
pub enum CertError {
    /// A form field is missing or malformed; `field` is its label on the page.
    Field { field: &'static str, message: String },
    /// The pasted text holds no PEM certificate.
    NoCertificate,
    /// The pasted text or a stored file cannot be parsed.
    Unreadable { what: String, reason: String },
    /// No request is waiting, so a certificate has nothing to be matched with.
    NoRequest,
    /// The certificate's key is neither the latest request's nor, for a
    /// renewal, the installed certificate's.
    WrongKey,
    /// The certificate's validity has ended.
    Expired { not_after: DateTime<Utc> },
    /// rcgen or rustls refused to make or use a key or certificate.
    Crypto { action: &'static str, reason: String },
    /// A file or the directory could not be read or written.
    Io { action: &'static str, path: PathBuf, source: io::Error },
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Field { message, .. } => f.write_str(message),
            CertError::NoCertificate => f.write_str(
                "The text holds no certificate: paste the PEM text the CA returned, including the \
                 -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines.",
            ),
            CertError::Unreadable { what, reason } => write!(f, "{what} cannot be read: {reason}."),
            CertError::NoRequest => f.write_str(
                "No certificate request is waiting for this certificate: generate a request, send it to the CA, \
                 then install the certificate it returns.",
            ),
            CertError::WrongKey => f.write_str(
                "This certificate is not for the key of the latest request: install the certificate the CA \
                 issued for the request shown on this page.",
            ),
            CertError::Expired { not_after } => {
                write!(f, "This certificate expired on {}: ask the CA for a current one.", not_after.format("%Y-%m-%d"))
            }
            CertError::Crypto { action, reason } => write!(f, "Could not {action}: {reason}."),
            CertError::Io { action, path, source } => write!(f, "Could not {action} {}: {source}.", path.display()),
        }
    }
}

impl std::error::Error for CertError {}

impl CertStore {
    /// Nothing is read or made until first use.
    pub fn new(dir: impl Into<PathBuf>) -> CertStore {
        CertStore { dir: dir.into() }
    }

    /// The file the HTTPS listener serves from; it watches its modification
    /// time.
    pub(super) fn serving_path(&self) -> PathBuf {
        self.dir.join(SERVING)
    }

    /// Make a self-signed certificate for `hostname` (and `localhost`,
    /// 127.0.0.1, ::1) unless one is served already. Never replaces a file:
    /// an installation racing with it wins.
    pub(super) fn ensure_serving(&self, hostname: &str) -> Result<(), CertError> {
        let path = self.serving_path();
        if path.exists() {
            return Ok(());
        }
        let tmp = self.write_temp(SERVING, &self_signed(hostname)?)?;
        let linked = std::fs::hard_link(&tmp, &path);
        std::fs::remove_file(&tmp).map_err(|e| io_error("remove", &tmp, e))?;
        match linked {
            Ok(()) => {
                self.sync_dir()?;
                tracing::info!("made a self-signed HTTPS certificate for {hostname} in {}", path.display());
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_error("create", &path, e)),
        }
    }

    /// The TLS configuration for the served key and chain.
    pub(super) fn server_config(&self) -> Result<ServerConfig, CertError> {
        let path = self.serving_path();
        let text = read(&path)?;
        let chain = certificates(&text, &path.display().to_string())?;
        if chain.is_empty() {
            return Err(unreadable(path.display(), "it holds no certificate"));
        }
        let key = KeyPair::try_from(&private_key(&text, &path)?).map_err(|e| unreadable(path.display(), e))?;
        rustls_config(chain, &key)
    }

    /// Make a new private key (ECDSA P-256) and a PKCS #10 request for the
    /// form's subject, keep the key as the pending one (replacing an older
    /// request) and return the request to copy to the CA. What is served
    /// does not change until its certificate is installed.
    pub fn generate_request(&self, fields: &CsrFields) -> Result<PendingRequest, CertError> {
        let (common_name, subject) = fields.subject()?;
        let _one_change = one_change_at_a_time();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(crypto("make a private key"))?;
        let mut params = CertificateParams::new(vec![common_name]).map_err(crypto("make the certificate request"))?;
        params.distinguished_name = subject;
        let request_pem = params
            .serialize_request(&key)
            .and_then(|request| request.pem())
            .map_err(crypto("make the certificate request"))?;
        let key_created = now();
        let text = format!("{}{}{request_pem}", header(key_created, None), key.serialize_pem());
        self.replace(REQUEST, &text)?;
        Ok(PendingRequest { request_pem, key_created })
    }

    /// Install the certificate chain (PEM) the CA returned for the latest
    /// request, or a renewal for the installed key, as what HTTPS serves;
    /// the listener picks it up within a second. Refused, with nothing
    /// changed, if it is for another key, expired, or unusable by TLS.
    pub fn install(&self, pem: &str) -> Result<CertInfo, CertError> {
        let mut chain = certificates(pem, "The pasted text")?;
        if chain.is_empty() {
            return Err(CertError::NoCertificate);
        }
        let _one_change = one_change_at_a_time();
        let parsed = chain
            .iter()
            .enumerate()
            .map(|(i, der)| Parsed::from_der(der, &format!("Certificate {} of the pasted text", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        let pending = self.stored_key(REQUEST)?;
        let installed = self.stored_key(SERVING)?.filter(|k| k.installed.is_some());
        if pending.is_none() && installed.is_none() {
            return Err(CertError::NoRequest);
        }
        let (key, leaf) = [&pending, &installed]
            .into_iter()
            .flatten()
            .find_map(|key| parsed.iter().position(|p| p.spki == key.spki).map(|leaf| (key, leaf)))
            .ok_or(if pending.is_some() { CertError::WrongKey } else { CertError::NoRequest })?;
        if parsed[leaf].not_after <= Utc::now() {
            return Err(CertError::Expired { not_after: parsed[leaf].not_after });
        }
        // Some CAs send the chain root first; TLS wants the leaf first.
        let leaf_der = chain.remove(leaf);
        chain.insert(0, leaf_der);
        rustls_config(chain.clone(), &key.pair)?;
        let pems: Vec<_> = chain.iter().map(|der| pem::Pem::new("CERTIFICATE", der.as_ref())).collect();
        let text = format!(
            "{}{}{}",
            header(key.created, Some(now())),
            key.pair.serialize_pem(),
            pem::encode_many_config(&pems, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
        );
        self.replace(SERVING, &text)?;
        if pending.as_ref().is_some_and(|p| p.spki == key.spki) {
            let path = self.dir.join(REQUEST);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("remove", &path, e)),
                _ => self.sync_dir()?,
            }
        }
        tracing::info!(subject = %parsed[leaf].subject, "installed the HTTPS certificate");
        self.info()
    }

    /// The served certificate's dates and subject, and the pending request.
    pub fn info(&self) -> Result<CertInfo, CertError> {
        let path = self.serving_path();
        let what = path.display().to_string();
        let text = read(&path)?;
        let (key_created, installed) = dates(&text, &path)?;
        let chain = certificates(&text, &what)?;
        let leaf = chain.first().ok_or_else(|| unreadable(&what, "it holds no certificate"))?;
        let leaf = Parsed::from_der(leaf, &what)?;
        Ok(CertInfo {
            key_created,
            installed,
            expires: leaf.not_after,
            subject: leaf.subject,
            self_signed: leaf.self_signed,
            pending_request: self.pending_request()?,
        })
    }

    fn pending_request(&self) -> Result<Option<PendingRequest>, CertError> {
        let path = self.dir.join(REQUEST);
        let Some(text) = read_optional(&path)? else { return Ok(None) };
        let (key_created, _) = dates(&text, &path)?;
        let start = text.find(REQUEST_BEGIN).ok_or_else(|| unreadable(path.display(), "it holds no request"))?;
        Ok(Some(PendingRequest { request_pem: text[start..].to_string(), key_created }))
    }

    /// The key kept in `name` (with its dates), if that file exists.
    fn stored_key(&self, name: &str) -> Result<Option<StoredKey>, CertError> {
        let path = self.dir.join(name);
        let Some(text) = read_optional(&path)? else { return Ok(None) };
        let (created, installed) = dates(&text, &path)?;
        let pair = KeyPair::try_from(&private_key(&text, &path)?).map_err(|e| unreadable(path.display(), e))?;
        Ok(Some(StoredKey { spki: pair.public_key_der(), pair, created, installed }))
    }

    /// Replace `name` with `text`: written beside it, fsynced, renamed over
    /// it, the directory fsynced; never seen half written.
    fn replace(&self, name: &str, text: &str) -> Result<(), CertError> {
        let tmp = self.write_temp(name, text)?;
        let path = self.dir.join(name);
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error("replace", &path, e)
        })?;
        self.sync_dir()
    }

    /// A new private (0600) file in the directory (made, 0700, if missing)
    /// holding `text`, fsynced; its name is unique to this call.
    fn write_temp(&self, name: &str, text: &str) -> Result<PathBuf, CertError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| io_error("create the directory", &self.dir, e))?;
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".{name}.{}.{unique}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| file.write_all(text.as_bytes()).and_then(|()| file.sync_all()));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error("write", &tmp, e)
        })?;
        Ok(tmp)
    }

    fn sync_dir(&self) -> Result<(), CertError> {
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io_error("sync", &self.dir, e))
    }
}

impl CsrFields {
    /// The checked Common Name and the subject in the order OpenSSL writes
    /// it (C, ST, L, O, OU, CN, emailAddress). Upper bounds are RFC 5280's.
    fn subject(&self) -> Result<(String, DistinguishedName), CertError> {
        let common_name = text("Common Name", &self.common_name, 64, true)?.unwrap_or_default();
        let host = common_name.strip_prefix("*.").unwrap_or(&common_name);
        if ServerName::try_from(host).is_err() {
            return Err(field(
                "Common Name",
                "Common Name must be the host name browsers use to reach this server, such as mail.example.com.",
            ));
        }
        let mut subject = DistinguishedName::new();
        if let Some(country) = text("Country/Region", &self.country, 64, false)? {
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(field(
                    "Country/Region",
                    "Country/Region must be the two-letter ISO 3166 code, such as US or DE.",
                ));
            }
            let country = PrintableString::try_from(country.to_ascii_uppercase())
                .map_err(|e| field("Country/Region", format!("Country/Region is not usable: {e}.")))?;
            subject.push(DnType::CountryName, DnValue::PrintableString(country));
        }
        let state = text("State/Province", &self.state, 128, true)?.unwrap_or_default();
        subject.push(DnType::StateOrProvinceName, state);
        let optional = [
            (DnType::LocalityName, "City/Locality", &self.locality, 128),
            (DnType::OrganizationName, "Organization", &self.organization, 64),
            (DnType::OrganizationalUnitName, "Organizational Unit", &self.organizational_unit, 64),
        ];
        for (kind, label, value, max) in optional {
            if let Some(value) = text(label, value, max, false)? {
                subject.push(kind, value);
            }
        }
        subject.push(DnType::CommonName, common_name.clone());
        if let Some(email) = text("E-mail", &self.email, 255, false)? {
            let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.contains('@') && !email.contains(' ')
            });
            let ia5 = Ia5String::try_from(email.as_str()).ok().filter(|_| well_formed).ok_or_else(|| {
                field("E-mail", "E-mail must be an address such as postmaster@example.com, in ASCII.")
            })?;
            subject.push(DnType::CustomDnType(EMAIL_ADDRESS.to_vec()), DnValue::Ia5String(ia5));
        }
        Ok((common_name, subject))
    }
}

/// Held while a request is made or a certificate installed, so two
/// administrators at once cannot interleave (an install removing a request
/// made after it read the old one).
fn one_change_at_a_time() -> MutexGuard<'static, ()> {
    static CHANGES: Mutex<()> = Mutex::new(());
    CHANGES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A form value, trimmed; `None` if empty and optional.
fn text(label: &'static str, value: &str, max: usize, required: bool) -> Result<Option<String>, CertError> {
    let value = value.trim();
    if value.is_empty() {
        return if required { Err(field(label, format!("{label} is required."))) } else { Ok(None) };
    }
    if value.chars().count() > max {
        return Err(field(label, format!("{label} must be at most {max} characters.")));
    }
    if value.chars().any(char::is_control) {
        return Err(field(label, format!("{label} must be on one line, without control characters.")));
    }
    Ok(Some(value.to_string()))
}

/// A key kept in the directory, and the dates recorded with it.
struct StoredKey {
    pair: KeyPair,
    spki: Vec<u8>,
    created: DateTime<Utc>,
    installed: Option<DateTime<Utc>>,
}

/// What install and the pages need from one certificate.
struct Parsed {
    spki: Vec<u8>,
    not_after: DateTime<Utc>,
    subject: String,
    self_signed: bool,
}

impl Parsed {
    fn from_der(der: &CertificateDer<'_>, what: &str) -> Result<Parsed, CertError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| unreadable(what, e))?;
        let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
            .ok_or_else(|| unreadable(what, "its expiry date is out of range"))?;
        Ok(Parsed {
            spki: cert.public_key().raw.to_vec(),
            not_after,
            subject: cert.subject().to_string(),
            self_signed: cert.subject() == cert.issuer(),
        })
    }
}

/// A new self-signed key and certificate as `serving.pem` text. A host name
/// that cannot be in a certificate is left out (localhost still works).
fn self_signed(hostname: &str) -> Result<String, CertError> {
    let mut names: Vec<String> = Vec::new();
    for name in [hostname, "localhost", "127.0.0.1", "::1"] {
        if ServerName::try_from(name).is_ok() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    let action = "make the self-signed certificate";
    let mut params = CertificateParams::new(names.clone()).map_err(crypto(action))?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, names[0].clone());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let today = Utc::now().date_naive();
    let until = today.checked_add_days(Days::new(SELF_SIGNED_DAYS)).unwrap_or(today);
    set_validity(&mut params, today, until);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(crypto(action))?;
    let cert = params.self_signed(&key).map_err(crypto(action))?;
    Ok(format!("{}{}{}", header(now(), None), key.serialize_pem(), cert.pem()))
}

/// Valid from the start of `from` to the start of `until` (UTC). The dates
/// are valid, being chrono's, so rcgen's conversion cannot fail.
fn set_validity(params: &mut CertificateParams, from: NaiveDate, until: NaiveDate) {
    let ymd = |d: NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    (params.not_before, params.not_after) = (ymd(from), ymd(until));
}

fn rustls_config(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> Result<ServerConfig, CertError> {
    single_cert(chain, PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

/// The TLS configuration for the chain and key in PEM files a
/// configuration names (the quarantine server's `tls_cert` and `tls_key`),
/// in any key format rustls reads.
pub(super) fn files_config(cert: &Path, key: &Path) -> Result<ServerConfig, CertError> {
    let chain = certificates(&read(cert)?, &cert.display().to_string())?;
    if chain.is_empty() {
        return Err(unreadable(cert.display(), "it holds no certificate"));
    }
    single_cert(chain, private_key(&read(key)?, key)?)
}

fn single_cert(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<ServerConfig, CertError> {
    let action = "use the certificate for HTTPS";
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(crypto(action))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(crypto(action))
}

/// The `Name: value` lines before the PEM blocks.
fn header(key_created: DateTime<Utc>, installed: Option<DateTime<Utc>>) -> String {
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut text = format!("{KEY_CREATED}: {}\n", stamp(key_created));
    if let Some(installed) = installed {
        text.push_str(&format!("{INSTALLED}: {}\n", stamp(installed)));
    }
    text
}

/// The key-created (required) and installed dates from a file's header.
fn dates(text: &str, path: &Path) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), CertError> {
    let mut found = (None, None);
    for line in text.lines().take_while(|l| !l.starts_with("-----BEGIN")) {
        let Some((name, value)) = line.split_once(": ") else { continue };
        let slot = match name {
            KEY_CREATED => &mut found.0,
            INSTALLED => &mut found.1,
            _ => continue,
        };
        let date = DateTime::parse_from_rfc3339(value.trim()).map_err(|e| unreadable(path.display(), e))?;
        *slot = Some(date.with_timezone(&Utc));
    }
    let key_created = found.0.ok_or_else(|| unreadable(path.display(), format!("no \"{KEY_CREATED}\" line")))?;
    Ok((key_created, found.1))
}

/// Every certificate in PEM `text` (other blocks and text are skipped).
fn certificates(text: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    CertificateDer::pem_slice_iter(text.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| unreadable(what, e))
}

fn private_key(text: &str, path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| unreadable(path.display(), e))
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|e| io_error("read", path, e))
}

fn read_optional(path: &Path) -> Result<Option<String>, CertError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// Now, to the second: what the files record.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn field(field: &'static str, message: impl Into<String>) -> CertError {
    CertError::Field { field, message: message.into() }
}

fn unreadable(what: impl fmt::Display, reason: impl fmt::Display) -> CertError {
    CertError::Unreadable { what: what.to_string(), reason: reason.to_string() }
}

fn crypto<E: fmt::Display>(action: &'static str) -> impl Fn(E) -> CertError {
    move |e| CertError::Crypto { action, reason: e.to_string() }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> CertError {
    CertError::Io { action, path: path.to_path_buf(), source }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rcgen::{BasicConstraints, IsCa, PublicKeyData, SignatureAlgorithm};
    use rustls::pki_types::CertificateSigningRequestDer;
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::prelude::FromDer;

    /// A throwaway certificate authority that signs requests as a CA does:
    /// the request's subject and key, its own validity and issuer.
    pub(in crate::admin) struct TestCa {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    /// The public key out of a request, for rcgen to certify.
    struct RequestKey(Vec<u8>);

    impl PublicKeyData for RequestKey {
        fn der_bytes(&self) -> &[u8] {
            &self.0
        }

        fn algorithm(&self) -> &SignatureAlgorithm {
            &rcgen::PKCS_ECDSA_P256_SHA256
        }
    }

    impl TestCa {
        pub(in crate::admin) fn new() -> TestCa {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, "mxguard test CA");
            TestCa { cert: params.self_signed(&key).unwrap(), key }
        }

        pub(in crate::admin) fn der(&self) -> CertificateDer<'static> {
            self.cert.der().clone()
        }

        /// The certificate for `request_pem`, valid for `days` from
        /// yesterday (ended yesterday if negative), as PEM.
        pub(in crate::admin) fn sign(&self, request_pem: &str, days: i64) -> String {
            let der = CertificateSigningRequestDer::from_pem_slice(request_pem.as_bytes()).unwrap();
            let (_, request) = X509CertificationRequest::from_der(&der).unwrap();
            let info = &request.certification_request_info;
            let public_key = &info.subject_pki.subject_public_key.data;
            let verifies = rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .all
                .iter()
                .any(|alg| alg.verify_signature(public_key, info.raw, &request.signature_value.data).is_ok());
            assert!(verifies, "the request is signed by its own key");
            let names: Vec<String> =
                info.subject.iter_common_name().map(|cn| cn.as_str().unwrap().to_string()).collect();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name = DistinguishedName::new();
            for attribute in info.subject.iter_attributes() {
                let oid = attribute.attr_type().iter().unwrap().collect();
                params.distinguished_name.push(DnType::CustomDnType(oid), attribute.as_str().unwrap());
            }
            let yesterday = Utc::now().date_naive() - Days::new(1);
            let end = yesterday.checked_add_signed(chrono::Duration::days(days)).unwrap();
            set_validity(&mut params, yesterday.min(end - Days::new(1)), end);
            let cert = params.signed_by(&RequestKey(public_key.to_vec()), &self.cert, &self.key).unwrap();
            cert.pem()
        }

        pub(in crate::admin) fn pem(&self) -> String {
            self.cert.pem()
        }
    }

    pub(in crate::admin) fn fields(common_name: &str) -> CsrFields {
        CsrFields {
            common_name: common_name.into(),
            organization: "Example Ltd".into(),
            organizational_unit: "Mail".into(),
            locality: "Springfield".into(),
            state: " Oregon ".into(),
            country: "us".into(),
            email: "postmaster@example.com".into(),
        }
    }

    fn store() -> (tempfile::TempDir, CertStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path().join("admin-tls"));
        (dir, store)
    }

    fn serving(store: &CertStore) -> String {
        std::fs::read_to_string(store.serving_path()).unwrap()
    }

    #[test]
    fn first_use_makes_a_private_self_signed_certificate_once() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store) = store();
        store.ensure_serving("mx.test").unwrap();
        let mode = std::fs::metadata(store.serving_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds the private key");
        let info = store.info().unwrap();
        assert_eq!(info.installed, None, "Not installed");
        assert!(info.self_signed);
        assert_eq!(info.subject, "CN=mx.test");
        assert!(info.expires > Utc::now() + chrono::Duration::days(3000));
        assert!(store.server_config().is_ok());
        let first = serving(&store);
        store.ensure_serving("other.test").unwrap();
        assert_eq!(serving(&store), first, "an existing certificate is kept");
    }

    #[test]
    fn a_signed_request_installs_and_is_reported() {
        let (_dir, store) = store();
        store.ensure_serving("mx.test").unwrap();
        let request = store.generate_request(&fields("mail.example.com")).unwrap();
        assert!(request.request_pem.starts_with(REQUEST_BEGIN));
        let before = store.info().unwrap();
        assert_eq!(before.pending_request.as_ref(), Some(&request));
        assert!(before.self_signed, "a request alone changes nothing served");

        let ca = TestCa::new();
        // Root first, as some CAs send it: installed leaf first.
        // As a browser posts a text area: CRLF line ends.
        let chain = format!("{}{}", ca.pem(), ca.sign(&request.request_pem, 90)).replace('\n', "\r\n");
        let info = store.install(&chain).unwrap();
        assert!(info.installed.is_some_and(|t| (Utc::now() - t).num_seconds() < 60));
        assert_eq!(info.key_created, request.key_created);
        assert_eq!(info.expires.date_naive(), Utc::now().date_naive() + Days::new(89));
        assert_eq!(
            info.subject,
            "C=US, ST=Oregon, L=Springfield, O=Example Ltd, OU=Mail, CN=mail.example.com, \
             Email=postmaster@example.com"
        );
        assert!(!info.self_signed);
        assert_eq!(info.pending_request, None, "the request is used up");
        let served = certificates(&serving(&store), "served").unwrap();
        assert_eq!(served.len(), 2);
        assert_eq!(served[1], ca.der(), "the leaf is served first, then the CA");
        assert!(store.server_config().is_ok());

        let renewal = ca.sign(&request.request_pem, 365);
        let renewed = store.install(&renewal).unwrap();
        assert_eq!(renewed.key_created, request.key_created, "a renewal for the installed key is accepted");
        assert!(renewed.expires > info.expires);
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let (_dir, store) = store();
        store.ensure_serving("mx.test").unwrap();
        let ca = TestCa::new();
        let first = store.generate_request(&fields("mail.example.com")).unwrap();
        let for_first = ca.sign(&first.request_pem, 90);
        let _latest = store.generate_request(&fields("mail.example.com")).unwrap();
        let served = serving(&store);
        let e = store.install(&for_first).unwrap_err();
        assert!(matches!(e, CertError::WrongKey));
        assert!(e.to_string().starts_with("This certificate is not for the key of the latest request"), "{e}");
        assert_eq!(serving(&store), served, "nothing changed");

        let empty = CertStore::new(store.dir.join("other"));
        assert!(matches!(empty.install(&for_first), Err(CertError::NoRequest)));
        assert!(matches!(store.install("not a certificate"), Err(CertError::NoCertificate)));
    }

    #[test]
    fn an_expired_certificate_is_refused() {
        let (_dir, store) = store();
        let request = store.generate_request(&fields("mail.example.com")).unwrap();
        let expired = TestCa::new().sign(&request.request_pem, -1);
        let e = store.install(&expired).unwrap_err();
        assert!(matches!(e, CertError::Expired { .. }), "{e}");
        assert!(e.to_string().starts_with("This certificate expired on "), "{e}");
        assert!(!store.serving_path().exists());
    }

    #[test]
    fn request_fields_are_checked_by_name() {
        let (_dir, store) = store();
        let refused = |f: CsrFields| store.generate_request(&f).unwrap_err();
        let e = refused(CsrFields { state: "  ".into(), ..fields("mail.example.com") });
        assert!(matches!(e, CertError::Field { field: "State/Province", .. }));
        assert_eq!(e.to_string(), "State/Province is required.");
        let e = refused(CsrFields { country: "USA".into(), ..fields("mail.example.com") });
        assert!(matches!(e, CertError::Field { field: "Country/Region", .. }), "{e}");
        let e = refused(CsrFields { country: "U1".into(), ..fields("mail.example.com") });
        assert!(e.to_string().starts_with("Country/Region must be the two-letter"), "{e}");
        let e = refused(fields("my server"));
        assert!(matches!(e, CertError::Field { field: "Common Name", .. }), "{e}");
        let e = refused(CsrFields { email: "postmaster".into(), ..fields("mail.example.com") });
        assert!(matches!(e, CertError::Field { field: "E-mail", .. }), "{e}");
        let e = refused(CsrFields { organization: "x".repeat(65), ..fields("mail.example.com") });
        assert_eq!(e.to_string(), "Organization must be at most 64 characters.");
        assert!(!store.dir.join(REQUEST).exists(), "nothing is kept from a refused form");

        let minimal = CsrFields { common_name: "*.example.com".into(), state: "Oregon".into(), ..Default::default() };
        assert!(store.generate_request(&minimal).is_ok(), "only Common Name and State/Province are required");
    }
}
