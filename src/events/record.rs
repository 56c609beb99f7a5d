//! The flat form of an event (SPEC §10): one row of the store, the
//! detail report and its CSV, one syslog line. Every event kind fills the
//! columns it has and leaves the others empty, so one table and one CSV
//! layout serve all of them and reports are plain queries.

use serde::Serialize;
use std::fmt;

/// The action categories the detail report filters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    System,
    Smtp,
    Message,
    Blocking,
}

impl Category {
    /// Every category, in report order.
    pub const ALL: [Category; 4] = [Category::System, Category::Smtp, Category::Message, Category::Blocking];

    /// The lower-case name used in the store, the API and the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Category::System => "system",
            Category::Smtp => "smtp",
            Category::Message => "message",
            Category::Blocking => "blocking",
        }
    }

    /// The category named `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event as stored and reported. The column set (and its order, which
/// is the CSV's) is stable: reports and external tools depend on it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Record {
    /// When it happened: milliseconds since the Unix epoch, UTC.
    pub time: i64,
    pub category: Option<Category>,
    /// The catalogue name: `Accepted`, `File deleted`, `Connection from`…
    pub action: String,
    /// The queue ID the client was given (`250 ... queued as ID`).
    pub smtp_id: String,
    /// The inbound connection or outbound attempt.
    pub connection_id: String,
    pub client_ip: String,
    /// Envelope sender.
    pub sender: String,
    /// Envelope recipients, comma-separated.
    pub recipients: String,
    pub subject: String,
    /// Virus or signature name.
    pub virus: String,
    /// What matched: the subject phrase, file-name pattern, sender entry,
    /// DNSBL zone, container limit, next-hop host, user name…
    pub matched: String,
    /// The file concerned (`invoice.zip/a.exe`).
    pub file: String,
    /// What was done about a blocking finding: `deleted`, `repaired`…
    pub handling: String,
    /// Reason, result or details, in words.
    pub reason: String,
    /// Message size (Accepted) or another byte count.
    pub bytes: u64,
}

impl Record {
    /// The CSV header, in column order.
    pub const COLUMNS: [&'static str; 15] = [
        "time",
        "category",
        "action",
        "smtp_id",
        "connection_id",
        "client_ip",
        "sender",
        "recipients",
        "subject",
        "virus",
        "matched",
        "file",
        "handling",
        "reason",
        "bytes",
    ];
}
