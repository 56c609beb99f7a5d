//! The item page: every attribute of one item, its history, and the forms
//! of its actions (restore, rescan, submit, set status, create signature,
//! and delete after a confirmation step).

use super::figures::{Figures, figures};
use super::{failure, frame};
use crate::admin::guard::Visitor;
use crate::admin::pages::{Frame, render};
use crate::quarantine::server::api::item_id;
use crate::quarantine::server::console::Console;
use crate::quarantine::server::error::ApiError;
use crate::quarantine::server::item::{HistoryEntry, Item};
use crate::quarantine::server::service::blocking;
use crate::quarantine::server::status::Status;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// What an action did, named in the address it sends the browser back to,
/// so reloading the page shows the item and does not repeat the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Rescanned,
    Submitted,
    StatusSet,
    SignatureCreated,
}

impl Done {
    const ALL: [Done; 4] = [Done::Rescanned, Done::Submitted, Done::StatusSet, Done::SignatureCreated];

    fn word(self) -> &'static str {
        match self {
            Done::Rescanned => "rescanned",
            Done::Submitted => "submitted",
            Done::StatusSet => "status",
            Done::SignatureCreated => "signature",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Done::Rescanned => "Rescanned with the server's definitions.",
            Done::Submitted => "Submitted to the analyst.",
            Done::StatusSet => "Status set.",
            Done::SignatureCreated => "Signature created and published in a new definitions package.",
        }
    }

    /// The item page of `id` telling what was done.
    pub fn address(self, id: i64) -> String {
        format!("/items/{id}?done={}", self.word())
    }
}

/// The item page's own parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Shown {
    /// A [`Done`] word.
    done: String,
    /// `delete` asks whether to delete the item.
    confirm: String,
}

#[derive(Template)]
#[template(path = "quarantine/item.html")]
struct ItemPage {
    frame: Frame,
    figures: Figures,
    item: Item,
    history: Vec<HistoryEntry>,
    statuses: [Status; 7],
    /// Where Submit sends samples; empty when submission is off.
    analyst: String,
    /// Whether signatures can be made (a signing key is configured).
    signing: bool,
    confirm_delete: bool,
    error: String,
}

/// `GET /items/{id}`.
pub async fn page(
    State(console): State<Console>,
    visitor: Visitor,
    Path(raw): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let id = match item_id(&raw) {
        Ok(id) => id,
        Err(e) => return failure(&e),
    };
    let notice = Done::ALL.into_iter().find(|d| d.word() == shown.done).map_or("", Done::sentence);
    show(&console, &visitor, id, notice, shown.confirm == "delete", None).await
}

/// The page of item `id` with `notice`; with `error`, the failed action's
/// reason, answered with its status code.
pub async fn show(
    console: &Console,
    visitor: &Visitor,
    id: i64,
    notice: &str,
    confirm_delete: bool,
    error: Option<ApiError>,
) -> Response {
    let found = blocking(&console.q, move |q| q.item(id)).await;
    let ((item, history), figures) = match (found, figures(&console.q).await) {
        (Ok(found), Ok(figures)) => (found, figures),
        (Err(e), _) | (_, Err(e)) => return failure(&e),
    };
    let code = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = ItemPage {
        frame: frame(visitor, format!("Item {id}: {}", item.meta.file_name), "").with_notice(notice),
        figures,
        item,
        history,
        statuses: Status::ALL,
        analyst: console.q.settings.analyst_address.clone(),
        signing: !console.q.settings.signing_key.is_empty(),
        confirm_delete,
        error: error.map(|e| e.message).unwrap_or_default(),
    };
    (code, render(&page)).into_response()
}
