//! The settings pages: every tab of Configuration, Blocking Policy and
//! Antivirus Policy that is a form over configuration keys, each with its
//! Notify tab where SPEC §8 gives one. One table describes them; one pair
//! of handlers shows and saves them all.

use super::forms::{self, FieldSet, Group};
use super::{Frame, Link, render, tabs};
use crate::admin::AppState;
use crate::admin::change::{self, Refused};
use crate::admin::guard::Visitor;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};

/// A settings page: where it is, what it edits, its tab row.
pub struct SettingsPage {
    pub path: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub groups: &'static [Group],
    pub tabs: &'static [(&'static str, &'static str)],
}

const fn group(title: &'static str, table: &'static str) -> Group {
    Group { title, table, keys: &[] }
}

const CONTENT_TABS: &[(&str, &str)] = &[("/blocking/content", "Content"), ("/blocking/content/notify", "Notify")];
const CONTAINER_TABS: &[(&str, &str)] =
    &[("/blocking/container", "Container Limits"), ("/blocking/container/notify", "Notify")];
const ENCRYPTED_TABS: &[(&str, &str)] =
    &[("/blocking/encrypted", "Encrypted Container"), ("/blocking/encrypted/notify", "Notify")];
const ANTISPAM_TABS: &[(&str, &str)] = &[("/blocking/antispam", "Anti-Spam"), ("/blocking/antispam/notify", "Notify")];
const ANTIVIRUS_TABS: &[(&str, &str)] = &[("/antivirus", "Antivirus"), ("/antivirus/notify", "Notify")];
const OUTBREAK_TABS: &[(&str, &str)] =
    &[("/antivirus/outbreak", "Outbreak Alert"), ("/antivirus/outbreak/notify", "Notify")];

/// Every settings page.
pub const PAGES: &[SettingsPage] = &[
    SettingsPage {
        path: "/config/setup",
        title: "Setup",
        intro: "Listeners, limits and delivery. Port changes take effect at once; a port another listener uses is refused.",
        groups: &[
            group("SMTP", "smtp"),
            group("Delivery", "delivery"),
            Group { title: "Administration", table: "admin", keys: &["http_listen", "https_listen"] },
            group("DNS", "dns"),
            group("Directories", "paths"),
        ],
        tabs: &[],
    },
    SettingsPage {
        path: "/config/scan",
        title: "Scan Policy",
        intro: "Which attachments are scanned for viruses: all, only the listed extensions, or all but the listed ones.",
        groups: &[Group { title: "Scan policy", table: "antivirus", keys: &["scan_policy", "include", "exclude"] }],
        tabs: &[],
    },
    SettingsPage {
        path: "/config/alerts",
        title: "Alerts",
        intro: "System alerts go to the administrator addresses of the Accounts page.",
        groups: &[group("Alerts", "alerts")],
        tabs: &[],
    },
    SettingsPage {
        path: "/config/logging",
        title: "Logging",
        intro: "Events kept for the reports, and their forwarding to syslog (udp://host:514 or tcp://host:601).",
        groups: &[group("Logging", "logging")],
        tabs: &[],
    },
    SettingsPage {
        path: "/config/diagnostics",
        title: "Diagnostics",
        intro: "SMTP conversation logs and queue-file copies, written to the diagnostics directory.",
        groups: &[group("Diagnostics", "diagnostics")],
        tabs: &[],
    },
    SettingsPage {
        path: "/blocking/content",
        title: "Content",
        intro: "Messages blocked by size, subject or attachment file name.",
        groups: &[
            Group { title: "Unprocessable messages", table: "blocking", keys: &["unprocessable"] },
            group("Message size", "blocking.size"),
            group("Subject", "blocking.subject"),
            group("File name", "blocking.filename"),
        ],
        tabs: CONTENT_TABS,
    },
    SettingsPage {
        path: "/blocking/content/notify",
        title: "Content",
        intro: "Who is told about a content violation, and what they read.",
        groups: &[group("Content violation notification", "notify.content")],
        tabs: CONTENT_TABS,
    },
    SettingsPage {
        path: "/blocking/container",
        title: "Container Limits",
        intro: "Limits on taking archives apart; a message over a limit follows the unprocessable policy.",
        groups: &[group("Container limits", "blocking.container")],
        tabs: CONTAINER_TABS,
    },
    SettingsPage {
        path: "/blocking/container/notify",
        title: "Container Limits",
        intro: "Who is told when a container is over a limit.",
        groups: &[group("Container limit notification", "notify.container")],
        tabs: CONTAINER_TABS,
    },
    SettingsPage {
        path: "/blocking/encrypted",
        title: "Encrypted Container",
        intro: "Encrypted archives cannot be scanned: what to do with them.",
        groups: &[group("Encrypted containers", "blocking.encrypted")],
        tabs: ENCRYPTED_TABS,
    },
    SettingsPage {
        path: "/blocking/encrypted/notify",
        title: "Encrypted Container",
        intro: "Who is told about an encrypted container.",
        groups: &[group("Encrypted container notification", "notify.encrypted")],
        tabs: ENCRYPTED_TABS,
    },
    SettingsPage {
        path: "/blocking/antispam",
        title: "Anti-Spam",
        intro: "Blocked senders, DNS block lists with their white list, and the heuristic spam detection.",
        groups: &[
            group("Sender", "blocking.sender"),
            group("DNS block lists", "blocking.dnsbl"),
            group("Heuristic", "blocking.spam"),
        ],
        tabs: ANTISPAM_TABS,
    },
    SettingsPage {
        path: "/blocking/antispam/notify",
        title: "Anti-Spam",
        intro: "Who is told about mail from a listed sender (never for heuristic spam).",
        groups: &[group("Anti-spam notification", "notify.spam")],
        tabs: ANTISPAM_TABS,
    },
    SettingsPage {
        path: "/blocking/antirelay",
        title: "Anti-Relay",
        intro: "Which clients may relay to other domains, and characters refused in addresses.",
        groups: &[group("Relay", "relay")],
        tabs: &[],
    },
    SettingsPage {
        path: "/antivirus",
        title: "Antivirus",
        intro: "Virus scanning and what is done with an infected attachment.",
        groups: &[Group {
            title: "Antivirus",
            table: "antivirus",
            keys: &[
                "enabled",
                "heuristic_level",
                "on_detect",
                "on_unrepairable",
                "on_not_removed",
                "replace",
                "replacement_text",
                "defs_dir",
                "scanners",
            ],
        }],
        tabs: ANTIVIRUS_TABS,
    },
    SettingsPage {
        path: "/antivirus/notify",
        title: "Antivirus",
        intro: "Who is told about a virus, and what they read.",
        groups: &[group("Virus notification", "notify.virus")],
        tabs: ANTIVIRUS_TABS,
    },
    SettingsPage {
        path: "/antivirus/quarantine",
        title: "Quarantine",
        intro: "Infected files sent to the Central Quarantine (mode: nothing, unrepaired or all), and how to reach it. While it is down, files wait in the local quarantine.",
        groups: &[group("Central Quarantine", "antivirus.quarantine")],
        tabs: &[],
    },
    SettingsPage {
        path: "/antivirus/outbreak",
        title: "Outbreak Alert",
        intro: "An alert when many infected messages arrive within a few minutes.",
        groups: &[group("Outbreak", "antivirus.outbreak")],
        tabs: OUTBREAK_TABS,
    },
    SettingsPage {
        path: "/antivirus/outbreak/notify",
        title: "Outbreak Alert",
        intro: "The outbreak alert's text.",
        groups: &[group("Outbreak notification", "notify.outbreak")],
        tabs: OUTBREAK_TABS,
    },
];

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsView<'a> {
    frame: Frame,
    tabs: Vec<Link>,
    intro: &'a str,
    action: &'a str,
    sets: Vec<FieldSet>,
    errors: Vec<String>,
}

