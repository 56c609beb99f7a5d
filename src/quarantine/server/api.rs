//! The quarantine server's HTTP API: the upload route for gateways and the
//! administration routes (list, details with history, delete, restore,
//! rescan, submit, status changes, figures), each behind its own tokens.
//! Handlers are thin: parse, run the operation off the runtime, answer JSON.

use super::auth::{self, API_ACTOR};
use super::error::ApiError;
use super::index::Change;
use super::query::Listing;
use super::receive::receive;
use super::rescan::{rescan, rescan_all};
use super::restore::{encrypted_zip, entry_name};
use super::service::{Quarantine, blocking};
use super::status::Status;
use super::submit::submit;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Every route of the server.
pub fn router(q: Arc<Quarantine>) -> Router {
    let gateways = Router::new()
        .route("/api/v1/samples", post(receive))
        .route_layer(from_fn_with_state(q.clone(), auth::gateways));
    let administrators = Router::new()
        .route("/api/v1/status", get(figures))
        .route("/api/v1/items", get(list))
        .route("/api/v1/items/{id}", get(show).delete(delete))
        .route("/api/v1/items/{id}/restore", get(restore))
        .route("/api/v1/items/{id}/rescan", post(rescan_one))
        .route("/api/v1/items/{id}/submit", post(submit_one))
        .route("/api/v1/items/{id}/status", post(set_status))
        .route("/api/v1/rescan", post(rescan_every))
        .route_layer(from_fn_with_state(q.clone(), auth::administrators));
    Router::new()
        .merge(gateways)
        .merge(administrators)
        .fallback(|| async {
            ApiError { status: StatusCode::NOT_FOUND, error: "not_found", message: "no such route".into() }
        })
        .with_state(q)
}

/// An item id from the path; anything else names no item.
fn item_id(raw: &str) -> Result<i64, ApiError> {
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

async fn delete(State(q): State<Arc<Quarantine>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    blocking(&q, move |q| q.delete(id, API_ACTOR)).await?;
    Ok(Json(json!({ "deleted": id })))
}

/// The original bytes in a zip encrypted with the password `infected`.
async fn restore(State(q): State<Arc<Quarantine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = item_id(&id)?;
    let (name, zip) = blocking(&q, move |q| {
        let (item, bytes) = q.sample(id)?;
        let zip = encrypted_zip(&item.file_name, &bytes).map_err(ApiError::internal)?;
        let note = format!("restored: downloaded as an encrypted zip of {} bytes", zip.len());
        q.change(
            id,
            &Change { status: item.status, actor: API_ACTOR.into(), note, definitions_needed: None, error: None },
        )?;
        Ok((entry_name(&item.file_name), zip))
    })
    .await?;
    // A header value must be visible ASCII.
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let disposition = format!("attachment; filename=\"{ascii}.zip\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        zip,
    )
        .into_response())
}

async fn rescan_one(State(q): State<Arc<Quarantine>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    let item = blocking(&q, move |q| rescan(q, id, API_ACTOR)).await?;
    Ok(Json(serde_json::to_value(item).map_err(ApiError::internal)?))
}

async fn rescan_every(State(q): State<Arc<Quarantine>>) -> Result<Json<Value>, ApiError> {
    let summary = blocking(&q, |q| rescan_all(q, API_ACTOR)).await?;
    Ok(Json(serde_json::to_value(summary).map_err(ApiError::internal)?))
}

async fn submit_one(State(q): State<Arc<Quarantine>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    let item = submit(&q, id, API_ACTOR.into()).await?;
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

async fn set_status(
    State(q): State<Arc<Quarantine>>,
    Path(id): Path<String>,
    body: Result<Json<NewStatus>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id)?;
    let Json(request) = body.map_err(|e| ApiError::bad("body", e.body_text()))?;
    let status = Status::parse(&request.status).ok_or_else(|| {
        ApiError::bad("status", format!("{:?} is not a status: allowed are {}", request.status, Status::allowed()))
    })?;
    let note = if request.note.is_empty() { "changed by an administrator".to_string() } else { request.note };
    let change = Change { status, actor: API_ACTOR.into(), note, definitions_needed: None, error: None };
    let item = blocking(&q, move |q| q.change(id, &change)).await?;
    Ok(Json(serde_json::to_value(item).map_err(ApiError::internal)?))
}
