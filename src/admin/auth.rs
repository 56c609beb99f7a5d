//! Access to the JSON API and `/metrics` for scripts: a bearer token from
//! `admin.api_tokens` (RFC 6750), or the browser session of a logged-on
//! administrator (changes then need the session's CSRF token in an
//! `X-CSRF-Token` header). `/metrics` takes a token only.

use super::AppState;
use super::accounts::Role;
use super::guard::{self, Visitor, client_ip, constant_time_eq};
use super::session;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The user name changes made with a bearer token are recorded under.
pub const API_USER: &str = "api";

/// Whether the request's `Authorization: Bearer` token is one of `tokens`
/// (compared in constant time): the one token check of the gateway's API
/// and of the Central Quarantine's.
pub fn presents_token(headers: &HeaderMap, tokens: &[String]) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    presented.is_some_and(|t| tokens.iter().any(|k| constant_time_eq(k, t)))
}

fn bearer_ok(state: &AppState, request: &Request) -> bool {
    presents_token(request.headers(), &state.config.current().admin.api_tokens)
}

fn unauthorized() -> Response {
    let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"mxguard\"")];
    (StatusCode::UNAUTHORIZED, challenge, "a valid API token is required\n").into_response()
}

/// The JSON API: a token, or a session (the Report-only administrator may
/// only read, and only status and reports).
pub async fn api_access(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if bearer_ok(&state, &request) {
        let (client_ip, https) = (client_ip(&request), guard::is_https(&request));
        let session = session::detached(Role::Admin);
        request.extensions_mut().insert(Visitor { session, role: Role::Admin, client_ip, https });
        return next.run(request).await;
    }
    let Some(visitor) = guard::visitor(&state, &request) else { return unauthorized() };
    let reading = request.method() == Method::GET;
    let report_path =
        ["/api/v1/status", "/api/v1/counters", "/api/v1/reports/"].iter().any(|p| request.uri().path().starts_with(p));
    if visitor.role == Role::Report && !(reading && report_path) {
        return (StatusCode::FORBIDDEN, "the Report-only administrator may read status and reports only\n")
            .into_response();
    }
    if let Some(refused) = visitor.api_csrf_refusal(&state, &request) {
        return refused;
    }
    request.extensions_mut().insert(visitor);
    next.run(request).await
}

/// `/metrics`: a token.
pub async fn token_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if bearer_ok(&state, &request) {
        return next.run(request).await;
    }
    unauthorized()
}
