//! Container limits (SPEC §4): a message whose decomposition hit a limit
//! (size, depth, file count, expansion ratio, time, overlapping entries)
//! is dropped while the rule is on. The limits themselves are enforced
//! during decomposition (`mime::limits`), whether or not the rule is on.

use crate::config::ContainerRule;
use crate::mime::Decomposition;
use crate::mime::limits::LimitHit;

/// Where the message broke a limit, and which.
pub fn check<'a>(rule: &ContainerRule, parts: &'a Decomposition) -> Option<(&'a str, LimitHit)> {
    let (path, hit) = parts.violation.as_ref()?;
    rule.enabled.then_some((path.as_str(), *hit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_violation_while_enabled_counts() {
        let mut d = Decomposition::default();
        let on = ContainerRule::default();
        assert_eq!(check(&on, &d), None);
        d.violation = Some(("2:bomb.zip".into(), LimitHit::Size));
        assert_eq!(check(&on, &d), Some(("2:bomb.zip", LimitHit::Size)));
        assert_eq!(check(&ContainerRule { enabled: false, ..on }, &d), None);
    }
}
