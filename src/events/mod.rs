//! Everything the gateway does becomes a typed event sent through one
//! channel (SPEC §10), so the store, counters, reports, notifications,
//! alerts and syslog all read the same stream. Sending never waits: the
//! SMTP path and the workers only hand an event over.

mod catalogue;
pub mod counters;
pub mod dispatch;
mod record;
pub mod store;
pub mod syslog;

pub use record::{Category, Record};

use crate::policy::{Finding, Handling};
use crate::spool::queue_file::QueuedMessage;
use tokio::sync::mpsc;

/// Which message an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageRef {
    /// The queue ID (the SMTP ID given in `250 ... queued as`).
    pub id: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub client_ip: String,
}

impl MessageRef {
    /// The queued message `msg` as events name it.
    pub fn of(msg: &QueuedMessage) -> MessageRef {
        MessageRef::with_subject(msg, crate::mime::headers::subject(&msg.content))
    }

    /// The same, with the subject already decoded.
    pub fn with_subject(msg: &QueuedMessage, subject: String) -> MessageRef {
        let env = &msg.envelope;
        MessageRef {
            id: msg.id.clone(),
            sender: env.sender.clone(),
            recipients: env.recipients.iter().map(|r| r.address.clone()).collect(),
            subject,
            client_ip: env.client_ip.clone(),
        }
    }
}

/// Why a client's command was refused by policy (not a protocol error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectRule {
    /// The message is larger than `blocking.size` allows.
    Size,
    /// Relaying to the recipient is not allowed.
    Relay,
    /// The address has characters the policy forbids.
    Characters,
    /// The client is on a DNSBL.
    SpamList,
    /// Too many recipients, bad content, incoming mail switched off…
    Other,
}

impl RejectRule {
    /// The name stored in the event's `matched` column.
    pub fn name(self) -> &'static str {
        match self {
            RejectRule::Size => "size",
            RejectRule::Relay => "relay",
            RejectRule::Characters => "characters",
            RejectRule::SpamList => "spam list",
            RejectRule::Other => "other",
        }
    }
}

