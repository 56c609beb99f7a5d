//! File names (SPEC §4): attachments and files inside containers whose
//! name matches a listed pattern are deleted. Every name a part claims is
//! checked, in every form a client might use (see `mime::names`).

use crate::config::FilenameRule;
use crate::mime::{Part, names};
use crate::wildcard;

/// A part to delete and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub path: String,
    /// The name as the part claimed it.
    pub name: String,
    pub pattern: String,
}

/// Every part with a blocked name, when the rule is on.
pub fn check(rule: &FilenameRule, parts: &[&Part]) -> Vec<Blocked> {
    if !rule.enabled {
        return Vec::new();
    }
    let patterns: Vec<&str> = rule.patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
    parts
        .iter()
        .filter_map(|part| {
            part.names.iter().find_map(|name| {
                let forms = names::forms(name);
                let pattern = patterns.iter().find(|p| forms.iter().any(|f| wildcard::matches(p, f)))?;
                Some(Blocked { path: part.path.clone(), name: name.clone(), pattern: pattern.to_string() })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(path: &str, names: &[&str]) -> Part {
        Part::named(path, names, false)
    }

    #[test]
    fn every_claimed_name_in_every_form() {
        let rule = FilenameRule {
            enabled: true,
            patterns: vec!["*.exe".into(), "badnews.doc".into()],
            ..FilenameRule::default()
        };
        let parts = [
            part("1", &["report.pdf", "evil.EXE"]),
            part("2", &["evil.exe. "]),
            part("3", &["invoice\u{202E}fdp.exe"]),
            part("4:a.zip/dir/BadNews.doc", &["dir/BadNews.doc"]),
            part("5", &["readme.txt"]),
            part("6", &[]),
            part("7", &["evil%2Eexe"]),
        ];
        let refs: Vec<&Part> = parts.iter().collect();
        let blocked: Vec<(String, String)> = check(&rule, &refs).into_iter().map(|b| (b.path, b.pattern)).collect();
        assert_eq!(
            blocked,
            [
                ("1".to_string(), "*.exe".to_string()),
                ("2".into(), "*.exe".into()),
                ("3".into(), "*.exe".into()),
                ("4:a.zip/dir/BadNews.doc".into(), "badnews.doc".into()),
                ("7".into(), "*.exe".into()),
            ]
        );
        assert!(check(&FilenameRule { enabled: false, ..rule }, &refs).is_empty());
    }
}
