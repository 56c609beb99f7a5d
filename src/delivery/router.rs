//! Routing (SPEC §3): local routing list first, then the default relay,
//! then MX lookup; and turning a next hop into addresses to try in order.

use crate::config::{Config, parse_host_port};
use crate::dns::{Dns, DnsError};
use crate::routing::find_local;
use std::net::{IpAddr, SocketAddr};

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

/// Why a next hop has no address to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// Retrying cannot help (the message is returned to the sender).
    pub permanent: bool,
    /// RFC 3463 status for the DSN.
    pub status: &'static str,
    pub why: String,
}

impl From<DnsError> for RouteError {
    fn from(e: DnsError) -> RouteError {
        match e {
            DnsError::NotFound(why) => RouteError { permanent: true, status: "5.1.2", why },
            DnsError::Temporary(why) => RouteError { permanent: false, status: "4.4.3", why },
        }
    }
}

/// Addresses for a next hop, best first (RFC 5321 §5.1: MX by preference,
/// then each exchanger's addresses; no MX means the domain itself). As in
/// Postfix, when this gateway is itself one of the exchangers, only the
/// more preferred ones are used, and none left means a mail loop.
pub async fn targets(dns: &Dns, config: &Config, hop: &NextHop) -> Result<Vec<Target>, RouteError> {
    let (hosts, port) = match hop {
        NextHop::Relay { host, port } => (vec![(0, host.clone())], *port),
        NextHop::Mx { domain } => {
            let mx = dns.mx(config, domain).await?;
            if mx.len() == 1 && mx[0].host.is_empty() {
                return Err(DnsError::NotFound(format!("{domain} does not accept mail (null MX)")).into());
            }
            let hosts = if mx.is_empty() {
                vec![(0, domain.clone())]
            } else {
                mx.into_iter().map(|m| (m.preference, m.host)).collect()
            };
            (hosts, config.delivery.smtp_port)
        }
    };
    let mut found: Vec<(u16, Target)> = Vec::new();
    let mut last_error = None;
    for (preference, host) in hosts {
        match dns.addresses(config, &host).await {
            Ok(ips) => found.extend(
                ips.into_iter().map(|ip| (preference, Target { addr: SocketAddr::new(ip, port), host: host.clone() })),
            ),
            Err(e) => last_error = Some(e),
        }
    }
    if let Some(own) = found.iter().filter(|(_, t)| is_self(config, t.addr)).map(|(p, _)| *p).min() {
        found.retain(|(p, _)| *p < own);
        if found.is_empty() {
            return Err(RouteError {
                permanent: true,
                status: "5.4.6",
                why: format!("mail for {hop} loops back to myself"),
            });
        }
    }
    match (found.is_empty(), last_error) {
        (true, Some(e)) => Err(e.into()),
        (true, None) => Err(DnsError::NotFound(format!("no address for {hop}")).into()),
        _ => Ok(found.into_iter().map(|(_, t)| t).collect()),
    }
}

/// True if `addr` is one of this gateway's own SMTP listeners.
fn is_self(config: &Config, addr: SocketAddr) -> bool {
    config
        .smtp
        .listen
        .iter()
        .filter_map(|l| l.parse::<SocketAddr>().ok())
        .any(|l| l.port() == addr.port() && (l.ip() == addr.ip() || l.ip().is_unspecified() && is_local_ip(addr.ip())))
}

/// True if `ip` belongs to this machine (binding to it succeeds).
fn is_local_ip(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
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

    #[test]
    fn own_listeners_are_recognised() {
        let mut c = Config::default();
        c.smtp.listen = vec!["0.0.0.0:2525".into(), "192.0.2.10:25".into()];
        assert!(is_self(&c, "127.0.0.1:2525".parse().unwrap()));
        assert!(!is_self(&c, "127.0.0.1:25".parse().unwrap()));
        assert!(is_self(&c, "192.0.2.10:25".parse().unwrap()));
        assert!(!is_self(&c, "192.0.2.99:2525".parse().unwrap()), "not an address of this machine");
    }

    #[tokio::test]
    async fn a_relay_pointing_at_ourselves_is_a_loop() {
        let mut c = Config::default();
        c.smtp.listen = vec!["127.0.0.1:2526".into()];
        let dns = Dns::new(&c);
        let err = targets(&dns, &c, &NextHop::Relay { host: "127.0.0.1".into(), port: 2526 }).await.unwrap_err();
        assert_eq!((err.permanent, err.status), (true, "5.4.6"));
        let ok = targets(&dns, &c, &NextHop::Relay { host: "127.0.0.1".into(), port: 2527 }).await.unwrap();
        assert_eq!(ok[0].addr, "127.0.0.1:2527".parse().unwrap());
    }
}
