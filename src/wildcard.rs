//! `*` and `?` wildcard matching, case-insensitive, as administrators write
//! it in routing lists, host lists and (later) subject and file-name rules.

/// True if `text` matches `pattern`, where `*` matches any run of
/// characters (also empty) and `?` exactly one; letters compare without case.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Iterative matching with one backtrack point: linear in practice and
    // never exponential, whatever the number of stars.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_questions() {
        assert!(matches("*.example.net", "sub.example.net"));
        assert!(matches("*.example.net", "a.b.example.net"));
        assert!(!matches("*.example.net", "example.net"));
        assert!(matches("example.com", "EXAMPLE.com"));
        assert!(!matches("example.com", "sub.example.com"));
        assert!(matches("ex?mple.*", "example.org"));
        assert!(!matches("ex?mple.*", "exmple.org"));
        assert!(matches("*", ""));
        assert!(matches("*hot*", "Red HOT deals"));
        assert!(!matches("a*b*c", "acb"));
        assert!(matches("a*b*c", "axxbyyc"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(50);
        let text = "a".repeat(49);
        assert!(!matches(&pattern, &text));
    }
}
