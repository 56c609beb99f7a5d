//! Bearer-token authentication for the JSON API and `/metrics`: a request
//! without a configured token gets `401` and a `WWW-Authenticate`
//! challenge (RFC 6750).

use super::AppState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Let the request through only with `Authorization: Bearer <token>`
/// naming one of `admin.api_tokens`.
pub async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let config = state.config.current();
    let known = presented.is_some_and(|t| config.admin.api_tokens.iter().any(|k| constant_time_eq(k, t)));
    if known {
        return next.run(request).await;
    }
    let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"mxguard\"")];
    (StatusCode::UNAUTHORIZED, challenge, "a valid API token is required\n").into_response()
}

/// Compare without stopping at the first difference, so response time
/// does not reveal how much of a guess was right.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
