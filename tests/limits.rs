//! Container limits (SPEC §5) end to end: deep nesting, many files, zip
//! bombs of both kinds, each dropped as a container violation while the
//! gateway stays small and keeps serving; and the same inputs delivered
//! when the limits allow them.

mod common;
mod corpus;

use common::{Gateway, Sink, submit, test_dir, wait_for};
use corpus::{MB, Mail};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn gateway(container: &str) -> (tempfile::TempDir, Sink, Gateway) {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let config = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n[blocking.container]\n{container}\n",
        sink.port
    );
    let gw = Gateway::start(dir.path(), "", &config);
    (dir, sink, gw)
}

fn send(gw: &Gateway, mail: &[u8]) {
    let reply = submit(gw.port, "a@sender.test", &["b@example.com"], mail);
    assert!(reply.starts_with("250"), "{reply}");
}

/// The message was dropped as a container violation naming `what`.
fn dropped(gw: &Gateway, sink: &Sink, subject: &str, what: &str) {
    let logged = wait_for(WAIT, || gw.log().contains(&format!("subject: {subject};")) && gw.log().contains(what));
    assert!(logged, "no container violation ({what}) for {subject}:\n{}", gw.log());
    assert!(sink.find(&format!("Subject: {subject}"), Duration::from_secs(2)).is_none(), "{subject} was delivered");
}

#[test]
fn fifty_levels_of_nesting_are_cut_off() {
    let (_dir, sink, gw) = gateway("max_depth = 10");
    let zips = corpus::nested_zip(50, "a.txt", b"deep");
    send(&gw, &Mail::new("zips fifty deep").attach("deep.zip", &zips).build());
    dropped(&gw, &sink, "zips fifty deep", "depth exceeded");
    let messages = corpus::nested_messages(50, &Mail::new("innermost").build());
    let outer = Mail::new("messages fifty deep")
        .raw_part(&format!("Content-Type: message/rfc822\r\n\r\n{}", String::from_utf8(messages).unwrap()));
    send(&gw, &outer.build());
    dropped(&gw, &sink, "messages fifty deep", "depth exceeded");
    send(&gw, &Mail::new("nine deep").attach("ok.zip", &corpus::nested_zip(9, "a.txt", b"fine")).build());
    assert!(sink.find("Subject: nine deep", WAIT).is_some(), "within the limit is delivered");
}

#[test]
fn ten_thousand_files() {
    let many = corpus::many_members(10_000);
    let (_dir, sink, gw) = gateway("max_files = 1000");
    send(&gw, &Mail::new("ten thousand files").attach("many.zip", &many).build());
    dropped(&gw, &sink, "ten thousand files", "too many files");
    let (_dir, sink, gw) = gateway("max_files = 20000");
    send(&gw, &Mail::new("allowed many files").attach("many.zip", &many).build());
    assert!(sink.find("Subject: allowed many files", WAIT).is_some(), "{}", gw.log());
}

#[test]
fn an_overlapping_entry_bomb_is_refused() {
    let (_dir, sink, gw) = gateway("max_extract_mb = 1000");
    let bomb = corpus::overlapping_bomb(200);
    assert!(bomb.len() < MB, "a small file ({} bytes) that would expand to 800 MB", bomb.len());
    send(&gw, &Mail::new("overlap bomb").attach("parts.zip", &bomb).build());
    dropped(&gw, &sink, "overlap bomb", "archive entries overlap");
}

#[test]
fn a_gigabyte_zip_bomb_stays_within_the_memory_bound() {
    let max_extract_mb = 100;
    let (_dir, sink, gw) = gateway(&format!("max_extract_mb = {max_extract_mb}\nmax_ratio = 1000000"));
    let bomb = corpus::zip_bomb(1100);
    assert!(bomb.len() < 2 * MB, "{} bytes expanding to 1.1 GB", bomb.len());
    send(&gw, &Mail::new("gigabyte bomb").attach("bomb.zip", &bomb).build());
    dropped(&gw, &sink, "gigabyte bomb", "expands into too much data");
    let peak = gw.peak_memory();
    let bound = (2 * max_extract_mb + 100) as u64 * MB as u64;
    assert!(peak < bound, "peak memory {} MB, bound {} MB", peak / MB as u64, bound / MB as u64);
    send(&gw, &Mail::new("after the bomb").build());
    assert!(sink.find("Subject: after the bomb", WAIT).is_some(), "the gateway keeps serving");
}

#[test]
fn the_expansion_ratio_limit() {
    let (_dir, sink, gw) = gateway("max_extract_mb = 1000\nmax_ratio = 100");
    send(&gw, &Mail::new("ratio bomb").attach("zeros.zip", &corpus::zip_bomb(20)).build());
    dropped(&gw, &sink, "ratio bomb", "times its compressed size");
}
