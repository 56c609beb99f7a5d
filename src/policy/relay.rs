//! Anti-relay (SPEC §3): a recipient is relayable if its domain is local or
//! the connecting host is listed. Each recipient is judged on its own.

use super::hosts::{Client, HostPattern};
use crate::config::{Config, RelayMode};
use crate::routing::find_local;

/// True if mail from `client` to a recipient in `domain` may be accepted.
pub fn relay_allowed(config: &Config, client: &Client, domain: &str) -> bool {
    config.relay.mode == RelayMode::Allow || find_local(config, domain).is_some() || client_listed(config, client)
}

/// True if the client matches an `allowed_hosts` entry.
pub fn client_listed(config: &Config, client: &Client) -> bool {
    config.relay.allowed_hosts.iter().filter_map(|h| HostPattern::parse(h)).any(|p| p.matches(client))
}

/// True if some entry needs the client's verified PTR name.
pub fn needs_client_name(config: &Config) -> bool {
    config.relay.allowed_hosts.iter().filter_map(|h| HostPattern::parse(h)).any(|p| p.needs_name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LocalRoute;

    fn config(mode: RelayMode, hosts: &[&str]) -> Config {
        let mut c = Config::default();
        c.relay.mode = mode;
        c.relay.allowed_hosts = hosts.iter().map(|s| s.to_string()).collect();
        c.routing.local = vec![LocalRoute { name: "example.com".into(), relay: String::new() }];
        c
    }

    fn client(ip: &str) -> Client {
        Client { ip: ip.parse().unwrap(), verified_name: None }
    }

    #[test]
    fn listed_mode_allows_local_domains_and_listed_hosts_only() {
        let c = config(RelayMode::Listed, &["10.0.0.0/8"]);
        assert!(relay_allowed(&c, &client("192.0.2.1"), "example.com"));
        assert!(!relay_allowed(&c, &client("192.0.2.1"), "elsewhere.org"));
        assert!(relay_allowed(&c, &client("10.9.8.7"), "elsewhere.org"));
    }

    #[test]
    fn listed_mode_with_no_hosts_refuses_every_non_local_recipient() {
        let c = config(RelayMode::Listed, &[]);
        assert!(!relay_allowed(&c, &client("127.0.0.1"), "elsewhere.org"));
        assert!(!needs_client_name(&c));
    }

    #[test]
    fn allow_mode_relays_everything() {
        let c = config(RelayMode::Allow, &[]);
        assert!(relay_allowed(&c, &client("192.0.2.1"), "elsewhere.org"));
    }
}
