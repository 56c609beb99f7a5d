//! Sender addresses and domains (SPEC §4): the envelope sender and every
//! header `From:` address are checked. `@example.com` means exactly that
//! domain, `.example.com` its subdomains (not the domain itself), anything
//! else one full address. The same entry forms make the anti-spam white
//! list.

use crate::config::SenderRule;
use crate::envelope::domain_of;

/// True if `address` falls under `entry`.
pub fn entry_matches(entry: &str, address: &str) -> bool {
    let entry = entry.trim().to_lowercase();
    let domain = domain_of(address);
    if let Some(exact) = entry.strip_prefix('@') {
        domain == exact
    } else if entry.starts_with('.') {
        domain.ends_with(&entry)
    } else {
        address.trim().to_lowercase() == entry
    }
}

/// The first blocked address among `addresses` and the entry it matched.
pub fn check<'a>(rule: &'a SenderRule, addresses: &[&'a str]) -> Option<(&'a str, &'a str)> {
    if !rule.enabled {
        return None;
    }
    addresses
        .iter()
        .filter(|a| !a.is_empty())
        .find_map(|a| rule.entries.iter().find(|e| entry_matches(e, a)).map(|e| (*a, e.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_forms() {
        assert!(entry_matches("@spam.test", "x@SPAM.test"));
        assert!(!entry_matches("@spam.test", "x@a.spam.test"), "@ is exactly that domain");
        assert!(entry_matches(".bulk.test", "y@a.bulk.test"));
        assert!(entry_matches(".bulk.test", "y@deep.a.bulk.test"));
        assert!(!entry_matches(".bulk.test", "y@bulk.test"), ". is subdomains only");
        assert!(!entry_matches(".bulk.test", "y@notbulk.test"));
        assert!(entry_matches("Bad@Evil.test", "bad@evil.TEST"));
        assert!(!entry_matches("bad@evil.test", "good@evil.test"));
    }

    #[test]
    fn envelope_and_header_addresses() {
        let rule = SenderRule { enabled: true, entries: vec!["bad@evil.test".into()], ..SenderRule::default() };
        assert_eq!(check(&rule, &["ok@good.test", "bad@evil.test"]), Some(("bad@evil.test", "bad@evil.test")));
        assert_eq!(check(&rule, &["", "ok@good.test"]), None);
        assert_eq!(check(&SenderRule { enabled: false, ..rule }, &["bad@evil.test"]), None);
    }
}
