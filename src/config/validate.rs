//! Semantic checks on a parsed configuration. Each problem names the key,
//! the value found and what is allowed, so an administrator can fix the file
//! without reading the source.

use super::Config;
use crate::policy::hosts::HostPattern;
use crate::routing::RoutePattern;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `delivery.retry_max_seconds`; empty for a
    /// syntax error the TOML parser located by line instead.
    pub key: String,
    pub value: String,
    /// What would be accepted instead.
    pub allowed: String,
}

impl Problem {
    /// A problem with `key`, showing `value` and what is `allowed`.
    pub fn new(key: impl Into<String>, value: impl fmt::Display, allowed: impl Into<String>) -> Self {
        Problem { key: key.into(), value: value.to_string(), allowed: allowed.into() }
    }

    /// A TOML syntax, type or unknown-key error at `path` (the dotted key,
    /// `.` when the error is not inside a key); the parser's message shows
    /// the line, the value and what was expected.
    pub fn parse(path: &str, err: &toml::de::Error) -> Self {
        let key = if path == "." { String::new() } else { path.to_string() };
        Problem { key, value: String::new(), allowed: err.to_string().trim().to_string() }
    }
}

impl Problem {
    /// A type or unknown-key error found in a JSON edit at `path`.
    pub fn invalid(path: &str, err: &serde_json::Error) -> Self {
        let key = if path == "." { String::new() } else { path.to_string() };
        let allowed = err.to_string();
        // serde_json adds "at line 1 column 0", meaningless for a value.
        let allowed = allowed.split(" at line ").next().unwrap_or(&allowed).to_string();
        Problem { key, value: String::new(), allowed }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.allowed)
        } else if self.value.is_empty() {
            write!(f, "{}: {}", self.key, self.allowed)
        } else {
            write!(f, "{} = {:?}: {}", self.key, self.value, self.allowed)
        }
    }
}

/// Every problem in `c`; empty means the configuration can be used.
pub fn validate(c: &Config) -> Vec<Problem> {
    let mut p = Vec::new();
    check_smtp(c, &mut p);
    check_delivery(c, &mut p);
    check_routing(c, &mut p);
    check_relay(c, &mut p);
    check_dns(c, &mut p);
    check_ports(c, &mut p);
    check_api_tokens(c, &mut p);
    range(&mut p, "admin.timeout_minutes", c.admin.timeout_minutes, 1, 24 * 60);
    if let Err(allowed) = crate::events::syslog::Target::parse(&c.logging.syslog) {
        p.push(Problem::new("logging.syslog", &c.logging.syslog, allowed));
    }
    super::blocking::check(&c.blocking, &mut p);
    super::antivirus::check(&c.antivirus, &mut p);
    super::liveupdate::check(&c.liveupdate, &mut p);
    super::notify::check(&c.notify, &mut p);
    c.alerts.check(&mut p);
    super::diagnostics::check(&c.diagnostics, &mut p);
    for (key, dir) in [
        ("paths.queue_dir", &c.paths.queue_dir),
        ("paths.log_dir", &c.paths.log_dir),
        ("paths.diag_dir", &c.paths.diag_dir),
    ] {
        if dir.trim().is_empty() {
            p.push(Problem::new(key, dir, "a directory path"));
        }
    }
    p
}

/// Refuse `v` outside `lo..=hi`.
pub(super) fn range<T: PartialOrd + fmt::Display + Copy>(p: &mut Vec<Problem>, key: &str, v: T, lo: T, hi: T) {
    if v < lo || v > hi {
        p.push(Problem::new(key, v, format!("a number from {lo} to {hi}")));
    }
}

