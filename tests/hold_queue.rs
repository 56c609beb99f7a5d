//! The hold queue (SPEC §1): a message whose processing crashes three times
//! is held — whether the crash is a caught panic or the whole process dying
//! (the persisted attempt counter) — and the administrator's actions on it:
//! list, show, forward a copy, reprocess, drop.

mod common;

use common::{Gateway, Sink, send, swaks, test_dir, wait_for};
use mxguard::app::Gateway as InProcessGateway;
use mxguard::config::{Config, ConfigHandle};
use mxguard::envelope::{Envelope, Recipient};
use mxguard::events::Events;
use mxguard::pipeline::{Pipeline, Step, Verdict, Work};
use mxguard::scan::builtin::Signatures;
use mxguard::spool::queue_file::QueuedMessage;
use mxguard::spool::{Queue, Spool, unix_now};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A processing step that crashes on one subject, as a decoder bug would.
struct CrashOn(&'static str);

impl Step for CrashOn {
    fn name(&self) -> &'static str {
        "crash-on-subject"
    }

    fn apply(&self, work: &mut Work<'_>) -> Verdict {
        let needle = format!("Subject: {}", self.0);
        if work.msg.content.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            panic!("decoder bug triggered by {}", work.msg.id);
        }
        Verdict::Continue
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_crashes_processing_three_times_is_held() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let port = common::free_port();
    let config = Config::from_toml(&format!(
        "[smtp]\nlisten = [\"127.0.0.1:{port}\"]\nhostname = \"mx.test\"\n\
         [paths]\nqueue_dir = \"{0}/queues\"\nlog_dir = \"{0}/logs\"\n\
         [admin]\nhttp_listen = \"127.0.0.1:{1}\"\nhttps_listen = \"127.0.0.1:{2}\"\n\
         [[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{3}\"\n",
        dir.path().display(),
        common::free_port(),
        common::free_port(),
        sink.port
    ))
    .unwrap();
    let (events, _received) = Events::channel();
    let pipeline = Pipeline::new(vec![Box::new(CrashOn("poison"))]);
    let signatures = std::sync::Arc::new(Signatures::new(std::path::Path::new(&config.antivirus.defs_dir)));
    let gateway = InProcessGateway::start(ConfigHandle::new(config, None), pipeline, events, signatures).unwrap();
    assert!(common::wait_port(port, WAIT));
    let sent = tokio::task::spawn_blocking(move || {
        send(port, "a@sender.test", "b@example.com", "poison") && send(port, "a@sender.test", "b@example.com", "fine")
    });
    assert!(sent.await.unwrap());
    let spool = gateway.spool.clone();
    let held = tokio::task::spawn_blocking(move || {
        wait_for(WAIT, || spool.list(Queue::Hold).unwrap().len() == 1);
        spool.list(Queue::Hold).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(held.len(), 1, "the crashing message is held");
    let msg = gateway.spool.load(Queue::Hold, &held[0]).unwrap();
    assert!(msg.reason.contains("crashed 3 times") && msg.reason.contains("decoder bug"), "{}", msg.reason);
    assert!(String::from_utf8_lossy(&msg.content).contains("Subject: poison"));
    let delivered = tokio::task::spawn_blocking(move || sink.find("Subject: fine", WAIT)).await.unwrap();
    assert!(delivered.is_some(), "the server kept working for other mail");
    assert!(gateway.spool.list(Queue::Fast).unwrap().is_empty());
}

/// Leave a message in the fast queue as a gateway that died while
/// processing it `attempts` times would have.
fn crashed_before(queue_dir: &Path, subject: &str, attempts: u8) -> String {
    let spool = Spool::open(queue_dir).unwrap();
    let msg = QueuedMessage {
        id: spool.new_id(),
        arrival: unix_now(),
        envelope: Envelope {
            sender: "a@sender.test".into(),
            recipients: vec![Recipient::new("b@example.com")],
            client_ip: "192.0.2.1".into(),
            helo: "client.test".into(),
            ..Envelope::default()
        },
        attempts,
        ..QueuedMessage::default()
    };
    let content = format!("From: <a@sender.test>\r\nSubject: {subject}\r\n\r\nbody\r\n");
    spool.store(Queue::Fast, &msg, &[content.as_bytes()]).unwrap();
    msg.id
}

#[test]
fn the_attempt_counter_survives_process_crashes_and_held_mail_is_administered() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let admin = Sink::start(dir.path(), &[]);
    let queue_dir = dir.path().join("queues");
    let poisoned = crashed_before(&queue_dir, "killed the process thrice", 3);
    crashed_before(&queue_dir, "killed the process twice", 2);
    let routes = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [[routing.local]]\nname = \"admin.test\"\nrelay = \"127.0.0.1:{}\"\n",
        sink.port, admin.port
    );
    let mut gw = Gateway::start(dir.path(), "", &routes);

    // Two earlier crashes leave one more try; three mean hold.
    assert!(sink.find("Subject: killed the process twice", WAIT).is_some(), "{}", gw.log());
    assert!(wait_for(WAIT, || gw.queue_len("hold") == 1));
    assert_eq!(sink.count(), 1);

    let listed = gw.cli(&["queue", "list"]);
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listing.contains(&poisoned) && listing.contains("hold"), "{listing}");
    assert!(listing.contains("reason: processing failed 3 times"), "{listing}");
    let shown = gw.cli(&["queue", "show", &poisoned]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("queue:     hold") && shown.contains("Subject: killed the process thrice"), "{shown}");

    // Forward a copy: the original stays held.
    let out = gw.cli(&["queue", "forward", "all", "--to", "root@admin.test", "--subject", "Held copy"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let copy = admin.find("Subject: Held copy", WAIT).expect("the copy reaches the administrator");
    assert!(copy.contains("message/rfc822") && copy.contains("Subject: killed the process thrice"), "{copy}");
    assert_eq!(gw.queue_len("hold"), 1);

    // Reprocess: this gateway does not crash on it, so it is delivered.
    let out = gw.cli(&["queue", "reprocess", &poisoned]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 held message(s) returned"));
    assert!(sink.find("Subject: killed the process thrice", WAIT).is_some());
    assert_eq!(gw.queue_len("hold"), 0);

    // Drop, with the gateway stopped: the CLI works on the files.
    gw.kill9();
    let again = crashed_before(&queue_dir, "dropped for good", 3);
    gw.spawn();
    assert!(wait_for(WAIT, || gw.queue_len("hold") == 1));
    gw.kill9();
    let out = gw.cli(&["queue", "drop", &again]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(gw.queue_len("hold"), 0);
    let out = gw.cli(&["queue", "drop", "NOSUCHID"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no message NOSUCHID in the hold queue"));
    gw.spawn();
    assert!(swaks(gw.port, &["--quit-after", "EHLO"]).0);
    std::thread::sleep(Duration::from_secs(1));
    assert!(sink.find("Subject: dropped for good", Duration::ZERO).is_none());
}
