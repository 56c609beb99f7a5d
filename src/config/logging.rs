//! Event logging (SPEC §10): whether events are kept locally, for how long,
//! and where they are forwarded.

use chrono::{DateTime, Duration, Months};
use serde::{Deserialize, Serialize};

/// `[logging]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Logging {
    /// Keep events in the local store; while off nothing is stored, so
    /// reports show nothing for that time.
    pub local_enabled: bool,
    /// How long stored events are kept.
    pub retain: Retain,
    /// Where events are also sent (RFC 5424): `"udp://host:514"`,
    /// `"tcp://host:601"` or `""` for nowhere.
    pub syslog: String,
}

impl Default for Logging {
    fn default() -> Self {
        Logging { local_enabled: true, retain: Retain::OneMonth, syslog: String::new() }
    }
}

/// The retention periods the administrator can choose from. A value not in
/// this list is refused when the file is read, with the key, the value and
/// the allowed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Retain {
    #[serde(rename = "1w")]
    OneWeek,
    #[serde(rename = "2w")]
    TwoWeeks,
    #[default]
    #[serde(rename = "1m")]
    OneMonth,
    #[serde(rename = "3m")]
    ThreeMonths,
    #[serde(rename = "6m")]
    SixMonths,
    #[serde(rename = "1y")]
    OneYear,
    /// Never delete.
    #[serde(rename = "never")]
    Never,
}

impl Retain {
    /// Events older than the returned time (ms since the epoch, UTC) are
    /// past the period at `now`; `None` when nothing is ever deleted.
    /// Months are calendar months, so "1m" on 31 March keeps back to
    /// 28/29 February.
    pub fn cutoff(self, now: i64) -> Option<i64> {
        let now = DateTime::from_timestamp_millis(now)?;
        let at = match self {
            Retain::OneWeek => now.checked_sub_signed(Duration::weeks(1)),
            Retain::TwoWeeks => now.checked_sub_signed(Duration::weeks(2)),
            Retain::OneMonth => now.checked_sub_months(Months::new(1)),
            Retain::ThreeMonths => now.checked_sub_months(Months::new(3)),
            Retain::SixMonths => now.checked_sub_months(Months::new(6)),
            Retain::OneYear => now.checked_sub_months(Months::new(12)),
            Retain::Never => None,
        };
        at.map(|t| t.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn defaults_and_every_period_parse() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.logging, Logging { local_enabled: true, retain: Retain::OneMonth, syslog: String::new() });
        for (text, retain) in [("1w", Retain::OneWeek), ("2w", Retain::TwoWeeks), ("never", Retain::Never)] {
            let c = Config::from_toml(&format!("[logging]\nretain = \"{text}\"\n")).unwrap();
            assert_eq!(c.logging.retain, retain);
        }
        let c = Config::from_toml("[logging]\nsyslog = \"udp://127.0.0.1:514\"\nlocal_enabled = false\n").unwrap();
        assert_eq!((c.logging.local_enabled, c.logging.syslog.as_str()), (false, "udp://127.0.0.1:514"));
    }

    #[test]
    fn a_bad_period_names_the_key_the_value_and_the_choices() {
        let err = Config::from_toml("[logging]\nretain = \"2d\"\n").unwrap_err();
        assert_eq!(err[0].key, "logging.retain");
        let text = err[0].to_string();
        for expected in ["2d", "1w", "2w", "1m", "3m", "6m", "1y", "never"] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
        let err = Config::from_toml("[logging]\nkeep = true\n").unwrap_err();
        assert_eq!(err[0].key, "logging.keep");
    }

    #[test]
    fn cutoffs_are_calendar_periods_back_from_now() {
        let now = ms("2026-03-31T12:00:00Z");
        assert_eq!(Retain::OneWeek.cutoff(now), Some(ms("2026-03-24T12:00:00Z")));
        assert_eq!(Retain::TwoWeeks.cutoff(now), Some(ms("2026-03-17T12:00:00Z")));
        assert_eq!(Retain::OneMonth.cutoff(now), Some(ms("2026-02-28T12:00:00Z")));
        assert_eq!(Retain::ThreeMonths.cutoff(now), Some(ms("2025-12-31T12:00:00Z")));
        assert_eq!(Retain::SixMonths.cutoff(now), Some(ms("2025-09-30T12:00:00Z")));
        assert_eq!(Retain::OneYear.cutoff(now), Some(ms("2025-03-31T12:00:00Z")));
        assert_eq!(Retain::Never.cutoff(now), None);
    }
}
