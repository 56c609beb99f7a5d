//! Subject line rule (SPEC §4): subjects listed one per line, with `*` and
//! `?` wildcards, compared without case.

use crate::config::SubjectRule;
use crate::wildcard;

/// The first listed pattern that `subject` matches, when the rule is on.
pub fn check<'a>(rule: &'a SubjectRule, subject: &str) -> Option<&'a str> {
    if !rule.enabled {
        return None;
    }
    let subject = subject.trim();
    rule.patterns.iter().map(|p| p.trim()).find(|p| !p.is_empty() && wildcard::matches(p, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_case() {
        let rule = SubjectRule {
            enabled: true,
            patterns: vec!["*forbidden*".into(), "Exact Subject".into(), "win ? prize".into()],
            ..SubjectRule::default()
        };
        assert_eq!(check(&rule, "this is Forbidden stuff"), Some("*forbidden*"));
        assert_eq!(check(&rule, "  exact SUBJECT "), Some("Exact Subject"));
        assert_eq!(check(&rule, "exact subject!"), None);
        assert_eq!(check(&rule, "win a prize"), Some("win ? prize"));
        assert_eq!(check(&rule, "win the prize"), None);
        assert_eq!(check(&SubjectRule { enabled: false, ..rule }, "forbidden"), None);
    }
}
