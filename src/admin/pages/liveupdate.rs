//! LiveUpdate (SPEC §6): the schedule and sources of definitions updates,
//! *LiveUpdate now*, and the definitions in use with the last attempt.

use super::forms::{self, FieldSet, Group};
use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::change::{self, Refused};
use crate::admin::guard::Visitor;
use crate::control::{self, ControlCommand};
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

const GROUPS: &[Group] = &[Group { title: "Schedule and sources", table: "liveupdate", keys: &[] }];

#[derive(Template)]
#[template(path = "liveupdate.html")]
struct LiveUpdatePage {
    frame: Frame,
    action: &'static str,
    sets: Vec<FieldSet>,
    errors: Vec<String>,
    definitions: String,
    last_update: String,
}

fn view(state: &AppState, visitor: &Visitor, sets: Vec<FieldSet>, errors: Vec<String>, notice: String) -> Response {
    let defs = state.signatures.current();
    let definitions = match (&defs.sequence, &defs.date) {
        (Some(seq), Some(date)) => format!("sequence {seq} of {date}"),
        _ => "the definitions shipped with mxguard".into(),
    };
    let last_update = state.counters.last_update().map_or("none since start".into(), |(at, r)| format!("{at}: {r}"));
    let frame = Frame::new(visitor, "/liveupdate", "LiveUpdate").with_notice(notice);
    render(&LiveUpdatePage { frame, action: "/liveupdate", sets, errors, definitions, last_update })
}

/// `GET /liveupdate`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Response {
    let sets = forms::fields(&state.config.current(), GROUPS);
    view(&state, &visitor, sets, Vec::new(), String::new())
}

/// `POST /liveupdate`: save the schedule, or (`now`) update at once.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let value = |name: &str| forms::posted_value(&posted, name).to_string();
    if let Some(refused) = visitor.csrf_refusal(&state, &value("csrf"), "POST /liveupdate") {
        return refused;
    }
    if value("now") == "1" {
        let sets = forms::fields(&state.config.current(), GROUPS);
        return match control::run(&state, ControlCommand::UpdateDefinitions).await {
            Ok(text) => view(&state, &visitor, sets, Vec::new(), text),
            Err(why) => view(&state, &visitor, sets, vec![why], String::new()),
        };
    }
    match change::update(&state, &visitor, move |config| forms::apply(config, GROUPS, &posted)).await {
        Ok(()) => Redirect::to("/liveupdate").into_response(),
        Err(Refused::Invalid((sets, errors))) => view(&state, &visitor, sets, errors, String::new()),
        Err(Refused::Save(why)) => {
            let sets = forms::fields(&state.config.current(), GROUPS);
            view(&state, &visitor, sets, vec![format!("Nothing was saved: {why}")], String::new())
        }
    }
}
