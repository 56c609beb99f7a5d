//! `mxguard check-config` and `serve` with good, missing and bad files:
//! exit codes, and every problem named with its key, value and what is
//! allowed.

mod common;

use std::process::{Command, Output};

fn mxguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mxguard")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_shipped_file_and_a_missing_file_are_valid() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/mxguard.toml");
    let out = mxguard(&["check-config", "--config", shipped]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("configuration is valid"));

    let dir = common::test_dir();
    let missing = dir.path().join("none.toml");
    let out = mxguard(&["check-config", "--config", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("built-in defaults"));
}

#[test]
fn every_problem_is_listed_with_key_value_and_what_is_allowed() {
    let dir = common::test_dir();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[smtp]\nlisten = [\"0.0.0.0:2525\"]\nmax_incoming_connections = 0\n\
         [delivery]\nretry_min_seconds = 600\nretry_max_seconds = 60\n\
         [relay]\nallowed_hosts = [\"10.0.0.0/40\"]\n\
         [admin]\nhttp_listen = \"0.0.0.0:2525\"\n",
    )
    .unwrap();
    let out = mxguard(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    for expected in [
        "smtp.max_incoming_connections = \"0\": a number from 1 to 10000",
        "delivery.retry_max_seconds = \"60\": at least delivery.retry_min_seconds (600)",
        "relay.allowed_hosts[0] = \"10.0.0.0/40\"",
        "admin.http_listen = \"0.0.0.0:2525\": a port not already used by smtp.listen",
    ] {
        assert!(t.contains(expected), "{expected:?} missing from:\n{t}");
    }
}

#[test]
fn unknown_keys_and_bad_types_are_named() {
    let dir = common::test_dir();
    for (body, named) in [
        ("[delivery]\nmax_day = 5\n", "delivery.max_day: "),
        ("[relay]\nmode = \"open\"\n", "relay.mode: "),
        ("[relay]\nmode = \"open\"\n", "expected `allow` or `listed`"),
        ("[delivery]\npause = \"yes\"\n", "delivery.pause: "),
        ("[[routing.local]]\nname = 5\n", "routing.local[0].name: "),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, body).unwrap();
        let out = mxguard(&["check-config", "--config", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{body}");
        assert!(text(&out).contains(named), "{named:?} missing from:\n{}", text(&out));
    }
}

#[test]
fn serve_refuses_an_invalid_file_without_starting() {
    let dir = common::test_dir();
    let path = dir.path().join("bad.toml");
    let port = common::free_port();
    std::fs::write(&path, format!("[smtp]\nlisten = [\"127.0.0.1:{port}\"]\nmax_incoming_connections = -3\n")).unwrap();
    let out = mxguard(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("max_incoming_connections"), "{}", text(&out));
}
