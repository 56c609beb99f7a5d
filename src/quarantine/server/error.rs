//! Errors of the quarantine API, answered as JSON `{"error": word,
//! "message": sentence}`: the word is stable for scripts and gateways
//! (`underrun`, `overrun`, `content`, `header`, `quota`, ...), the sentence
//! is for people. Server-side faults are logged here, once.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
}

impl ApiError {
    /// A request the client must change: 400 with `error` naming why.
    pub fn bad(error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, error, message: message.into() }
    }

    /// No valid bearer token.
    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized",
            message: "a valid bearer token is required".into(),
        }
    }

    /// No item `id`.
    pub fn not_found(id: i64) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, error: "not_found", message: format!("no item {id}") }
    }

    /// The request contradicts what is stored.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, error: "conflict", message: message.into() }
    }

    /// The sample would not fit in the quota (507 Insufficient Storage).
    pub fn quota(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::INSUFFICIENT_STORAGE, error: "quota", message: message.into() }
    }

    /// The declared sample is larger than any the server takes.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, error: "too_large", message: message.into() }
    }

    /// Something the operation needs is not configured or not usable now
    /// (definitions, submission settings).
    pub fn unavailable(error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, error, message: message.into() }
    }

    /// The relay refused or could not be reached.
    pub fn relay(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_GATEWAY, error: "relay", message: message.into() }
    }

    /// A fault of the server (disk, index); logged.
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        tracing::error!("quarantine server: {what}");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, error: "internal", message: what.to_string() }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::internal(format_args!("index: {e}"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> ApiError {
        ApiError::internal(format_args!("storage: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "message": self.message }));
        if self.status == StatusCode::UNAUTHORIZED {
            return (self.status, [(header::WWW_AUTHENTICATE, "Bearer realm=\"mxguard-quarantine\"")], body)
                .into_response();
        }
        (self.status, body).into_response()
    }
}
