//! Which kinds of trouble a conversation showed, and how a reply line is
//! sorted into them: the `on_error` logs are kept by these.

use crate::config::Trigger;

/// A set of [`Trigger`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Triggers(u8);

impl Triggers {
    /// The set holding `list`.
    pub(super) fn of(list: &[Trigger]) -> Triggers {
        list.iter().fold(Triggers::default(), |set, &t| set.with(t))
    }

    /// This set and `t`.
    pub(super) fn with(self, t: Trigger) -> Triggers {
        Triggers(self.0 | 1 << t as u8)
    }

    /// Both sets together.
    pub(super) fn union(self, other: Triggers) -> Triggers {
        Triggers(self.0 | other.0)
    }

    /// True if the sets share a trigger.
    pub(super) fn meets(self, other: Triggers) -> bool {
        self.0 & other.0 != 0
    }

    /// The triggers' configuration names, comma-separated.
    pub(super) fn names(self) -> String {
        let present = Trigger::ALL.into_iter().filter(|&t| self.meets(Triggers::default().with(t)));
        present.map(Trigger::name).collect::<Vec<_>>().join(", ")
    }
}

/// The triggers one reply line shows (`250-...`, `550 5.1.1 ...`): any 4xx
/// or 5xx is an SMTP error; 500-504 and 5.5.x are protocol errors; 502,
/// 504 and 555 are unsupported operations; 4.3.x is the replying server's
/// own failure. A line that is not a reply shows nothing.
pub(super) fn of_reply(line: &[u8]) -> Triggers {
    let Some(code) = line.get(..3).and_then(|c| std::str::from_utf8(c).ok()?.parse::<u16>().ok()) else {
        return Triggers::default();
    };
    let status = line.get(4..).unwrap_or_default().split(|b| b.is_ascii_whitespace()).next().unwrap_or_default();
    let mut set = Triggers::default();
    for (shows, trigger) in [
        (code >= 400, Trigger::SmtpErrors),
        ((500..=504).contains(&code) || status.starts_with(b"5.5."), Trigger::ProtocolErrors),
        (matches!(code, 502 | 504 | 555), Trigger::Unsupported),
        (status.starts_with(b"4.3."), Trigger::LocalErrors),
    ] {
        if shows {
            set = set.with(trigger);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> String {
        of_reply(line.as_bytes()).names()
    }

    #[test]
    fn replies_are_sorted_into_triggers() {
        assert_eq!(names("250 2.0.0 Ok"), "");
        assert_eq!(names("354 End data with <CR><LF>.<CR><LF>"), "");
        assert_eq!(names("250-PIPELINING"), "");
        assert_eq!(names("550 5.1.1 no such user"), "smtp_errors");
        assert_eq!(names("421 4.4.2 timeout"), "smtp_errors");
        assert_eq!(names("500 5.5.2 Error: command not recognized"), "smtp_errors, protocol_errors");
        assert_eq!(names("503 5.5.1 Error: need MAIL command"), "smtp_errors, protocol_errors");
        assert_eq!(names("554 5.5.1 Error: TLS already active"), "smtp_errors, protocol_errors");
        assert_eq!(names("502 5.5.1 Error: command not implemented"), "smtp_errors, protocol_errors, unsupported");
        assert_eq!(names("555 5.5.4 Unsupported option: X"), "smtp_errors, protocol_errors, unsupported");
        assert_eq!(names("451 4.3.0 Error: could not queue the message"), "smtp_errors, local_errors");
        assert_eq!(names("not a reply"), "");
        assert_eq!(names(""), "");
    }

    #[test]
    fn sets_combine() {
        let wanted = Triggers::of(&[Trigger::Unsupported, Trigger::LocalErrors]);
        assert!(!wanted.meets(of_reply(b"550 5.1.1 no")));
        assert!(wanted.meets(of_reply(b"502 5.5.1 no")));
        assert_eq!(
            wanted.union(Triggers::default().with(Trigger::SmtpErrors)).names(),
            "smtp_errors, local_errors, unsupported"
        );
        assert_eq!(Triggers::of(&Trigger::ALL).names(), Trigger::ALL.map(Trigger::name).join(", "));
    }
}
