//! *Create signature* (SPEC §7, closing the loop from detection to
//! protection): an administrator names a hash signature for an item's
//! bytes; it joins the server's published set, a new package with the next
//! sequence is signed and published for the gateways, and the items with
//! those bytes are rescanned, so they become *available* with the new
//! sequence as their Definitions Needed.

use super::auth::Actor;
use super::error::ApiError;
use super::index::Change;
use super::item::{now, rfc3339};
use super::publish::{self, CURRENT_PACKAGE, Signature, SignatureSet};
use super::rescan::rescan;
use super::service::{Quarantine, blocking};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Longest signature name accepted.
const MAX_NAME: usize = 128;

/// One publication at a time: two at once would take the same sequence.
static PUBLISHING: Mutex<()> = Mutex::new(());

/// What a new signature became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The definitions sequence that first holds it.
    pub sequence: u64,
    /// The signature's name, as detections on the gateways will show it.
    pub name: String,
    /// The bytes it matches.
    pub sha256: String,
    /// Where gateways fetch the package over HTTPS (`liveupdate.sources`).
    pub url: String,
    /// The same package on the server's disk, for a share or a mirror.
    pub path: String,
}

/// Make a hash signature `name` for item `id`'s bytes and publish it;
/// `actor` is recorded in the history of every item with those bytes.
/// Bytes that have a published signature already are a conflict; a
/// signature recorded but not published (a failed publication) is
/// published again under its recorded name.
pub fn create(q: &Quarantine, id: i64, name: &str, actor: &str) -> Result<Published, ApiError> {
    check_name(name)?;
    let settings = &q.settings;
    if settings.signing_key.is_empty() {
        return Err(ApiError::unavailable(
            "signing",
            "signature creation is off: quarantine_server.signing_key is empty",
        ));
    }
    let (item, _) = q.item(id)?;
    let (set, signature) = {
        let _one_at_a_time = PUBLISHING.lock().unwrap_or_else(|e| e.into_inner());
        let mut set = SignatureSet::load(settings).map_err(ApiError::internal)?;
        let signature = match set.find(&item.sha256) {
            Some(known) if set.is_published(settings) => {
                return Err(ApiError::conflict(format!(
                    "the bytes of item {id} have a signature already: {} in definitions sequence {}",
                    known.name, known.sequence
                )));
            }
            Some(known) => known.clone(),
            None => {
                let sequence = publish::next_sequence(settings, &set);
                let signature = Signature {
                    name: name.to_string(),
                    sha256: item.sha256.clone(),
                    size: item.size,
                    sequence,
                    actor: actor.to_string(),
                    item: id,
                    created: rfc3339(now()),
                };
                set.sequence = sequence;
                set.signatures.push(signature.clone());
                set.save(settings).map_err(ApiError::internal)?;
                signature
            }
        };
        publish::publish(settings, &set).map_err(|why| {
            ApiError::internal(format_args!("signature {} is recorded but not published yet: {why}", signature.name))
        })?;
        (set, signature)
    };
    tracing::info!(id, name = %signature.name, sequence = set.sequence, %actor, "hash signature created");
    let note = format!(
        "hash signature {} created by {actor} from item {id}, published in definitions sequence {}",
        signature.name, set.sequence
    );
    for other in q.ids_of_sample(&item.sha256)? {
        if let Err(e) = record(q, other, actor, &note) {
            tracing::warn!(id = other, "not rescanned after the new signature: {}", e.message);
        }
    }
    Ok(Published {
        sequence: set.sequence,
        name: signature.name,
        sha256: item.sha256,
        url: publish::url(settings),
        path: settings.publish().join(CURRENT_PACKAGE).display().to_string(),
    })
}

/// Note the signature in item `id`'s history, then rescan it with the
/// definitions that now hold it.
fn record(q: &Quarantine, id: i64, actor: &str, note: &str) -> Result<(), ApiError> {
    let (item, _) = q.item(id)?;
    let change =
        Change { status: item.status, actor: actor.into(), note: note.into(), definitions_needed: None, error: None };
    q.change(id, &change)?;
    rescan(q, id, actor)?;
    Ok(())
}

