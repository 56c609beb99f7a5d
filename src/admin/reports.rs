//! `/api/v1/reports/summary` and `/api/v1/reports/detail`: the reports of
//! SPEC §10 over a time range, read from the event store; the detail also
//! as CSV (`&format=csv`), which is then kept in the log directory too.

use super::AppState;
use crate::events::store::{EventStore, SqliteStore};
use crate::events::{Category, Record};
use crate::report::{DetailQuery, csv_text, detail_json, write_csv};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::path::PathBuf;

/// The query string of both reports.
#[derive(Debug, Deserialize)]
pub struct Range {
    /// RFC 3339.
    from: String,
    to: String,
    /// `system`, `smtp`, `message`, `blocking`, comma-separated; none = all.
    #[serde(default)]
    category: String,
    #[serde(default)]
    search: String,
    /// `csv` for the detail report as a file.
    #[serde(default)]
    format: String,
}

/// A refused or failed request: the status and a sentence for the client.
pub type Failure = (StatusCode, String);

fn bad_request(why: String) -> Failure {
    (StatusCode::BAD_REQUEST, format!("{why}\n"))
}

fn millis(name: &str, value: &str) -> Result<i64, Failure> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|e| bad_request(format!("{name} = {value:?}: an RFC 3339 time is needed ({e})")))
}

impl Range {
    fn query(&self) -> Result<DetailQuery, Failure> {
        let categories = self
            .category
            .split(',')
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                Category::parse(c).ok_or_else(|| {
                    bad_request(format!("category = {c:?}: one of system, smtp, message, blocking is needed"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let search = Some(self.search.trim().to_string()).filter(|s| !s.is_empty());
        Ok(DetailQuery {
            from: millis("from", &self.from)?,
            to: millis("to", &self.to)?,
            categories,
            search,
            limit: None,
        })
    }
}

/// Run `read` on a read-only connection to the store, off the runtime.
pub async fn with_store<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&SqliteStore) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let log_dir = PathBuf::from(&state.config.current().paths.log_dir);
    let result = tokio::task::spawn_blocking(move || read(&SqliteStore::open_readonly(&log_dir)?)).await;
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err((StatusCode::SERVICE_UNAVAILABLE, format!("event store unavailable: {e:#}\n"))),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))),
    }
}

/// `GET /api/v1/reports/summary?from=&to=`.
pub async fn summary(State(state): State<AppState>, Query(range): Query<Range>) -> Response {
    let run = async {
        let q = range.query()?;
        let summary = with_store(&state, move |store| store.summary(q.from, q.to)).await?;
        Ok::<_, Failure>(Json(summary).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// The Detail report as a CSV download, also kept in the log directory
/// as `MXGUARDyyyymmddhhmm.csv` (SPEC §10).
pub async fn csv_download(state: &AppState, records: Vec<Record>) -> Response {
    let log_dir = PathBuf::from(&state.config.current().paths.log_dir);
    let now = chrono::Local::now().naive_local();
    let text = csv_text(&records);
    let saved = tokio::task::spawn_blocking(move || write_csv(&records, &log_dir, now)).await;
    let name = match saved {
        Ok(Ok(path)) => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        other => {
            tracing::error!("the detail report CSV could not be saved: {other:?}");
            "MXGUARD.csv".into()
        }
    };
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], text)
        .into_response()
}

/// `GET /api/v1/reports/detail?from=&to=[&category=][&search=][&format=csv]`.
pub async fn detail(State(state): State<AppState>, Query(range): Query<Range>) -> Response {
    let run = async {
        let q = range.query()?;
        let records = with_store(&state, move |store| store.detail(&q)).await?;
        if !range.format.eq_ignore_ascii_case("csv") {
            return Ok(Json(detail_json(&records)).into_response());
        }
        Ok::<_, Failure>(csv_download(&state, records).await)
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
