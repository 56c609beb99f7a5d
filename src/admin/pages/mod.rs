//! The browser pages of SPEC §8: one file per section, one template per
//! page, all inside the shared layout with the left pane. Handlers read
//! the state, build a template and render it; saving goes through the
//! same validation and `ConfigHandle::update` as the JSON API.

pub mod accounts;
pub mod certs;
pub mod forms;
pub mod hold;
pub mod liveupdate;
pub mod reports;
pub mod routing;
pub mod settings;
pub mod status;

use super::accounts::Role;
use super::guard::Visitor;
use askama::Template;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// The left pane: sections and their pages, as SPEC §8 lists them.
const SECTIONS: &[(&str, &[(&str, &str)])] = &[
    ("Status", &[("/status", "Status")]),
    (
        "Configuration",
        &[
            ("/config/accounts", "Accounts"),
            ("/config/setup", "Setup"),
            ("/config/hold", "Hold Queue"),
            ("/config/scan", "Scan Policy"),
            ("/config/routing", "Routing"),
            ("/config/alerts", "Alerts"),
            ("/config/logging", "Logging"),
            ("/config/diagnostics", "Diagnostics"),
            ("/certs", "Certificates"),
        ],
    ),
    (
        "Blocking Policy",
        &[
            ("/blocking/content", "Content"),
            ("/blocking/container", "Container Limits"),
            ("/blocking/encrypted", "Encrypted Container"),
            ("/blocking/antispam", "Anti-Spam"),
            ("/blocking/antirelay", "Anti-Relay"),
        ],
    ),
    (
        "Antivirus Policy",
        &[
            ("/antivirus", "Antivirus"),
            ("/antivirus/quarantine", "Quarantine"),
            ("/antivirus/outbreak", "Outbreak Alert"),
        ],
    ),
    ("LiveUpdate", &[("/liveupdate", "LiveUpdate")]),
    ("Reporting", &[("/reports/summary", "Summary Report"), ("/reports/detail", "Detail Report")]),
];

/// The pages a Report-only administrator may open.
pub const REPORT_ONLY_PAGES: [&str; 3] = ["/status", "/reports/summary", "/reports/detail"];

/// A link in the left pane or a tab row.
#[derive(Debug, Clone)]
pub struct Link {
    pub path: String,
    pub title: String,
    pub current: bool,
}

/// A left-pane section.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: &'static str,
    pub links: Vec<Link>,
}

/// What the layout shows around every page: the pane for the visitor's
/// role, who is logged on, and the CSRF token forms embed.
#[derive(Debug, Clone)]
pub struct Frame {
    pub title: String,
    pub sections: Vec<Section>,
    pub user: &'static str,
    pub csrf: String,
    /// A one-line confirmation ("Saved.") or nothing.
    pub notice: String,
}

impl Frame {
    /// The frame of page `path` titled `title` for `visitor`.
    pub fn new(visitor: &Visitor, path: &str, title: impl Into<String>) -> Frame {
        let allowed = |p: &str| visitor.role == Role::Admin || REPORT_ONLY_PAGES.contains(&p);
        let sections = SECTIONS
            .iter()
            .map(|(title, links)| Section {
                title,
                links: links
                    .iter()
                    .filter(|(p, _)| allowed(p))
                    .map(|(p, t)| Link { path: p.to_string(), title: t.to_string(), current: path.starts_with(p) })
                    .collect(),
            })
            .filter(|s| !s.links.is_empty())
            .collect();
        Frame {
            title: title.into(),
            sections,
            user: visitor.role.title(),
            csrf: visitor.session.csrf.clone(),
            notice: String::new(),
        }
    }

    /// The same frame with a confirmation line.
    pub fn with_notice(mut self, notice: impl Into<String>) -> Frame {
        self.notice = notice.into();
        self
    }
}

/// Tabs under a page title (a page and its Notify tab).
pub fn tabs(current: &str, list: &[(&str, &str)]) -> Vec<Link> {
    list.iter().map(|(p, t)| Link { path: p.to_string(), title: t.to_string(), current: *p == current }).collect()
}

/// Render a template, or a plain 500 naming the failure.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("page could not be rendered: {e}\n")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    text: &'a str,
}

/// A standalone page with a title and a sentence (403, 404, errors).
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    (status, render(&MessagePage { title, text })).into_response()
}

/// The stylesheet every page links (`/assets/admin.css`).
pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../../templates/admin.css")).into_response()
}

/// Any other path.
pub async fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found", "There is no such page. Use the left pane to find your way.")
}
