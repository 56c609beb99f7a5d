//! The item page's buttons. Each checks the form's CSRF token, runs the
//! same operation as the JSON API under the administrator's name, and
//! sends the browser back to the item page (to the list after a delete;
//! a restore answers with the zip). A refused operation shows the item
//! page with the reason.

use super::failure;
use super::item::{Done, show};
use crate::admin::guard::Visitor;
use crate::quarantine::server::api::{item_id, status_change};
use crate::quarantine::server::console::Console;
use crate::quarantine::server::error::ApiError;
use crate::quarantine::server::rescan::rescan;
use crate::quarantine::server::restore::download;
use crate::quarantine::server::service::blocking;
use crate::quarantine::server::signature;
use crate::quarantine::server::submit::submit;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// What the action forms send; each uses the fields it needs.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Posted {
    csrf: String,
    /// Set status: the new status and why.
    status: String,
    note: String,
    /// Create signature: its name.
    name: String,
}

/// `POST /items/{id}/{action}`.
pub async fn act(
    State(console): State<Console>,
    visitor: Visitor,
    Path((raw, action)): Path<(String, String)>,
    Form(form): Form<Posted>,
) -> Response {
    if let Some(refused) = visitor.csrf_refusal(&console, &form.csrf, &format!("POST /items/{raw}/{action}")) {
        return refused;
    }
    let id = match item_id(&raw) {
        Ok(id) => id,
        Err(e) => return failure(&e),
    };
    let (q, actor) = (&console.q, visitor.user().to_string());
    let done = match action.as_str() {
        "restore" => match download(q, id, actor).await {
            Ok(zip) => return zip,
            Err(e) => Err(e),
        },
        "delete" => match blocking(q, move |q| q.delete(id, &actor)).await {
            Ok(()) => return Redirect::to(&format!("/items?deleted={id}")).into_response(),
            Err(e) => Err(e),
        },
        "rescan" => blocking(q, move |q| rescan(q, id, &actor)).await.map(|_| Done::Rescanned),
        "submit" => submit(q, id, actor).await.map(|_| Done::Submitted),
        "status" => match status_change(&form.status, form.note, actor) {
            Ok(change) => blocking(q, move |q| q.change(id, &change)).await.map(|_| Done::StatusSet),
            Err(e) => Err(e),
        },
        "signature" => {
            blocking(q, move |q| signature::create(q, id, &form.name, &actor)).await.map(|_| Done::SignatureCreated)
        }
        _ => {
            let message = format!("there is no action {action:?}");
            return failure(&ApiError { status: StatusCode::NOT_FOUND, error: "not_found", message });
        }
    };
    match done {
        Ok(done) => Redirect::to(&done.address(id)).into_response(),
        Err(e) => show(&console, &visitor, id, "", false, Some(e)).await,
    }
}
