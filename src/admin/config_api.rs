//! `/api/v1/config/{section}`: a configuration section as JSON, and its
//! replacement. A `PUT` is validated like a form (every problem names its
//! key; `422` with `{"errors": [{"key", "message"}]}`), then saved to the
//! file and applied through `ConfigHandle::update`, as an *Object
//! modified* event naming the user and client.

use super::AppState;
use super::change::{Refused, update};
use super::guard::Visitor;
use crate::config::{Config, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The section at a dotted `name` (`delivery`, `blocking.size`).
fn section<'a>(json: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    name.split('.').try_fold(json, |v, part| v.get_mut(part)).filter(|v| v.is_object())
}

fn no_section(name: &str) -> Response {
    let message = format!("no configuration section {name:?}");
    (StatusCode::NOT_FOUND, Json(json!({ "errors": [{ "key": name, "message": message }] }))).into_response()
}

/// `GET /api/v1/config/{section}`.
pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let mut json = serde_json::to_value(&*state.config.current()).unwrap_or(Value::Null);
    match section(&mut json, &name) {
        Some(value) => Json(value.take()).into_response(),
        None => no_section(&name),
    }
}

fn errors(problems: &[Problem]) -> Value {
    let list: Vec<Value> = problems
        .iter()
        .map(|p| {
            let message =
                if p.value.is_empty() { p.allowed.clone() } else { format!("{:?}: use {}", p.value, p.allowed) };
            json!({ "key": p.key, "message": message })
        })
        .collect();
    json!({ "errors": list })
}

/// `PUT /api/v1/config/{section}` with the whole section as the body.
pub async fn put(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if section(&mut serde_json::to_value(&*state.config.current()).unwrap_or(Value::Null), &name).is_none() {
        return no_section(&name);
    }
    let edit = move |old: &Config| {
        let mut json = serde_json::to_value(old).unwrap_or(Value::Null);
        if let Some(slot) = section(&mut json, &name) {
            *slot = body;
        }
        Config::from_json(json).map_err(|problems| errors(&problems))
    };
    match update(&state, &visitor, edit).await {
        Ok(()) => Json(json!({ "saved": true })).into_response(),
        Err(Refused::Invalid(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, Json(errors)).into_response(),
        Err(Refused::Save(why)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "errors": [{ "key": "", "message": why }] })))
                .into_response()
        }
    }
}