fn check_smtp(c: &Config, p: &mut Vec<Problem>) {
    if c.smtp.listen.is_empty() {
        p.push(Problem::new("smtp.listen", "[]", "at least one \"IP:port\" address"));
    }
    for a in &c.smtp.listen {
        if a.parse::<SocketAddr>().is_err() {
            p.push(Problem::new("smtp.listen", a, "an \"IP:port\" address such as \"0.0.0.0:25\""));
        }
    }
    if !is_hostname(&c.smtp.hostname) {
        p.push(Problem::new("smtp.hostname", &c.smtp.hostname, "a host name of letters, digits, '-' and '.'"));
    }
    range(p, "smtp.max_incoming_connections", c.smtp.max_incoming_connections, 1, 10_000);
    range(p, "smtp.max_message_mb", c.smtp.max_message_mb, 1, 4096);
    match (c.smtp.tls_cert.is_empty(), c.smtp.tls_key.is_empty()) {
        (true, true) => {}
        (false, true) => p.push(Problem::new("smtp.tls_key", "", "a PEM key path when smtp.tls_cert is set")),
        (true, false) => p.push(Problem::new("smtp.tls_cert", "", "a PEM certificate path when smtp.tls_key is set")),
        (false, false) => {
            for (key, path) in [("smtp.tls_cert", &c.smtp.tls_cert), ("smtp.tls_key", &c.smtp.tls_key)] {
                if std::fs::metadata(path).is_err() {
                    p.push(Problem::new(key, path, "a readable PEM file"));
                }
            }
        }
    }
}

fn check_delivery(c: &Config, p: &mut Vec<Problem>) {
    let d = &c.delivery;
    range(p, "delivery.max_outgoing_connections", d.max_outgoing_connections, 1, 10_000);
    if !(d.max_days > 0.0 && d.max_days <= 365.0) {
        p.push(Problem::new("delivery.max_days", d.max_days, "a number of days above 0 and at most 365"));
    }
    range(p, "delivery.retry_min_seconds", d.retry_min_seconds, 1, 86_400);
    range(p, "delivery.retry_max_seconds", d.retry_max_seconds, 1, 7 * 86_400);
    if d.retry_max_seconds < d.retry_min_seconds {
        p.push(Problem::new(
            "delivery.retry_max_seconds",
            d.retry_max_seconds,
            format!("at least delivery.retry_min_seconds ({})", d.retry_min_seconds),
        ));
    }
    if d.smtp_port == 0 {
        p.push(Problem::new("delivery.smtp_port", 0, "a TCP port from 1 to 65535"));
    }
}

fn check_routing(c: &Config, p: &mut Vec<Problem>) {
    if !c.routing.default_relay.is_empty() && parse_host_port(&c.routing.default_relay).is_none() {
        p.push(Problem::new("routing.default_relay", &c.routing.default_relay, HOST_PORT));
    }
    for (i, r) in c.routing.local.iter().enumerate() {
        if RoutePattern::new(&r.name).is_none() {
            p.push(Problem::new(
                format!("routing.local[{i}].name"),
                &r.name,
                "a host, domain or IP, optionally with * and ? wildcards",
            ));
        }
        if !r.relay.is_empty() && parse_host_port(&r.relay).is_none() {
            p.push(Problem::new(format!("routing.local[{i}].relay"), &r.relay, HOST_PORT));
        }
    }
}

const HOST_PORT: &str = "\"host\" or \"host:port\" (port 1-65535), e.g. \"mail.example.com:25\"";

fn check_relay(c: &Config, p: &mut Vec<Problem>) {
    for (i, h) in c.relay.allowed_hosts.iter().enumerate() {
        if HostPattern::parse(h).is_none() {
            p.push(Problem::new(
                format!("relay.allowed_hosts[{i}]"),
                h,
                "an IP, a prefix like \"1.2.3.*\", a name like \"*.example.com\" or a CIDR block like \"10.0.0.0/8\"",
            ));
        }
    }
    if c.relay.chars_enabled && c.relay.chars.is_empty() {
        p.push(Problem::new("relay.chars", "", "at least one character when relay.chars_enabled is true"));
    }
    if c.relay.chars.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        p.push(Problem::new("relay.chars", &c.relay.chars, "printable characters only"));
    }
}

