//! The Summary and Detail reports of SPEC §10: what they contain, the
//! query a detail report is made from, and the forms they are handed out
//! in (JSON for the API; CSV in `export`). The numbers themselves come from
//! an [`EventStore`](crate::events::store::EventStore).

mod export;

pub use export::{csv_text, write_csv};

use crate::events::{Category, Record};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone};
use serde::Serialize;
use std::borrow::Cow;

/// The Summary report for a time range: message and infection figures,
/// then the top lists. The JSON keys are the API's contract.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub messages_accepted: u64,
    /// Bytes of accepted messages / 1024, rounded down.
    pub data_accepted_kb: u64,
    /// Refused by policy at the SMTP level, DNSBL refusals included.
    pub messages_rejected: u64,
    pub messages_blocked_by_size: u64,
    pub messages_bounced: u64,
    /// Messages (not deliveries) with at least one delivery.
    pub messages_delivered: u64,
    pub message_delivery_failures: u64,
    pub messages_completed: u64,
    pub encrypted_files_deleted: u64,
    pub infections_logged: u64,
    pub infections_repaired: u64,
    pub infections_deleted: u64,
    /// Logged + repaired + deleted (every infected file is one of them).
    pub infections_total: u64,
    /// Infected files also sent to the Central Quarantine.
    pub infections_quarantined: u64,
    /// Most found first, then by name.
    pub viruses: Vec<NameCount>,
    pub subjects_blocked: Vec<SubjectCount>,
    /// Deleted attachments by file name.
    pub attachments_deleted: Vec<NameCount>,
}

/// A virus or file name and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameCount {
    pub name: String,
    pub count: u64,
}

/// A blocked subject and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectCount {
    pub subject: String,
    pub count: u64,
}

/// What a Detail report shows: events with `from <= time < to` (ms since
/// the epoch, UTC), in time order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DetailQuery {
    pub from: i64,
    pub to: i64,
    /// Only these categories; empty = all.
    pub categories: Vec<Category>,
    /// Only events with this text in some text column, ignoring case.
    pub search: Option<String>,
    /// At most this many (the earliest); `None` = all.
    pub limit: Option<usize>,
}

/// A report bound as ms since the epoch: RFC 3339, or local time as
/// "YYYY-MM-DD", "YYYY-MM-DD HH:MM" or a browser's "YYYY-MM-DDTHH:MM".
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|_| {
            format!("{s:?} is not a time: use RFC 3339 (\"2026-01-31T08:00:00Z\") or local \"YYYY-MM-DD [HH:MM]\"")
        })?;
    Local
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("{s:?} does not exist in local time (the clock skips it)"))
}

/// A time for people: local, to the minute.
pub fn local_minute(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A time stored in events (ms since the epoch) as RFC 3339 UTC with
/// milliseconds, the form every report output uses.
pub fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)).unwrap_or_default()
}

/// The columns of `r` as text, in [`Record::COLUMNS`] order: the CSV row,
/// and the values of the JSON and CLI forms.
pub fn cells(r: &Record) -> [Cow<'_, str>; 15] {
    [
        rfc3339(r.time).into(),
        r.category.map(Category::name).unwrap_or_default().into(),
        r.action.as_str().into(),
        r.smtp_id.as_str().into(),
        r.connection_id.as_str().into(),
        r.client_ip.as_str().into(),
        r.sender.as_str().into(),
        r.recipients.as_str().into(),
        r.subject.as_str().into(),
        r.virus.as_str().into(),
        r.matched.as_str().into(),
        r.file.as_str().into(),
        r.handling.as_str().into(),
        r.reason.as_str().into(),
        r.bytes.to_string().into(),
    ]
}

/// An event's filled columns after time, category and action, by name:
/// the details of a report line.
pub fn filled_columns(r: &Record) -> Vec<(&'static str, String)> {
    let cells = cells(r);
    Record::COLUMNS
        .iter()
        .zip(cells)
        .skip(3)
        .filter(|(name, cell)| !cell.is_empty() && (**name != "bytes" || r.bytes > 0))
        .map(|(name, cell)| (*name, cell.into_owned()))
        .collect()
}

/// The Detail report as the API returns it:
/// `{"events": [{"time": "…Z", "category": …, "action": …, …}]}` with
/// every column, `bytes` as a number.
pub fn detail_json(records: &[Record]) -> serde_json::Value {
    let events = records.iter().map(|r| {
        let columns = Record::COLUMNS.into_iter().zip(cells(r)).map(|(name, cell)| {
            let value = if name == "bytes" { r.bytes.into() } else { cell.into_owned().into() };
            (name.to_string(), value)
        });
        serde_json::Value::Object(columns.collect())
    });
    serde_json::json!({ "events": events.collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_local_dates_and_minutes() {
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600_000));
        assert_eq!(parse_time("2026-01-01T01:00:00.5+01:00"), Ok(1_767_225_600_500));
        let midnight = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_time(NaiveTime::MIN);
        let expected = Local.from_local_datetime(&midnight).earliest().unwrap().timestamp_millis();
        assert_eq!(parse_time("2026-01-31"), Ok(expected));
        assert_eq!(parse_time("2026-01-31 08:30"), Ok(expected + (8 * 60 + 30) * 60_000));
        assert_eq!(parse_time("2026-01-31T08:30"), Ok(expected + (8 * 60 + 30) * 60_000), "a browser's datetime-local");
        let err = parse_time("yesterday").unwrap_err();
        assert!(err.contains("yesterday") && err.contains("RFC 3339") && err.contains("YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn summary_has_exactly_the_api_keys() {
        let s = Summary {
            viruses: vec![NameCount { name: "Eicar".into(), count: 2 }],
            subjects_blocked: vec![SubjectCount { subject: "win".into(), count: 1 }],
            ..Summary::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = vec![
            "messages_accepted",
            "data_accepted_kb",
            "messages_rejected",
            "messages_blocked_by_size",
            "messages_bounced",
            "messages_delivered",
            "message_delivery_failures",
            "messages_completed",
            "encrypted_files_deleted",
            "infections_logged",
            "infections_repaired",
            "infections_deleted",
            "infections_total",
            "infections_quarantined",
            "viruses",
            "subjects_blocked",
            "attachments_deleted",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(v["viruses"], serde_json::json!([{"name": "Eicar", "count": 2}]));
        assert_eq!(v["subjects_blocked"], serde_json::json!([{"subject": "win", "count": 1}]));
    }

    #[test]
    fn detail_json_has_every_column_and_an_rfc3339_time() {
        let r = Record {
            time: 1_767_225_600_123,
            category: Some(Category::Message),
            action: "Accepted".into(),
            subject: "Hi".into(),
            bytes: 2048,
            ..Record::default()
        };
        let v = detail_json(&[r]);
        let event = &v["events"][0];
        assert_eq!(event.as_object().unwrap().len(), Record::COLUMNS.len());
        assert_eq!(event["time"], "2026-01-01T00:00:00.123Z");
        assert_eq!((event["category"].as_str(), event["action"].as_str()), (Some("message"), Some("Accepted")));
        assert_eq!((event["subject"].as_str(), event["bytes"].as_u64()), (Some("Hi"), Some(2048)));
        assert_eq!(event["virus"], "");
    }
}
