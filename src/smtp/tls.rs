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
    /// offered) if no certificate can be loaded or made. Serialised, so
    /// sessions arriving together at first start make one certificate.
    pub fn acceptor(&self, config: &Config) -> Option<TlsAcceptor> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let self_signed = config.smtp.tls_cert.is_empty();
        let (cert, key) = if self_signed {
            match self.ensure_self_signed(&config.smtp.hostname, false) {
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
        if let Some((s, acceptor)) = cached.as_ref()
            && *s == source
        {
            return Some(acceptor.clone());
        }
        let loaded = server_config(&cert, &key).or_else(|e| {
            if !self_signed {
                return Err(e);
            }
            // Our own pair is damaged (a crash between writing its two
            // files, say): make a new one rather than go without TLS.
            tracing::warn!("self-signed certificate unusable ({e}); making a new one");
            self.ensure_self_signed(&config.smtp.hostname, true)?;
            server_config(&cert, &key)
        });
        match loaded {
            Ok(sc) => {
                let acceptor = TlsAcceptor::from(Arc::new(sc));
                *cached = Some(((cert.clone(), key.clone(), modified(&cert), modified(&key)), acceptor.clone()));
                Some(acceptor)
            }
            Err(e) => {
                tracing::error!("cannot load TLS certificate {}: {e}", cert.display());
                None
            }
        }
    }

    /// The self-signed pair, made if missing (or if `renew`). Each file is
    /// written to a temporary name and renamed, so it is never seen half
    /// written.
    fn ensure_self_signed(&self, hostname: &str, renew: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
        let cert = self.self_signed_dir.join("smtp-cert.pem");
        let key = self.self_signed_dir.join("smtp-key.pem");
        if renew || !cert.exists() || !key.exists() {
            std::fs::create_dir_all(&self.self_signed_dir)?;
            let made = rcgen::generate_simple_self_signed(vec![hostname.to_string()])?;
            let (key_tmp, cert_tmp) = (key.with_extension("pem.new"), cert.with_extension("pem.new"));
            write_private(&key_tmp, made.key_pair.serialize_pem().as_bytes())?;
            std::fs::write(&cert_tmp, made.cert.pem())?;
            std::fs::rename(&key_tmp, &key)?;
            std::fs::rename(&cert_tmp, &cert)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::default();
        c.smtp.hostname = "mx.test".into();
        c
    }

    #[test]
    fn sessions_arriving_together_share_one_certificate() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let files = Arc::new(TlsFiles::new(dir.path().join("tls")));
            let start = Arc::new(std::sync::Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (files, start) = (files.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        files.acceptor(&config()).is_some()
                    })
                })
                .collect();
            assert!(threads.into_iter().all(|t| t.join().unwrap()), "every session gets TLS");
            let (cert, key) = (dir.path().join("tls/smtp-cert.pem"), dir.path().join("tls/smtp-key.pem"));
            assert!(server_config(&cert, &key).is_ok(), "the pair on disk matches");
        }
    }

    #[test]
    fn a_damaged_self_signed_pair_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = TlsFiles::new(tls.clone());
        assert!(first.acceptor(&config()).is_some());
        let other = rcgen::generate_simple_self_signed(vec!["other".to_string()]).unwrap();
        std::fs::write(tls.join("smtp-key.pem"), other.key_pair.serialize_pem()).unwrap();
        assert!(TlsFiles::new(tls).acceptor(&config()).is_some(), "a mismatched pair is made anew");
    }
}
