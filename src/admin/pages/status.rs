//! The Status page (SPEC §8): the system, the messages and infections
//! since start, the queues and attachments, and two charts of the last 24
//! hours (messages and infections per hour) drawn as SVG on the server.

use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::api::{Status, status_of};
use crate::admin::guard::Visitor;
use crate::events::store::{EventStore, SqliteStore};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use std::path::PathBuf;

/// One bar chart: an hourly series of two values.
pub struct Chart {
    /// `(x, height)` of the bars of each series, in SVG units.
    pub bars_a: Vec<(u32, u32)>,
    pub bars_b: Vec<(u32, u32)>,
    pub max: u64,
    /// Labels under the axis: `(x, "14:00")`.
    pub labels: Vec<(u32, String)>,
    pub total_a: u64,
    pub total_b: u64,
}

const HOURS: i64 = 24;
const WIDTH: u32 = 30;
const HEIGHT: u32 = 120;

impl Chart {
    /// The chart of `hourly` rows over the 24 hours ending at `now_ms`.
    pub fn of(hourly: &[(i64, u64, u64)], now_ms: i64) -> Chart {
        let first = (now_ms / 3_600_000 - (HOURS - 1)) * 3_600_000;
        let mut a = [0u64; HOURS as usize];
        let mut b = [0u64; HOURS as usize];
        for &(hour, accepted, infected) in hourly {
            if let Ok(i) = usize::try_from((hour - first) / 3_600_000)
                && i < a.len()
            {
                (a[i], b[i]) = (accepted, infected);
            }
        }
        let max = a.iter().chain(&b).copied().max().unwrap_or(0).max(1);
        let height = |v: u64| u32::try_from(v * u64::from(HEIGHT) / max).unwrap_or(HEIGHT);
        let x = |i: usize| 30 + u32::try_from(i).unwrap_or(0) * WIDTH;
        let labels = (0..a.len())
            .step_by(4)
            .filter_map(|i| {
                let at = chrono::DateTime::from_timestamp_millis(first + i as i64 * 3_600_000)?;
                Some((x(i), at.with_timezone(&chrono::Local).format("%H:00").to_string()))
            })
            .collect();
        Chart {
            bars_a: a.iter().enumerate().map(|(i, &v)| (x(i) + 2, height(v))).collect(),
            bars_b: b.iter().enumerate().map(|(i, &v)| (x(i) + 16, height(v))).collect(),
            max,
            labels,
            total_a: a.iter().sum(),
            total_b: b.iter().sum(),
        }
    }
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    frame: Frame,
    s: Status,
    listen: String,
    version: &'static str,
    uptime: String,
    last_update: String,
    certificate: String,
    chart: Option<Chart>,
}

fn uptime(started_at: &str) -> String {
    let Ok(start) = chrono::DateTime::parse_from_rfc3339(started_at) else { return String::new() };
    let secs = (chrono::Utc::now() - start.to_utc()).num_seconds().max(0);
    format!("{}d {:02}h {:02}m", secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60)
}

/// `GET /status`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Response {
    let s = match status_of(&state).await {
        Ok(s) => s,
        Err(e) => {
            let status = axum::http::StatusCode::SERVICE_UNAVAILABLE;
            return super::message(status, "Status unavailable", &e);
        }
    };
    let config = state.config.current();
    let log_dir = PathBuf::from(&config.paths.log_dir);
    let now = chrono::Utc::now().timestamp_millis();
    let hourly = tokio::task::spawn_blocking(move || {
        SqliteStore::open_readonly(&log_dir)?.hourly(now - HOURS * 3_600_000, now + 1)
    })
    .await;
    let chart = match hourly {
        Ok(Ok(rows)) => Some(Chart::of(&rows, now)),
        _ => None,
    };
    let last_update = state.counters.last_update().map_or("none since start".into(), |(at, r)| format!("{at}: {r}"));
    let certificate = match state.certs.info().map(|i| i.installed) {
        Ok(Some(at)) => format!("installed {}", at.format("%Y-%m-%d")),
        Ok(None) => "Not installed".into(),
        Err(e) => e.to_string(),
    };
    render(&StatusPage {
        certificate,
        frame: Frame::new(&visitor, "/status", "Status"),
        uptime: uptime(&s.started_at),
        s,
        listen: config.smtp.listen.join(", "),
        version: env!("CARGO_PKG_VERSION"),
        last_update,
        chart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_land_in_their_hours() {
        let now = 1_700_000_000_000;
        let this_hour = now / 3_600_000 * 3_600_000;
        let chart = Chart::of(&[(this_hour, 10, 2), (this_hour - 3_600_000, 5, 0), (0, 99, 99)], now);
        assert_eq!(chart.max, 10, "rows outside the 24 hours are left out");
        assert_eq!((chart.total_a, chart.total_b), (15, 2));
        assert_eq!(chart.bars_a[23].1, HEIGHT);
        assert_eq!(chart.bars_a[22].1, HEIGHT / 2);
        assert_eq!(chart.bars_b[23].1, HEIGHT / 5);
        assert_eq!(chart.labels.len(), 6);
    }
}
