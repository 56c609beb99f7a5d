//! Running the server: open the quarantine (recovering from an interrupted
//! run), listen with TLS on `listen` (always: samples and tokens never
//! travel in clear), follow the definitions for rescans, and serve the API
//! and the pages until the process ends.

use super::api;
use super::config::Settings;
use super::console::Console;
use super::rescan::follow_definitions;
use super::service::Quarantine;
use super::{alert, watchdog};
use crate::admin::accounts::Accounts;
use crate::admin::certs::CertStore;
use crate::admin::tls::{self, TlsListener};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;

/// Serve the quarantine described by `settings` to the administrators in
/// `accounts`; returns only on a fatal error (storage cannot be opened,
/// the port is busy, no certificate).
pub async fn serve(settings: Settings, accounts: Accounts) -> anyhow::Result<()> {
    let listen = settings.listen.clone();
    let tls_dir = settings.storage().join("tls");
    let files =
        (!settings.tls_cert.is_empty()).then(|| (PathBuf::from(&settings.tls_cert), PathBuf::from(&settings.tls_key)));
    let hostname = settings.hostname.clone();
    let q = tokio::task::spawn_blocking(move || Quarantine::open(settings)).await??;
    let q = Arc::new(q);
    let tcp = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on quarantine_server.listen = {listen:?}"))?;
    let listener = match files {
        Some((cert, key)) => TlsListener::with_files(tcp, cert, key),
        None => TlsListener::new(tcp, CertStore::new(tls_dir), &hostname),
    }
    .map_err(|e| anyhow::anyhow!("cannot serve HTTPS on {listen}: {e}"))?;
    tokio::spawn(follow_definitions(q.clone()));
    tokio::spawn(watchdog::watch(q.clone()));
    tokio::spawn(alert::mail(q.clone()));
    tracing::info!(https = %listen, storage = %q.settings.storage_dir, "quarantine server started");
    tls::serve(listener, api::router(Console::new(q, accounts)))
        .await
        .with_context(|| format!("quarantine server on {listen} stopped"))
}
