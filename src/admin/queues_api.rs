//! The queues in the JSON API: depths, the held messages, and the hold
//! actions (reprocess, drop, forward a copy), so scripts can do what the
//! Hold Queue tab does.

use super::AppState;
use super::held::{self, Action, Held};
use crate::spool::Queue;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How many messages each queue holds.
#[derive(Debug, Serialize)]
pub struct Depths {
    pub fast: usize,
    pub slow: usize,
    pub hold: usize,
}

fn failed(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": why.to_string() }))).into_response()
}

/// `GET /api/v1/queues`.
pub async fn depths(State(state): State<AppState>) -> Response {
    let spool = state.spool.clone();
    let counted = tokio::task::spawn_blocking(move || -> std::io::Result<Depths> {
        Ok(Depths {
            fast: spool.list(Queue::Fast)?.len(),
            slow: spool.list(Queue::Slow)?.len(),
            hold: spool.list(Queue::Hold)?.len(),
        })
    })
    .await;
    match counted {
        Ok(Ok(depths)) => Json(depths).into_response(),
        Ok(Err(e)) => failed(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the queues: {e}")),
        Err(e) => failed(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The held messages, oldest first.
#[derive(Debug, Serialize)]
pub struct HeldList {
    pub messages: Vec<Held>,
}

/// `GET /api/v1/queues/hold`.
pub async fn held(State(state): State<AppState>) -> Response {
    let spool = state.spool.clone();
    match tokio::task::spawn_blocking(move || held::list(&spool)).await {
        Ok(messages) => Json(HeldList { messages }).into_response(),
        Err(e) => failed(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The body of a `forward` action: where the copy goes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardTo {
    #[serde(default)]
    pub to: String,
}

/// `POST /api/v1/queues/hold/{which}/{action}`: `which` is a message ID or
/// `all`; `action` is `reprocess`, `drop` or `forward` (body `{"to": ...}`).
pub async fn act(
    State(state): State<AppState>,
    Path((which, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(action) = Action::parse(&action) else {
        return failed(StatusCode::NOT_FOUND, format!("no action {action:?}: reprocess, drop or forward"));
    };
    let body = if body.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { &body[..] };
    let to = match serde_json::from_slice::<ForwardTo>(body) {
        Ok(b) => b.to,
        Err(e) => return failed(StatusCode::BAD_REQUEST, format!("the body is not {{\"to\": \"address\"}}: {e}")),
    };
    match held::act(&state, action, vec![which], &to).await {
        Ok(done) => Json(json!({ "done": done })).into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": e.why, "done": e.done }))).into_response(),
    }
}
