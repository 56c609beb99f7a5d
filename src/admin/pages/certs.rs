//! Certificate Management (SPEC §8): make a key and certificate request
//! with the CA's fields, show the request to copy, install the PEM the CA
//! returns, and show when the key was made, the certificate installed and
//! when it expires. The HTTPS listener picks an installed certificate up
//! within a second.

use super::{Frame, render};
use crate::admin::AppState;
use crate::admin::certs::{CertInfo, CsrFields};
use crate::admin::guard::Visitor;
use crate::events::Event;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "certs.html")]
struct CertsPage {
    frame: Frame,
    info: Option<CertInfo>,
    fields: CsrFields,
    request_pem: String,
    errors: Vec<String>,
}

/// What the two forms send.
#[derive(Debug, Deserialize)]
pub struct CertsForm {
    #[serde(default)]
    csrf: String,
    /// `request` or `install`.
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    fields: CsrFields,
    #[serde(default)]
    certificate: String,
}

fn view(state: &AppState, visitor: &Visitor, fields: CsrFields, errors: Vec<String>, notice: &str) -> Response {
    let (info, mut errors) = match state.certs.info() {
        Ok(info) => (Some(info), errors),
        Err(e) => (None, [errors, vec![e.to_string()]].concat()),
    };
    let request_pem = info.as_ref().and_then(|i| i.pending_request.as_ref()).map(|r| r.request_pem.clone());
    errors.dedup();
    render(&CertsPage {
        frame: Frame::new(visitor, "/certs", "Certificate Management").with_notice(notice),
        info,
        fields,
        request_pem: request_pem.unwrap_or_default(),
        errors,
    })
}

/// `GET /certs`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Response {
    view(&state, &visitor, CsrFields::default(), Vec::new(), "")
}

/// `POST /certs`: make a request, or install a certificate.
pub async fn act(State(state): State<AppState>, visitor: Visitor, Form(form): Form<CertsForm>) -> Response {
    if let Some(refused) = visitor.csrf_refusal(&state, &form.csrf, "POST /certs") {
        return refused;
    }
    let store = state.certs.clone();
    let (action, fields, pem) = (form.action, form.fields, form.certificate);
    let kept = fields.clone();
    let done = tokio::task::spawn_blocking(move || match action.as_str() {
        "request" => {
            store.generate_request(&fields).map(|_| "Key and request made: copy the request below to your CA.")
        }
        _ => store.install(&pem).map(|_| "Certificate installed: new HTTPS connections use it."),
    })
    .await;
    match done {
        Ok(Ok(notice)) => {
            let (user, client_ip) = (visitor.user().into(), visitor.client_ip.to_string());
            state.events.emit(Event::ObjectModified { what: "HTTPS certificate".into(), user, client_ip });
            view(&state, &visitor, kept, Vec::new(), notice)
        }
        Ok(Err(e)) => view(&state, &visitor, kept, vec![e.to_string()], ""),
        Err(e) => view(&state, &visitor, kept, vec![e.to_string()], ""),
    }
}
