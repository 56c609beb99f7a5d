//! Logon and logoff. The logon form carries the CSRF token of a session
//! made for it; a wrong password is answered after a delay that grows
//! with the client's failures, and every attempt is a *Logon* event (the
//! third failure in a row raises the failed-logons alert). With
//! `admin.ssl_for_logons`, the logon page is only served over HTTPS. The
//! handlers serve any [`Site`]: the gateway and the Central Quarantine.

use super::accounts::Role;
use super::guard::{Site, client_ip, is_https, refuse_forged, session_of};
use super::pages::render;
use super::session;
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
    name: &'static str,
    csrf: String,
    error: String,
    role: &'static str,
    report_offered: bool,
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
fn https_redirect(site: &impl Site, headers: &HeaderMap) -> Option<Response> {
    let listen = site.https_listen();
    let port = listen.rsplit_once(':')?.1;
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host = match host.rsplit_once(':') {
        Some((name, p)) if p.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    Some(Redirect::to(&format!("https://{host}:{port}/login")).into_response())
}

fn page(site: &impl Site, csrf: String, role: &'static str, error: String) -> Response {
    render(&LoginPage {
        name: site.name(),
        csrf,
        error,
        role,
        report_offered: site.has_report_role(),
        report_enabled: site.report_enabled(),
        timeout: site.timeout_minutes(),
    })
}

/// `GET /login`: the form, with a fresh pre-logon session for its token.
pub async fn form<S: Site>(State(site): State<S>, request: Request) -> Response {
    let https = is_https(&request);
    if site.logons_need_https()
        && !https
        && let Some(redirect) = https_redirect(&site, request.headers())
    {
        return redirect;
    }
    if session_of(&site, &request).is_some_and(|s| s.role.is_some()) {
        return Redirect::to(site.home()).into_response();
    }
    let session = site.sessions().start();
    let mut response = page(&site, session.csrf, "admin", String::new());
    set_cookie(&mut response, session::set_cookie(site.cookie(), &session.id, https));
    response
}

/// `POST /login`.
pub async fn submit<S: Site>(State(site): State<S>, request: Request) -> Response {
    let client = client_ip(&request);
    let https = is_https(&request);
    if site.logons_need_https() && !https {
        return (StatusCode::FORBIDDEN, "logons are accepted over HTTPS only\n").into_response();
    }
    let session = session_of(&site, &request);
    let Ok(Form(form)) = Form::<LogonForm>::from_request(request, &()).await else {
        return refuse_forged(&site, client, "POST /login");
    };
    let Some(session) = session.filter(|s| super::guard::constant_time_eq(&s.csrf, &form.csrf)) else {
        return refuse_forged(&site, client, "POST /login");
    };
    let again = |error: &str, role: &'static str| page(&site, session.csrf.clone(), role, error.to_string());
    let Some(role) = Role::parse(&form.role) else {
        return again("Choose Administrator or Report-only administrator.", "admin");
    };
    if role == Role::Report && !site.report_enabled() {
        return again("The Report-only administrator account is disabled.", role.name());
    }
    let (accounts, password) = (site.accounts().clone(), form.password);
    let verified = tokio::task::spawn_blocking(move || accounts.verify(role, &password)).await.unwrap_or(false);
    let user = role.name().to_string();
    site.record(Event::Logon { user, client_ip: client.to_string(), success: verified });
    if !verified {
        tokio::time::sleep(site.sessions().failed_logon(client)).await;
        return again("The password is not correct for this account.", role.name());
    }
    site.sessions().logged_on(client);
    let logged_on = site.sessions().log_on(Some(&session.id), role);
    // 303 See Other: the browser follows with a GET.
    let mut response = Redirect::to(site.home()).into_response();
    set_cookie(&mut response, session::set_cookie(site.cookie(), &logged_on.id, https));
    response
}

/// `GET /logout`: end the session and go back to the logon page.
pub async fn logout<S: Site>(State(site): State<S>, request: Request) -> Response {
    if let Some(session) = session_of(&site, &request)
        && let Some(role) = session.role
    {
        site.sessions().end(&session.id);
        let client_ip = client_ip(&request).to_string();
        site.record(Event::Logoff { user: role.name().into(), client_ip });
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(&mut response, session::clear_cookie(site.cookie()));
    response
}

fn set_cookie(response: &mut Response, cookie: String) {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}
