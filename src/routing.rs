//! The local routing list (SPEC §3): which recipient domains are local and
//! which entry routes them. Local routing beats default routing.

use crate::config::{Config, LocalRoute};
use crate::wildcard;

/// The first local routing entry whose name matches `domain`, if any.
pub fn find_local<'a>(config: &'a Config, domain: &str) -> Option<&'a LocalRoute> {
    config.routing.local.iter().find(|r| RoutePattern::new(&r.name).is_some_and(|p| p.matches(domain)))
}

/// A validated routing name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern(String);

impl RoutePattern {
    /// `None` when the name has characters no host, domain or IP can have.
    pub fn new(name: &str) -> Option<RoutePattern> {
        let name = name.trim().trim_end_matches('.');
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._*?:[]".contains(&b));
        ok.then(|| RoutePattern(name.to_ascii_lowercase()))
    }

    /// True if a recipient domain (or `[IP]` literal) falls under this entry.
    pub fn matches(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.');
        let bare = domain.trim_start_matches('[').trim_end_matches(']');
        let bare = bare.strip_prefix("IPv6:").or_else(|| bare.strip_prefix("ipv6:")).unwrap_or(bare);
        let pattern = self.0.trim_start_matches('[').trim_end_matches(']');
        wildcard::matches(&self.0, domain) || wildcard::matches(pattern, bare)
    }
}

#[cfg(test)]
mod tests {
    use super::RoutePattern;

    #[test]
    fn names_domains_and_literals() {
        let p = RoutePattern::new("Example.COM").unwrap();
        assert!(p.matches("example.com"));
        assert!(p.matches("example.com."));
        assert!(!p.matches("mail.example.com"));
        let w = RoutePattern::new("*.example.net").unwrap();
        assert!(w.matches("sub.EXAMPLE.net"));
        let ip = RoutePattern::new("192.0.2.1").unwrap();
        assert!(ip.matches("[192.0.2.1]"));
        let q = RoutePattern::new("mx?.example.org").unwrap();
        assert!(q.matches("mx1.example.org") && !q.matches("mx12.example.org"));
        assert!(RoutePattern::new("bad name").is_none());
        assert!(RoutePattern::new("").is_none());
    }
}
