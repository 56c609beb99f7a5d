//! The blocking rules of SPEC §4 through SMTP with a real downstream:
//! file-name evasions, subject and sender actions (drop, log, forward),
//! encrypted containers, DNSBL through a real DNS server, heuristic spam,
//! unprocessable messages, and the `X-MXGuard` record.

mod common;
mod corpus;

use common::{DnsServer, Gateway, Sink, submit, test_dir, wait_for};
use corpus::{Mail, delivered_anywhere, delivered_names};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// How long to wait before concluding a message was not delivered.
const QUIET: Duration = Duration::from_secs(3);

struct Setup {
    _dir: tempfile::TempDir,
    /// Receives example.com.
    sink: Sink,
    /// Receives review.test (forwarding) and sender.test (bounces).
    review: Sink,
    gw: Gateway,
}

fn setup(blocking: &str) -> Setup {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let review = Sink::start(dir.path(), &[]);
    let config = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [[routing.local]]\nname = \"review.test\"\nrelay = \"127.0.0.1:{r}\"\n\
         [[routing.local]]\nname = \"sender.test\"\nrelay = \"127.0.0.1:{r}\"\n{blocking}",
        sink.port,
        r = review.port
    );
    let gw = Gateway::start(dir.path(), "", &config);
    Setup { _dir: dir, sink, review, gw }
}

impl Setup {
    fn send(&self, from: &str, mail: &Mail) {
        let reply = submit(self.gw.port, from, &["b@example.com"], &mail.build());
        assert!(reply.starts_with("250"), "{reply}");
    }

    fn delivered(&self, subject: &str) -> Option<Vec<u8>> {
        self.sink.find(&format!("Subject: {subject}"), WAIT).map(String::into_bytes)
    }

    fn not_delivered(&self, subject: &str) -> bool {
        self.sink.find(&format!("Subject: {subject}"), QUIET).is_none()
    }
}

#[test]
fn file_name_evasions_are_seen_through() {
    let s = setup("[blocking.filename]\nenabled = true\npatterns = [\"*.exe\"]\nreplacement_text = \"REMOVED\"\n");
    let cases = [
        (
            "rfc2231",
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*0*=utf-8''ev; filename*1*=il%2E; filename*2=\"exe\"\r\n",
        ),
        (
            "rfc2047",
            "Content-Type: application/octet-stream; name=\"=?utf-8?B?ZXZpbC5leGU=?=\"\r\nContent-Disposition: attachment\r\n",
        ),
        (
            "disagreement",
            "Content-Type: application/octet-stream; name=\"evil.exe\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n",
        ),
        (
            "trailing dots",
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"evil.exe. . .\"\r\n",
        ),
        (
            "right-to-left",
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\r\n",
        ),
        ("mixed case", "Content-Type: application/octet-stream; name=\"EVIL.ExE\"\r\n"),
    ];
    for (subject, headers) in cases {
        s.send("a@sender.test", &Mail::new(subject).part(headers, b"MZ-evil-marker"));
    }
    s.send("a@sender.test", &Mail::new("allowed name").attach("report.pdf", b"pdf-marker"));
    for (subject, _) in cases {
        let got = s.delivered(subject).unwrap_or_else(|| panic!("{subject} not delivered:\n{}", s.gw.log()));
        assert!(!delivered_anywhere(&got, b"MZ-evil-marker"), "{subject}: the blocked file got through");
        assert!(delivered_anywhere(&got, b"REMOVED"), "{subject}: no replacement");
        assert!(String::from_utf8_lossy(&got).contains("X-MXGuard: attachment deleted"), "{subject}");
    }
    assert!(delivered_anywhere(&s.delivered("allowed name").unwrap(), b"pdf-marker"));
    assert!(s.gw.log().contains("attachment deleted: evil.exe"), "each deletion is an event in the log");
}

#[test]
fn subject_rule_drop_log_and_forward() {
    for (action, extra) in [
        ("drop", ""),
        ("log", ""),
        ("forward", "forward_to = \"quarantine@review.test\"\nforward_subject = \"Held for review\"\n"),
    ] {
        let s = setup(&format!(
            "[blocking.subject]\nenabled = true\npatterns = [\"*free money*\"]\naction = \"{action}\"\n{extra}"
        ));
        s.send("a@sender.test", &Mail::new("Get FREE MONEY now"));
        s.send("a@sender.test", &Mail::new("quarterly figures"));
        assert!(s.delivered("quarterly figures").is_some());
        match action {
            "drop" => assert!(s.not_delivered("Get FREE MONEY now")),
            "log" => {
                let got = String::from_utf8(s.delivered("Get FREE MONEY now").expect("logged and delivered")).unwrap();
                assert!(got.contains("X-MXGuard: subject blocked") && got.contains(": logged"), "{got}");
            }
            _ => {
                let got = s.review.find("Subject: Held for review", WAIT).expect("forwarded to the review address");
                assert!(got.contains("X-Rcpt-Args: <quarantine@review.test>") && got.contains("forwarded to"), "{got}");
                assert!(s.not_delivered("Get FREE MONEY now"), "the recipients do not get it");
            }
        }
        assert!(s.gw.log().contains("subject blocked (matches \"*free money*\")"), "{}", s.gw.log());
    }
}

