//! HTTPS for the administration server: a listener `axum::serve` can use,
//! which does every TLS handshake in its own task (a slow or silent client
//! holds up nobody) with the certificate of the [`CertStore`] (or of PEM
//! files a configuration names), reloaded when its file changes so an
//! installed certificate takes effect without a restart.

use super::certs::{CertError, CertStore, files_config};
use axum::Router;
use axum::serve::{Listener, ListenerExt};
use rustls::ServerConfig;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A handshake not finished by then is dropped.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// How often, at most, the certificate file is looked at.
const RECHECK: Duration = Duration::from_secs(1);

/// Accepts TCP connections and hands `axum::serve` those whose TLS
/// handshake succeeded, with the client's address.
pub struct TlsListener {
    tcp: TcpListener,
    cert: ServingCert,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// Serve on `tcp` (bound by the caller, who reports a busy port as for
    /// HTTP) with the certificate in `store`, making a self-signed one for
    /// `hostname` first if there is none, so HTTPS works from the first
    /// start.
    pub fn new(tcp: TcpListener, store: CertStore, hostname: &str) -> Result<TlsListener, CertError> {
        store.ensure_serving(hostname)?;
        Ok(TlsListener { tcp, cert: ServingCert::load(Source::Store(store))?, handshakes: JoinSet::new() })
    }

    /// Serve on `tcp` with the chain in the PEM file `cert` and the key in
    /// `key` (reloaded when `cert` changes).
    pub fn with_files(tcp: TcpListener, cert: PathBuf, key: PathBuf) -> Result<TlsListener, CertError> {
        Ok(TlsListener { tcp, cert: ServingCert::load(Source::Files { cert, key })?, handshakes: JoinSet::new() })
    }

