//! DNS block lists (SPEC §4, RFC 5782): the connecting address is looked
//! up in up to three zones at connect time; a zone with a list of return
//! codes counts only those answers. Senders on the anti-spam white list
//! bypass the result (checked at `MAIL FROM`).

use super::sender::entry_matches;
use crate::config::{Config, DnsblRule};
use crate::dns::Dns;
use crate::policy::hosts::canonical;
use std::net::{IpAddr, Ipv4Addr};

/// The client is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub zone: String,
    /// The return code that counted.
    pub code: Ipv4Addr,
}

/// The RFC 5782 query name of `ip` in `zone`: reversed octets for IPv4,
/// reversed nibbles for IPv6.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => {
            let nibbles: Vec<String> =
                v6.octets().iter().rev().flat_map(|b| [b & 0x0f, b >> 4]).map(|n| format!("{n:x}")).collect();
            format!("{}.{zone}", nibbles.join("."))
        }
    }
}

/// True if `answer` counts as listed under a zone's return-code filter.
pub fn counts(codes: &[String], answer: Ipv4Addr) -> bool {
    codes.is_empty() || codes.iter().any(|c| c.parse::<Ipv4Addr>().is_ok_and(|c| c == answer))
}

/// Look the client up in every enabled zone, in order; the first listing
/// found. A lookup that fails is not a listing (fail open, as MTAs do).
pub async fn lookup(dns: &Dns, config: &Config, ip: IpAddr) -> Option<Listing> {
    let rule = &config.blocking.dnsbl;
    if !rule.enabled {
        return None;
    }
    for zone in rule.zones.iter().filter(|z| z.enabled) {
        let name = query_name(ip, &zone.zone);
        match dns.ipv4(config, &name).await {
            Ok(answers) => {
                if let Some(code) = answers.into_iter().find(|a| counts(&zone.codes, *a)) {
                    return Some(Listing { zone: zone.zone.clone(), code });
                }
            }
            Err(e) => tracing::warn!(zone = %zone.zone, "DNSBL lookup failed: {e}"),
        }
    }
    None
}

/// True if the envelope sender is on the anti-spam white list.
pub fn whitelisted(rule: &DnsblRule, sender: &str) -> bool {
    !sender.is_empty() && rule.whitelist.iter().any(|w| entry_matches(w, sender))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5782_query_names() {
        assert_eq!(query_name("192.0.2.99".parse().unwrap(), "bl.example."), "99.2.0.192.bl.example");
        assert_eq!(query_name("::ffff:127.0.0.1".parse().unwrap(), "bl.test"), "1.0.0.127.bl.test");
        assert_eq!(
            query_name("2001:db8:1:2:3:4:567:89ab".parse().unwrap(), "bl.test"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test"
        );
    }

    #[test]
    fn return_code_filter_and_white_list() {
        let two: Ipv4Addr = "127.0.0.2".parse().unwrap();
        assert!(counts(&[], two));
        assert!(counts(&["127.0.0.2".into()], two));
        assert!(!counts(&["127.0.0.3".into()], two));
        let rule =
            DnsblRule { whitelist: vec!["@friend.test".into(), ".partners.test".into()], ..DnsblRule::default() };
        assert!(whitelisted(&rule, "pal@friend.test"));
        assert!(whitelisted(&rule, "a@x.partners.test"));
        assert!(!whitelisted(&rule, "a@partners.test"));
        assert!(!whitelisted(&rule, ""));
    }
}
