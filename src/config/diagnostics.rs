//! Diagnostics (SPEC §10): SMTP conversation logs for inbound connections
//! and outbound deliveries, and copies of queue files, for finding out why
//! mail between the gateway and one peer goes wrong. All off by default.

use serde::{Deserialize, Serialize};

/// `[diagnostics]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Diagnostics {
    /// Conversation logs of connections from SMTP clients.
    pub inbound: LogMode,
    /// Conversation logs of delivery attempts to next hops.
    pub outbound: LogMode,
    /// What makes an `on_error` log worth keeping.
    pub triggers: Vec<Trigger>,
    /// How much of the message content a log shows.
    pub data: DataMode,
    /// Keep a copy of each accepted message's queue file in
    /// `<paths.diag_dir>/queue`.
    pub queue_file_save: bool,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics {
            inbound: LogMode::Disable,
            outbound: LogMode::Disable,
            triggers: Trigger::ALL.to_vec(),
            data: DataMode::Summarize,
            queue_file_save: false,
        }
    }
}

/// When a conversation log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogMode {
    /// Nothing is recorded.
    #[default]
    Disable,
    /// Recorded in memory, written only if one of the triggers happened.
    OnError,
    /// Every conversation is written.
    All,
}

/// A kind of trouble that makes an `on_error` log worth keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Any 4xx or 5xx reply.
    SmtpErrors,
    /// Timeouts, lost connections, failed TLS handshakes.
    CommunicationErrors,
    /// Replies 500-504 and 5.5.x statuses; malformed replies.
    ProtocolErrors,
    /// The gateway itself failed (4.3.x, e.g. a message it could not queue).
    LocalErrors,
    /// Commands and parameters not implemented (502, 504, 555).
    Unsupported,
}

impl Trigger {
    /// Every trigger, the default list.
    pub const ALL: [Trigger; 5] = [
        Trigger::SmtpErrors,
        Trigger::CommunicationErrors,
        Trigger::ProtocolErrors,
        Trigger::LocalErrors,
        Trigger::Unsupported,
    ];

    /// The name used in the configuration file and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::SmtpErrors => "smtp_errors",
            Trigger::CommunicationErrors => "communication_errors",
            Trigger::ProtocolErrors => "protocol_errors",
            Trigger::LocalErrors => "local_errors",
            Trigger::Unsupported => "unsupported",
        }
    }
}

/// How the message content (DATA or BDAT) appears in a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataMode {
    /// Not at all.
    Ignore,
    /// One line with its line and byte counts.
    #[default]
    Summarize,
    /// Every line.
    Echo,
}

/// An `on_error` log with no trigger could never be written: refuse it.
pub(super) fn check(d: &Diagnostics, p: &mut Vec<super::Problem>) {
    let on_error = [d.inbound, d.outbound].contains(&LogMode::OnError);
    if on_error && d.triggers.is_empty() {
        let allowed = Trigger::ALL.map(|t| format!("\"{}\"", t.name())).join(", ");
        p.push(super::Problem::new(
            "diagnostics.triggers",
            "[]",
            format!("at least one of {allowed} while inbound or outbound is \"on_error\""),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn defaults_are_off_with_every_trigger() {
        let d = Config::from_toml("").unwrap().diagnostics;
        assert_eq!((d.inbound, d.outbound, d.data), (LogMode::Disable, LogMode::Disable, DataMode::Summarize));
        assert_eq!(d.triggers, Trigger::ALL);
        assert!(!d.queue_file_save);
        assert_eq!(Config::from_toml("").unwrap().paths.diag_dir, "diag");
    }

    #[test]
    fn every_value_is_read() {
        let d = Config::from_toml(
            "[diagnostics]\ninbound = \"on_error\"\noutbound = \"all\"\ntriggers = [\"unsupported\", \"local_errors\"]\n\
             data = \"echo\"\nqueue_file_save = true\n",
        )
        .unwrap()
        .diagnostics;
        assert_eq!((d.inbound, d.outbound, d.data), (LogMode::OnError, LogMode::All, DataMode::Echo));
        assert_eq!(d.triggers, [Trigger::Unsupported, Trigger::LocalErrors]);
        assert!(d.queue_file_save);
    }

    #[test]
    fn bad_values_name_the_key_the_value_and_the_choices() {
        let err = Config::from_toml("[diagnostics]\ninbound = \"errors\"\n").unwrap_err();
        assert_eq!(err[0].key, "diagnostics.inbound");
        let text = err[0].to_string();
        assert!(["errors", "disable", "on_error", "all"].iter().all(|w| text.contains(w)), "{text}");
        let err = Config::from_toml("[diagnostics]\ntriggers = [\"smtp_errors\", \"timeouts\"]\n").unwrap_err();
        assert_eq!(err[0].key, "diagnostics.triggers[1]");
        let text = err[0].to_string();
        assert!(Trigger::ALL.iter().all(|t| text.contains(t.name())) && text.contains("timeouts"), "{text}");
        let err = Config::from_toml("[diagnostics]\ndata = \"full\"\n").unwrap_err();
        assert_eq!(err[0].key, "diagnostics.data");
        let err = Config::from_toml("[diagnostics]\noutbound = \"on_error\"\ntriggers = []\n").unwrap_err();
        assert_eq!((err[0].key.as_str(), err[0].value.as_str()), ("diagnostics.triggers", "[]"));
        assert!(err[0].allowed.contains("\"unsupported\""), "{}", err[0]);
        let err = Config::from_toml("[paths]\ndiag_dir = \" \"\n").unwrap_err();
        assert_eq!(err[0].key, "paths.diag_dir");
    }
}