    /// Start a handshake in its own task; its result waits in `handshakes`.
    fn start_handshake(&mut self, tcp: TcpStream, peer: SocketAddr) {
        let acceptor = self.cert.acceptor();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "HTTPS handshake failed: {e}");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "HTTPS handshake not finished within {HANDSHAKE_LIMIT:?}; dropped");
                    None
                }
            }
        });
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    /// Cancel-safe (both awaited operations are), as `axum::serve` with a
    /// graceful shutdown needs.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                Some(done) = self.handshakes.join_next() => match done {
                    Ok(Some(ready)) => return ready,
                    Ok(None) => {}
                    Err(e) => tracing::debug!("HTTPS handshake task ended: {e}"),
                },
                accepted = self.tcp.accept() => match accepted {
                    Ok((tcp, peer)) => self.start_handshake(tcp, peer),
                    // As axum does for a TcpListener: a connection gone before
                    // it was accepted is nothing; anything else (out of file
                    // descriptors, say) is logged and retried after a pause.
                    Err(e) if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                    Err(e) => {
                        tracing::error!("cannot accept an HTTPS connection: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serve `app` over HTTPS until the listener fails. Handlers get the
/// client's address as `ConnectInfo<SocketAddr>`, as on plain HTTP.
pub async fn serve(listener: TlsListener, app: Router) -> io::Result<()> {
    // axum 0.8 implements `Connected` for `SocketAddr` only for a
    // `TcpListener` or a listener wrapped by `tap_io` (tokio-rs/axum#3331
    // would generalise it), and the orphan rule keeps us from adding one for
    // `TlsListener`: hence a tap that does nothing.
    let listener = listener.tap_io(|_: &mut TlsStream<TcpStream>| {});
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
}

/// Where the served certificate comes from.
enum Source {
    /// The administration server's store: self-signed at first start,
    /// replaced by an installed one.
    Store(CertStore),
    /// PEM files a configuration names.
    Files { cert: PathBuf, key: PathBuf },
}

impl Source {
    /// The file whose change means a new certificate.
    fn watched(&self) -> PathBuf {
        match self {
            Source::Store(store) => store.serving_path(),
            Source::Files { cert, .. } => cert.clone(),
        }
    }

    fn server_config(&self) -> Result<ServerConfig, CertError> {
        match self {
            Source::Store(store) => store.server_config(),
            Source::Files { cert, key } => files_config(cert, key),
        }
    }
}

/// The acceptor for the served certificate, rebuilt when the file's
/// identity (modification time and inode: an install renames a new file
/// over it) changes. Only the accepting loop uses it, so no lock.
struct ServingCert {
    source: Source,
    acceptor: TlsAcceptor,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

impl ServingCert {
    fn load(source: Source) -> Result<ServingCert, CertError> {
        let stamp = stamp(&source.watched());
        let acceptor = TlsAcceptor::from(Arc::new(source.server_config()?));
        Ok(ServingCert { source, acceptor, stamp, checked: Instant::now() })
    }

    /// The current acceptor; the file is looked at (one `stat`) at most once
    /// per [`RECHECK`]. A file that cannot be used is logged once and the
    /// previous certificate kept.
    fn acceptor(&mut self) -> TlsAcceptor {
        if self.checked.elapsed() >= RECHECK {
            self.checked = Instant::now();
            // Taken before reading: a change in between is seen next time.
            let stamp = stamp(&self.source.watched());
            if stamp != self.stamp {
                self.stamp = stamp;
                match self.source.server_config() {
                    Ok(config) => {
                        self.acceptor = TlsAcceptor::from(Arc::new(config));
                        tracing::info!("HTTPS certificate reloaded");
                    }
                    Err(e) => tracing::error!("keeping the previous HTTPS certificate: {e}"),
                }
            }
        }
        self.acceptor.clone()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::certs::tests::{TestCa, fields};
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTPS server on a loopback port answering `/` with the client's
    /// address.
    async fn start(store: &CertStore) -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let listener = TlsListener::new(tcp, store.clone(), "mx.test").unwrap();
        let app = Router::new()
            .route("/", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("hello {peer}") }));
        tokio::spawn(serve(listener, app));
        address
    }

    fn served_leaf(store: &CertStore) -> CertificateDer<'static> {
        CertificateDer::pem_file_iter(store.serving_path()).unwrap().next().unwrap().unwrap()
    }

    /// GET `/` as a browser trusting only `trusted` would, as `localhost`:
    /// the response and the certificate the server presented.
    async fn get_root(address: SocketAddr, trusted: CertificateDer<'static>) -> (String, CertificateDer<'static>) {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(trusted).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(address).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        tls.read_to_string(&mut response).await.unwrap();
        let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        (response, presented)
    }

    #[tokio::test]
    async fn answers_https_with_the_client_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path().join("admin-tls"));
        let address = start(&store).await;
        let (response, presented) = get_root(address, served_leaf(&store)).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("hello 127.0.0.1:"), "{response}");
        assert_eq!(presented, served_leaf(&store), "the self-signed certificate made at first start");
    }

    #[tokio::test]
    async fn a_silent_client_does_not_hold_up_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path().join("admin-tls"));
        let address = start(&store).await;
        let _silent = TcpStream::connect(address).await.unwrap();
        let mut garbage = TcpStream::connect(address).await.unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let served = tokio::time::timeout(Duration::from_secs(5), get_root(address, served_leaf(&store))).await;
        let (response, _) = served.expect("served while another handshake waits");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    #[tokio::test]
    async fn an_installed_certificate_is_presented_to_new_connections() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path().join("admin-tls"));
        let address = start(&store).await;
        let self_signed = served_leaf(&store);
        assert_eq!(get_root(address, self_signed.clone()).await.1, self_signed);

        let ca = TestCa::new();
        let request = store.generate_request(&fields("localhost")).unwrap();
        store.install(&ca.sign(&request.request_pem, 90)).unwrap();
        let installed = served_leaf(&store);
        assert_ne!(installed, self_signed);
        tokio::time::sleep(RECHECK + Duration::from_millis(100)).await;
        let (response, presented) = get_root(address, ca.der()).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert_eq!(presented, installed, "the new certificate, without a restart");
    }
}
