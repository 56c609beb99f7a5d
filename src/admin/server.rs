//! The administration server: every route with its guard, served on
//! `admin.http_listen` and (TLS) `admin.https_listen`.

use super::pages::{self, accounts, certs, hold, liveupdate, reports as report_pages, routing, settings, status};
use super::tls::{self, TlsListener};
use super::{AppState, api, auth, config_api, guard, logon, metrics, reports};
use crate::events::Event;
use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Redirect;
use axum::routing::get;
use std::net::SocketAddr;

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
        .route_layer(from_fn_with_state(state.clone(), guard::logged_on));
    let api = Router::new()
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/reports/summary", get(reports::summary))
        .route("/api/v1/reports/detail", get(reports::detail))
        .route("/api/v1/config/{section}", get(config_api::get).put(config_api::put))
        .route_layer(from_fn_with_state(state.clone(), auth::api_access));
    let metrics = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route_layer(from_fn_with_state(state.clone(), auth::token_only));
    Router::new()
        .route("/", get(|| async { Redirect::to("/status") }))
        .route("/login", get(logon::form).post(logon::submit))
        .route("/logout", get(logon::logout))
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
/// process ends; a port that cannot be bound is a *Service start failed*
/// event, and SMTP keeps running.
pub async fn serve(state: AppState) {
    let config = state.config.current();
    let (http, https) = (config.admin.http_listen.clone(), config.admin.https_listen.clone());
    let plain = bind(&state, &http).await;
    let tls = bind(&state, &https).await.and_then(|secure| {
        match TlsListener::new(secure, state.certs.clone(), &config.smtp.hostname) {
            Ok(l) => Some(l),
            Err(e) => {
                let reason = format!("cannot serve HTTPS on {https}: {e}");
                state.events.emit(Event::ServiceStartFailed { reason });
                None
            }
        }
    });
    tracing::info!(%http, %https, "administration listeners started");
    let secure_app = router(state.clone(), true);
    let plain_app = router(state, false).into_make_service_with_connect_info::<SocketAddr>();
    // Each listener runs on its own: one that could not start leaves the other serving.
    let plain_side = async move {
        match plain {
            Some(plain) => axum::serve(plain, plain_app).await,
            None => std::future::pending().await,
        }
    };
    let secure_side = async move {
        match tls {
            Some(tls) => tls::serve(tls, secure_app).await,
            None => std::future::pending().await,
        }
    };
    let stopped = tokio::select! {
        done = plain_side => done,
        done = secure_side => done,
    };
    if let Err(e) = stopped {
        tracing::error!("administration listener stopped: {e}");
    }
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
