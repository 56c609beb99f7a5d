//! The life of a quarantine item (SPEC §7): quarantined → held / submitted →
//! needed → available → distributed, plus error. Kept as lower-case words
//! in the index and the API so scripts and the history read the same.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Just arrived from a gateway.
    Quarantined,
    /// Waiting for a manual submission.
    Held,
    /// Sent to the analyst.
    Submitted,
    /// The server's definitions do not detect it: new ones are needed.
    Needed,
    /// Definitions with a known sequence detect it.
    Available,
    /// Those definitions reached the gateways.
    Distributed,
    /// Something went wrong with the item (its bytes, a submission).
    Error,
}

impl Status {
    /// Every status, in the order of an item's life.
    pub const ALL: [Status; 7] = [
        Status::Quarantined,
        Status::Held,
        Status::Submitted,
        Status::Needed,
        Status::Available,
        Status::Distributed,
        Status::Error,
    ];

    /// The word stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Status::Quarantined => "quarantined",
            Status::Held => "held",
            Status::Submitted => "submitted",
            Status::Needed => "needed",
            Status::Available => "available",
            Status::Distributed => "distributed",
            Status::Error => "error",
        }
    }

    /// As the pages show it.
    pub fn title(self) -> &'static str {
        match self {
            Status::Quarantined => "Quarantined",
            Status::Held => "Held",
            Status::Submitted => "Submitted",
            Status::Needed => "Needed",
            Status::Available => "Available",
            Status::Distributed => "Distributed",
            Status::Error => "Error",
        }
    }

    /// The status named `word` (case-insensitive).
    pub fn parse(word: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(word.trim()))
    }

    /// The allowed words, for error messages.
    pub fn allowed() -> String {
        Status::ALL.map(Status::name).join(", ")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.name()), Some(s));
            assert!(s.title().eq_ignore_ascii_case(s.name()));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(Status::parse(" Held "), Some(Status::Held));
        assert_eq!(Status::parse("lost"), None);
    }
}
