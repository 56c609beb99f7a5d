//! Access to the JSON API and `/metrics` for scripts: a bearer token from
//! `admin.api_tokens` (RFC 6750), or the browser session of a logged-on
//! administrator (changes then need the session's CSRF token in an
//! `X-CSRF-Token` header). `/metrics` takes a token only.

use super::AppState;
use super::accounts::Role;
use super::guard::{self, Visitor, client_ip, constant_time_eq, session_of};
use super::session;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The user name changes made with a bearer token are recorded under.
pub const API_USER: &str = "api";

fn bearer_ok(state: &AppState, request: &Request) -> bool {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let config = state.config.current();
    presented.is_some_and(|t| config.admin.api_tokens.iter().any(|k| constant_time_eq(k, t)))
}

fn unauthorized() -> Response {
    let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"mxguard\"")];
    (StatusCode::UNAUTHORIZED, challenge, "a valid API token is required\n").into_response()
}

/// The JSON API: a token, or a session (the Report-only administrator may
/// only read, and only status and reports).
pub async fn api_access(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let client = client_ip(&request);
    if bearer_ok(&state, &request) {
        let https = guard::is_https(&request);
        let session = session::detached(Role::Admin);
        request.extensions_mut().insert(Visitor { session, role: Role::Admin, client_ip: client, https });
        return next.run(request).await;
    }
    let Some(session) = session_of(&state, &request) else { return unauthorized() };
    let Some(role) = session.role else { return unauthorized() };
    let reading = request.method() == Method::GET;
    let report_path =
        ["/api/v1/status", "/api/v1/counters", "/api/v1/reports/"].iter().any(|p| request.uri().path().starts_with(p));
    if role == Role::Report && !(reading && report_path) {
        return (StatusCode::FORBIDDEN, "the Report-only administrator may read status and reports only\n")
            .into_response();
    }
    let csrf = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !reading && !constant_time_eq(&session.csrf, csrf) {
        return guard::refuse_forged(&state, client, &format!("{} {}", request.method(), request.uri().path()));
    }
    let https = guard::is_https(&request);
    request.extensions_mut().insert(Visitor { session, role, client_ip: client, https });
    next.run(request).await
}

/// `/metrics`: a token.
pub async fn token_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if bearer_ok(&state, &request) {
        return next.run(request).await;
    }
    unauthorized()
}