/// One event of SPEC §10's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    // --- System ---
    /// The gateway started; `after_crash` when the previous run did not
    /// stop cleanly.
    ServiceStarted {
        after_crash: bool,
    },
    /// The gateway could not start.
    ServiceStartFailed {
        reason: String,
    },
    ServiceStopped,
    /// An administrator logged on (or failed to).
    Logon {
        user: String,
        client_ip: String,
        success: bool,
    },
    Logoff {
        user: String,
        client_ip: String,
    },
    /// A logged-on user asked for a page or action their role does not
    /// allow (`what`: the path).
    UnauthorizedAttempt {
        user: String,
        client_ip: String,
        what: String,
    },
    /// A browser or script sent a request the admin server refused as
    /// malformed (bad form, missing CSRF token…).
    HttpProtocolViolation {
        client_ip: String,
        request: String,
        response: String,
    },
    /// A setting changed: `what` (a section or object), by whom.
    ObjectModified {
        what: String,
        user: String,
        client_ip: String,
    },
    /// A definitions update was attempted.
    UpdateAttempted {
        result: String,
    },
    /// New definitions are in use.
    DefinitionsUpdated {
        sequence: u64,
        date: String,
    },
    /// A slow-queue reordering pass began.
    ReorderingStarted,
    /// It ended, having moved messages for accepting next hops to the
    /// front and those for refusing ones to the rear.
    ReorderingStopped {
        moved_to_front: usize,
        moved_to_rear: usize,
        micros: u64,
    },
    /// At least `messages` infected messages arrived within `minutes`.
    Outbreak {
        messages: usize,
        minutes: u32,
    },
    /// A scanner does not answer its health check: mail it should scan
    /// follows the "cannot be processed" policy until it is back.
    ScannerUnavailable {
        scanner: String,
        why: String,
    },
    /// A scanner answers its health check again.
    ScannerAvailable {
        scanner: String,
    },
    /// Free space or memory fell below 10 %: `what` is the directory or
    /// `memory`.
    LowResource {
        what: String,
        free_percent: u8,
    },
    /// A file the gateway needs could not be read or written.
    FileAccessError {
        path: String,
        why: String,
    },
    /// Quarantined files wait in the local quarantine because the Central
    /// Quarantine cannot be reached or refuses the gateway (once per
    /// outage, SPEC §6).
    QuarantineAccumulating {
        pending: usize,
        server: String,
        why: String,
    },

    // --- SMTP ---
    /// A client connected (`accepted`) or was turned away, and why.
    ConnectionFrom {
        connection_id: String,
        client_ip: String,
        result: String,
    },
    /// The session ended: the last command and reply.
    ConnectionClosed {
        connection_id: String,
        client_ip: String,
        last_command: String,
        last_response: String,
    },
    /// The client broke the protocol (bad command, bad sequence…).
    ProtocolViolation {
        connection_id: String,
        client_ip: String,
        command: String,
        response: String,
    },
    /// A command was refused by policy.
    Rejected {
        connection_id: String,
        client_ip: String,
        sender: String,
        recipient: String,
        rule: RejectRule,
        reason: String,
    },
    /// An outbound connection to a next hop (`cached` when from the pool).
    ConnectedTo {
        connection_id: String,
        host: String,
        result: String,
        cached: bool,
    },
    /// An outbound connection was closed.
    Disconnected {
        connection_id: String,
        host: String,
    },

    // --- Message ---
    /// A message was received and queued (`250`).
    Accepted {
        message: MessageRef,
        connection_id: String,
        bytes: u64,
    },
    Dropped {
        message: MessageRef,
        reason: String,
    },
    /// A DSN was sent back for the message.
    Bounced {
        message: MessageRef,
        reason: String,
    },
    /// The message was moved to the hold queue.
    Held {
        message: MessageRef,
        reason: String,
    },
    /// The original was sent to another address instead.
    Forwarded {
        message: MessageRef,
        to: String,
    },
    /// Delivered to `recipients` at `host`.
    Delivered {
        message: MessageRef,
        recipients: Vec<String>,
        host: String,
    },
    /// Delivery to `recipients` failed for good.
    DeliveryFailed {
        message: MessageRef,
        recipients: Vec<String>,
        reason: String,
    },
    /// Every recipient has a final outcome; the message left the queues.
    Completed {
        message: MessageRef,
    },
    /// Delivery was not attempted (paused, notification loop…).
    DeliverySuppressed {
        message: MessageRef,
        reason: String,
    },

    // --- Blocking ---
    /// A blocking rule matched a message, and what was done about it.
    Blocking {
        message: MessageRef,
        finding: Finding,
        handling: Handling,
    },
    /// An infected file was kept in the local quarantine, to be forwarded
    /// to the Central Quarantine.
    Quarantined {
        message: MessageRef,
        /// The file's MIME path and name.
        path: String,
        name: String,
        virus: String,
        /// The scan result sent with it: repaired, unrepairable, deleted…
        result: String,
        /// The local item, which the server also knows it by.
        item: String,
        bytes: u64,
    },
    /// A client was refused at `MAIL FROM` because a DNSBL lists it.
    SpamListRefused {
        client_ip: String,
        sender: String,
        zone: String,
    },
}

/// What travels on the event channel: events, and at shutdown the
/// request to finish everything sent before it.
#[derive(Debug)]
// Boxing the event would cost an allocation per event for a variant sent
// once per run.
#[allow(clippy::large_enum_variant)]
pub enum Item {
    Event(Event),
    /// Store and forward every earlier event, then answer and stop.
    Shutdown(tokio::sync::oneshot::Sender<()>),
}

/// The sending side of the event channel; cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    tx: mpsc::UnboundedSender<Item>,
}

impl Events {
    /// A channel: events sent through the handle arrive at the receiver.
    pub fn channel() -> (Events, mpsc::UnboundedReceiver<Item>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Events { tx }, rx)
    }

    /// Hand an event over (dropped only if nothing receives any more).
    pub fn emit(&self, event: Event) {
        let _ = self.tx.send(Item::Event(event));
    }

    /// A file the gateway needs could not be read or written: an event
    /// (stored, and an alert when enabled), not only a log line.
    pub fn file_access_error(&self, path: impl std::fmt::Display, why: impl std::fmt::Display) {
        self.emit(Event::FileAccessError { path: path.to_string(), why: why.to_string() });
    }

    /// Wait until every event sent so far is stored and forwarded; the
    /// consumer stops after this, so call it last, when stopping.
    pub async fn shut_down(&self) {
        let (done, finished) = tokio::sync::oneshot::channel();
        if self.tx.send(Item::Shutdown(done)).is_ok() {
            let _ = finished.await;
        }
    }
}
