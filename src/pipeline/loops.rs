//! Step 0: mail addressed to the notifications' From address is not
//! delivered (SPEC §9): it can only be an answer to a notification (an
//! auto-reply, a bounce of a bounce), and passing it on could start a
//! loop. The message's other recipients still get it.

use super::{Step, Verdict, Work};
use crate::envelope::Recipient;
use crate::events::{Event, Events};
use crate::notify::{from_address, is_notification_address};

/// Removes the notification address from the recipients.
pub struct LoopGuard {
    events: Events,
}

impl LoopGuard {
    /// A step reporting to `events`.
    pub fn new(events: Events) -> LoopGuard {
        LoopGuard { events }
    }
}

impl Step for LoopGuard {
    fn name(&self) -> &'static str {
        "loops"
    }

    fn apply(&self, work: &mut Work<'_>) -> Verdict {
        let config = work.config;
        let looped = |r: &Recipient| is_notification_address(config, &r.address);
        let recipients = &work.msg.envelope.recipients;
        if !recipients.iter().any(looped) {
            return Verdict::Continue;
        }
        let reason = format!("addressed to the notification address {}: mail loop prevention", from_address(config));
        if recipients.iter().all(looped) {
            return Verdict::Drop(reason);
        }
        let message = work.message();
        work.msg.envelope.recipients.retain(|r| !looped(r));
        self.events.emit(Event::DeliverySuppressed { message, reason });
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::envelope::Envelope;
    use crate::events::Item;
    use crate::policy::Decision;
    use crate::spool::queue_file::QueuedMessage;

    fn run(recipients: &[&str]) -> (Verdict, Vec<String>, Vec<Event>) {
        let mut config = Config::default();
        config.smtp.hostname = "mx.test".into();
        let mut msg = QueuedMessage {
            id: "Q1".into(),
            envelope: Envelope {
                recipients: recipients.iter().map(|r| Recipient::new(*r)).collect(),
                ..Envelope::default()
            },
            ..QueuedMessage::default()
        };
        let (events, mut rx) = Events::channel();
        let mut work =
            Work { config: &config, msg: &mut msg, parts: None, decision: Decision::default(), subject: String::new() };
        let verdict = LoopGuard::new(events).apply(&mut work);
        let left = msg.envelope.recipients.iter().map(|r| r.address.clone()).collect();
        let mut emitted = Vec::new();
        while let Ok(Item::Event(e)) = rx.try_recv() {
            emitted.push(e);
        }
        (verdict, left, emitted)
    }

    #[test]
    fn mail_to_the_notification_address_is_dropped_and_others_still_get_theirs() {
        let (verdict, _, events) = run(&["Postmaster@MX.test"]);
        assert!(matches!(verdict, Verdict::Drop(why) if why.contains("postmaster@mx.test")));
        assert!(events.is_empty());
        let (verdict, left, events) = run(&["a@corp.test", "postmaster@mx.test"]);
        assert_eq!((verdict, left), (Verdict::Continue, vec!["a@corp.test".to_string()]));
        assert!(matches!(events.as_slice(), [Event::DeliverySuppressed { reason, .. }] if reason.contains("loop")));
        assert_eq!(run(&["postmaster@other.test"]).0, Verdict::Continue);
    }
}
