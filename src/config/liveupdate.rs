//! Definitions updates (SPEC §6, "LiveUpdate"): where packages come from,
//! the key that must have signed them, and when to look for them.

use super::validate::{Problem, range};
use chrono::{Datelike, Duration, NaiveDateTime, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

/// `[liveupdate]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveUpdate {
    /// Package locations in priority order (directories, `.tar.gz` files,
    /// `http(s)://` or `file://` URLs); the first that answers wins.
    pub sources: Vec<String>,
    /// The ed25519 public key packages must be signed with (hex).
    pub public_key: String,
    /// PEM file of the certificates `https://` sources are checked against
    /// instead of the public roots, for a source with its own certificate
    /// such as a Central Quarantine; empty = the public roots.
    pub ca: String,
    pub schedule_enabled: bool,
    /// Days with attempts: "mon" … "sun".
    pub days: Vec<String>,
    /// Time of the first attempt of a day, "HH:MM" (local time).
    pub first_attempt: String,
    /// Hours between attempts; midnight ends the day.
    pub every_hours: u32,
}

impl Default for LiveUpdate {
    fn default() -> Self {
        LiveUpdate {
            sources: Vec::new(),
            public_key: String::new(),
            ca: String::new(),
            schedule_enabled: false,
            days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
            first_attempt: "06:00".into(),
            every_hours: 4,
        }
    }
}

fn weekday(name: &str) -> Option<Weekday> {
    name.trim().parse::<Weekday>().ok()
}

fn time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

impl LiveUpdate {
    /// The first scheduled attempt after `now` (local time), or `None`
    /// when the schedule is off or names no day.
    pub fn next_attempt(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        if !self.schedule_enabled {
            return None;
        }
        let days: Vec<Weekday> = self.days.iter().filter_map(|d| weekday(d)).collect();
        let first = time(&self.first_attempt)?;
        let step = Duration::hours(i64::from(self.every_hours.max(1)));
        (0..8).find_map(|offset| {
            let day = now.date() + Duration::days(offset);
            if !days.contains(&day.weekday()) {
                return None;
            }
            let mut at = day.and_time(first);
            while at.date() == day {
                if at > now {
                    return Some(at);
                }
                at += step;
            }
            None
        })
    }
}

/// Every problem in the LiveUpdate settings.
pub fn check(l: &LiveUpdate, p: &mut Vec<Problem>) {
    for (i, d) in l.days.iter().enumerate() {
        if weekday(d).is_none() {
            p.push(Problem::new(
                format!("liveupdate.days[{i}]"),
                d,
                "a day: \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\" or \"sun\"",
            ));
        }
    }
    if time(&l.first_attempt).is_none() {
        p.push(Problem::new("liveupdate.first_attempt", &l.first_attempt, "a time of day \"HH:MM\", e.g. \"06:00\""));
    }
    range(p, "liveupdate.every_hours", l.every_hours, 1, 24);
    let key_ok = l.public_key.len() == 64 && l.public_key.bytes().all(|b| b.is_ascii_hexdigit());
    if !l.public_key.is_empty() && !key_ok {
        p.push(Problem::new(
            "liveupdate.public_key",
            &l.public_key,
            "an ed25519 public key: 64 hex digits (from `mxguard defs keygen`)",
        ));
    }
    if !l.sources.is_empty() && l.public_key.is_empty() {
        p.push(Problem::new("liveupdate.public_key", "", "the key packages are signed with, when sources are set"));
    }
    if !l.ca.is_empty()
        && let Err(why) = crate::quarantine::upload::trust_anchors(&l.ca)
    {
        p.push(Problem::new("liveupdate.ca", &l.ca, format!("a readable PEM file of certificates ({why})")));
    }
    for (i, s) in l.sources.iter().enumerate() {
        if s.trim().is_empty() {
            p.push(Problem::new(format!("liveupdate.sources[{i}]"), s, "a directory, a .tar.gz file or a URL"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap()
    }

    #[test]
    fn the_spec_example_schedule() {
        // Tuesday and Thursday, 06:00, every 4 hours => 06, 10, 14, 18, 22.
        let l = LiveUpdate {
            schedule_enabled: true,
            days: vec!["tue".into(), "thu".into()],
            first_attempt: "06:00".into(),
            every_hours: 4,
            ..LiveUpdate::default()
        };
        let tuesday = at(2026, 11, 24, 0, 0); // 24 Nov 2026 is a Tuesday
        let mut now = tuesday;
        let mut seen = Vec::new();
        for _ in 0..6 {
            now = l.next_attempt(now).unwrap();
            seen.push(now);
        }
        assert_eq!(
            seen,
            [
                at(2026, 11, 24, 6, 0),
                at(2026, 11, 24, 10, 0),
                at(2026, 11, 24, 14, 0),
                at(2026, 11, 24, 18, 0),
                at(2026, 11, 24, 22, 0),
                at(2026, 11, 26, 6, 0),
            ]
        );
        assert_eq!(LiveUpdate { schedule_enabled: false, ..l.clone() }.next_attempt(tuesday), None);
        assert_eq!(LiveUpdate { days: vec![], ..l }.next_attempt(tuesday), None);
    }

    #[test]
    fn bad_values_are_refused() {
        for (l, key) in [
            (LiveUpdate { days: vec!["someday".into()], ..LiveUpdate::default() }, "liveupdate.days[0]"),
            (LiveUpdate { first_attempt: "6 am".into(), ..LiveUpdate::default() }, "liveupdate.first_attempt"),
            (LiveUpdate { every_hours: 0, ..LiveUpdate::default() }, "liveupdate.every_hours"),
            (LiveUpdate { public_key: "abc".into(), ..LiveUpdate::default() }, "liveupdate.public_key"),
            (LiveUpdate { sources: vec!["/srv/defs".into()], ..LiveUpdate::default() }, "liveupdate.public_key"),
            (LiveUpdate { ca: "/nonexistent/ca.pem".into(), ..LiveUpdate::default() }, "liveupdate.ca"),
        ] {
            let mut p = Vec::new();
            check(&l, &mut p);
            assert!(p.iter().any(|p| p.key == key), "{key}: {p:?}");
        }
    }
}
