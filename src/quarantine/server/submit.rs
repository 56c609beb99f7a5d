//! Submission for analysis (SPEC §7, the email-based "Scan and Deliver"):
//! the sample goes to `analyst_address` as a zip encrypted with the password
//! `infected`, through the SMTP relay, with the item's details in the body.
//! The message goes out with [`deliver`], the server's way out by mail.

use super::config::Settings;
use super::error::ApiError;
use super::index::Change;
use super::item::Item;
use super::relay::deliver;
use super::restore::{PASSWORD, encrypted_zip};
use super::service::{Quarantine, blocking};
use super::status::Status;
use super::strip::strip_user_data;
use axum::http::StatusCode;
use mail_builder::MessageBuilder;
use std::sync::Arc;

/// Send item `id` to the analyst; the item becomes *submitted*. A failed
/// attempt is kept in the item's history and error, its status unchanged.
pub async fn submit(q: &Arc<Quarantine>, id: i64, actor: String) -> Result<Item, ApiError> {
    if q.settings.analyst_address.is_empty() {
        return Err(ApiError::unavailable(
            "submission",
            "submission is off: quarantine_server.analyst_address is empty",
        ));
    }
    let (item, message, stripped) = blocking(q, move |q| {
        let (item, bytes) = q.sample(id)?;
        let (bytes, stripped) = if q.settings.strip_user_data {
            let s = strip_user_data(&bytes).map_err(|why| ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                error: "strip",
                message: why,
            })?;
            (s.bytes, Some(s.note))
        } else {
            (bytes, None)
        };
        let message = compose(&q.settings, &item, &bytes, stripped.as_deref()).map_err(ApiError::internal)?;
        Ok((item, message, stripped))
    })
    .await?;
    let sent = deliver(&q.settings, &q.settings.analyst_address, &message).await;
    let analyst = &q.settings.analyst_address;
    let (change, failure) = match sent {
        Ok(reply) => {
            let mut note = format!("submitted to {analyst}: {reply}");
            if let Some(s) = stripped {
                note.push_str(&format!("; user data stripped: {s}"));
            }
            let error = Some(String::new());
            (Change { status: Status::Submitted, actor, note, definitions_needed: None, error }, None)
        }
        Err(why) => {
            let note = format!("submission to {analyst} failed: {why}");
            let error = Some(note.clone());
            (Change { status: item.status, actor, note, definitions_needed: None, error }, Some(why))
        }
    };
    let changed = blocking(q, move |q| q.change(id, &change)).await?;
    match failure {
        None => Ok(changed),
        Some(why) => Err(ApiError::relay(why)),
    }
}

/// The message for `item`, whose (possibly stripped) bytes are `sample`;
/// `strip_note` says what stripping did, if it was asked for.
pub fn compose(settings: &Settings, item: &Item, sample: &[u8], strip_note: Option<&str>) -> Result<Vec<u8>, String> {
    let zip = encrypted_zip(&item.meta.file_name, sample)?;
    let short = item.sha256.get(..12).unwrap_or(&item.sha256);
    let subject: String = format!("Sample submission: {} in {} ({short})", item.meta.virus, item.meta.file_name)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut body = format!(
        "A sample from the mxguard Central Quarantine on {host}.\n\
         The attachment is a zip archive encrypted with the password \"{PASSWORD}\".\n\n\
         Item:            {id}\n\
         File name:       {file}\n\
         Size:            {size}\n\
         SHA-256:         {sha}\n\
         Virus:           {virus}\n\
         Scan result:     {result}\n\
         Definitions:     {defs}\n\
         Gateway:         {gateway}\n\
         Received:        {received}\n\
         Sightings:       {sightings}\n",
        host = settings.hostname,
        id = item.id,
        file = item.meta.file_name,
        size = item.size,
        sha = item.sha256,
        virus = item.meta.virus,
        result = item.meta.scan_result,
        defs = item.meta.defs_sequence.map_or_else(|| "unknown".to_string(), |s| s.to_string()),
        gateway = item.meta.gateway,
        received = item.received,
        sightings = item.sightings,
    );
    if let Some(note) = strip_note {
        body.push_str(&format!("User data:       stripped ({note})\n"));
    }
    MessageBuilder::new()
        .from(settings.submit_from.as_str())
        .to(settings.analyst_address.as_str())
        .subject(subject)
        .text_body(body)
        .attachment("application/zip", format!("sample-{}.zip", item.id), zip)
        .write_to_vec()
        .map_err(|e| format!("cannot build the submission: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::sample::Metadata;
    use crate::quarantine::server::status::Status;
    use mail_parser::MimeHeaders;
    use std::io::{Cursor, Read};

    #[test]
    fn the_message_carries_the_sample_as_an_encrypted_zip() {
        let settings = Settings {
            analyst_address: "analyst@av.test".into(),
            submit_from: "cq@mx.test".into(),
            ..Settings::default()
        };
        let meta = Metadata {
            file_name: "bad.exe".into(),
            mime_path: "2".into(),
            virus: "Test.Virus".into(),
            scan_result: "unrepairable".into(),
            defs_sequence: Some(3),
            gateway: "gw1".into(),
            sender: "a@x.test".into(),
            recipients: vec![],
            subject: "s".into(),
            message_id: "<m@x>".into(),
        };
        let item = Item {
            id: 7,
            meta,
            size: 4,
            sha256: "ab".repeat(32),
            sample_id: None,
            received: "2024-01-01T00:00:00Z".into(),
            status: Status::Quarantined,
            status_changed: "2024-01-01T00:00:00Z".into(),
            definitions_needed: None,
            error: String::new(),
            sightings: 1,
        };
        let message = compose(&settings, &item, b"MZ!!", Some("text blanked")).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&message).unwrap();
        assert_eq!(parsed.subject(), Some("Sample submission: Test.Virus in bad.exe (abababababab)"));
        assert!(parsed.body_text(0).unwrap().contains("stripped (text blanked)"));
        let zip = parsed.attachment(0).unwrap();
        assert_eq!(zip.attachment_name(), Some("sample-7.zip"));
        let mut archive = zip::ZipArchive::new(Cursor::new(zip.contents().to_vec())).unwrap();
        let mut back = Vec::new();
        archive.by_index_decrypt(0, PASSWORD.as_bytes()).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, b"MZ!!");
    }
}
