//! Who may call the quarantine API: gateways upload with a token from
//! `gateway_tokens`; administrators use a token from `api_tokens` (RFC 6750
//! bearer tokens, compared in constant time) or, from the pages, their
//! logged-on browser session, changes then carrying the session's CSRF
//! token in `X-CSRF-Token`. The two token sets are separate, so a
//! gateway's token, which sits on every gateway, cannot read, restore or
//! delete samples.

use super::console::Console;
use super::error::ApiError;
use super::service::Quarantine;
use crate::admin::accounts::Role;
use crate::admin::auth::presents_token;
use crate::admin::guard::{self, Visitor};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;

/// The actor changes made with an API token are recorded under, as on the
/// gateway's own API.
pub const API_ACTOR: &str = crate::admin::auth::API_USER;

/// Let through requests with a gateway token.
pub async fn gateways(State(q): State<Arc<Quarantine>>, request: Request, next: Next) -> Response {
    if presents_token(request.headers(), &q.settings.gateway_tokens) {
        return next.run(request).await;
    }
    ApiError::unauthorized().into_response()
}

/// Let through requests with an administration API token, and those of a
/// logged-on administrator (who becomes the request's [`Actor`]).
pub async fn administrators(State(console): State<Console>, mut request: Request, next: Next) -> Response {
    if presents_token(request.headers(), &console.q.settings.api_tokens) {
        return next.run(request).await;
    }
    let Some(visitor) = guard::visitor(&console, &request).filter(|v| v.role == Role::Admin) else {
        return ApiError::unauthorized().into_response();
    };
    if let Some(refused) = visitor.api_csrf_refusal(&console, &request) {
        return refused;
    }
    request.extensions_mut().insert(visitor);
    next.run(request).await
}

/// Who makes a change, for the item's history: the logged-on
/// administrator's account, or [`API_ACTOR`] for a token.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Actor, Infallible> {
        let user = parts.extensions.get::<Visitor>().map_or(API_ACTOR, Visitor::user);
        Ok(Actor(user.to_string()))
    }
}
