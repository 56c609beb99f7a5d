//! Reporting (SPEC §10): the Summary report with its tables and a chart,
//! and the Detail report with range, categories and search, shown on the
//! page (*Generate Report*) or saved and downloaded as CSV (*Write to
//! CSV*). Both roles may use them.

use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::guard::Visitor;
use crate::admin::reports::{csv_download, with_store};
use crate::events::store::EventStore;
use crate::events::{Category, Record};
use crate::report::{self, DetailQuery, Summary};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

/// Rows a Detail report shows on the page; the CSV has them all.
const PAGE_ROWS: usize = 1000;

/// The range and filters as the form sends them.
struct Filters {
    from: String,
    to: String,
    categories: Vec<Category>,
    search: String,
    csv: bool,
}

impl Filters {
    /// From the query string; the last 24 hours when no range is given.
    fn of(query: &[(String, String)]) -> Filters {
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
        let now = chrono::Local::now();
        let or = |v: String, default: chrono::DateTime<chrono::Local>| {
            if v.is_empty() { default.format("%Y-%m-%d %H:%M").to_string() } else { v }
        };
        Filters {
            from: or(get("from"), now - chrono::Duration::hours(24)),
            to: or(get("to"), now + chrono::Duration::minutes(1)),
            categories: query.iter().filter(|(k, _)| k == "category").filter_map(|(_, v)| Category::parse(v)).collect(),
            search: get("search"),
            csv: !get("csv").is_empty(),
        }
    }

    fn range(&self) -> Result<(i64, i64), String> {
        let (from, to) = (report::parse_time(&self.from)?, report::parse_time(&self.to)?);
        if from >= to {
            return Err("The start of the range must be before its end.".into());
        }
        Ok((from, to))
    }
}

/// A category check box.
pub struct CategoryBox {
    pub name: &'static str,
    pub checked: bool,
}

/// A horizontal bar of the summary chart.
pub struct Bar {
    pub label: &'static str,
    pub value: u64,
    pub y: u32,
    pub width: u32,
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryPage {
    frame: Frame,
    from: String,
    to: String,
    error: String,
    summary: Option<Summary>,
    bars: Vec<Bar>,
}

fn bars(s: &Summary) -> Vec<Bar> {
    let figures = [
        ("Accepted", s.messages_accepted),
        ("Rejected", s.messages_rejected),
        ("Delivered", s.messages_delivered),
        ("Bounced", s.messages_bounced),
        ("Delivery failures", s.message_delivery_failures),
        ("Infections", s.infections_total),
    ];
    let max = figures.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row = |i: usize| u32::try_from(i).unwrap_or(0) * 24;
    let width = |v: u64| u32::try_from(v * 420 / max).unwrap_or(420);
    figures
        .iter()
        .enumerate()
        .map(|(i, &(label, value))| Bar { label, value, y: row(i), width: width(value) })
        .collect()
}

/// `GET /reports/summary`.
pub async fn summary(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let filters = Filters::of(&query);
    let frame = Frame::new(&visitor, "/reports/summary", "Summary Report");
    let (summary, error) = match filters.range() {
        Err(e) => (None, e),
        Ok((from, to)) => match with_store(&state, move |store| store.summary(from, to)).await {
            Ok(s) => (Some(s), String::new()),
            Err((_, why)) => (None, why),
        },
    };
    let bars = summary.as_ref().map(bars).unwrap_or_default();
    render(&SummaryPage { frame, from: filters.from, to: filters.to, error, summary, bars })
}

#[derive(Template)]
#[template(path = "detail.html")]
struct DetailPage {
    frame: Frame,
    from: String,
    to: String,
    search: String,
    categories: Vec<CategoryBox>,
    error: String,
    rows: Vec<Vec<String>>,
    more: bool,
}

/// `GET /reports/detail` (with `csv=1`: the CSV download).
pub async fn detail(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let filters = Filters::of(&query);
    let frame = Frame::new(&visitor, "/reports/detail", "Detail Report");
    let categories =
        Category::ALL.iter().map(|c| CategoryBox { name: c.name(), checked: filters.categories.contains(c) }).collect();
    let mut page = DetailPage {
        frame,
        from: filters.from.clone(),
        to: filters.to.clone(),
        search: filters.search.clone(),
        categories,
        error: String::new(),
        rows: Vec::new(),
        more: false,
    };
    let (from, to) = match filters.range() {
        Ok(range) => range,
        Err(e) => {
            page.error = e;
            return render(&page);
        }
    };
    let search = Some(filters.search.clone()).filter(|s| !s.is_empty());
    let limit = if filters.csv { None } else { Some(PAGE_ROWS + 1) };
    let q = DetailQuery { from, to, categories: filters.categories.clone(), search, limit };
    match with_store(&state, move |store| store.detail(&q)).await {
        Ok(records) if filters.csv => csv_download(&state, records).await,
        Ok(records) => {
            page.more = records.len() > PAGE_ROWS;
            page.rows = records.iter().take(PAGE_ROWS).map(row).collect();
            render(&page)
        }
        Err((_, why)) => {
            page.error = why;
            render(&page).into_response()
        }
    }
}

/// The columns the page shows: local time, category, action, then the
/// filled columns by name.
fn row(r: &Record) -> Vec<String> {
    let category = r.category.map(|c| c.name().to_string()).unwrap_or_default();
    let details = report::filled_columns(r).iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ");
    vec![report::local_minute(r.time), category, r.action.clone(), details]
}