fn check_dns(c: &Config, p: &mut Vec<Problem>) {
    for (i, ns) in c.dns.nameservers.iter().enumerate() {
        if parse_nameserver(ns).is_none() {
            p.push(Problem::new(
                format!("dns.nameservers[{i}]"),
                ns,
                "an IP address, optionally with a port: \"127.0.0.1:53\" or \"[::1]:53\"",
            ));
        }
    }
}

/// SMTP, HTTP and HTTPS ports must all differ (SPEC §2).
fn check_ports(c: &Config, p: &mut Vec<Problem>) {
    let mut seen: HashMap<u16, &str> = HashMap::new();
    let mut claim = |key: &'static str, addr: &str, p: &mut Vec<Problem>| match addr.parse::<SocketAddr>() {
        Err(_) => p.push(Problem::new(key, addr, "an \"IP:port\" address such as \"0.0.0.0:8003\"")),
        Ok(a) => match seen.get(&a.port()) {
            Some(other) if *other != key => p.push(Problem::new(
                key,
                addr,
                format!("a port not already used by {other}: SMTP, HTTP and HTTPS ports must differ"),
            )),
            _ => {
                seen.insert(a.port(), key);
            }
        },
    };
    for a in &c.smtp.listen {
        if a.parse::<SocketAddr>().is_ok() {
            claim("smtp.listen", a, p);
        }
    }
    claim("admin.http_listen", &c.admin.http_listen, p);
    claim("admin.https_listen", &c.admin.https_listen, p);
}

/// API tokens travel in an HTTP header: no empty ones, no white space.
fn check_api_tokens(c: &Config, p: &mut Vec<Problem>) {
    for (i, token) in c.admin.api_tokens.iter().enumerate() {
        if token.trim().is_empty() || token.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            p.push(Problem::new(
                format!("admin.api_tokens[{i}]"),
                format!("{token:?}"),
                "a non-empty token without spaces",
            ));
        }
    }
}

/// True for a syntactically valid host name (ASCII labels).
pub fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
        })
}

/// "host", "host:port", "IP", "IP:port" or "[IPv6]:port" → (host, port);
/// the port defaults to 25.
pub fn parse_host_port(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some((a.ip().to_string(), a.port()));
    }
    if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Some((ip.to_string(), 25));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => (s, 25),
    };
    is_hostname(host).then(|| (host.to_ascii_lowercase(), port))
}

