//! Events, counters and the JSON API through real traffic: what was sent
//! over SMTP must come back exactly in the status figures and metrics.

mod common;
mod corpus;

use common::{API_TOKEN as TOKEN, Gateway, Sink, message, submit, test_dir, wait_for};
use corpus::Mail;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn eicar() -> Vec<u8> {
    [b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR".as_slice(), b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat()
}

/// `GET path` on the admin listener; (status, body).
fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(format!("http://127.0.0.1:{port}{path}"));
    if let Some(t) = token {
        request = request.header("Authorization", format!("Bearer {t}"));
    }
    let mut response = request.call().expect("the admin listener answers");
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
}

#[test]
fn status_and_metrics_count_exactly_what_was_sent() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    syslog.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let from = chrono::Utc::now() - chrono::Duration::minutes(1);
    let config = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [blocking.size]\nenabled = true\nmax_mb = 1\n\
         [blocking.subject]\nenabled = true\npatterns = [\"*forbidden*\"]\naction = \"drop\"\n\
         [antivirus]\nheuristic_level = \"off\"\non_detect = \"delete\"\n\
         [logging]\nsyslog = \"udp://127.0.0.1:{}\"\n",
        sink.port,
        syslog.local_addr().unwrap().port()
    );
    let gw = Gateway::start(dir.path(), "", &config);
    let http = gw.admin_http();
    assert!(common::wait_port(http, WAIT), "admin listener: {}", gw.log());

    let (code, _) = get(http, "/api/v1/status", None);
    assert_eq!(code, 401, "no token");
    assert_eq!(get(http, "/api/v1/status", Some("wrong")).0, 401);
    assert_eq!(get(http, "/metrics", None).0, 401);

    let send = |mail: Vec<u8>| assert!(submit(gw.port, "a@sender.test", &["b@example.com"], &mail).starts_with("250"));
    for i in 0..3 {
        send(message("a@sender.test", "b@example.com", &format!("clean {i}")).into_bytes());
    }
    send(message("a@sender.test", "b@example.com", "a forbidden subject").into_bytes());
    for i in 0..2 {
        send(Mail::new(&format!("infected {i}")).attach("e.com", &eicar()).build());
    }
    let big = Mail::new("too big").attach("big.bin", &vec![b'x'; 2 * 1024 * 1024]).build();
    assert!(submit(gw.port, "a@sender.test", &["b@example.com"], &big).starts_with("552"));
    assert!(submit(gw.port, "a@sender.test", &["x@elsewhere.org"], b"Subject: relay\r\n\r\nx\r\n").starts_with("550"));
    assert!(sink.wait_count(5, WAIT), "five messages delivered");

    let status = || -> serde_json::Value {
        let (code, body) = get(http, "/api/v1/status", Some(TOKEN));
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("JSON")
    };
    assert!(wait_for(WAIT, || status()["delivered"] == 5 && status()["rejected"] == 2), "{}", status());
    let s = status();
    for (key, want) in
        [("accepted", 6), ("rejected", 2), ("dropped", 1), ("deleted", 2), ("repaired", 0), ("attachments_stripped", 2)]
    {
        assert_eq!(s[key], want, "{key} in {s}");
    }
    assert_eq!((s["queue_fast"].as_u64(), s["queue_hold"].as_u64()), (Some(0), Some(0)));
    assert_eq!((s["delivery"].as_str(), s["incoming"].as_str()), (Some("Delivery"), Some("Accept")));
    assert_eq!(s["scanning_enabled"], true);
    assert!(s["mb_received"].as_f64().is_some_and(|mb| mb > 0.0), "{s}");
    let cli = gw.cli(&["status"]);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("`mxguard status` prints JSON");
    for key in ["accepted", "rejected", "delivered", "dropped", "deleted", "queue_hold", "started_at"] {
        assert_eq!(printed[key], s[key], "{key}: `mxguard status` and the API agree");
    }

    let (code, text) = get(http, "/metrics", Some(TOKEN));
    assert_eq!(code, 200);
    assert!(text.contains("mxguard_messages_accepted_total 6"), "{text}");
    assert!(text.contains("mxguard_queue_messages{queue=\"hold\"} 0"), "{text}");

    let range = format!("from={}&to={}", rfc3339(from), rfc3339(chrono::Utc::now() + chrono::Duration::minutes(1)));
    let json = |path: &str| -> serde_json::Value {
        let (code, body) = get(http, path, Some(TOKEN));
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let summary_url = format!("/api/v1/reports/summary?{range}");
    // The store writes in batches: wait for the last event to be stored.
    let stored = |s: serde_json::Value| s["messages_delivered"] == 5 && s["messages_rejected"] == 2;
    assert!(wait_for(WAIT, || stored(json(&summary_url))), "{}", json(&summary_url));
    let summary = json(&summary_url);
    for (key, want) in [
        ("messages_accepted", 6),
        ("messages_rejected", 2),
        ("messages_blocked_by_size", 1),
        ("messages_delivered", 5),
        ("infections_deleted", 2),
        ("infections_total", 2),
    ] {
        assert_eq!(summary[key], want, "{key} in {summary}");
    }
    assert_eq!(summary["viruses"], serde_json::json!([{"name": "Eicar-Test-Signature", "count": 2}]));
    assert_eq!(summary["subjects_blocked"], serde_json::json!([{"subject": "a forbidden subject", "count": 1}]));

    let found = json(&format!("/api/v1/reports/detail?{range}&search=FORBIDDEN"));
    let events = found["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["action"] == "Subject blocked"), "{found}");
    assert!(events.iter().all(|e| e.to_string().to_lowercase().contains("forbidden")), "{found}");
    let blocking = json(&format!("/api/v1/reports/detail?{range}&category=blocking"));
    let actions: Vec<&str> =
        blocking["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "File deleted").count(), 2, "{actions:?}");
    assert!(actions.iter().all(|a| ["File deleted", "Subject blocked"].contains(a)), "{actions:?}");
    assert_eq!(get(http, "/api/v1/reports/detail?from=yesterday&to=now", Some(TOKEN)).0, 400);

    let all = json(&format!("/api/v1/reports/detail?{range}"));
    let (code, text) = get(http, &format!("/api/v1/reports/detail?{range}&format=csv"), Some(TOKEN));
    assert_eq!(code, 200);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), mxguard::events::Record::COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.len() >= all["events"].as_array().unwrap().len(), "one row per event");
    let saved = std::fs::read_dir(dir.path().join("logs")).unwrap().filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with("MXGUARD") && name.ends_with(".csv") && name.len() == "MXGUARDyyyymmddhhmm.csv".len()
    });
    assert!(saved, "the CSV is kept in the log directory");

    let mut datagram = [0u8; 65536];
    let (n, _) = syslog.recv_from(&mut datagram).expect("events reach syslog");
    let line = String::from_utf8_lossy(&datagram[..n]);
    assert!(line.starts_with('<') && line.contains(">1 ") && line.contains("[mxguard@"), "{line}");
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn start_stop_crash_and_configuration_changes_are_events() {
    let dir = test_dir();
    let mut gw = Gateway::start(dir.path(), "", "");
    let logged = |gw: &Gateway, what: &str, n: usize| wait_for(WAIT, || gw.log().matches(what).count() >= n);
    assert!(logged(&gw, "Service started [system]; reason: started", 1), "{}", gw.log());
    gw.reconfigure("", "[delivery]\nretry_min_seconds = 60\n");
    assert!(logged(&gw, "Object modified [system]; matched: file; file: configuration: delivery", 1), "{}", gw.log());
    gw.terminate();
    assert!(gw.log().contains("Service stopped [system]"), "{}", gw.log());
    let stopped = gw.cli(&["status"]);
    assert_eq!(stopped.status.code(), Some(1), "no counters without a running gateway");
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("no gateway is running"));
    gw.spawn();
    assert!(logged(&gw, "Service started [system]; reason: started", 2), "a clean stop is not a crash");
    gw.kill9();
    gw.spawn();
    assert!(logged(&gw, "reason: started after a crash", 1), "{}", gw.log());
}

