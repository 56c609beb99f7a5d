//! Encrypted containers (SPEC §4): password-protected archives and
//! documents cannot be checked, so policy decides what becomes of them.
//! The outermost locked container is reported; what is inside it goes
//! with it.

use crate::mime::Part;

/// The encrypted containers among `parts` (the message's top-level
/// parts), outermost only.
pub fn check(parts: &[Part]) -> Vec<&Part> {
    let mut found = Vec::new();
    let mut stack: Vec<&Part> = parts.iter().rev().collect();
    while let Some(p) = stack.pop() {
        if p.encrypted {
            found.push(p);
        } else {
            stack.extend(p.children.iter().rev());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(path: &str, encrypted: bool, children: Vec<Part>) -> Part {
        Part { children, ..Part::named(path, &[], encrypted) }
    }

    #[test]
    fn outermost_locked_container_only() {
        let parts = vec![
            part("1", false, vec![]),
            part("2", false, vec![part("2:inner.zip", true, vec![part("2:inner.zip/s.doc", true, vec![])])]),
            part("3", true, vec![]),
        ];
        let paths: Vec<&str> = check(&parts).iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["2:inner.zip", "3"]);
    }
}
