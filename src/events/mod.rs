//! Everything the gateway decides becomes a typed event sent through one
//! channel, so the store, counters, reports and notifications (later
//! components) all read the same stream. Sending never waits: the SMTP
//! path and the workers only hand an event over.

use crate::policy::{Finding, Handling};
use std::fmt;
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

/// One event of SPEC §10's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A blocking rule matched a message, and what was done about it.
    Blocking { message: MessageRef, finding: Finding, handling: Handling },
    /// A client was refused at `MAIL FROM` because a DNSBL lists it.
    SpamListRefused { client_ip: String, sender: String, zone: String },
    /// At least `messages` infected messages arrived within `minutes`.
    Outbreak { messages: usize, minutes: u32 },
    /// A definitions update was attempted.
    UpdateAttempted { result: String },
    /// New definitions are in use.
    DefinitionsUpdated { sequence: u64, date: String },
    /// A scanner does not answer its health check: mail it should scan
    /// follows the "cannot be processed" policy until it is back.
    ScannerUnavailable { scanner: String, why: String },
    /// A scanner answers its health check again.
    ScannerAvailable { scanner: String },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Blocking { message: m, finding, handling } => write!(
                f,
                "{finding}: {handling} (id {}, from <{}>, to {}, subject {:?}, client {})",
                m.id,
                m.sender,
                m.recipients.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(","),
                m.subject,
                m.client_ip
            ),
            Event::SpamListRefused { client_ip, sender, zone } => {
                write!(f, "spam list block: {client_ip} is listed by {zone}; refused <{sender}> at SMTP")
            }
            Event::UpdateAttempted { result } => write!(f, "definitions update attempted: {result}"),
            Event::DefinitionsUpdated { sequence, date } => {
                write!(f, "definitions updated: sequence {sequence} of {date}")
            }
            Event::ScannerUnavailable { scanner, why } => write!(f, "scanner unavailable: {scanner}: {why}"),
            Event::ScannerAvailable { scanner } => write!(f, "scanner available again: {scanner}"),
            Event::Outbreak { messages, minutes } => {
                write!(f, "virus outbreak: {messages} infected messages within {minutes} minutes")
            }
        }
    }
}

/// The sending side of the event channel; cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    tx: mpsc::UnboundedSender<Event>,
}

impl Events {
    /// A channel: events sent through the handle arrive at the receiver.
    pub fn channel() -> (Events, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Events { tx }, rx)
    }

    /// Hand an event over (dropped only if nothing receives any more).
    pub fn emit(&self, event: Event) {
        let _ = self.tx.send(event);
    }
}

/// Write every event to the log until the channel closes.
pub async fn log_all(mut rx: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = rx.recv().await {
        tracing::info!(target: "mxguard::event", "{event}");
    }
}