#[test]
fn connections_to_next_hops_and_unreadable_files_are_events() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let nobody_listens = common::free_port();
    let broken = dir.path().join("queues").join("slow").join("BROKEN");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::write(&broken, b"not a queue file").unwrap();
    let config = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [[routing.local]]\nname = \"nowhere.test\"\nrelay = \"127.0.0.1:{nobody_listens}\"\n",
        sink.port
    );
    let gw = Gateway::start(dir.path(), "", &config);
    let logged = |what: &str| wait_for(WAIT, || gw.log().contains(what));
    let unreadable =
        format!("File access error [system]; file: {}; reason: unreadable, left in place", broken.display());
    assert!(logged(&unreadable), "{}", gw.log());

    for i in 0..2 {
        assert!(common::send(gw.port, "a@sender.test", "b@example.com", &format!("hello {i}")));
        assert!(sink.wait_count(i + 1, WAIT));
    }
    let hop = format!("matched: 127.0.0.1 (127.0.0.1:{})", sink.port);
    assert!(logged(&format!("{hop}; reason: connected (new)")), "{}", gw.log());
    assert!(logged(&format!("{hop}; reason: connected (cached)")), "the second message reuses it: {}", gw.log());
    assert!(logged("Disconnected [smtp]; connection: D"), "idle connections are closed: {}", gw.log());

    assert!(common::send(gw.port, "a@sender.test", "c@nowhere.test", "nobody home"));
    let refused = format!("matched: 127.0.0.1 (127.0.0.1:{nobody_listens}); reason: failed: ");
    assert!(logged(&refused), "{}", gw.log());
}

#[test]
fn a_gateway_that_cannot_start_records_why() {
    let dir = test_dir();
    let not_a_directory = dir.path().join("queues");
    std::fs::write(&not_a_directory, b"a file where the queue directory should be").unwrap();
    let config = dir.path().join("mxguard.toml");
    let port = common::free_port();
    let root = dir.path().display();
    std::fs::write(
        &config,
        format!(
            "[smtp]\nlisten = [\"127.0.0.1:{port}\"]\n[paths]\nqueue_dir = \"{root}/queues\"\nlog_dir = \"{root}/logs\"\n\
             [admin]\nhttp_listen = \"127.0.0.1:{}\"\nhttps_listen = \"127.0.0.1:{}\"\n",
            common::free_port(),
            common::free_port()
        ),
    )
    .unwrap();
    let mxguard = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mxguard"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let serve = mxguard(&["serve"]);
    assert!(!serve.status.success(), "no queue directory, no gateway");
    let log = String::from_utf8_lossy(&serve.stdout);
    assert!(log.contains("Service start failed [system]; reason: cannot open queue directory"), "{log}");
    let report = mxguard(&["report", "detail", "--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"]);
    let detail = String::from_utf8_lossy(&report.stdout);
    assert!(detail.contains("Service start failed"), "the event is stored: {detail}");
}
