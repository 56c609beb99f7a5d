//! `POST /api/v1/samples`: a gateway hands over one quarantined file, its
//! bytes as the body and its description in `X-` headers (values
//! percent-encoded where not printable ASCII). The body streams to disk as
//! it arrives, never held in memory, and is checked against the declared
//! size (`underrun`, `overrun`) and SHA-256 (`content`). `201` only once
//! the sample and its item are durable; a retry carrying an `X-Sample-Id`
//! already seen gets the item made the first time (`200`), so a gateway
//! that lost an acknowledgement can try again without making a second item.

use super::error::ApiError;
use super::item::{Arrival, Item};
use super::service::{Quarantine, SERVER_ACTOR, blocking};
use super::store::{Staged, is_digest};
use super::submit::submit;
use crate::quarantine::sample::{self, BadHeader, Metadata, header};
use axum::Json;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A client that sends nothing for this long has abandoned its upload.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Chunks in flight between the connection and the disk writer.
const CHUNKS_IN_FLIGHT: usize = 8;

/// An upload's declared size and checksum with what it says about the file.
struct Declared {
    arrival: Arrival,
    size: u64,
    sha256: String,
}

/// Receive one sample.
pub async fn receive(
    State(q): State<Arc<Quarantine>>,
    headers: HeaderMap,
    mut body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let answer = accept(&q, &headers, &mut body).await;
    // What was not read (an answer given before the body: a refusal, a
    // retry's earlier item) is read and dropped, so the gateway, still
    // sending, gets the answer instead of a broken pipe.
    discard(&mut body, q.settings.max_sample_bytes()).await;
    answer
}

async fn accept(
    q: &Arc<Quarantine>,
    headers: &HeaderMap,
    body: &mut Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let declared = declared(headers)?;
    if declared.size > q.settings.max_sample_bytes() {
        return Err(ApiError::too_large(format!(
            "X-Sample-Size {} is more than max_sample_mb = {} allows",
            declared.size, q.settings.max_sample_mb
        )));
    }
    let (arrival, sha, size) = (declared.arrival.clone(), declared.sha256.clone(), declared.size);
    if let Some(earlier) = blocking(q, move |q| q.prepare(&arrival, &sha, size)).await? {
        return Ok((StatusCode::OK, receipt(&earlier)));
    }
    let staged = stream(q, body, declared.size).await?;
    if staged.sha256 != declared.sha256 {
        return Err(ApiError::bad(
            "content",
            format!("the body's SHA-256 is {}, not the declared {}", staged.sha256, declared.sha256),
        ));
    }
    let arrival = declared.arrival;
    let committed = blocking(q, move |q| q.commit(staged, &arrival)).await?;
    let item = committed.item;
    if !committed.created {
        return Ok((StatusCode::OK, receipt(&item)));
    }
    if q.settings.auto_submit {
        let (q, id) = (q.clone(), item.id);
        tokio::spawn(async move {
            if let Err(e) = submit(&q, id, SERVER_ACTOR.into()).await {
                tracing::warn!(id, "automatic submission failed: {}", e.message);
            }
        });
    }
    Ok((StatusCode::CREATED, receipt(&item)))
}

fn receipt(item: &Item) -> Json<Value> {
    Json(json!({
        "id": item.id,
        "sha256": item.sha256,
        "size": item.size,
        "status": item.status,
        "sightings": item.sightings,
    }))
}

