//! `/metrics`: the Status figures in the Prometheus text format, so the
//! gateway can be graphed and alerted on by a monitoring system.

use super::AppState;
use super::api::status_of;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let s = match status_of(&state).await {
        Ok(s) => s,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let mut out = String::new();
    let counters = [
        ("messages_accepted_total", "Messages received over SMTP and queued", s.accepted),
        ("messages_rejected_total", "SMTP commands refused by policy", s.rejected),
        ("messages_delivered_total", "Deliveries to a next hop", s.delivered),
        ("messages_dropped_total", "Messages dropped by policy", s.dropped),
        ("messages_held_total", "Messages moved to the hold queue", s.held),
        ("messages_forwarded_total", "Messages forwarded by policy", s.forwarded),
        ("infections_repaired_total", "Infected files repaired", s.repaired),
        ("infections_deleted_total", "Infected files deleted", s.deleted),
        ("infections_logged_total", "Infected files logged only", s.logged),
        ("infections_quarantined_total", "Infected files quarantined", s.quarantined),
        ("attachments_stripped_total", "Top-level attachments removed", s.attachments_stripped),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP mxguard_{name} {help}.\n# TYPE mxguard_{name} counter\nmxguard_{name} {value}");
    }
    let _ = writeln!(
        out,
        "# HELP mxguard_received_megabytes_total Megabytes received over SMTP.\n\
         # TYPE mxguard_received_megabytes_total counter\nmxguard_received_megabytes_total {}",
        s.mb_received
    );
    let _ = writeln!(out, "# HELP mxguard_queue_messages Messages in each queue.\n# TYPE mxguard_queue_messages gauge");
    for (queue, n) in [("fast", s.queue_fast), ("slow", s.queue_slow), ("hold", s.queue_hold)] {
        let _ = writeln!(out, "mxguard_queue_messages{{queue=\"{queue}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP mxguard_definitions_sequence Sequence of the definitions in use.\n\
         # TYPE mxguard_definitions_sequence gauge\nmxguard_definitions_sequence {}",
        s.defs_sequence.unwrap_or(0)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}
