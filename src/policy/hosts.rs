//! Entries of the anti-relay host list (SPEC §3): IPs, `1.2.3.*` prefixes,
//! `*.name` patterns matched against the client's verified PTR name, and
//! CIDR blocks.

use ipnet::IpNet;
use std::net::IpAddr;

/// One parsed `relay.allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Ip(IpAddr),
    /// Leading IPv4 octets of `1.2.*`.
    Prefix(Vec<u8>),
    /// `*.example.com` kept as `.example.com`.
    NameSuffix(String),
    Cidr(IpNet),
}

/// What is known about the connecting host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    /// PTR name confirmed by a forward lookup back to `ip`, if any.
    pub verified_name: Option<String>,
}

impl HostPattern {
    /// `None` when the entry is none of the accepted forms.
    pub fn parse(entry: &str) -> Option<HostPattern> {
        let e = entry.trim();
        if let Ok(ip) = e.parse::<IpAddr>() {
            return Some(HostPattern::Ip(canonical(ip)));
        }
        if e.contains('/') {
            return e.parse::<IpNet>().ok().map(HostPattern::Cidr);
        }
        if let Some(prefix) = e.strip_suffix(".*") {
            let octets: Option<Vec<u8>> = prefix.split('.').map(|o| o.parse::<u8>().ok()).collect();
            return octets.filter(|o| (1..=3).contains(&o.len())).map(HostPattern::Prefix);
        }
        if let Some(suffix) = e.strip_prefix("*.") {
            let valid = crate::config::is_hostname(suffix);
            return valid.then(|| HostPattern::NameSuffix(format!(".{}", suffix.to_ascii_lowercase())));
        }
        None
    }

    /// True if the client is covered by this entry.
    pub fn matches(&self, client: &Client) -> bool {
        let ip = canonical(client.ip);
        match self {
            HostPattern::Ip(p) => *p == ip,
            HostPattern::Cidr(net) => net.contains(&ip),
            HostPattern::Prefix(octets) => match ip {
                IpAddr::V4(v4) => v4.octets().starts_with(octets),
                IpAddr::V6(_) => false,
            },
            HostPattern::NameSuffix(suffix) => client
                .verified_name
                .as_deref()
                .is_some_and(|n| n.trim_end_matches('.').to_ascii_lowercase().ends_with(suffix.as_str())),
        }
    }

    /// Whether matching needs the client's PTR name (so the lookup is only
    /// made when some entry can use it).
    pub fn needs_name(&self) -> bool {
        matches!(self, HostPattern::NameSuffix(_))
    }
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str, name: Option<&str>) -> Client {
        Client { ip: ip.parse().unwrap(), verified_name: name.map(String::from) }
    }

    #[test]
    fn every_form_matches_what_it_should() {
        let ip = HostPattern::parse("192.0.2.7").unwrap();
        assert!(ip.matches(&client("192.0.2.7", None)));
        assert!(ip.matches(&client("::ffff:192.0.2.7", None)));
        assert!(!ip.matches(&client("192.0.2.8", None)));
        let prefix = HostPattern::parse("10.1.*").unwrap();
        assert!(prefix.matches(&client("10.1.200.3", None)));
        assert!(!prefix.matches(&client("10.2.0.1", None)));
        let cidr = HostPattern::parse("172.16.0.0/12").unwrap();
        assert!(cidr.matches(&client("172.31.255.255", None)));
        assert!(!cidr.matches(&client("172.32.0.0", None)));
        let v6 = HostPattern::parse("2001:db8::/32").unwrap();
        assert!(v6.matches(&client("2001:db8::1", None)));
        let name = HostPattern::parse("*.someplace.com").unwrap();
        assert!(name.needs_name());
        assert!(name.matches(&client("192.0.2.1", Some("mx.SomePlace.com."))));
        assert!(!name.matches(&client("192.0.2.1", Some("someplace.com.evil.org"))));
        assert!(!name.matches(&client("192.0.2.1", None)));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in ["1.2.*.4", "*", "1.2.3.4.*", "300.1.*", "10.0.0.0/40", "a.*.com", "host name", ""] {
            assert_eq!(HostPattern::parse(bad), None, "{bad}");
        }
    }
}
