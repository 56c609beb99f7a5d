//! The Routing tab: the default relay for other domains and the local
//! routing entries (the domains this gateway accepts mail for, with where
//! each goes), added, edited and deleted one at a time.

use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::change::{self, Refused};
use crate::admin::guard::Visitor;
use crate::config::{Config, LocalRoute};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "routing.html")]
struct RoutingPage {
    frame: Frame,
    default_relay: String,
    routes: Vec<LocalRoute>,
    errors: Vec<String>,
}

/// What the routing forms send.
#[derive(Debug, Deserialize)]
pub struct RoutingForm {
    #[serde(default)]
    csrf: String,
    /// `default`, `add`, `save` or `delete`.
    #[serde(default)]
    action: String,
    /// The entry to save or delete.
    index: Option<usize>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    relay: String,
    #[serde(default)]
    default_relay: String,
}

/// `?saved` after a change.
#[derive(Debug, Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

fn view(state: &AppState, visitor: &Visitor, notice: &str, errors: Vec<String>) -> Response {
    let config = state.config.current();
    render(&RoutingPage {
        frame: Frame::new(visitor, "/config/routing", "Routing").with_notice(notice),
        default_relay: config.routing.default_relay.clone(),
        routes: config.routing.local.clone(),
        errors,
    })
}

/// `GET /config/routing`.
pub async fn page(State(state): State<AppState>, visitor: Visitor, Query(saved): Query<Saved>) -> Response {
    let notice = if saved.saved.is_some() { "Saved. The change is in effect." } else { "" };
    view(&state, &visitor, notice, Vec::new())
}

/// The configuration with the form's change made.
fn edit(old: &Config, form: &RoutingForm) -> Result<Config, Vec<String>> {
    let mut new = old.clone();
    let entry = LocalRoute { name: form.name.trim().to_string(), relay: form.relay.trim().to_string() };
    let count = new.routing.local.len();
    let at = || {
        form.index
            .filter(|i| *i < count)
            .ok_or_else(|| vec!["That entry no longer exists; reload the page.".to_string()])
    };
    match form.action.as_str() {
        "default" => new.routing.default_relay = form.default_relay.trim().to_string(),
        "add" if entry.name.is_empty() => return Err(vec!["Give the host or domain name of the new entry.".into()]),
        "add" => new.routing.local.push(entry),
        "save" => new.routing.local[at()?] = entry,
        "delete" => {
            new.routing.local.remove(at()?);
        }
        other => return Err(vec![format!("Unknown action {other:?}.")]),
    }
    let problems = crate::config::validate(&new);
    if problems.is_empty() { Ok(new) } else { Err(problems.iter().map(ToString::to_string).collect()) }
}

/// `POST /config/routing`.
pub async fn save(State(state): State<AppState>, visitor: Visitor, Form(form): Form<RoutingForm>) -> Response {
    if let Some(refused) = visitor.csrf_refusal(&state, &form.csrf, "POST /config/routing") {
        return refused;
    }
    match change::update(&state, &visitor, move |old| edit(old, &form)).await {
        Ok(()) => Redirect::to("/config/routing?saved").into_response(),
        Err(Refused::Invalid(errors)) => view(&state, &visitor, "", errors),
        Err(Refused::Save(why)) => view(&state, &visitor, "", vec![format!("Nothing was saved: {why}")]),
    }
}
