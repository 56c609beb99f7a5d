//! Diagnostics (SPEC §10) end to end: conversation logs of inbound
//! connections and outbound deliveries in `<paths.diag_dir>` (the default
//! `diag`, under the gateway's working directory), written always or only
//! when something went wrong, and saved queue files.

mod common;

use common::{Gateway, Raw, Sink, message, submit, test_dir, wait_for};
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

const WAIT: Duration = Duration::from_secs(30);

/// A gateway with `[diagnostics]` `settings`, delivering example.com to a
/// sink.
fn start(settings: &str) -> (TempDir, Sink, Gateway) {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let config = format!(
        "[diagnostics]\n{settings}\n[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n",
        sink.port
    );
    let gw = Gateway::start(dir.path(), "", &config);
    (dir, sink, gw)
}

/// Submit a message with `subject` to b@example.com; returns the message
/// and the final reply, which must accept it.
fn submit_one(gw: &Gateway, subject: &str) -> (String, String) {
    let msg = message("a@sender.test", "b@example.com", subject);
    let reply = submit(gw.port, "a@sender.test", &["b@example.com"], msg.as_bytes());
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    (msg, reply)
}

/// The conversation logs whose names start with `prefix`, as (name, text),
/// oldest first.
fn diag_logs(root: &Path, prefix: &str) -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir(root.join("diag")) else { return Vec::new() };
    let mut found: Vec<(String, String)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.starts_with(prefix).then(|| (name, std::fs::read_to_string(e.path()).unwrap_or_default()))
        })
        .collect();
    found.sort();
    found
}

