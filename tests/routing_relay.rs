//! Routing and anti-relay (SPEC §3) end to end: the real binary, swaks as
//! the client, Postfix's smtp-sink as the mail servers and dnsmasq as a real
//! DNS server on loopback for MX delivery and PTR-named relay hosts.

mod common;

use common::{DnsServer, Gateway, Sink, swaks, test_dir};
use mxguard::policy::hosts::Client;
use mxguard::policy::relay::relay_allowed;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Send one message with swaks from `local_ip`; returns swaks' transcript
/// and whether the whole transaction was accepted.
fn send_from(port: u16, local_ip: &str, to: &str, subject: &str) -> (bool, String) {
    let (ok, out) = swaks(
        port,
        &["--local-interface", local_ip, "--from", "alice@sender.test", "--to", to, "--h-Subject", subject],
    );
    (ok, out)
}

#[test]
fn listed_mode_relays_only_for_local_domains_and_listed_hosts() {
    let dir = test_dir();
    let local = Sink::start(dir.path(), &[]);
    let smarthost = Sink::start(dir.path(), &[]);
    let extra = format!(
        "[routing]\ndefault_relay = \"127.0.0.1:{}\"\n[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [relay]\nmode = \"listed\"\nallowed_hosts = [\"127.0.0.2\", \"127.0.1.*\", \"127.0.8.0/21\"]\n",
        smarthost.port, local.port
    );
    let gw = Gateway::start(dir.path(), "", &extra);

    // An unlisted client may send to the local domain but not relay.
    let (ok, _) = send_from(gw.port, "127.0.0.1", "bob@example.com", "to local");
    assert!(ok);
    assert!(local.find("Subject: to local", WAIT).is_some());
    let (ok, out) = send_from(gw.port, "127.0.0.1", "carol@elsewhere.org", "relay attempt");
    assert!(!ok);
    assert!(out.contains("550 5.7.1") && out.contains("Relay access denied"), "{out}");

    // Listed by IP, by prefix and by CIDR: relaying goes to the default relay.
    for (ip, subject) in [("127.0.0.2", "by ip"), ("127.0.1.9", "by prefix"), ("127.0.12.1", "by cidr")] {
        let (ok, out) = send_from(gw.port, ip, "carol@elsewhere.org", subject);
        assert!(ok, "{ip} is listed:\n{out}");
        assert!(smarthost.find(&format!("Subject: {subject}"), WAIT).is_some(), "{subject} relayed");
    }
    // Just outside the CIDR block.
    let (ok, out) = send_from(gw.port, "127.0.16.1", "carol@elsewhere.org", "outside");
    assert!(!ok && out.contains("5.7.1"), "{out}");
}

#[test]
fn each_recipient_is_judged_on_its_own() {
    let dir = test_dir();
    let local = Sink::start(dir.path(), &[]);
    let extra = format!("[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n", local.port);
    let gw = Gateway::start(dir.path(), "", &extra);
    let (ok, out) = swaks(
        gw.port,
        &["--from", "a@sender.test", "--to", "in@example.com,out@elsewhere.org", "--h-Subject", "mixed"],
    );
    assert!(ok, "the message goes to the accepted recipient:\n{out}");
    assert!(out.contains("550 5.7.1 <out@elsewhere.org>"), "{out}");
    let got = local.find("Subject: mixed", WAIT).expect("delivered to the local recipient");
    assert!(got.contains("X-Rcpt-Args: <in@example.com>"), "{got}");
    assert!(!got.contains("X-Rcpt-Args: <out@elsewhere.org>"), "the refused recipient is not delivered:\n{got}");
}

#[test]
fn allow_mode_relays_anything() {
    let dir = test_dir();
    let smarthost = Sink::start(dir.path(), &[]);
    let extra = format!("[routing]\ndefault_relay = \"127.0.0.1:{}\"\n[relay]\nmode = \"allow\"\n", smarthost.port);
    let gw = Gateway::start(dir.path(), "", &extra);
    let (ok, out) = send_from(gw.port, "127.0.0.1", "x@anywhere.example", "open relay");
    assert!(ok, "{out}");
    assert!(smarthost.find("Subject: open relay", WAIT).is_some());
}

#[test]
fn wildcard_routing_entries_pick_the_relay() {
    let dir = test_dir();
    let subdomains = Sink::start(dir.path(), &[]);
    let numbered = Sink::start(dir.path(), &[]);
    let exact = Sink::start(dir.path(), &[]);
    let extra = format!(
        "[[routing.local]]\nname = \"*.example.net\"\nrelay = \"127.0.0.1:{}\"\n\
         [[routing.local]]\nname = \"mx?.example.org\"\nrelay = \"127.0.0.1:{}\"\n\
         [[routing.local]]\nname = \"example.org\"\nrelay = \"127.0.0.1:{}\"\n",
        subdomains.port, numbered.port, exact.port
    );
    let gw = Gateway::start(dir.path(), "", &extra);
    for (to, subject) in
        [("a@deep.sub.EXAMPLE.net", "star"), ("b@mx7.example.org", "question"), ("c@example.org", "exact")]
    {
        let (ok, out) = send_from(gw.port, "127.0.0.1", to, subject);
        assert!(ok, "{to}: {out}");
    }
    assert!(subdomains.find("Subject: star", WAIT).is_some());
    assert!(numbered.find("Subject: question", WAIT).is_some());
    assert!(exact.find("Subject: exact", WAIT).is_some());
    // `mx?` is one character: mx12 is not local, so not relayable.
    let (ok, out) = send_from(gw.port, "127.0.0.1", "d@mx12.example.org", "two chars");
    assert!(!ok && out.contains("5.7.1"), "{out}");
}

