//! Hold-queue actions (SPEC §1): reprocess, drop, and forward a copy to an
//! administrator. Plain file operations, so the CLI can run them with the
//! gateway stopped; a running gateway also queues the results at once.

use super::queue_file::QueuedMessage;
use super::{Queue, Spool, unix_now};
use crate::envelope::{Envelope, Recipient};
use mail_builder::MessageBuilder;
use mail_builder::mime::{BodyPart, MimePart};
use std::io;

/// Which held messages an action applies to.
pub fn select(spool: &Spool, which: &str) -> io::Result<Vec<String>> {
    if which.eq_ignore_ascii_case("all") {
        return spool.list(Queue::Hold);
    }
    if !spool.contains(Queue::Hold, which) {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no message {which} in the hold queue")));
    }
    Ok(vec![which.to_string()])
}

/// Put a held message back into the fast queue with a fresh crash
/// counter; returns its ID for the fast-queue workers.
pub fn reprocess(spool: &Spool, id: &str) -> io::Result<String> {
    let mut msg = spool.load(Queue::Hold, id)?;
    msg.attempts = 0;
    msg.reason.clear();
    let content = std::mem::take(&mut msg.content);
    spool.store(Queue::Fast, &msg, &[&content])?;
    spool.remove(Queue::Hold, id)?;
    Ok(msg.id)
}

/// Delete a held message.
pub fn drop(spool: &Spool, id: &str) -> io::Result<()> {
    spool.load_header(Queue::Hold, id)?;
    spool.remove(Queue::Hold, id)
}

/// Queue a copy of a held message, attached as `message/rfc822`, to `to`
/// with `subject`. The copy is delivered without processing (it may be
/// the very thing that crashes processing); the original stays held.
pub fn forward_copy(spool: &Spool, hostname: &str, id: &str, to: &str, subject: &str) -> io::Result<String> {
    let held = spool.load(Queue::Hold, id)?;
    let note = format!(
        "A copy of held message {id}.\r\nReason held: {}\r\nSender: <{}>\r\nRecipients: {}\r\n\r\nThe original stays in the hold queue. This copy was not scanned.\r\n",
        held.reason,
        held.envelope.sender,
        held.envelope.recipients.iter().map(|r| format!("<{}>", r.address)).collect::<Vec<_>>().join(", ")
    );
    let from = format!("postmaster@{hostname}");
    let content = MessageBuilder::new()
        .from(("mxguard", from.as_str()))
        .to(to)
        .subject(subject)
        .body(MimePart::new(
            "multipart/mixed",
            BodyPart::Multipart(vec![
                MimePart::new("text/plain", BodyPart::Text(note.into())),
                MimePart::new("message/rfc822", BodyPart::Binary(held.content.into()))
                    .transfer_encoding("8bit")
                    .attachment(format!("{id}.eml")),
            ]),
        ))
        .write_to_vec()?;
    let copy = QueuedMessage {
        id: spool.new_id(),
        arrival: unix_now(),
        envelope: Envelope {
            sender: from,
            recipients: vec![Recipient::new(to)],
            body_8bit: true,
            client_ip: "127.0.0.1".into(),
            helo: hostname.to_string(),
            ..Envelope::default()
        },
        unscanned: true,
        ..QueuedMessage::default()
    };
    spool.store(Queue::Fast, &copy, &[&content])?;
    Ok(copy.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(spool: &Spool) -> String {
        let msg = QueuedMessage {
            id: spool.new_id(),
            arrival: unix_now(),
            envelope: Envelope {
                sender: "a@example.org".into(),
                recipients: vec![Recipient::new("b@example.com")],
                ..Envelope::default()
            },
            attempts: 3,
            reason: "crashed".into(),
            ..QueuedMessage::default()
        };
        spool.store(Queue::Hold, &msg, &[b"Subject: held one\r\n\r\nbody\r\n"]).unwrap();
        msg.id
    }

    #[test]
    fn reprocess_drop_forward() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let a = held(&spool);
        let b = held(&spool);
        assert_eq!(select(&spool, "ALL").unwrap().len(), 2);
        assert!(select(&spool, "nope").is_err());

        let copy = forward_copy(&spool, "mx.test", &a, "admin@example.com", "Held copy").unwrap();
        let c = spool.load(Queue::Fast, &copy).unwrap();
        assert!(c.unscanned);
        let text = String::from_utf8_lossy(&c.content);
        assert!(text.contains("Subject: Held copy") && text.contains("Subject: held one"));
        assert!(spool.contains(Queue::Hold, &a), "the original stays");

        assert_eq!(reprocess(&spool, &a).unwrap(), a);
        let back = spool.load(Queue::Fast, &a).unwrap();
        assert_eq!((back.attempts, back.reason.as_str()), (0, ""));

        drop(&spool, &b).unwrap();
        assert!(spool.list(Queue::Hold).unwrap().is_empty());
    }
}