fn page_at(path: &str) -> Option<&'static SettingsPage> {
    PAGES.iter().find(|p| p.path == path)
}

fn view(visitor: &Visitor, page: &SettingsPage, sets: Vec<FieldSet>, errors: Vec<String>, notice: &str) -> Response {
    let frame = Frame::new(visitor, page.path, page.title).with_notice(notice);
    render(&SettingsView {
        frame,
        tabs: tabs(page.path, page.tabs),
        intro: page.intro,
        action: page.path,
        sets,
        errors,
    })
}

/// The notice after a save (`?saved`).
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// `GET` a settings page.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    axum::extract::Query(saved): axum::extract::Query<Saved>,
) -> Response {
    let Some(page) = page_at(uri.path()) else { return super::not_found().await };
    let notice = if saved.saved.is_some() { "Saved. The change is in effect." } else { "" };
    view(&visitor, page, forms::fields(&state.config.current(), page.groups), Vec::new(), notice)
}

/// `POST` a settings page: validate, save and apply, or show the problems.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let Some(page) = page_at(uri.path()) else { return super::not_found().await };
    let csrf = forms::posted_value(&posted, "csrf");
    if let Some(refused) = visitor.csrf_refusal(&state, csrf, &format!("POST {}", page.path)) {
        return refused;
    }
    match change::update(&state, &visitor, move |config| forms::apply(config, page.groups, &posted)).await {
        Ok(()) => Redirect::to(&format!("{}?saved", page.path)).into_response(),
        Err(Refused::Invalid((sets, errors))) => {
            let mut response = view(&visitor, page, sets, errors, "");
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(Refused::Save(why)) => {
            let sets = forms::fields(&state.config.current(), page.groups);
            view(&visitor, page, sets, vec![format!("Nothing was saved: {why}")], "")
        }
    }
}
