//! The Hold Queue tab: the held messages with their reasons, and the three
//! actions of SPEC §1 on the selected ones (or all): reprocess, drop, and
//! forward an unscanned copy to an address.

use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::guard::Visitor;
use crate::admin::held::{self, Action, Held};
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;

#[derive(Template)]
#[template(path = "hold.html")]
struct HoldPage {
    frame: Frame,
    held: Vec<Held>,
    error: String,
}

async fn show(state: &AppState, visitor: &Visitor, notice: String, error: String) -> Response {
    let spool = state.spool.clone();
    let held = tokio::task::spawn_blocking(move || held::list(&spool)).await.unwrap_or_default();
    render(&HoldPage { frame: Frame::new(visitor, "/config/hold", "Hold Queue").with_notice(notice), held, error })
}

/// `GET /config/hold`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Response {
    show(&state, &visitor, String::new(), String::new()).await
}

/// `POST /config/hold`: an action on the ticked messages.
pub async fn act(State(state): State<AppState>, visitor: Visitor, Form(form): Form<Vec<(String, String)>>) -> Response {
    let value = |name: &str| super::forms::posted_value(&form, name).trim().to_string();
    if let Some(refused) = visitor.csrf_refusal(&state, &value("csrf"), "POST /config/hold") {
        return refused;
    }
    let Some(action) = Action::parse(&value("action")) else {
        return show(&state, &visitor, String::new(), "Choose Reprocess, Drop or Forward a copy.".into()).await;
    };
    let which: Vec<String> = if value("scope") == "all" {
        vec!["all".into()]
    } else {
        form.iter().filter(|(k, _)| k == "id").map(|(_, v)| v.clone()).collect()
    };
    if which.is_empty() {
        return show(&state, &visitor, String::new(), "Tick at least one message, or choose All.".into()).await;
    }
    match held::act(&state, action, which, &value("forward_to")).await {
        Ok(done) => show(&state, &visitor, done.join("; "), String::new()).await,
        Err(e) => show(&state, &visitor, e.done.join("; "), format!("{}.", e.why)).await,
    }
}
