//! The inbound SMTP server, spoken to over real sockets (swaks and a raw
//! client) with Postfix's smtp-sink as the downstream server: every ESMTP
//! extension, STARTTLS (and the plaintext-injection attack), pipelining,
//! BDAT, and the SMTP-level refusals of SPEC §2.

mod common;

use common::{Gateway, Raw, Sink, swaks};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(30);

/// A gateway whose `example.com` mail goes to a fresh sink.
fn setup(smtp_extra: &str) -> (tempfile::TempDir, Sink, Gateway) {
    let dir = common::test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let routing = format!("[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n", sink.port);
    let gw = Gateway::start(dir.path(), smtp_extra, &routing);
    (dir, sink, gw)
}

/// EHLO, then MAIL and RCPT for one example.com recipient.
fn open_transaction(port: u16) -> Raw {
    open_transaction_with(port, "MAIL FROM:<a@sender.test>", "RCPT TO:<b@example.com>")
}

/// EHLO, then the given MAIL and RCPT commands, both accepted.
fn open_transaction_with(port: u16, mail: &str, rcpt: &str) -> Raw {
    let (mut raw, greeting) = Raw::connect(port);
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert!(raw.cmd("EHLO client.test").starts_with("250"));
    assert!(raw.cmd(mail).starts_with("250 2.1.0"));
    assert!(raw.cmd(rcpt).starts_with("250 2.1.5"));
    raw
}