/// Wait for the log starting with `prefix` that contains `needle` (the
/// harness's own port probe leaves an inbound log too).
fn wait_log(root: &Path, prefix: &str, needle: &str) -> (String, String) {
    let mut found = None;
    wait_for(WAIT, || {
        found = diag_logs(root, prefix).into_iter().find(|(_, text)| text.contains(needle));
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no {prefix} log with {needle:?}: {:#?}", diag_logs(root, "")))
}

/// The lines of a log without their timestamps.
fn tagged(text: &str) -> Vec<&str> {
    text.lines().map(|l| l.get(24..).unwrap_or(l)).collect()
}

#[test]
fn inbound_all_logs_each_connection_with_a_content_summary() {
    let (dir, sink, gw) = start("inbound = \"all\"");
    let (msg, _) = submit_one(&gw, "logged");
    let (name, text) = &wait_log(dir.path(), "in-", "C: MAIL FROM:<a@sender.test>");
    assert!(name.starts_with("in-C") && name.ends_with(".log"), "{name}");
    let lines = tagged(text);
    let summary = format!("C: [content: {} lines, {} bytes]", msg.lines().count() + 1, msg.len() + 3);
    for expected in [
        "S: 220 mx.test.example ESMTP",
        "C: EHLO client.test",
        "S: 250-mx.test.example",
        "C: MAIL FROM:<a@sender.test>",
        "C: RCPT TO:<b@example.com>",
        "C: DATA",
        &summary,
        "C: QUIT",
        "S: 221 2.0.0 Bye",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(expected)), "{expected:?} missing from {name}:\n{text}");
    }
    assert!(lines.iter().any(|l| l.starts_with("S: 250 2.0.0 Ok: queued as ")), "{text}");
    assert!(!text.contains("Subject: logged"), "content is summarized, not echoed:\n{text}");
    assert!(sink.wait_count(1, WAIT));
    assert!(diag_logs(dir.path(), "out-").is_empty(), "outbound logging is off");
}

#[test]
fn on_error_keeps_only_the_sessions_that_went_wrong() {
    let (dir, _sink, gw) = start("inbound = \"on_error\"");
    submit_one(&gw, "clean");

    let (mut raw, _) = Raw::connect(gw.port);
    raw.cmd("EHLO client.test");
    assert!(raw.cmd("XYZZY").starts_with("500 5.5.2"));
    assert!(raw.cmd("QUIT").starts_with("221"));
    let text = &wait_log(dir.path(), "in-", "C: XYZZY").1;
    // The harness's port probe is there too: the greeting it left unread
    // made its socket answer with a reset.
    let clean = diag_logs(dir.path(), "in-").into_iter().filter(|(_, t)| t.contains("C: MAIL FROM")).count();
    assert_eq!(clean, 0, "the clean session left no log");
    let lines = tagged(text);
    assert!(lines.contains(&"C: XYZZY") && lines.contains(&"S: 500 5.5.2 Error: command not recognized"), "{text}");
    assert_eq!(lines.last(), Some(&"-- errors seen: smtp_errors, protocol_errors"), "{text}");

    // A client that leaves in the middle of the content is a communication error.
    let (mut raw, _) = Raw::connect(gw.port);
    for command in ["EHLO client.test", "MAIL FROM:<a@sender.test>", "RCPT TO:<b@example.com>", "DATA"] {
        assert!(!raw.cmd(command).starts_with('5'));
    }
    raw.send(b"Subject: cut short\r\n");
    drop(raw);
    let text = &wait_log(dir.path(), "in-", "during the message content").1;
    let lines = tagged(text);
    let end = &lines[lines.len() - 3..];
    assert_eq!(end[0], "C: [content: 1 lines, 20 bytes]", "{text}");
    assert_eq!(end[1], "-- connection closed by the client during the message content", "{text}");
    assert_eq!(end[2], "-- errors seen: communication_errors", "{text}");
}

#[test]
fn outbound_all_logs_the_delivery_with_the_downstream_replies() {
    let (dir, sink, gw) = start("outbound = \"all\"\ndata = \"echo\"");
    submit_one(&gw, "outbound");
    assert!(sink.wait_count(1, WAIT), "delivered:\n{}", gw.log());
    // Written when the pooled connection is closed after its idle time.
    let (name, text) = &wait_log(dir.path(), "out-", "C: QUIT");
    assert!(name.starts_with("out-O") && name.contains(".1-"), "{name}");
    let lines = tagged(text);
    for expected in [
        format!("-- connecting to 127.0.0.1:{}", sink.port),
        "S: 220 ".into(),
        "C: EHLO mx.test.example".into(),
        "C: MAIL FROM:<a@sender.test>".into(),
        "C: RCPT TO:<b@example.com>".into(),
        "S: 354".into(),
        "C: Subject: outbound".into(),
        "C: .".into(),
        "C: QUIT".into(),
        "S: 221".into(),
    ] {
        assert!(lines.iter().any(|l| l.starts_with(&expected)), "{expected:?} missing from {name}:\n{text}");
    }
    let replies = lines.iter().filter(|l| l.starts_with("S: 250")).count();
    assert!(replies >= 4, "the downstream's replies to EHLO, MAIL, RCPT and the content:\n{text}");
    assert!(diag_logs(dir.path(), "in-").is_empty(), "inbound logging is off");
    assert_eq!(diag_logs(dir.path(), "out-").len(), 1, "one delivery attempt");
}

#[test]
fn queue_file_save_keeps_each_accepted_queue_file() {
    let (dir, sink, gw) = start("queue_file_save = true");
    let (msg, reply) = submit_one(&gw, "kept for diagnosis");
    let id = reply.trim_end().rsplit(' ').next().unwrap();
    assert!(sink.wait_count(1, WAIT));
    assert!(wait_for(WAIT, || gw.queue_len("fast") == 0), "the message moved on");
    let saved = std::fs::read_to_string(dir.path().join("diag/queue").join(id)).expect("a saved queue file");
    let (header, content) = saved.split_once("\n\n").expect("a queue file header");
    assert!(header.starts_with(&format!("MXQ1 attempts=0\nid {id}\n")), "{header}");
    assert!(header.contains("\nsender a@sender.test\n") && header.contains("\nrcpt b@example.com"), "{header}");
    assert!(content.starts_with("Received: ") && content.ends_with(&msg), "{content}");
    assert!(
        diag_logs(dir.path(), "in-").is_empty() && diag_logs(dir.path(), "out-").is_empty(),
        "no conversation logs"
    );
}
