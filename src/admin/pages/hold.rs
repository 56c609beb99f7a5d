//! The Hold Queue tab: the held messages with their reasons, and the three
//! actions of SPEC §1 on the selected ones (or all): reprocess, drop, and
//! forward an unscanned copy to an address.

use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::guard::Visitor;
use crate::control::{self, ControlCommand};
use crate::spool::Queue;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;

/// A held message as listed.
pub struct Held {
    pub id: String,
    pub arrival: String,
    pub sender: String,
    pub recipients: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "hold.html")]
struct HoldPage {
    frame: Frame,
    held: Vec<Held>,
    error: String,
}

fn list(state: &AppState) -> Vec<Held> {
    let spool = &state.spool;
    spool
        .list(Queue::Hold)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|id| {
            let m = spool.load_header(Queue::Hold, &id).ok()?.message;
            let arrival = chrono::DateTime::from_timestamp(i64::try_from(m.arrival).ok()?, 0)?
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let recipients = m.envelope.recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>().join(", ");
            let sender = if m.envelope.sender.is_empty() { "<>".into() } else { m.envelope.sender.clone() };
            Some(Held { id, arrival, sender, recipients, reason: m.reason })
        })
        .collect()
}

async fn show(state: &AppState, visitor: &Visitor, notice: String, error: String) -> Response {
    let listed = state.clone();
    let held = tokio::task::spawn_blocking(move || list(&listed)).await.unwrap_or_default();
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
    let ids: Vec<String> = form.iter().filter(|(k, _)| k == "id").map(|(_, v)| v.clone()).collect();
    let which: Vec<String> = if value("scope") == "all" { vec!["all".into()] } else { ids };
    if which.is_empty() {
        return show(&state, &visitor, String::new(), "Tick at least one message, or choose All.".into()).await;
    }
    let to = value("forward_to");
    let command = |which: String| match value("action").as_str() {
        "reprocess" => Some(ControlCommand::Reprocess(which)),
        "drop" => Some(ControlCommand::Drop(which)),
        "forward" => Some(ControlCommand::Forward {
            which,
            to: to.clone(),
            subject: "Copy of a message in the mxguard hold queue".into(),
        }),
        _ => None,
    };
    if value("action") == "forward" && !crate::config::is_address(&to) {
        return show(&state, &visitor, String::new(), format!("{to:?} is not an e-mail address to forward to.")).await;
    }
    let mut done = Vec::new();
    for w in which {
        let Some(cmd) = command(w) else {
            return show(&state, &visitor, String::new(), "Choose Reprocess, Drop or Forward a copy.".into()).await;
        };
        match control::run(&state, cmd).await {
            Ok(text) => done.push(text),
            Err(e) => return show(&state, &visitor, done.join("; "), e).await,
        }
    }
    show(&state, &visitor, done.join("; "), String::new()).await
}
