//! The administration listener: the routes, behind token authentication,
//! served on `admin.http_listen`.

use super::{AppState, api, auth, metrics, reports};
use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;

/// Every route of the administration server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/reports/summary", get(reports::summary))
        .route("/api/v1/reports/detail", get(reports::detail))
        .route("/metrics", get(metrics::metrics))
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .with_state(state)
}

/// Serve on `admin.http_listen` until the process ends; a port that
/// cannot be bound is logged, SMTP keeps running.
pub async fn serve(state: AppState) {
    let address = state.config.current().admin.http_listen.clone();
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%address, "cannot listen for administration: {e}");
            return;
        }
    };
    tracing::info!(%address, "administration listener started");
    if let Err(e) = axum::serve(listener, router(state)).await {
        tracing::error!(%address, "administration listener stopped: {e}");
    }
}
