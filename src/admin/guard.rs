//! Who may see what: pages need a logged-on session (else the logon page),
//! pages outside Status and Reporting need the Administrator role (else
//! 403 and an *Unauthorized attempt* event), every form proves it came from
//! our own page (CSRF token), and every response carries the security
//! headers that keep the pages out of frames and sniffers. The gateway's
//! administration and the Central Quarantine both use these through
//! [`Site`].

use super::AppState;
use super::accounts::{Accounts, Role};
use super::pages;
use super::session::{self, Session, Sessions};
use crate::events::Event;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A web server with administrator logons. The gateway's administration
/// and the Central Quarantine share the logon pages, the session guard and
/// the CSRF checks through it, each with its own accounts, sessions, cookie
/// and record of security events.
pub trait Site: Clone + Send + Sync + 'static {
    /// What the logon page calls the server ("administration").
    fn name(&self) -> &'static str;
    /// The page a logged-on administrator starts on.
    fn home(&self) -> &'static str;
    /// The session cookie's name (see [`session::COOKIE`]).
    fn cookie(&self) -> &'static str;
    /// The password hashes.
    fn accounts(&self) -> &Accounts;
    /// The browser sessions.
    fn sessions(&self) -> &Sessions;
    /// Minutes without a request that end a session.
    fn timeout_minutes(&self) -> u64;
    /// Whether the server has a Report-only administrator at all.
    fn has_report_role(&self) -> bool {
        true
    }
    /// Whether the Report-only administrator may log on now.
    fn report_enabled(&self) -> bool;
    /// Whether logons must come over HTTPS (`admin.ssl_for_logons`).
    fn logons_need_https(&self) -> bool {
        false
    }
    /// The HTTPS "IP:port" a logon over plain HTTP is sent to.
    fn https_listen(&self) -> String {
        String::new()
    }
    /// Keep a logon, logoff or refused form for the administrators.
    fn record(&self, event: Event);
}

impl Site for AppState {
    fn name(&self) -> &'static str {
        "administration"
    }

    fn home(&self) -> &'static str {
        "/status"
    }

    fn cookie(&self) -> &'static str {
        session::COOKIE
    }

    fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    fn timeout_minutes(&self) -> u64 {
        self.config.current().admin.timeout_minutes
    }

    fn report_enabled(&self) -> bool {
        self.config.current().admin.report_only_enabled
    }

    fn logons_need_https(&self) -> bool {
        self.config.current().admin.ssl_for_logons
    }

    fn https_listen(&self) -> String {
        self.config.current().admin.https_listen.clone()
    }

    fn record(&self, event: Event) {
        self.events.emit(event);
    }
}

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
    pub fn csrf_refusal(&self, site: &impl Site, presented: &str, request: &str) -> Option<Response> {
        if constant_time_eq(&self.session.csrf, presented) {
            return None;
        }
        Some(refuse_forged(site, self.client_ip, request))
    }

    /// The same for a JSON API call made with the session: anything but a
    /// read must carry the CSRF token in an `X-CSRF-Token` header.
    pub fn api_csrf_refusal<B>(&self, site: &impl Site, request: &axum::http::Request<B>) -> Option<Response> {
        if matches!(*request.method(), Method::GET | Method::HEAD) {
            return None;
        }
        let presented = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        self.csrf_refusal(site, presented, &format!("{} {}", request.method(), request.uri().path()))
    }
}

/// The 403 for a form that did not come from our page.
pub fn refuse_forged(site: &impl Site, client_ip: IpAddr, request: &str) -> Response {
    let response = "403 form without a valid CSRF token".to_string();
    site.record(Event::HttpProtocolViolation {
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
pub fn session_of<B>(site: &impl Site, request: &axum::http::Request<B>) -> Option<Session> {
    let cookie = request.headers().get(header::COOKIE)?.to_str().ok()?;
    let id = session::cookie_value(cookie, site.cookie())?;
    site.sessions().find(id, Duration::from_secs(60 * site.timeout_minutes()))
}

/// The logged-on administrator the request's session belongs to, if any.
pub fn visitor<B>(site: &impl Site, request: &axum::http::Request<B>) -> Option<Visitor> {
    let session = session_of(site, request)?;
    let role = session.role?;
    Some(Visitor { session, role, client_ip: client_ip(request), https: is_https(request) })
}

/// Let only logged-on sessions through; others go to the logon page.
pub async fn logged_on<S: Site>(State(site): State<S>, mut request: Request, next: Next) -> Response {
    let Some(visitor) = visitor(&site, &request) else { return Redirect::to("/login").into_response() };
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
