//! The queues and delivery end to end (SPEC §1): downstream outage and
//! recovery, reordering, expiry with a DSN, bounces, `queue flush`, the
//! pause and reject-incoming switches edited by hand, refused edits, the
//! incoming connection limit, and kill -9 under load.

mod common;

use common::{Gateway, Raw, Sink, free_port, send, test_dir, wait_for};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// `[[routing.local]]` entries sending each domain to a port.
fn routes(entries: &[(&str, u16)]) -> String {
    entries
        .iter()
        .map(|(name, port)| format!("[[routing.local]]\nname = \"{name}\"\nrelay = \"127.0.0.1:{port}\"\n"))
        .collect()
}

#[test]
fn mail_waits_out_a_downstream_outage() {
    let dir = test_dir();
    let mut sink = Sink::start(dir.path(), &[]);
    sink.pause();
    let extra =
        format!("[delivery]\nretry_min_seconds = 1\nretry_max_seconds = 2\n{}", routes(&[("example.com", sink.port)]));
    let gw = Gateway::start(dir.path(), "", &extra);
    for i in 0..5 {
        assert!(send(gw.port, "a@sender.test", "b@example.com", &format!("outage {i}")));
    }
    assert!(wait_for(WAIT, || gw.queue_len("slow") == 5), "deferred mail waits in the slow queue");
    assert_eq!(gw.queue_len("fast"), 0, "the fast queue is not backlogged");
    sink.resume();
    assert!(sink.wait_count(5, WAIT), "delivered once the server is back:\n{}", gw.log());
    assert!(wait_for(WAIT, || gw.queue_len("slow") == 0));
}

#[test]
fn a_recovered_next_hop_moves_its_mail_to_the_front() {
    let dir = test_dir();
    let mut down = Sink::start(dir.path(), &[]);
    let mut back = Sink::start(dir.path(), &[]);
    down.pause();
    back.pause();
    // A long backoff: only reordering can deliver the waiting mail quickly.
    let extra = format!(
        "[delivery]\nretry_min_seconds = 120\nretry_max_seconds = 600\n{}",
        routes(&[("down.test", down.port), ("back.test", back.port)])
    );
    let gw = Gateway::start(dir.path(), "", &extra);
    for i in 0..3 {
        assert!(send(gw.port, "a@sender.test", "x@down.test", &format!("down {i}")));
        assert!(send(gw.port, "a@sender.test", "y@back.test", &format!("back {i}")));
    }
    assert!(wait_for(WAIT, || gw.queue_len("slow") == 6));
    back.resume();
    // New mail for the recovered hop goes straight through and shows the hop accepts again.
    assert!(send(gw.port, "a@sender.test", "y@back.test", "back again"));
    let started = Instant::now();
    assert!(back.wait_count(4, WAIT), "waiting mail follows at once:\n{}", gw.log());
    assert!(started.elapsed() < Duration::from_secs(60), "well before its 120 s retry");
    assert!(wait_for(WAIT, || gw.queue_len("slow") == 3), "mail for the refusing hop still waits");
    let log = gw.log();
    assert!(log.contains("Reordering started"), "{log}");
    assert!(log.contains("Reordering stopped [system]; reason: 3 moved to the front"), "{log}");
    down.pause();
}

#[test]
fn expired_mail_is_returned_with_a_dsn() {
    let dir = test_dir();
    let senders = Sink::start(dir.path(), &[]);
    let nobody_listens = free_port();
    // 0.00005 days = 4.3 seconds.
    let extra = format!(
        "[delivery]\nmax_days = 0.00005\nretry_min_seconds = 1\nretry_max_seconds = 1\n{}",
        routes(&[("example.com", nobody_listens), ("sender.test", senders.port)])
    );
    let gw = Gateway::start(dir.path(), "", &extra);
    assert!(send(gw.port, "alice@sender.test", "b@example.com", "will expire"));
    let dsn = senders.find("Action: failed", WAIT).expect("a delivery status notification");
    for expected in [
        "Status: 4.4.7",
        "Final-Recipient: rfc822; b@example.com",
        "delivery time expired",
        "multipart/report",
        "Subject: will expire",
    ] {
        assert!(dsn.contains(expected), "{expected:?} missing:\n{dsn}");
    }
    assert!(wait_for(WAIT, || gw.queue_len("slow") == 0), "the expired message is removed");
}

#[test]
fn a_permanent_refusal_bounces_at_once() {
    let dir = test_dir();
    let refusing = Sink::start(dir.path(), &["-f", "RCPT"]);
    let senders = Sink::start(dir.path(), &[]);
    let extra = format!(
        "[delivery]\nretry_min_seconds = 300\n{}",
        routes(&[("example.com", refusing.port), ("sender.test", senders.port)])
    );
    let gw = Gateway::start(dir.path(), "", &extra);
    assert!(send(gw.port, "alice@sender.test", "b@example.com", "refused downstream"));
    let dsn = senders.find("Action: failed", WAIT).expect("a DSN");
    assert!(dsn.contains("Diagnostic-Code: smtp; 5"), "{dsn}");
    assert!(dsn.contains(&format!("Remote-MTA: dns; 127.0.0.1 (127.0.0.1:{})", refusing.port)), "{dsn}");
    assert_eq!(gw.queue_len("slow"), 0, "nothing is retried after a 5xx");
}