#[test]
fn address_characters_are_refused_when_enabled() {
    let dir = test_dir();
    let local = Sink::start(dir.path(), &[]);
    let extra = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n[relay]\nchars_enabled = true\nchars = \"%!\"\n",
        local.port
    );
    let gw = Gateway::start(dir.path(), "", &extra);
    let (ok, out) = send_from(gw.port, "127.0.0.1", "user%other@example.com", "percent");
    assert!(!ok && out.contains("553 5.1.3") && out.contains("'%'"), "{out}");
    let (ok, out) = swaks(gw.port, &["--from", "a!b@sender.test", "--to", "bob@example.com"]);
    assert!(!ok && out.contains("553 5.1.7"), "{out}");
}

/// `*.name` relay entries match the client's PTR name only when that name
/// resolves back to the client. Loopback clients cannot have a PTR name of
/// their own (RFC 6761: hickory answers every 127.x PTR query with
/// `localhost.`), so this drives the gateway's resolver against dnsmasq with
/// TEST-NET addresses; the match itself is unit-tested in `policy::hosts`.
#[tokio::test]
async fn relay_host_names_come_from_forward_confirmed_ptr() {
    let dns = DnsServer::start(&[
        "--host-record=gw.trusted.test,192.0.2.5".into(),
        // Claims a listed name by PTR, but that name resolves elsewhere.
        "--ptr-record=6.2.0.192.in-addr.arpa,forged.trusted.test".into(),
        "--host-record=forged.trusted.test,192.0.2.99".into(),
    ]);
    let config = mxguard::config::Config::from_toml(&format!(
        "[smtp]\nhostname = \"mx.test\"\n[relay]\nallowed_hosts = [\"*.trusted.test\"]\n{}",
        dns.config()
    ))
    .unwrap();
    let resolver = mxguard::dns::Dns::new(&config);
    let verified = resolver.verified_ptr(&config, "192.0.2.5".parse().unwrap()).await;
    assert_eq!(verified.as_deref(), Some("gw.trusted.test"));
    let client = Client { ip: "192.0.2.5".parse().unwrap(), verified_name: verified };
    assert!(relay_allowed(&config, &client, "elsewhere.org"));

    let forged = resolver.verified_ptr(&config, "192.0.2.6".parse().unwrap()).await;
    assert_eq!(forged, None, "a PTR name that does not resolve back is not trusted");
    let client = Client { ip: "192.0.2.6".parse().unwrap(), verified_name: forged };
    assert!(!relay_allowed(&config, &client, "elsewhere.org"));
}

#[test]
fn mx_delivery_through_a_real_dns_server() {
    let dir = test_dir();
    let mail = Sink::start(dir.path(), &[]);
    let bounces = Sink::start(dir.path(), &[]);
    let dns = DnsServer::start(&[
        // Preference order: the best MX refuses connections, the next takes the mail.
        "--mx-host=mx.test,down.mx.test,10".into(),
        "--mx-host=mx.test,up.mx.test,20".into(),
        "--host-record=down.mx.test,127.0.0.2".into(),
        "--host-record=up.mx.test,127.0.0.1".into(),
        // No MX at all: the domain's own address (RFC 5321 §5.1).
        "--host-record=nomx.test,127.0.0.1".into(),
    ]);
    let extra = format!(
        "[delivery]\nsmtp_port = {}\n\
         [[routing.local]]\nname = \"sender.test\"\nrelay = \"127.0.0.1:{}\"\n\
         [[routing.local]]\nname = \"*.test\"\n{}",
        mail.port,
        bounces.port,
        dns.config()
    );
    let gw = Gateway::start(dir.path(), "", &extra);
    for (to, subject) in [("u@mx.test", "by mx"), ("u@nomx.test", "by address")] {
        let (ok, out) = send_from(gw.port, "127.0.0.1", to, subject);
        assert!(ok, "{out}");
        assert!(mail.find(&format!("Subject: {subject}"), WAIT).is_some(), "{subject} delivered:\n{}", gw.log());
    }
    // A domain that does not exist is returned to the sender at once.
    let (ok, _) = send_from(gw.port, "127.0.0.1", "u@nowhere.test", "no such domain");
    assert!(ok);
    let dsn = bounces.find("Final-Recipient: rfc822; u@nowhere.test", WAIT).expect("a DSN to the sender");
    assert!(dsn.contains("Status: 5.1.2") && dsn.contains("Subject: no such domain"), "{dsn}");
    assert_eq!(gw.queue_len("slow"), 0, "nothing waits for a domain that does not exist");
}