#[test]
fn ehlo_advertises_every_extension() {
    let (_dir, _sink, gw) = setup("");
    let (ok, out) = swaks(gw.port, &["--quit-after", "EHLO", "--ehlo", "client.test"]);
    assert!(ok, "{out}");
    for ext in
        ["PIPELINING", "SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "SMTPUTF8", "CHUNKING", "DSN"]
    {
        assert!(out.contains(&format!("250-{ext}")) || out.contains(&format!("250 {ext}")), "{ext} missing:\n{out}");
    }
}

#[test]
fn starttls_delivers_with_a_trace_header() {
    let (_dir, sink, gw) = setup("");
    let (ok, out) = swaks(
        gw.port,
        &[
            "-tls",
            "--from",
            "a@sender.test",
            "--to",
            "b@example.com",
            "--h-Subject",
            "over tls",
            "--ehlo",
            "client.test",
        ],
    );
    assert!(ok, "{out}");
    let delivered = sink.find("Subject: over tls", WAIT).expect("delivered");
    assert!(delivered.contains("by mx.test.example (mxguard) with ESMTPS id"), "{delivered}");
    assert!(delivered.contains("Received: from client.test (unknown [127.0.0.1])"), "{delivered}");
}

#[tokio::test]
async fn plaintext_pipelined_behind_starttls_is_discarded() {
    let (_dir, _sink, gw) = setup("");
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let mut io = BufReader::new(tcp);
    let mut line = String::new();
    io.read_line(&mut line).await.unwrap();
    io.get_mut().write_all(b"EHLO attacker.test\r\n").await.unwrap();
    loop {
        line.clear();
        io.read_line(&mut line).await.unwrap();
        if line.as_bytes()[3] == b' ' {
            break;
        }
    }
    // The injected MAIL rides in the same packet as STARTTLS.
    io.get_mut().write_all(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n").await.unwrap();
    line.clear();
    io.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220 2.0.0"), "{line}");
    assert!(io.buffer().is_empty(), "no plaintext reply to the injected command may follow");
    let connector = mxguard::smtp::tls::opportunistic_connector();
    let tls = connector.connect(mxguard::smtp::tls::server_name("mx.test.example"), io.into_inner()).await.unwrap();
    let mut tls = BufReader::new(tls);
    tls.get_mut().write_all(b"EHLO client.test\r\nRCPT TO:<b@example.com>\r\n").await.unwrap();
    let mut replies = Vec::new();
    while replies.len() < 2 {
        line.clear();
        tls.read_line(&mut line).await.unwrap();
        if line.as_bytes()[3] == b' ' {
            replies.push(line.clone());
        }
    }
    assert!(replies[1].starts_with("503 5.5.1"), "the injected MAIL must not count: {replies:?}");
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let (_dir, sink, gw) = setup("");
    let (mut raw, _) = Raw::connect(gw.port);
    raw.cmd("EHLO client.test");
    raw.send(b"MAIL FROM:<p@sender.test>\r\nRCPT TO:<one@example.com>\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<two@example.com>\r\nDATA\r\n");
    let replies: Vec<String> = (0..5).map(|_| raw.reply()).collect();
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(codes, ["250", "250", "550", "250", "354"], "{replies:?}");
    raw.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n");
    assert!(raw.reply().starts_with("250 2.0.0 Ok: queued as "));
    assert!(raw.reply().starts_with("221"));
    let delivered = sink.find("Subject: pipelined", WAIT).expect("delivered");
    assert!(delivered.contains("one@example.com") && delivered.contains("two@example.com"), "{delivered}");
}

#[test]
fn bdat_chunks_are_delivered_intact() {
    let (_dir, sink, gw) = setup("");
    let mut raw = open_transaction(gw.port);
    let first = b"Subject: chunked\r\nX-Part: one\r\n\r\n";
    let second = b"line one\r\n.leading dot stays\r\n";
    raw.send(format!("BDAT {}\r\n", first.len()).as_bytes());
    raw.send(first);
    assert!(raw.reply().starts_with(&format!("250 2.0.0 {} octets", first.len())));
    raw.send(format!("BDAT {} LAST\r\n", second.len()).as_bytes());
    raw.send(second);
    assert!(raw.reply().starts_with("250 2.0.0 Ok: queued"));
    let delivered = sink.find("Subject: chunked", WAIT).expect("delivered");
    assert!(delivered.contains("line one\n.leading dot stays") || delivered.contains("line one\r\n.leading dot stays"));
}

#[test]
fn header_with_bare_lf_or_nul_is_refused() {
    let (_dir, sink, gw) = setup("");
    let mut raw = open_transaction(gw.port);
    assert!(raw.cmd("DATA").starts_with("354"));
    raw.send(b"Subject: bare\nX-Other: y\r\n\r\nbody\r\n.\r\n");
    let r = raw.reply();
    assert!(r.starts_with("554 5.6.0") && r.contains("bare"), "{r}");
    assert!(raw.cmd("MAIL FROM:<a@sender.test>").starts_with("250"), "the session goes on");
    raw.cmd("RCPT TO:<b@example.com>");
    raw.cmd("DATA");
    raw.send(b"Subject: nul\r\n\r\nbo\0dy\r\n.\r\n");
    let r = raw.reply();
    assert!(r.starts_with("554 5.6.0") && r.contains("NUL"), "{r}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.count(), 0, "refused messages are not delivered");
}

#[test]
fn size_limit_is_advertised_and_enforced() {
    let (_dir, sink, gw) = setup("max_message_mb = 1");
    let (mut raw, _) = Raw::connect(gw.port);
    assert!(raw.cmd("EHLO client.test").contains("SIZE 1048576"));
    let r = raw.cmd("MAIL FROM:<a@sender.test> SIZE=5000000");
    assert!(r.starts_with("552 5.3.4"), "{r}");
    raw.cmd("MAIL FROM:<a@sender.test> SIZE=100");
    raw.cmd("RCPT TO:<b@example.com>");
    raw.cmd("DATA");
    raw.send(b"Subject: too big\r\n\r\n");
    let line = vec![b'x'; 998];
    for _ in 0..1100 {
        raw.send(&line);
        raw.send(b"\r\n");
    }
    raw.send(b".\r\n");
    let r = raw.reply();
    assert!(r.starts_with("552 5.3.4"), "{r}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.count(), 0);
}

#[test]
fn overlong_command_line_is_refused_and_session_continues() {
    let (_dir, _sink, gw) = setup("");
    let (mut raw, _) = Raw::connect(gw.port);
    raw.cmd("EHLO client.test");
    let long = format!("MAIL FROM:<{}@sender.test>", "a".repeat(5000));
    let r = raw.cmd(&long);
    assert!(r.starts_with("500 5.5.2"), "{r}");
    assert!(raw.cmd("NOOP").starts_with("250 2.0.0"));
}

#[test]
fn recipients_beyond_the_limit_get_452() {
    let (_dir, _sink, gw) = setup("");
    let (mut raw, _) = Raw::connect(gw.port);
    raw.cmd("EHLO client.test");
    raw.cmd("MAIL FROM:<a@sender.test>");
    let batch: String = (0..1001).map(|i| format!("RCPT TO:<u{i}@example.com>\r\n")).collect();
    raw.send(batch.as_bytes());
    let replies: Vec<String> = (0..1001).map(|_| raw.reply()).collect();
    assert!(replies[..1000].iter().all(|r| r.starts_with("250")));
    assert!(replies[1000].starts_with("452 4.5.3"), "{}", replies[1000]);
}

#[test]
fn smtputf8_message_to_a_server_without_it_is_returned() {
    let dir = common::test_dir();
    let rcpt_sink = Sink::start(dir.path(), &[]);
    let sender_sink = Sink::start(dir.path(), &[]);
    let routing = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [[routing.local]]\nname = \"sender.test\"\nrelay = \"127.0.0.1:{}\"\n",
        rcpt_sink.port, sender_sink.port
    );
    let gw = Gateway::start(dir.path(), "", &routing);
    let (mut raw, _) = Raw::connect(gw.port);
    raw.cmd("EHLO client.test");
    assert!(raw.cmd("MAIL FROM:<a@sender.test> SMTPUTF8 BODY=8BITMIME").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<zoë@example.com>").starts_with("250"));
    raw.cmd("DATA");
    raw.send("Subject: grüße\r\n\r\nünïcode\r\n.\r\n".as_bytes());
    assert!(raw.reply().starts_with("250"));
    let dsn = sender_sink.find("Status: 5.6.7", WAIT).expect("a DSN explains the missing SMTPUTF8 support");
    assert!(dsn.contains("Action: failed"));
    assert_eq!(rcpt_sink.count(), 0);
}

#[test]
fn mail_before_helo_and_unknown_commands_are_refused() {
    let (_dir, _sink, gw) = setup("");
    let (mut raw, _) = Raw::connect(gw.port);
    assert!(raw.cmd("MAIL FROM:<a@sender.test>").starts_with("503 5.5.1"));
    assert!(raw.cmd("XYZZY").starts_with("500 5.5.2"));
    assert!(raw.cmd("VRFY root").starts_with("502 5.5.1"));
    assert!(raw.cmd("QUIT").starts_with("221 2.0.0"));
    assert!(raw.closed());
}

#[test]
fn dsn_and_body_parameters_are_carried_to_the_next_hop() {
    let (_dir, sink, gw) = setup("");
    let mut raw = open_transaction_with(
        gw.port,
        "MAIL FROM:<a@sender.test> BODY=8BITMIME RET=HDRS ENVID=QQ314159",
        "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com",
    );
    assert!(raw.cmd("DATA").starts_with("354"));
    raw.send("Subject: dsn params\r\n\r\n8-bit body: é\r\n.\r\n".as_bytes());
    assert!(raw.reply().starts_with("250 2.0.0"));
    let got = sink.find("Subject: dsn params", WAIT).expect("delivered");
    assert!(got.contains("X-Mail-Args: <a@sender.test> BODY=8BITMIME RET=HDRS ENVID=QQ314159"), "{got}");
    assert!(got.contains("X-Rcpt-Args: <b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com"), "{got}");
}
