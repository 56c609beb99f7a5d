//! The Accounts tab: the two administrators' passwords (the Report-only
//! one must differ), the Report-only account switch, the inactivity
//! timeout, HTTPS for logons, and the administrator addresses that
//! receive notifications and alerts.

use super::forms::{self, FieldSet, Group};
use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::accounts::Role;
use crate::admin::change::{self, Refused};
use crate::admin::guard::Visitor;
use crate::events::Event;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

const GROUPS: &[Group] = &[
    Group { title: "Logons", table: "admin", keys: &["report_only_enabled", "timeout_minutes", "ssl_for_logons"] },
    Group { title: "Administrator addresses", table: "notify", keys: &["admin_addresses"] },
];

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    frame: Frame,
    action: &'static str,
    sets: Vec<FieldSet>,
    errors: Vec<String>,
    passwords: [Password; 2],
}

/// One administrator's password form.
struct Password {
    /// `admin` or `report`, as the form posts it.
    role: &'static str,
    title: &'static str,
    /// Whether a password is set, in words.
    state: &'static str,
    rule: &'static str,
}

fn view(state: &AppState, visitor: &Visitor, sets: Vec<FieldSet>, errors: Vec<String>, notice: &str) -> Response {
    render(&AccountsPage {
        frame: Frame::new(visitor, "/config/accounts", "Accounts").with_notice(notice),
        action: "/config/accounts",
        sets,
        errors,
        passwords: [
            Password {
                role: "admin",
                title: "Administrator password",
                state: if state.accounts.has_password(Role::Admin) {
                    "Set."
                } else {
                    "Not set: nobody can log on as Administrator."
                },
                rule: "Passwords are case-sensitive.",
            },
            Password {
                role: "report",
                title: "Report-only administrator password",
                state: if state.accounts.has_password(Role::Report) {
                    "Set."
                } else {
                    "Not set: the account stays off until a password is set and it is enabled below."
                },
                rule: "It must differ from the Administrator's.",
            },
        ],
    })
}

/// `GET /config/accounts`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Response {
    view(&state, &visitor, forms::fields(&state.config.current(), GROUPS), Vec::new(), "")
}

/// `POST /config/accounts`: a new password (`password_role` set), or the
/// logon settings.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let value = |name: &str| forms::posted_value(&posted, name).to_string();
    if let Some(refused) = visitor.csrf_refusal(&state, &value("csrf"), "POST /config/accounts") {
        return refused;
    }
    let fields = || forms::fields(&state.config.current(), GROUPS);
    if let Some(role) = Role::parse(&value("password_role")) {
        let (password, confirm) = (value("password"), value("confirm"));
        if password != confirm {
            return view(&state, &visitor, fields(), vec!["The two passwords differ.".into()], "");
        }
        let accounts = state.accounts.clone();
        let set = tokio::task::spawn_blocking(move || accounts.set_password(role, &password)).await;
        return match set {
            Ok(Ok(())) => {
                let what = format!("password of the {}", role.title());
                let (user, client_ip) = (visitor.user().into(), visitor.client_ip.to_string());
                state.events.emit(Event::ObjectModified { what, user, client_ip });
                view(&state, &visitor, fields(), Vec::new(), "Password changed.")
            }
            Ok(Err(why)) => view(&state, &visitor, fields(), vec![why], ""),
            Err(e) => view(&state, &visitor, fields(), vec![e.to_string()], ""),
        };
    }
    match change::update(&state, &visitor, move |config| forms::apply(config, GROUPS, &posted)).await {
        Ok(()) => Redirect::to("/config/accounts").into_response(),
        Err(Refused::Invalid((sets, errors))) => view(&state, &visitor, sets, errors, ""),
        Err(Refused::Save(why)) => view(&state, &visitor, fields(), vec![format!("Nothing was saved: {why}")], ""),
    }
}