#[test]
fn sender_rule_checks_envelope_and_header() {
    let s = setup("[blocking.sender]\nenabled = true\nentries = [\"@spam.test\", \".bulk.test\", \"bad@evil.test\"]\n");
    s.send("x@spam.test", &Mail::new("envelope domain"));
    s.send("ok@good.test", &Mail::new("header address").from("bad@evil.test"));
    s.send("y@a.bulk.test", &Mail::new("subdomain"));
    s.send("z@bulk.test", &Mail::new("parent domain"));
    s.send("ok@good.test", &Mail::new("good sender"));
    assert!(s.delivered("good sender").is_some());
    assert!(s.delivered("parent domain").is_some(), ".bulk.test covers subdomains only");
    for subject in ["envelope domain", "header address", "subdomain"] {
        assert!(s.not_delivered(subject), "{subject} should be dropped");
    }
}

#[test]
fn encrypted_containers_by_action() {
    let secret = corpus::encrypted_zip(&[("s.doc", b"secret-marker")]);
    for action in ["delete", "drop", "log"] {
        let s =
            setup(&format!("[blocking.encrypted]\naction = \"{action}\"\nreplacement_text = \"ENCRYPTED-REMOVED\"\n"));
        s.send(
            "a@sender.test",
            &Mail::new("locked").attach("secret.zip", &secret).attach("plain.txt", b"plain-marker"),
        );
        match action {
            "delete" => {
                let got = s.delivered("locked").expect("delivered without the container");
                assert!(
                    !delivered_names(&got).iter().any(|n| n.starts_with("secret.zip")),
                    "{:?}",
                    delivered_names(&got)
                );
                assert!(delivered_anywhere(&got, b"ENCRYPTED-REMOVED") && delivered_anywhere(&got, b"plain-marker"));
            }
            "drop" => assert!(s.not_delivered("locked")),
            _ => {
                let got = s.delivered("locked").expect("logged and delivered");
                assert!(delivered_names(&got).iter().any(|n| n == "secret.zip"));
            }
        }
    }
}

#[test]
fn encrypted_7z_and_pdf_are_encrypted_containers() {
    let s = setup("[blocking.encrypted]\naction = \"delete\"\nreplacement_text = \"ENCRYPTED-REMOVED\"\n");
    let pdf = b"%PDF-1.6\n1 0 obj << >> endobj\ntrailer << /Root 1 0 R /Encrypt 2 0 R >>\n%%EOF\n";
    s.send("a@sender.test", &Mail::new("locked pdf").attach("statement.pdf", pdf));
    let got = s.delivered("locked pdf").unwrap();
    assert!(
        !delivered_names(&got).contains(&"statement.pdf".to_string()) && delivered_anywhere(&got, b"ENCRYPTED-REMOVED")
    );
}

#[test]
fn dnsbl_refuses_logs_and_white_lists() {
    let dns = DnsServer::start(&[
        "--address=/1.0.0.127.bl.test/127.0.0.2".into(),
        "--address=/1.0.0.127.codes.test/127.0.0.4".into(),
    ]);
    let zones = |action: &str, zone: &str, codes: &str| {
        format!(
            "{}[blocking.dnsbl]\nenabled = true\naction = \"{action}\"\nwhitelist = [\"@friend.test\"]\n\
             zones = [{{ zone = \"{zone}\", enabled = true, codes = [{codes}] }}]\n",
            dns.config()
        )
    };
    let s = setup(&zones("drop", "bl.test", ""));
    let reply = submit(s.gw.port, "a@sender.test", &["b@example.com"], &Mail::new("listed").build());
    assert!(reply.starts_with("554 5.7.1") && reply.contains("bl.test"), "{reply}");
    s.send("pal@friend.test", &Mail::new("white listed"));
    assert!(s.delivered("white listed").is_some());
    let logged = "Spam list block [blocking]; client: 127.0.0.1; from: a@sender.test; matched: bl.test";
    assert!(s.gw.log().contains(logged), "{}", s.gw.log());

    let s = setup(&zones("log", "bl.test", ""));
    s.send("a@sender.test", &Mail::new("listed but logged"));
    let got = String::from_utf8(s.delivered("listed but logged").unwrap()).unwrap();
    assert!(got.contains("X-MXGuard: spam list: client listed by bl.test: logged"), "{got}");

    let s = setup(&zones("drop", "codes.test", "\"127.0.0.2\""));
    s.send("a@sender.test", &Mail::new("other return code"));
    assert!(s.delivered("other return code").is_some(), "127.0.0.4 is not in the zone's code list");
}

