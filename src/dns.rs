//! DNS lookups the gateway makes (MX, A/AAAA, verified PTR) through
//! hickory-resolver, honouring `dns.nameservers` and rebuilt when that
//! setting changes.

use crate::config::{Config, parse_nameserver};
use crate::policy::hosts::canonical;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a lookup gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The name does not exist: retrying will not help.
    NotFound(String),
    /// Timeout or server failure: try again later.
    Temporary(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NotFound(s) | DnsError::Temporary(s) => f.write_str(s),
        }
    }
}

/// A mail exchanger: preference and host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    pub host: String,
}

/// The resolver, built from the current `dns.nameservers`.
pub struct Dns {
    state: Mutex<(Vec<String>, Arc<TokioResolver>)>,
}

impl Dns {
    /// A resolver for the servers in `config` (system resolver if none).
    pub fn new(config: &Config) -> Dns {
        Dns { state: Mutex::new((config.dns.nameservers.clone(), Arc::new(build(&config.dns.nameservers)))) }
    }

    fn resolver(&self, config: &Config) -> Arc<TokioResolver> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 != config.dns.nameservers {
            *state = (config.dns.nameservers.clone(), Arc::new(build(&config.dns.nameservers)));
        }
        state.1.clone()
    }

    /// MX records of `domain`, best first; an empty list means "no MX"
    /// (deliver to the domain's own address, RFC 5321 §5.1).
    pub async fn mx(&self, config: &Config, domain: &str) -> Result<Vec<Mx>, DnsError> {
        match self.resolver(config).mx_lookup(fqdn(domain)).await {
            Ok(answer) => {
                let mut list: Vec<Mx> = answer
                    .iter()
                    .map(|mx| Mx {
                        preference: mx.preference(),
                        host: mx.exchange().to_ascii().trim_end_matches('.').to_ascii_lowercase(),
                    })
                    .collect();
                list.sort_by_key(|m| m.preference);
                Ok(list)
            }
            Err(e) if e.is_nx_domain() => Err(DnsError::NotFound(format!("Host or domain name not found: {domain}"))),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(temporary(domain, &e)),
        }
    }

    /// A and AAAA addresses of `host`.
    pub async fn addresses(&self, config: &Config, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self.resolver(config).lookup_ip(fqdn(host)).await {
            Ok(answer) => Ok(answer.iter().collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
                Err(DnsError::NotFound(format!("Host or domain name not found: {host}")))
            }
            Err(e) => Err(temporary(host, &e)),
        }
    }

    /// The A records of `name` (DNSBL answers are IPv4 return codes);
    /// empty when the name does not exist.
    pub async fn ipv4(&self, config: &Config, name: &str) -> Result<Vec<std::net::Ipv4Addr>, DnsError> {
        match self.resolver(config).ipv4_lookup(fqdn(name)).await {
            Ok(answer) => Ok(answer.iter().map(|a| a.0).collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(temporary(name, &e)),
        }
    }

    /// The client's PTR name, only if that name resolves back to `ip`
    /// (forward-confirmed reverse DNS), so a forged PTR cannot claim a
    /// listed domain.
    pub async fn verified_ptr(&self, config: &Config, ip: IpAddr) -> Option<String> {
        let resolver = self.resolver(config);
        let names = resolver.reverse_lookup(ip).await.ok()?;
        for name in names.iter() {
            let name = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
            if let Ok(ips) = resolver.lookup_ip(fqdn(&name)).await
                && ips.iter().any(|a| canonical(a) == canonical(ip))
            {
                return Some(name);
            }
        }
        None
    }
}

/// Absolute name so no search domain is appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') { name.to_string() } else { format!("{name}.") }
}

fn temporary(name: &str, e: &ResolveError) -> DnsError {
    DnsError::Temporary(format!("DNS lookup of {name} failed: {e}"))
}

fn build(nameservers: &[String]) -> TokioResolver {
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_secs(5);
    opts.attempts = 2;
    opts.cache_size = 1024;
    let servers: Vec<_> = nameservers.iter().filter_map(|s| parse_nameserver(s)).collect();
    let builder = if servers.is_empty() {
        match TokioResolver::builder_tokio() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("system resolver configuration unreadable ({e}); using none");
                TokioResolver::builder_with_config(ResolverConfig::new(), TokioConnectionProvider::default())
            }
        }
    } else {
        let mut rc = ResolverConfig::new();
        for addr in servers {
            rc.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            rc.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
        }
        TokioResolver::builder_with_config(rc, TokioConnectionProvider::default())
    };
    builder.with_options(opts).build()
}
