//! Logon and logoff. The logon form carries the CSRF token of a session
//! made for it; a wrong password is answered after a delay that grows
//! with the client's failures, and every attempt is a *Logon* event (the
//! third failure in a row raises the failed-logons alert). With
//! `admin.ssl_for_logons`, the logon page is only served over HTTPS.

use super::AppState;
use super::accounts::Role;
use super::guard::{client_ip, is_https, refuse_forged, session_of};
use super::pages::render;
use super::session::{self, COOKIE};
use crate::events::Event;
use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    error: String,
    role: &'static str,
    report_enabled: bool,
    timeout: u64,
}

/// What the logon form sends.
#[derive(Debug, Deserialize)]
pub struct LogonForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The same page over HTTPS when logons must be encrypted.
fn https_redirect(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let config = state.config.current();
    let port = config.admin.https_listen.rsplit_once(':')?.1.to_string();
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host = match host.rsplit_once(':') {
        Some((name, p)) if p.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    Some(Redirect::to(&format!("https://{host}:{port}/login")).into_response())
}

fn page(state: &AppState, csrf: String, role: &'static str, error: String) -> Response {
    let admin = &state.config.current().admin;
    let report_enabled = admin.report_only_enabled;
    render(&LoginPage { csrf, error, role, report_enabled, timeout: admin.timeout_minutes })
}

/// `GET /login`: the form, with a fresh pre-logon session for its token.
pub async fn form(State(state): State<AppState>, request: Request) -> Response {
    let https = is_https(&request);
    if state.config.current().admin.ssl_for_logons
        && !https
        && let Some(redirect) = https_redirect(&state, request.headers())
    {
        return redirect;
    }
    if session_of(&state, &request).is_some_and(|s| s.role.is_some()) {
        return Redirect::to("/status").into_response();
    }
    let session = state.sessions.start();
    let mut response = page(&state, session.csrf, "admin", String::new());
    set_cookie(&mut response, &session.id, https);
    response
}

/// `POST /login`.
pub async fn submit(State(state): State<AppState>, request: Request) -> Response {
    let client = client_ip(&request);
    let https = is_https(&request);
    if state.config.current().admin.ssl_for_logons && !https {
        return (StatusCode::FORBIDDEN, "logons are accepted over HTTPS only\n").into_response();
    }
    let session = session_of(&state, &request);
    let Ok(Form(form)) = Form::<LogonForm>::from_request(request, &()).await else {
        return refuse_forged(&state, client, "POST /login");
    };
    let Some(session) = session.filter(|s| super::guard::constant_time_eq(&s.csrf, &form.csrf)) else {
        return refuse_forged(&state, client, "POST /login");
    };
    let again = |error: &str, role: &'static str| page(&state, session.csrf.clone(), role, error.to_string());
    let Some(role) = Role::parse(&form.role) else {
        return again("Choose Administrator or Report-only administrator.", "admin");
    };
    let config = state.config.current();
    if role == Role::Report && !config.admin.report_only_enabled {
        return again("The Report-only administrator account is disabled.", role.name());
    }
    let (accounts, password) = (state.accounts.clone(), form.password);
    let verified = tokio::task::spawn_blocking(move || accounts.verify(role, &password)).await.unwrap_or(false);
    let user = role.name().to_string();
    state.events.emit(Event::Logon { user, client_ip: client.to_string(), success: verified });
    if !verified {
        tokio::time::sleep(state.sessions.failed_logon(client)).await;
        return again("The password is not correct for this account.", role.name());
    }
    state.sessions.logged_on(client);
    let logged_on = state.sessions.log_on(Some(&session.id), role);
    // 303 See Other: the browser follows with a GET.
    let mut response = Redirect::to("/status").into_response();
    set_cookie(&mut response, &logged_on.id, https);
    response
}

/// `GET /logout`: end the session and go back to the logon page.
pub async fn logout(State(state): State<AppState>, request: Request) -> Response {
    if let Some(session) = session_of(&state, &request)
        && let Some(role) = session.role
    {
        state.sessions.end(&session.id);
        let client_ip = client_ip(&request).to_string();
        state.events.emit(Event::Logoff { user: role.name().into(), client_ip });
    }
    let mut response = Redirect::to("/login").into_response();
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = expired.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn set_cookie(response: &mut Response, id: &str, https: bool) {
    if let Ok(value) = session::set_cookie(id, https).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}
