//! Part of step 3: the infected files the quarantine mode takes (SPEC §6)
//! are written to the local quarantine, durably, before the message goes
//! on; the forwarder sends them to the Central Quarantine from there. A
//! file that cannot be kept holds the message, so it is never lost.

use super::Work;
use crate::events::{Event, Events};
use crate::mime::headers;
use crate::policy::antivirus::Infection;
use crate::quarantine::local::{LocalQuarantine, Sample};
use crate::quarantine::sample::{Metadata, sha256_hex};

/// Keep the `chosen` infections (index, scan result) of `work`'s message
/// in `store`, with a *File quarantined* event each; `sequence` is the
/// definitions sequence in use. `Err` is the reason to hold the message.
pub(super) fn keep(
    store: &LocalQuarantine,
    events: &Events,
    sequence: Option<u64>,
    work: &Work<'_>,
    infections: &[Infection<'_>],
    chosen: &[(usize, &'static str)],
) -> Result<(), String> {
    if chosen.is_empty() {
        return Ok(());
    }
    let message = work.message();
    let gateway = &work.config.smtp.hostname;
    let message_id = headers::value(&work.msg.content, "Message-ID").unwrap_or_default();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for &(index, result) in chosen {
        let Some(infection) = infections.get(index) else { continue };
        let Some(file) = infection.lineage.last() else { continue };
        let mut viruses: Vec<&str> = Vec::new();
        for d in &infection.detections {
            if !viruses.contains(&d.name.as_str()) {
                viruses.push(&d.name);
            }
        }
        let meta = Metadata {
            file_name: file.names.first().cloned().unwrap_or_default(),
            mime_path: file.path.clone(),
            virus: viruses.join(", "),
            scan_result: result.to_string(),
            defs_sequence: sequence,
            gateway: gateway.clone(),
            sender: message.sender.clone(),
            recipients: message.recipients.clone(),
            subject: message.subject.clone(),
            message_id: message_id.clone(),
        };
        let sample = Sample {
            id: Sample::item_id(&message.id, gateway, &file.path),
            meta,
            size: file.data.len() as u64,
            sha256: sha256_hex(&file.data),
            queue_id: message.id.clone(),
            quarantined_at: now.clone(),
        };
        if let Err(e) = store.put(&sample, &file.data) {
            let why = format!("cannot keep {} ({}) in the local quarantine: {e}", sample.meta.file_name, file.path);
            events.file_access_error(store.dir().display(), &why);
            return Err(why);
        }
        events.emit(Event::Quarantined {
            message: message.clone(),
            path: sample.meta.mime_path,
            name: sample.meta.file_name,
            virus: sample.meta.virus,
            result: sample.meta.scan_result,
            item: sample.id,
            bytes: sample.size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::envelope::{Envelope, Recipient};
    use crate::events::Item;
    use crate::mime::Part;
    use crate::policy::Decision;
    use crate::scan::Detection;
    use crate::spool::queue_file::QueuedMessage;

    #[test]
    fn a_chosen_file_is_kept_with_its_description_or_the_message_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalQuarantine::new(&dir.path().join("q"));
        store.recover().unwrap();
        let (events, mut rx) = Events::channel();
        let mut config = Config::default();
        config.smtp.hostname = "gw1.test".into();
        let mut msg = QueuedMessage {
            id: "00000ABCD".into(),
            envelope: Envelope {
                sender: "a@s.test".into(),
                recipients: vec![Recipient::new("b@x.test")],
                ..Envelope::default()
            },
            content: b"Subject: hi\r\nMessage-ID: <m1@s.test>\r\n\r\nbody\r\n".to_vec(),
            ..QueuedMessage::default()
        };
        let work =
            Work { config: &config, msg: &mut msg, parts: None, decision: Decision::default(), subject: "hi".into() };
        let zip = Part::named("2", &["files.zip"], false);
        let member = Part { data: b"infected".to_vec(), ..Part::named("2:inner.com", &["inner.com"], false) };
        let detection = |name: &str| Detection { name: name.into(), scanner: "builtin".into() };
        let infections = [Infection {
            lineage: vec![&zip, &member],
            detections: vec![detection("Eicar"), detection("Other"), detection("Eicar")],
        }];
        keep(&store, &events, Some(9), &work, &infections, &[(0, "repaired")]).unwrap();
        let id = Sample::item_id("00000ABCD", "gw1.test", "2:inner.com");
        let (sample, data) = store.load(&id).unwrap();
        assert_eq!(data, b"infected");
        let meta = &sample.meta;
        assert_eq!((meta.file_name.as_str(), meta.mime_path.as_str()), ("inner.com", "2:inner.com"));
        assert_eq!((meta.virus.as_str(), meta.scan_result.as_str()), ("Eicar, Other", "repaired"));
        assert_eq!((meta.defs_sequence, meta.message_id.as_str()), (Some(9), "<m1@s.test>"));
        assert_eq!((meta.sender.as_str(), meta.recipients.clone()), ("a@s.test", vec!["b@x.test".to_string()]));
        assert_eq!((meta.gateway.as_str(), sample.size, sample.sha256), ("gw1.test", 8, sha256_hex(b"infected")));
        let Ok(Item::Event(Event::Quarantined { item, bytes: 8, .. })) = rx.try_recv() else { panic!("an event") };
        assert_eq!(item, id);

        std::fs::remove_dir_all(dir.path().join("q")).unwrap();
        let why = keep(&store, &events, None, &work, &infections, &[(0, "repaired")]).unwrap_err();
        assert!(why.contains("inner.com"), "{why}");
        assert!(matches!(rx.try_recv(), Ok(Item::Event(Event::FileAccessError { .. }))));
    }
}
