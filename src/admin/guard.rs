//! Who may see what: pages need a logged-on session (else the logon page),
//! pages outside Status and Reporting need the Administrator role (else
//! 403 and an *Unauthorized attempt* event), every form proves it came from
//! our own page (CSRF token), and every response carries the security
//! headers that keep the pages out of frames and sniffers.

use super::AppState;
use super::accounts::Role;
use super::pages;
use super::session::{self, Session};
use crate::events::Event;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Whether a request came in over HTTPS; set by each listener.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub https: bool,
}

/// A logged-on visitor, as the page handlers see them.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub session: Session,
    pub role: Role,
    pub client_ip: IpAddr,
    pub https: bool,
}

impl Visitor {
    /// The user name events record.
    pub fn user(&self) -> &'static str {
        self.role.name()
    }

    /// Accept a form only with this session's CSRF token: `None`, or the
    /// refusal to send (after an *HTTP protocol violation* event).
    pub fn csrf_refusal(&self, state: &AppState, presented: &str, request: &str) -> Option<Response> {
        if constant_time_eq(&self.session.csrf, presented) {
            return None;
        }
        Some(refuse_forged(state, self.client_ip, request))
    }
}

/// The 403 for a form that did not come from our page.
pub fn refuse_forged(state: &AppState, client_ip: IpAddr, request: &str) -> Response {
    let response = "403 form without a valid CSRF token".to_string();
    state.events.emit(Event::HttpProtocolViolation {
        client_ip: client_ip.to_string(),
        request: request.to_string(),
        response: response.clone(),
    });
    pages::message(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form was not sent from a current mxguard page (or the page was open too long). Open the page again and repeat the change.",
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Visitor>().cloned().ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// The client's address, from the connection.
pub fn client_ip<B>(request: &axum::http::Request<B>) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip())
}

/// Whether the request came over HTTPS.
pub fn is_https<B>(request: &axum::http::Request<B>) -> bool {
    request.extensions().get::<Transport>().is_some_and(|t| t.https)
}

/// The session the request's cookie names, if it is still live.
pub fn session_of<B>(state: &AppState, request: &axum::http::Request<B>) -> Option<Session> {
    let cookie = request.headers().get(header::COOKIE)?.to_str().ok()?;
    let id = session::cookie_value(cookie)?;
    let timeout = Duration::from_secs(60 * state.config.current().admin.timeout_minutes);
    state.sessions.find(id, timeout)
}

/// Let only logged-on sessions through; others go to the logon page.
pub async fn logged_on(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(session) = session_of(&state, &request) else { return Redirect::to("/login").into_response() };
    let Some(role) = session.role else { return Redirect::to("/login").into_response() };
    let visitor = Visitor { session, role, client_ip: client_ip(&request), https: is_https(&request) };
    request.extensions_mut().insert(visitor);
    next.run(request).await
}

/// Let only the Administrator through; a Report-only administrator gets
/// 403 and the attempt is an event.
pub async fn administrator(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(visitor) = request.extensions().get::<Visitor>() else {
        return Redirect::to("/login").into_response();
    };
    if visitor.role == Role::Admin {
        return next.run(request).await;
    }
    state.events.emit(Event::UnauthorizedAttempt {
        user: visitor.user().into(),
        client_ip: visitor.client_ip.to_string(),
        what: format!("{} {}", request.method(), request.uri().path()),
    });
    pages::message(
        StatusCode::FORBIDDEN,
        "Not allowed",
        "The Report-only administrator can see the Status page and the reports only.",
    )
}

/// The headers every answer carries: no framing, no sniffing, no
/// referrer, nothing cached, and a content policy without scripts.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Compare without stopping at the first difference, so response time
/// does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
