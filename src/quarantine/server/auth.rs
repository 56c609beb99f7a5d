//! Who may call the quarantine API: gateways upload with a token from
//! `gateway_tokens`, administrators and their scripts use a token from
//! `api_tokens` (RFC 6750 bearer tokens, compared in constant time). The two
//! sets are separate, so a gateway's token, which sits on every gateway,
//! cannot read, restore or delete samples.

use super::error::ApiError;
use super::service::Quarantine;
use crate::admin::guard::constant_time_eq;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The actor changes made with an API token are recorded under, as on the
/// gateway's own API.
pub const API_ACTOR: &str = crate::admin::auth::API_USER;

/// Let through requests with a gateway token.
pub async fn gateways(State(q): State<Arc<Quarantine>>, request: Request, next: Next) -> Response {
    admit(&q.settings.gateway_tokens, request, next).await
}

/// Let through requests with an administration API token.
pub async fn administrators(State(q): State<Arc<Quarantine>>, request: Request, next: Next) -> Response {
    admit(&q.settings.api_tokens, request, next).await
}

async fn admit(tokens: &[String], request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if tokens.iter().any(|k| constant_time_eq(k, t)) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}