/// "IP" or "IP:port" → socket address (port 53 by default).
pub fn parse_nameserver(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| {
        s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LocalRoute;

    fn problems_for(edit: impl FnOnce(&mut Config)) -> Vec<Problem> {
        let mut c = Config::default();
        c.smtp.hostname = "mx.example.com".into();
        edit(&mut c);
        validate(&c)
    }

    fn refused(key: &str, edit: impl FnOnce(&mut Config)) {
        let p = problems_for(edit);
        assert!(p.iter().any(|p| p.key.starts_with(key)), "expected a problem for {key}, got {p:?}");
        for problem in &p {
            assert!(!problem.allowed.is_empty());
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(problems_for(|_| {}), vec![]);
    }

    #[test]
    fn every_bad_value_is_refused() {
        refused("smtp.listen", |c| c.smtp.listen = vec![]);
        refused("smtp.listen", |c| c.smtp.listen = vec!["localhost".into()]);
        refused("smtp.listen", |c| c.smtp.listen = vec!["1.2.3.4:99999".into()]);
        refused("smtp.hostname", |c| c.smtp.hostname = "bad host".into());
        refused("smtp.hostname", |c| c.smtp.hostname = String::new());
        refused("smtp.max_incoming_connections", |c| c.smtp.max_incoming_connections = 0);
        refused("smtp.max_message_mb", |c| c.smtp.max_message_mb = 0);
        refused("smtp.tls_key", |c| c.smtp.tls_cert = "/etc/cert.pem".into());
        refused("smtp.tls_cert", |c| c.smtp.tls_key = "/etc/key.pem".into());
        refused("smtp.tls_cert", |c| {
            c.smtp.tls_cert = "/nonexistent/cert.pem".into();
            c.smtp.tls_key = "/nonexistent/key.pem".into();
        });
        refused("paths.queue_dir", |c| c.paths.queue_dir = " ".into());
        refused("paths.log_dir", |c| c.paths.log_dir = String::new());
        refused("delivery.max_outgoing_connections", |c| c.delivery.max_outgoing_connections = 0);
        refused("delivery.max_days", |c| c.delivery.max_days = 0.0);
        refused("delivery.max_days", |c| c.delivery.max_days = -1.0);
        refused("delivery.max_days", |c| c.delivery.max_days = f64::NAN);
        refused("delivery.retry_min_seconds", |c| c.delivery.retry_min_seconds = 0);
        refused("delivery.retry_max_seconds", |c| {
            c.delivery.retry_min_seconds = 600;
            c.delivery.retry_max_seconds = 60;
        });
        refused("delivery.smtp_port", |c| c.delivery.smtp_port = 0);
        refused("routing.default_relay", |c| c.routing.default_relay = "mail.example.com:0".into());
        refused("routing.default_relay", |c| c.routing.default_relay = "bad host:25".into());
        refused("routing.local[0].name", |c| {
            c.routing.local = vec![LocalRoute { name: String::new(), relay: String::new() }]
        });
        refused("routing.local[0].name", |c| {
            c.routing.local = vec![LocalRoute { name: "a b".into(), relay: String::new() }]
        });
        refused("routing.local[0].relay", |c| {
            c.routing.local = vec![LocalRoute { name: "example.com".into(), relay: "host:port".into() }]
        });
        refused("relay.allowed_hosts[0]", |c| c.relay.allowed_hosts = vec!["1.2.*.4".into()]);
        refused("relay.allowed_hosts[0]", |c| c.relay.allowed_hosts = vec!["10.0.0.0/33".into()]);
        refused("relay.allowed_hosts[0]", |c| c.relay.allowed_hosts = vec!["mail.*.com".into()]);
        refused("relay.chars", |c| {
            c.relay.chars_enabled = true;
            c.relay.chars = String::new();
        });
        refused("relay.chars", |c| c.relay.chars = "% !".into());
        refused("dns.nameservers[0]", |c| c.dns.nameservers = vec!["ns.example.com".into()]);
        refused("admin.http_listen", |c| c.admin.http_listen = "8003".into());
        refused("admin.https_listen", |c| c.admin.https_listen = "0.0.0.0:8003".into());
        refused("admin.http_listen", |c| c.admin.http_listen = "127.0.0.1:25".into());
        refused("logging.syslog", |c| c.logging.syslog = "syslog.example:514".into());
        refused("admin.api_tokens[1]", |c| c.admin.api_tokens = vec!["good-token".into(), "two words".into()]);
    }

    #[test]
    fn good_values_pass() {
        let p = problems_for(|c| {
            c.routing.default_relay = "relay.example.net".into();
            c.routing.local = vec![LocalRoute { name: "*.example.com".into(), relay: "[::1]:2525".into() }];
            c.relay.allowed_hosts =
                vec!["1.2.3.4".into(), "10.1.*".into(), "*.example.org".into(), "192.168.0.0/16".into()];
            c.dns.nameservers = vec!["127.0.0.1:5353".into(), "::1".into()];
            c.delivery.max_days = 0.0001;
        });
        assert_eq!(p, vec![]);
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(parse_host_port("Mail.Example.com"), Some(("mail.example.com".into(), 25)));
        assert_eq!(parse_host_port("127.0.0.1:2525"), Some(("127.0.0.1".into(), 2525)));
        assert_eq!(parse_host_port("[::1]:26"), Some(("::1".into(), 26)));
        assert_eq!(parse_host_port("::1"), Some(("::1".into(), 25)));
        assert_eq!(parse_host_port("host:"), None);
    }
}
