//! The item list: the columns of the reference product's quarantine
//! console, filters (status, virus, gateway, sender, dates), sorting by
//! any column and paging. The query string is the API's (`Listing`), so a
//! page's address and `GET /api/v1/items` with the same query list the
//! same items; the links keep the filters while changing sort or page.

use super::figures::{Figures, figures};
use super::frame;
use crate::admin::guard::Visitor;
use crate::admin::pages::{Frame, render};
use crate::quarantine::server::console::Console;
use crate::quarantine::server::item::Item;
use crate::quarantine::server::query::Listing;
use crate::quarantine::server::service::blocking;
use crate::quarantine::server::status::Status;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The columns: title and sort name.
const COLUMNS: [(&str, &str); 10] = [
    ("File Name", "file_name"),
    ("Virus", "virus"),
    ("Status", "status"),
    ("Gateway", "gateway"),
    ("Sender", "sender"),
    ("Recipients", "recipients"),
    ("Subject", "subject"),
    ("Received", "received"),
    ("Definitions Needed", "definitions_needed"),
    ("Errors", "error"),
];

/// The page's own parameter, not a listing one: the item just deleted.
const DELETED: &str = "deleted";

/// A column heading: sorts by it, or the other way round when it is the
/// current sort.
pub struct Column {
    pub title: &'static str,
    pub link: String,
    /// ▲, ▼ or nothing.
    pub arrow: &'static str,
}

/// The filter form's values as given.
#[derive(Default)]
pub struct Filter {
    pub status: String,
    pub virus: String,
    pub gateway: String,
    pub sender: String,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "quarantine/list.html")]
struct ListPage {
    frame: Frame,
    figures: Figures,
    filter: Filter,
    statuses: [Status; 7],
    columns: Vec<Column>,
    items: Vec<Item>,
    total: u64,
    page: u64,
    pages: u64,
    previous: Option<String>,
    next: Option<String>,
    error: String,
}

/// `GET /items`.
pub async fn page(
    State(console): State<Console>,
    visitor: Visitor,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    let deleted = raw.iter().find(|(k, _)| k == DELETED).map(|(_, v)| v.clone());
    // An empty form field filters nothing.
    let pairs: Vec<(String, String)> = raw.into_iter().filter(|(k, v)| k != DELETED && !v.trim().is_empty()).collect();
    let value = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let filter = Filter {
        status: value("status"),
        virus: value("virus"),
        gateway: value("gateway"),
        sender: value("sender"),
        from: value("from"),
        to: value("to"),
    };
    let current =
        if filter.status.is_empty() { "/items".to_string() } else { format!("/items?status={}", filter.status) };
    let mut frame = frame(&visitor, "Quarantine Items", &current);
    if let Some(id) = deleted {
        frame = frame.with_notice(format!("Item {id} deleted."));
    }
    let figures = match figures(&console.q).await {
        Ok(f) => f,
        Err(e) => return super::failure(&e),
    };
    let (sort, order) = (value("sort"), value("order"));
    let sort = if sort.is_empty() { "received".to_string() } else { sort };
    let descending = order.is_empty() || order.eq_ignore_ascii_case("desc");
    let columns = COLUMNS
        .iter()
        .map(|(title, name)| {
            let sorted = *name == sort;
            // A new column starts with the newest or A first; the current one turns round.
            let next = match (sorted, descending) {
                (true, true) => "asc",
                (true, false) => "desc",
                (false, _) if *name == "received" => "desc",
                (false, _) => "asc",
            };
            let arrow = match (sorted, descending) {
                (false, _) => "",
                (true, true) => "▼",
                (true, false) => "▲",
            };
            Column { title, link: link(&pairs, &[("sort", name.to_string()), ("order", next.to_string())]), arrow }
        })
        .collect();
    let mut page = ListPage {
        frame,
        figures,
        filter,
        statuses: Status::ALL,
        columns,
        items: Vec::new(),
        total: 0,
        page: 1,
        pages: 1,
        previous: None,
        next: None,
        error: String::new(),
    };
    let listing = match Listing::parse(&pairs) {
        Ok(l) => l,
        Err(bad) => {
            page.error = format!("{} = {:?} cannot be used: allowed is {}.", bad.name, bad.value, bad.allowed);
            return (StatusCode::BAD_REQUEST, render(&page)).into_response();
        }
    };
    let (number, per_page) = (listing.page, listing.per_page);
    match blocking(&console.q, move |q| q.list(&listing)).await {
        Ok((items, total)) => {
            page.items = items;
            page.total = total;
            page.page = number;
            page.pages = total.div_ceil(per_page).max(1);
            page.previous = (number > 1).then(|| link(&pairs, &[("page", (number - 1).to_string())]));
            page.next = (number < page.pages).then(|| link(&pairs, &[("page", (number + 1).to_string())]));
            render(&page)
        }
        Err(e) => super::failure(&e),
    }
}

/// The list's address with `pairs` (filters, sort) and `changes` set; a
/// change of anything starts again from the first page unless the change
/// is the page.
fn link(pairs: &[(String, String)], changes: &[(&str, String)]) -> String {
    let mut kept: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| k != "page" && !changes.iter().any(|(c, _)| c == k)).cloned().collect();
    kept.extend(changes.iter().map(|(k, v)| (k.to_string(), v.clone())));
    format!("/items?{}", serde_urlencoded::to_string(&kept).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::link;

    #[test]
    fn links_keep_the_filters_and_encode_them() {
        let pairs = vec![("sender".to_string(), "a&b@x.test".to_string()), ("page".to_string(), "3".to_string())];
        assert_eq!(link(&pairs, &[("sort", "virus".into())]), "/items?sender=a%26b%40x.test&sort=virus");
        assert_eq!(link(&pairs, &[("page", "4".into())]), "/items?sender=a%26b%40x.test&page=4");
    }
}
