//! The administration server: every route with its guard, served on
//! `admin.http_listen` and (TLS) `admin.https_listen`.

use super::pages::{self, accounts, certs, hold, liveupdate, reports as report_pages, routing, settings, status};
use super::tls::{self, TlsListener};
use super::{AppState, api, auth, config_api, guard, logon, metrics, queues_api, reports};
use crate::events::Event;
use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Redirect;
use axum::routing::get;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// Every route of the administration server; `https` tells the handlers
/// which listener the requests come from.
pub fn router(state: AppState, https: bool) -> Router {
    let mut administrator_pages = Router::new()
        .route("/config/accounts", get(accounts::page).post(accounts::save))
        .route("/config/hold", get(hold::page).post(hold::act))
        .route("/config/routing", get(routing::page).post(routing::save))
        .route("/liveupdate", get(liveupdate::page).post(liveupdate::save))
        .route("/certs", get(certs::page).post(certs::act));
    for page in settings::PAGES {
        administrator_pages = administrator_pages.route(page.path, get(settings::show).post(settings::save));
    }
    let administrator_pages = administrator_pages.route_layer(from_fn_with_state(state.clone(), guard::administrator));
    let pages = Router::new()
        .route("/status", get(status::page))
        .route("/reports/summary", get(report_pages::summary))
        .route("/reports/detail", get(report_pages::detail))
        .merge(administrator_pages)
        .route_layer(from_fn_with_state(state.clone(), guard::logged_on::<AppState>));
    let api = Router::new()
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/counters", get(api::counters))
        .route("/api/v1/queues", get(queues_api::depths))
        .route("/api/v1/queues/hold", get(queues_api::held))
        .route("/api/v1/queues/hold/{which}/{action}", axum::routing::post(queues_api::act))
        .route("/api/v1/reports/summary", get(reports::summary))
        .route("/api/v1/reports/detail", get(reports::detail))
        .route("/api/v1/config/{section}", get(config_api::get).put(config_api::put).patch(config_api::patch))
        .route_layer(from_fn_with_state(state.clone(), auth::api_access));
    let metrics = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route_layer(from_fn_with_state(state.clone(), auth::token_only));
    Router::new()
        .route("/", get(|| async { Redirect::to("/status") }))
        .route("/login", get(logon::form::<AppState>).post(logon::submit::<AppState>))
        .route("/logout", get(logon::logout::<AppState>))
        .route("/assets/admin.css", get(pages::stylesheet))
        .merge(pages)
        .merge(api)
        .merge(metrics)
        .fallback(pages::not_found)
        .layer(from_fn(guard::security_headers))
        .layer(axum::Extension(guard::Transport { https }))
        .with_state(state)
}

/// Serve on `admin.http_listen` and `admin.https_listen` until the
/// process ends, following configuration changes: a changed address is
/// bound first and the old listener closed only once the new one serves
/// (connections already open finish on the old one). A port that cannot be
/// bound is a *Service start failed* event; SMTP and the other listener
/// keep running.
pub async fn serve(state: AppState) {
    let mut changes = state.config.subscribe();
    let mut plain: Option<(String, JoinHandle<()>)> = None;
    let mut secure: Option<(String, JoinHandle<()>)> = None;
    loop {
        let admin = changes.borrow_and_update().admin.clone();
        if plain.as_ref().is_none_or(|(at, _)| *at != admin.http_listen)
            && let Some(task) = start_plain(&state, &admin.http_listen).await
        {
            replace(&mut plain, admin.http_listen.clone(), task);
        }
        if secure.as_ref().is_none_or(|(at, _)| *at != admin.https_listen)
            && let Some(task) = start_secure(&state, &admin.https_listen).await
        {
            replace(&mut secure, admin.https_listen.clone(), task);
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Put the listener for `address` in `slot`, closing the one it replaces.
fn replace(slot: &mut Option<(String, JoinHandle<()>)>, address: String, task: JoinHandle<()>) {
    if let Some((old, running)) = slot.replace((address.clone(), task)) {
        running.abort();
        tracing::info!(%old, new = %address, "administration listener moved");
    }
}

async fn start_plain(state: &AppState, address: &str) -> Option<JoinHandle<()>> {
    let listener = bind(state, address).await?;
    let app = router(state.clone(), false).into_make_service_with_connect_info::<SocketAddr>();
    tracing::info!(http = %address, "administration listener started");
    let address = address.to_string();
    Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(%address, "administration listener stopped: {e}");
        }
    }))
}

async fn start_secure(state: &AppState, address: &str) -> Option<JoinHandle<()>> {
    let tcp = bind(state, address).await?;
    let hostname = state.config.current().smtp.hostname.clone();
    let listener = match TlsListener::new(tcp, state.certs.clone(), &hostname) {
        Ok(l) => l,
        Err(e) => {
            let reason = format!("cannot serve HTTPS on {address}: {e}");
            state.events.emit(Event::ServiceStartFailed { reason });
            return None;
        }
    };
    let app = router(state.clone(), true);
    tracing::info!(https = %address, "administration listener started");
    let address = address.to_string();
    Some(tokio::spawn(async move {
        if let Err(e) = tls::serve(listener, app).await {
            tracing::error!(%address, "administration listener stopped: {e}");
        }
    }))
}

async fn bind(state: &AppState, address: &str) -> Option<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(address).await {
        Ok(l) => Some(l),
        Err(e) => {
            let reason = format!("cannot listen for administration on {address}: {e}");
            state.events.emit(Event::ServiceStartFailed { reason });
            None
        }
    }
}
