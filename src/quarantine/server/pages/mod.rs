//! The Central Quarantine's browser pages (SPEC §7): the item list and the
//! item page with its actions. They reuse the gateway administration's
//! logon, sessions, CSRF checks, layout and stylesheet, and run the same
//! operations as the JSON API, so the two cannot behave differently.

pub mod actions;
pub mod figures;
pub mod item;
pub mod list;

use super::console::Console;
use super::error::ApiError;
use super::status::Status;
use crate::admin::guard::{self, Visitor};
use crate::admin::logon;
use crate::admin::pages::{Frame, Link, Section, message, stylesheet};
use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};

/// The pages' routes; all but logon need a logged-on administrator.
pub fn router(console: &Console) -> Router<Console> {
    let pages = Router::new()
        .route("/items", get(list::page))
        .route("/items/{id}", get(item::page))
        .route("/items/{id}/{action}", post(actions::act))
        .route_layer(from_fn_with_state(console.clone(), guard::logged_on::<Console>));
    Router::new()
        .route("/", get(|| async { Redirect::to("/items") }))
        .route("/login", get(logon::form::<Console>).post(logon::submit::<Console>))
        .route("/logout", get(logon::logout::<Console>))
        .route("/assets/admin.css", get(stylesheet))
        .merge(pages)
}

/// The layout around a page titled `title`: the left pane lists every item
/// and the items in each status, `current` being the one shown.
fn frame(visitor: &Visitor, title: impl Into<String>, current: &str) -> Frame {
    let views = std::iter::once(("/items".to_string(), "All items".to_string()))
        .chain(Status::ALL.iter().map(|s| (format!("/items?status={s}"), s.title().to_string())));
    let links = views.map(|(path, title)| Link { current: path == current, path, title }).collect();
    Frame {
        title: title.into(),
        sections: vec![Section { title: "Central Quarantine", links }],
        user: visitor.role.title(),
        csrf: visitor.session.csrf.clone(),
        notice: String::new(),
    }
}

/// The page for a request that could not be served: the operation's
/// status code and sentence.
fn failure(e: &ApiError) -> Response {
    let title = if e.status == StatusCode::NOT_FOUND { "Not found" } else { "Not done" };
    message(e.status, title, &e.message)
}
