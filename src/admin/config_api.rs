//! `/api/v1/config/{section}`: a configuration section as JSON, its
//! replacement (`PUT`) and a partial change (`PATCH`). A change is
//! validated like a form (every problem names its key; `422` with `{"errors": [{"key", "message"}]}`), then saved to the
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

/// `PUT /api/v1/config/{section}` with the whole section as the body
/// (keys left out take their defaults).
pub async fn put(state: State<AppState>, visitor: Visitor, name: Path<String>, Json(body): Json<Value>) -> Response {
    change(state, visitor, name, move |slot: &mut Value| *slot = body).await
}

/// `PATCH /api/v1/config/{section}` with a JSON merge patch (RFC 7396):
/// only the keys given change, `null` restores a key's default.
pub async fn patch(state: State<AppState>, visitor: Visitor, name: Path<String>, Json(body): Json<Value>) -> Response {
    change(state, visitor, name, move |slot: &mut Value| merge_patch(slot, body)).await
}

/// Apply an RFC 7396 merge patch to `target`.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(changes) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(fields) = target {
        for (key, value) in changes {
            if value.is_null() {
                fields.remove(&key);
            } else {
                merge_patch(fields.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

/// Validate, save and apply the section `name` as `edit` leaves it.
async fn change(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    edit: impl FnOnce(&mut Value) + Send + 'static,
) -> Response {
    if section(&mut serde_json::to_value(&*state.config.current()).unwrap_or(Value::Null), &name).is_none() {
        return no_section(&name);
    }
    let edit = move |old: &Config| {
        let mut json = serde_json::to_value(old).unwrap_or(Value::Null);
        if let Some(slot) = section(&mut json, &name) {
            edit(slot);
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

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn a_merge_patch_changes_only_what_it_names() {
        let mut section = json!({"pause": false, "limits": {"a": 1, "b": 2}, "gone": 3});
        merge_patch(&mut section, json!({"pause": true, "limits": {"b": 5}, "gone": null}));
        assert_eq!(section, json!({"pause": true, "limits": {"a": 1, "b": 5}}));
    }
}