/// Refuse a name a `.hsb` line or a ClamAV tool could not carry.
fn check_name(name: &str) -> Result<(), ApiError> {
    let fits = !name.is_empty() && name.len() <= MAX_NAME && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if fits {
        return Ok(());
    }
    Err(ApiError::bad(
        "name",
        format!(
            "{name:?} is not a signature name: allowed are 1 to {MAX_NAME} visible ASCII characters \
             without ':' or spaces, ClamAV style, e.g. \"Win.Trojan.Invoice-1\""
        ),
    ))
}

/// The body of `POST /api/v1/items/{id}/signature`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSignature {
    name: String,
}

/// `POST /api/v1/items/{id}/signature` with `{"name": "..."}`: `201` with
/// what was published.
pub async fn handle(
    State(q): State<Arc<Quarantine>>,
    Path(id): Path<String>,
    Actor(actor): Actor,
    body: Result<Json<NewSignature>, JsonRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let id = super::api::item_id(&id)?;
    let Json(request) = body.map_err(|e| ApiError::bad("body", e.body_text()))?;
    let published = blocking(&q, move |q| create(q, id, &request.name, &actor)).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::sample::Metadata;
    use crate::quarantine::server::config::Settings;
    use crate::quarantine::server::item::Arrival;
    use crate::quarantine::server::status::Status;
    use crate::scan::defs;

    fn open(dir: &std::path::Path, signing: bool) -> Quarantine {
        defs::keygen(&dir.join("keys")).unwrap();
        let signing_key =
            if signing { dir.join("keys").join(defs::PRIVATE_KEY_FILE).display().to_string() } else { String::new() };
        let settings =
            Settings { storage_dir: dir.join("store").display().to_string(), signing_key, ..Settings::default() };
        Quarantine::open(settings).unwrap()
    }

    fn upload(q: &Quarantine, bytes: &[u8]) -> i64 {
        let arrival = Arrival { meta: Metadata { file_name: "x.exe".into(), ..Metadata::default() }, sample_id: None };
        let mut stager = q.stage().unwrap();
        stager.write(bytes).unwrap();
        q.commit(stager.finish().unwrap(), &arrival).unwrap().item.id
    }

    #[test]
    fn a_signature_makes_every_item_with_the_bytes_available() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path(), true);
        let (a, b, other) = (upload(&q, b"new threat"), upload(&q, b"new threat"), upload(&q, b"something else"));
        let published = create(&q, a, "Test.NewThreat-1", "ann").unwrap();
        assert_eq!((published.sequence, published.name.as_str()), (1, "Test.NewThreat-1"));
        assert!(published.url.ends_with("/defs/current.tar.gz") && published.path.ends_with("current.tar.gz"));
        for id in [a, b] {
            let (item, history) = q.item(id).unwrap();
            assert_eq!((item.status, item.definitions_needed), (Status::Available, Some(1)));
            assert!(history.iter().any(|h| h.actor == "ann" && h.note.contains("created by ann")), "{history:?}");
        }
        assert_eq!(q.item(other).unwrap().0.status, Status::Quarantined);
        let again = create(&q, b, "Test.Other", "bo").unwrap_err();
        assert_eq!((again.status, again.error), (StatusCode::CONFLICT, "conflict"));
        assert_eq!(create(&q, other, "Test.Else", "bo").unwrap().sequence, 2);
    }

    #[test]
    fn bad_names_and_a_missing_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path(), true);
        let id = upload(&q, b"sample");
        for name in ["", "Two words", "Has:colon", "Tab\tname", "Ünicode", &"x".repeat(129)] {
            assert_eq!(create(&q, id, name, "ann").unwrap_err().error, "name", "{name:?}");
        }
        assert_eq!(create(&q, 999, "Test.Missing", "ann").unwrap_err().status, StatusCode::NOT_FOUND);
        let unsigned = open(&dir.path().join("unsigned"), false);
        let id = upload(&unsigned, b"sample");
        assert_eq!(create(&unsigned, id, "Test.Sample", "ann").unwrap_err().error, "signing");
    }
}