/// The next data chunk of `body`, `None` at its end; an error if the
/// client stalls or the connection breaks.
async fn next_chunk(body: &mut Body) -> Result<Option<Bytes>, String> {
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx));
        match tokio::time::timeout(IDLE_LIMIT, next).await {
            Err(_) => return Err("nothing arrived for a minute".into()),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(format!("the body broke off: {e}")),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Read and drop the rest of `body`, up to about `limit` bytes.
async fn discard(body: &mut Body, limit: u64) {
    let mut dropped = 0u64;
    while dropped <= limit {
        match next_chunk(body).await {
            Ok(Some(data)) => dropped += data.len() as u64,
            _ => return,
        }
    }
}

/// Write the body to a staged file as it arrives, on the blocking pool;
/// stop at the first byte beyond `declared`.
async fn stream(q: &Arc<Quarantine>, body: &mut Body, declared: u64) -> Result<Staged, ApiError> {
    let mut stager = blocking(q, |q| q.stage()).await?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || {
        while let Some(chunk) = rx.blocking_recv() {
            stager.write(&chunk)?;
        }
        stager.finish()
    });
    let mut received = 0u64;
    let outcome = loop {
        let data = match next_chunk(body).await {
            Ok(Some(data)) => data,
            Ok(None) => break Ok(()),
            Err(why) => break Err(short(received, declared, &why)),
        };
        received += data.len() as u64;
        if received > declared {
            break Err(ApiError::bad("overrun", format!("the body is longer than X-Sample-Size {declared}")));
        }
        if tx.send(data).await.is_err() {
            break Ok(()); // the writer failed: its error is reported below
        }
    };
    drop(tx);
    let written = writer.await.map_err(ApiError::internal)?;
    outcome?;
    let staged = written?;
    if staged.size < declared {
        return Err(short(staged.size, declared, "the body ended"));
    }
    Ok(staged)
}

fn short(received: u64, declared: u64, why: &str) -> ApiError {
    ApiError::bad("underrun", format!("{why} after {received} of the {declared} bytes X-Sample-Size declares"))
}

fn declared(headers: &HeaderMap) -> Result<Declared, ApiError> {
    let raw = |name: &str| headers.get(name).map(|v| v.as_bytes());
    let required = |name: &'static str| raw(name).and_then(sample::decode).ok_or(BadHeader::Missing(name));
    let size_text = required(header::SIZE).map_err(refused)?;
    let size = size_text.parse::<u64>().map_err(|_| {
        refused(BadHeader::Invalid { name: header::SIZE, value: size_text, allowed: "a number of bytes" })
    })?;
    let sha256 = required(header::CHECKSUM).map_err(refused)?.to_ascii_lowercase();
    if !is_digest(&sha256) {
        let allowed = "the SHA-256 of the body in 64 hexadecimal digits";
        return Err(refused(BadHeader::Invalid { name: header::CHECKSUM, value: sha256, allowed }));
    }
    let meta = Metadata::from_headers(raw).map_err(refused)?;
    let sample_id = raw(header::ID).and_then(sample::decode);
    Ok(Declared { arrival: Arrival { meta, sample_id }, size, sha256 })
}

fn refused(bad: BadHeader) -> ApiError {
    ApiError::bad("header", bad.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    const COMPLETE: [(&str, &str); 7] = [
        ("X-Sample-File", "r%C3%A9sum%C3%A9.doc"),
        ("X-Sample-Size", "10"),
        ("X-Sample-Checksum", "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"),
        ("X-Scan-Virus-Name", "Test.Virus"),
        ("X-Platform-Host", "gw1"),
        ("X-Rcpt-To", "a@x.test, b@x.test"),
        ("X-Mail-Subject", "50% off%0D%0ABcc: x"),
    ];

    #[test]
    fn headers_describe_the_item() {
        let d = declared(&headers(&COMPLETE)).unwrap();
        assert_eq!(d.size, 10);
        assert_eq!(d.sha256, "ab".repeat(32));
        assert_eq!(d.arrival.meta.file_name, "résumé.doc");
        assert_eq!(d.arrival.meta.recipients, ["a@x.test", "b@x.test"]);
        assert_eq!(d.arrival.meta.subject, "50% off  Bcc: x");
        assert_eq!((d.arrival.meta.sender.as_str(), d.arrival.sample_id.as_ref()), ("", None));
    }

    #[test]
    fn a_missing_or_bad_header_is_named() {
        for (name, value) in [("X-Sample-Size", "ten"), ("X-Sample-Checksum", "abc"), ("X-Defs-Sequence", "new")] {
            let mut h = headers(&COMPLETE);
            h.insert(name, HeaderValue::from_str(value).unwrap());
            let e = declared(&h).err().unwrap();
            assert_eq!(e.error, "header");
            assert!(e.message.starts_with(name), "{}", e.message);
        }
        let mut h = headers(&COMPLETE);
        h.remove("X-Platform-Host");
        assert_eq!(declared(&h).err().unwrap().message, "X-Platform-Host is missing");
    }
}