#[test]
fn queue_flush_retries_now() {
    let dir = test_dir();
    let mut sink = Sink::start(dir.path(), &[]);
    sink.pause();
    let extra = format!("[delivery]\nretry_min_seconds = 600\n{}", routes(&[("example.com", sink.port)]));
    let gw = Gateway::start(dir.path(), "", &extra);
    assert!(send(gw.port, "a@sender.test", "b@example.com", "flush one"));
    assert!(send(gw.port, "a@sender.test", "c@example.com", "flush two"));
    assert!(wait_for(WAIT, || gw.queue_len("slow") == 2));
    let listed = gw.cli(&["queue", "list"]);
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listing.matches(" slow ").count() == 2 && listing.contains("c@example.com"), "{listing}");
    sink.resume();
    let out = gw.cli(&["queue", "flush"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 slow-queue message(s)"));
    assert!(sink.wait_count(2, Duration::from_secs(10)), "flushed mail is delivered at once");
}

#[test]
fn pause_and_reject_switches_follow_hand_edits() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let route = routes(&[("example.com", sink.port)]);
    let mut gw = Gateway::start(dir.path(), "", &route);
    let apply = Duration::from_secs(3);

    // Pause (file replaced by rename): accepted and queued, not delivered.
    gw.write_config("", &format!("[delivery]\npause = true\n{route}"));
    std::thread::sleep(apply);
    assert!(send(gw.port, "a@sender.test", "b@example.com", "paused one"));
    assert!(send(gw.port, "a@sender.test", "b@example.com", "paused two"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.count(), 0, "nothing is delivered while paused");
    assert_eq!(gw.queue_len("fast"), 2);

    // Unpause (file rewritten in place): the backlog goes out.
    gw.overwrite_config("", &format!("[delivery]\npause = false\n{route}"));
    assert!(sink.wait_count(2, apply + Duration::from_secs(5)), "{}", gw.log());

    // Reject incoming: new sessions get 421 4.3.2; unchecking resumes.
    gw.write_config("", &format!("[delivery]\nreject_incoming = true\n{route}"));
    std::thread::sleep(apply);
    let (_, greeting) = Raw::connect(gw.port);
    assert!(greeting.starts_with("421 4.3.2"), "{greeting}");
    gw.write_config("", &route);
    std::thread::sleep(apply);
    let (_, greeting) = Raw::connect(gw.port);
    assert!(greeting.starts_with("220 "), "{greeting}");

    // The switches survive a restart because they live in the file.
    gw.write_config("", &format!("[delivery]\npause = true\n{route}"));
    gw.kill9();
    gw.spawn();
    assert!(send(gw.port, "a@sender.test", "b@example.com", "paused after restart"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.count(), 2);
}

#[test]
fn an_invalid_edit_is_refused_and_the_running_configuration_stays() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let route = routes(&[("example.com", sink.port)]);
    let gw = Gateway::start(dir.path(), "", &route);
    gw.write_config("", &format!("[delivery]\npause = true\nmax_days = -1\n{route}"));
    assert!(wait_for(Duration::from_secs(5), || gw.log().contains("configuration change refused")), "{}", gw.log());
    let log = gw.log();
    assert!(log.contains("delivery.max_days = \"-1\""), "the problem names key and value:\n{log}");
    assert!(send(gw.port, "a@sender.test", "b@example.com", "still running"));
    assert!(sink.wait_count(1, WAIT), "the pause in the refused file was not applied");
}

#[test]
fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let gw = Gateway::start(dir.path(), "max_incoming_connections = 2", &routes(&[("example.com", sink.port)]));
    let (mut first, g1) = Raw::connect(gw.port);
    let (_second, g2) = Raw::connect(gw.port);
    assert!(g1.starts_with("220") && g2.starts_with("220"));
    let mut third = TcpStream::connect(("127.0.0.1", gw.port)).expect("the connection is not refused");
    third.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut byte = [0u8; 1];
    assert!(third.read(&mut byte).is_err(), "no greeting while two sessions are open");
    assert!(first.cmd("QUIT").starts_with("221"));
    third.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut greeting = String::new();
    BufReader::new(third).read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("220 "), "served once a slot is free: {greeting:?}");
}

/// One SMTP session sending messages until `stop`; the subjects of those
/// acknowledged with 250 are recorded. Errors end the session quietly.
fn pump(port: u16, worker: usize, stop: &AtomicBool, acked: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    let mut reply = |reader: &mut BufReader<TcpStream>| -> std::io::Result<String> {
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line.clone());
            }
        }
    };
    reply(&mut reader)?;
    stream.write_all(b"EHLO load.test\r\n")?;
    reply(&mut reader)?;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let subject = format!("load-{worker}-{n}");
        let message = format!(
            "MAIL FROM:<l@sender.test>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n\
             Subject: {subject}\r\n\r\n{}\r\n.\r\n",
            "x".repeat(2000)
        );
        stream.write_all(message.as_bytes())?;
        let codes = [reply(&mut reader)?, reply(&mut reader)?, reply(&mut reader)?, reply(&mut reader)?];
        if codes[3].starts_with("250") {
            acked.lock().unwrap().push(subject);
        }
        n += 1;
    }
    Ok(())
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let mut gw = Gateway::start(dir.path(), "", &routes(&[("example.com", sink.port)]));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, acked, port) = (stop.clone(), acked.clone(), gw.port);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = pump(port, w, &stop, &acked);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    gw.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "load ran before the kill ({} acknowledged)", acked.len());
    gw.spawn();
    let mut missing = acked.clone();
    wait_for(Duration::from_secs(90), || {
        let delivered = sink.subjects();
        missing.retain(|s| !delivered.contains(s));
        missing.is_empty()
    });
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}
