//! TLS for SMTP: the server certificate for STARTTLS (the configured PEM
//! files, or a self-signed one made at first start) and the client side
//! for opportunistic STARTTLS when delivering.

use crate::config::Config;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Where the certificate comes from and when those files last changed;
/// a different value means the acceptor is rebuilt.
type Source = (PathBuf, PathBuf, Option<SystemTime>, Option<SystemTime>);

/// Builds the STARTTLS acceptor and reloads it when the certificate
/// setting or files change.
pub struct TlsFiles {
    self_signed_dir: PathBuf,
    cached: Mutex<Option<(Source, TlsAcceptor)>>,
}

impl TlsFiles {
    /// Self-signed material, when needed, is kept in `self_signed_dir`.
    pub fn new(self_signed_dir: PathBuf) -> TlsFiles {
        TlsFiles { self_signed_dir, cached: Mutex::new(None) }
    }

    /// The acceptor for the current configuration; `None` (and STARTTLS not
    /// offered) if no certificate can be loaded or made.
    pub fn acceptor(&self, config: &Config) -> Option<TlsAcceptor> {
        let (cert, key) = if config.smtp.tls_cert.is_empty() {
            match self.ensure_self_signed(&config.smtp.hostname) {
                Ok(paths) => paths,
                Err(e) => {
                    tracing::error!("cannot create a self-signed certificate: {e}");
                    return None;
                }
            }
        } else {
            (PathBuf::from(&config.smtp.tls_cert), PathBuf::from(&config.smtp.tls_key))
        };
        let source = (cert.clone(), key.clone(), modified(&cert), modified(&key));
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, acceptor)) = cached.as_ref()
            && *s == source
        {
            return Some(acceptor.clone());
        }
        match server_config(&cert, &key) {
            Ok(sc) => {
                let acceptor = TlsAcceptor::from(Arc::new(sc));
                *cached = Some((source, acceptor.clone()));
                Some(acceptor)
            }
            Err(e) => {
                tracing::error!("cannot load TLS certificate {}: {e}", cert.display());
                None
            }
        }
    }

    fn ensure_self_signed(&self, hostname: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let cert = self.self_signed_dir.join("smtp-cert.pem");
        let key = self.self_signed_dir.join("smtp-key.pem");
        if !cert.exists() || !key.exists() {
            std::fs::create_dir_all(&self.self_signed_dir)?;
            let made = rcgen::generate_simple_self_signed(vec![hostname.to_string()])?;
            write_private(&key, made.key_pair.serialize_pem().as_bytes())?;
            std::fs::write(&cert, made.cert.pem())?;
            tracing::info!("made a self-signed STARTTLS certificate for {hostname} in {}", cert.display());
        }
        Ok((cert, key))
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

fn server_config(cert: &Path, key: &Path) -> anyhow::Result<ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)?.collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let sc = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(sc)
}

/// The connector for outbound opportunistic STARTTLS. Like Postfix's
/// `smtp_tls_security_level = may`, the peer's certificate is not verified:
/// encryption against passive listening, never a reason to not deliver.
pub fn opportunistic_connector() -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// The server name to present in SNI (an IP literal is allowed too).
pub fn server_name(host: &str) -> ServerName<'static> {
    ServerName::try_from(host.to_string()).unwrap_or_else(|_| ServerName::try_from("localhost").expect("valid name"))
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