#[test]
fn heuristic_spam_gets_a_subject_tag() {
    let s = setup("[blocking.spam]\nenabled = true\nsensitivity = 5\nsubject_tag = \"[SPAM]\"\n");
    let spam = Mail::new("ACT NOW!!! FREE CASH WINNER GUARANTEED").raw_part(
        "Content-Type: text/html\r\n\r\n<p>Act now! Click here to claim your FREE prize, 100% guaranteed!!! \
         <a href=\"http://192.0.2.7/claim\">http://www.yourbank.example/login</a> Unsubscribe</p>\r\n",
    );
    s.send("a@sender.test", &spam);
    s.send("a@sender.test", &Mail::new("minutes of the meeting"));
    assert!(s.sink.find("Subject: [SPAM] ACT NOW", WAIT).is_some(), "{}", s.gw.log());
    let ham = String::from_utf8(s.delivered("minutes of the meeting").unwrap()).unwrap();
    assert!(!ham.contains("[SPAM]"), "{ham}");
}

#[test]
fn unprocessable_messages_follow_the_policy() {
    let broken = b"PK\x03\x04 this is no zip at all, just its magic bytes";
    for policy in ["deliver", "drop", "bounce", "hold"] {
        let s = setup(&format!("[blocking]\nunprocessable = \"{policy}\"\n"));
        s.send("a@sender.test", &Mail::new("damaged").attach("data.zip", broken));
        match policy {
            "deliver" => assert!(s.delivered("damaged").is_some()),
            "drop" => assert!(s.not_delivered("damaged")),
            "bounce" => {
                let dsn = s.review.find("Action: failed", WAIT).expect("returned to the sender");
                assert!(dsn.contains("Status: 5.6.0") && dsn.contains("cannot be processed"), "{dsn}");
                assert!(s.not_delivered("damaged"));
            }
            _ => {
                assert!(wait_for(WAIT, || s.gw.queue_len("hold") == 1), "held:\n{}", s.gw.log());
                assert!(s.not_delivered("damaged"));
            }
        }
    }
}

#[test]
fn a_planted_trace_field_is_removed() {
    let s = setup("[blocking.subject]\nenabled = true\npatterns = [\"*traced*\"]\naction = \"log\"\n");
    let mail = String::from_utf8(Mail::new("traced message").build()).unwrap();
    let planted = format!("X-MXGuard: clean, nothing found\r\n{mail}");
    let reply = submit(s.gw.port, "a@sender.test", &["b@example.com"], planted.as_bytes());
    assert!(reply.starts_with("250"));
    let got = String::from_utf8(s.delivered("traced message").unwrap()).unwrap();
    assert!(!got.contains("nothing found") && got.matches("X-MXGuard:").count() == 1, "{got}");
}

#[test]
fn the_size_rule_is_advertised_and_enforced_for_data_and_bdat() {
    let s = setup("[blocking.size]\nenabled = true\nmax_mb = 1\n");
    let (mut raw, _) = common::Raw::connect(s.gw.port);
    assert!(raw.cmd("EHLO client.test").contains("250-SIZE 1048576"));
    assert!(raw.cmd("MAIL FROM:<a@sender.test> SIZE=1048577").starts_with("552 5.3.4"));
    assert!(raw.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<b@example.com>").starts_with("250"));
    let chunk = vec![b'x'; 700 * 1024];
    for last in [false, true] {
        raw.send(format!("BDAT {}{}\r\n", chunk.len(), if last { " LAST" } else { "" }).as_bytes());
        raw.send(&chunk);
        let reply = raw.reply();
        if last {
            assert!(reply.starts_with("552 5.3.4"), "the message grew past 1 MB: {reply}");
        } else {
            assert!(reply.starts_with("250"), "{reply}");
        }
    }
    assert!(raw.cmd("RSET").starts_with("250"), "the session goes on");
    s.send("a@sender.test", &Mail::new("small enough"));
    assert!(s.delivered("small enough").is_some());
}
