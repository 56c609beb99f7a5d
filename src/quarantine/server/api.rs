//! The quarantine server's HTTP API: the upload route for gateways and the
//! administration routes (list, details with history, delete, restore,
//! rescan, submit, status changes, figures), each behind its own tokens
//! or an administrator's session; with them the browser pages.
//! Handlers are thin: parse, run the operation off the runtime, answer JSON.

use super::auth::{self, Actor};
use super::console::Console;
use super::error::ApiError;
use super::index::Change;
use super::pages;
use super::publish;
use super::query::Listing;
use super::receive::receive;
use super::rescan::{rescan, rescan_all};
use super::restore::download;
use super::service::{Quarantine, blocking};
use super::signature;
use super::status::Status;
use super::submit::submit;
use crate::admin::guard::{self, Transport};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Every route of the server, with the security headers of the gateway's
/// administration on every answer.
pub fn router(console: Console) -> Router {
    let gateways = Router::new()
        .route("/api/v1/samples", post(receive))
        .route_layer(from_fn_with_state(console.q.clone(), auth::gateways));
    let administrators = Router::new()
        .route("/api/v1/status", get(figures))
        .route("/api/v1/items", get(list))
        .route("/api/v1/items/{id}", get(show).delete(delete))
        .route("/api/v1/items/{id}/restore", get(restore))
        .route("/api/v1/items/{id}/rescan", post(rescan_one))
        .route("/api/v1/items/{id}/submit", post(submit_one))
        .route("/api/v1/items/{id}/status", post(set_status))
        .route("/api/v1/items/{id}/signature", post(signature::handle))
        .route("/api/v1/rescan", post(rescan_every))
        .route_layer(from_fn_with_state(console.clone(), auth::administrators));
    Router::new()
        .merge(gateways)
        .route("/defs/{name}", get(publish::serve_file))
        .merge(administrators)
        .merge(pages::router(&console))
        .fallback(not_found)
        .layer(from_fn(guard::security_headers))
        .layer(Extension(Transport { https: true }))
        .with_state(console)
}

/// No such route: JSON under `/api/`, a page elsewhere.
async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError { status: StatusCode::NOT_FOUND, error: "not_found", message: "no such route".into() }.into_response()
    } else {
        crate::admin::pages::not_found().await
    }
}

/// An item id from the path; anything else names no item.
pub fn item_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError {
        status: StatusCode::NOT_FOUND,
        error: "not_found",
        message: format!("no item {raw:?}"),
    })
}

async fn figures(State(q): State<Arc<Quarantine>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&q, |q| q.figures()).await?))
}

async fn list(
    State(q): State<Arc<Quarantine>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let listing = Listing::parse(&pairs)
        .map_err(|p| ApiError::bad("parameter", format!("{} = {:?}: allowed is {}", p.name, p.value, p.allowed)))?;
    let (page, per_page) = (listing.page, listing.per_page);
    let (items, total) = blocking(&q, move |q| q.list(&listing)).await?;
    Ok(Json(json!({ "items": items, "total": total, "page": page, "per_page": per_page })))
}

async fn show(State(q): State<Arc<Quarantine>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    let (item, history) = blocking(&q, move |q| q.item(id)).await?;
    let mut value = serde_json::to_value(item).map_err(ApiError::internal)?;
    value["history"] = serde_json::to_value(history).map_err(ApiError::internal)?;
    Ok(Json(value))
}

async fn delete(
    State(q): State<Arc<Quarantine>>,
    Path(id): Path<String>,
    Actor(actor): Actor,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    blocking(&q, move |q| q.delete(id, &actor)).await?;
    Ok(Json(json!({ "deleted": id })))
}

/// The original bytes in a zip encrypted with the password `infected`.
async fn restore(
    State(q): State<Arc<Quarantine>>,
    Path(id): Path<String>,
    Actor(actor): Actor,
) -> Result<Response, ApiError> {
    download(&q, item_id(&id)?, actor).await
}

async fn rescan_one(
    State(q): State<Arc<Quarantine>>,
    Path(id): Path<String>,
    Actor(actor): Actor,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    let item = blocking(&q, move |q| rescan(q, id, &actor)).await?;
    Ok(Json(serde_json::to_value(item).map_err(ApiError::internal)?))
}

async fn rescan_every(State(q): State<Arc<Quarantine>>, Actor(actor): Actor) -> Result<Json<Value>, ApiError> {
    let summary = blocking(&q, move |q| rescan_all(q, &actor)).await?;
    Ok(Json(serde_json::to_value(summary).map_err(ApiError::internal)?))
}

async fn submit_one(
    State(q): State<Arc<Quarantine>>,
    Path(id): Path<String>,
    Actor(actor): Actor,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    let item = submit(&q, id, actor).await?;
    Ok(Json(serde_json::to_value(item).map_err(ApiError::internal)?))
}

/// The body of a manual status change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStatus {
    status: String,
    #[serde(default)]
    note: String,
}

/// An administrator's change to the status named `word`, with `note` (a
/// default one when empty): the API's and the item page's.
pub fn status_change(word: &str, note: String, actor: String) -> Result<Change, ApiError> {
    let status = Status::parse(word).ok_or_else(|| {
        ApiError::bad("status", format!("{word:?} is not a status: allowed are {}", Status::allowed()))
    })?;
    let note = if note.is_empty() { "changed by an administrator".to_string() } else { note };
    Ok(Change { status, actor, note, definitions_needed: None, error: None })
}

async fn set_status(
    State(q): State<Arc<Quarantine>>,
    Path(id): Path<String>,
    Actor(actor): Actor,
    body: Result<Json<NewStatus>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    let Json(request) = body.map_err(|e| ApiError::bad("body", e.body_text()))?;
    let change = status_change(&request.status, request.note, actor)?;
    let item = blocking(&q, move |q| q.change(id, &change)).await?;
    Ok(Json(serde_json::to_value(item).map_err(ApiError::internal)?))
}
