//! Routing (SPEC §3): local routing list first, then the default relay,
//! then MX lookup; and turning a next hop into addresses to try in order.

use crate::config::{Config, parse_host_port};
use crate::dns::{Dns, DnsError};
use crate::routing::find_local;
use std::net::SocketAddr;

/// Where a recipient's mail goes next. Recipients with the same next hop
/// share a transaction and a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    /// A configured relay host and port (looked up by A/AAAA, not MX).
    Relay { host: String, port: u16 },
    /// The recipient domain's mail exchangers.
    Mx { domain: String },
}

impl std::fmt::Display for NextHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NextHop::Relay { host, port } => write!(f, "[{host}]:{port}"),
            NextHop::Mx { domain } => write!(f, "MX of {domain}"),
        }
    }
}

/// The next hop for a recipient domain.
pub fn route(config: &Config, domain: &str) -> NextHop {
    let relay = match find_local(config, domain) {
        Some(local) => local.relay.as_str(),
        None => config.routing.default_relay.as_str(),
    };
    match parse_host_port(relay) {
        Some((host, port)) if !relay.is_empty() => NextHop::Relay { host, port },
        _ => NextHop::Mx { domain: domain.to_string() },
    }
}

/// One address to connect to, with the name to greet it by (for SNI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
}

/// Addresses for a next hop, best first (RFC 5321 §5.1: MX by preference,
/// then each exchanger's addresses; no MX means the domain itself).
pub async fn targets(dns: &Dns, config: &Config, hop: &NextHop) -> Result<Vec<Target>, DnsError> {
    let (hosts, port) = match hop {
        NextHop::Relay { host, port } => (vec![host.clone()], *port),
        NextHop::Mx { domain } => {
            let mx = dns.mx(config, domain).await?;
            if mx.len() == 1 && mx[0].host.is_empty() {
                return Err(DnsError::NotFound(format!("{domain} does not accept mail (null MX)")));
            }
            let hosts = if mx.is_empty() { vec![domain.clone()] } else { mx.into_iter().map(|m| m.host).collect() };
            (hosts, config.delivery.smtp_port)
        }
    };
    let mut out = Vec::new();
    let mut last_error = None;
    for host in hosts {
        match dns.addresses(config, &host).await {
            Ok(ips) => {
                out.extend(ips.into_iter().map(|ip| Target { addr: SocketAddr::new(ip, port), host: host.clone() }))
            }
            Err(e) => last_error = Some(e),
        }
    }
    match (out.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        (true, None) => Err(DnsError::NotFound(format!("no address for {hop}"))),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LocalRoute;

    #[test]
    fn local_beats_default_and_mx_is_the_fallback() {
        let mut c = Config::default();
        c.routing.local = vec![
            LocalRoute { name: "example.com".into(), relay: "10.0.0.5:2525".into() },
            LocalRoute { name: "*.example.net".into(), relay: String::new() },
        ];
        assert_eq!(route(&c, "example.com"), NextHop::Relay { host: "10.0.0.5".into(), port: 2525 });
        assert_eq!(route(&c, "a.example.net"), NextHop::Mx { domain: "a.example.net".into() });
        assert_eq!(route(&c, "elsewhere.org"), NextHop::Mx { domain: "elsewhere.org".into() });
        c.routing.default_relay = "smarthost.example.org".into();
        assert_eq!(route(&c, "elsewhere.org"), NextHop::Relay { host: "smarthost.example.org".into(), port: 25 });
        assert_eq!(route(&c, "a.example.net"), NextHop::Mx { domain: "a.example.net".into() });
    }
}
