//! The browser administration over real HTTP and HTTPS: logon with CSRF,
//! roles, a settings form saved (and refused with the problem next to its
//! field), the config and queue APIs, live port changes, an installed
//! certificate, security headers, and headless Chromium driven through
//! WebDriver the way an administrator uses the pages.

mod common;

use common::webdriver::Browser;
use common::{API_TOKEN, Gateway, Sink, send, test_dir, wait_for};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const ADMIN_PASSWORD: &str = "Adm1n-Secret!";
const REPORT_PASSWORD: &str = "Rep0rt-Secret!";

fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder().disable_verification(true).build();
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).tls_config(tls).build().into()
}

/// (status, Location, Set-Cookie session ID, body).
fn request(base: &str, method: &str, path: &str, cookie: &str, form: &[(&str, &str)]) -> (u16, String, String, String) {
    let url = format!("{base}{path}");
    let agent = agent();
    let mut response = match method {
        "GET" => agent.get(&url).header("Cookie", cookie).call(),
        _ => agent.post(&url).header("Cookie", cookie).send_form(form.iter().copied()),
    }
    .expect("the admin server answers");
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let location = header("location");
    let session = header("set-cookie").split(';').next().unwrap_or("").to_string();
    (response.status().as_u16(), location, session, response.body_mut().read_to_string().unwrap_or_default())
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

fn passwd(gw: &Gateway, role: &str, password: &str) {
    common::passwd(&gw.config_path, role, password);
}

/// Log on as `role`; the session cookie.
fn log_on(base: &str, role: &str, password: &str) -> String {
    let (_, _, anonymous, html) = request(base, "GET", "/login", "", &[]);
    let (status, location, session, _) =
        request(base, "POST", "/login", &anonymous, &[("role", role), ("password", password), ("csrf", &csrf(&html))]);
    assert_eq!((status, location.as_str()), (303, "/status"), "{role} logs on");
    assert_ne!(session, anonymous, "logging on gives a new session ID");
    session
}

#[test]
fn logon_roles_settings_forms_and_the_config_api() {
    let dir = test_dir();
    // The test configuration enables the Report-only administrator.
    let gw = Gateway::start(dir.path(), "", "");
    let base = format!("http://127.0.0.1:{}", gw.admin_http());
    assert!(common::wait_port(gw.admin_http(), Duration::from_secs(30)));
    passwd(&gw, "admin", ADMIN_PASSWORD);

    let (status, location, _, _) = request(&base, "GET", "/config/setup", "", &[]);
    assert_eq!((status, location.as_str()), (303, "/login"), "no session, no page");
    let (status, _, anonymous, html) = request(&base, "GET", "/login", "", &[]);
    assert_eq!(status, 200);
    let (status, _, _, _) = request(
        &base,
        "POST",
        "/login",
        &anonymous,
        &[("role", "admin"), ("password", ADMIN_PASSWORD), ("csrf", "forged")],
    );
    assert_eq!(status, 403, "a logon without the page's CSRF token is refused");
    let (status, _, _, page) = request(
        &base,
        "POST",
        "/login",
        &anonymous,
        &[("role", "admin"), ("password", "wrong"), ("csrf", &csrf(&html))],
    );
    assert!(status == 200 && page.contains("not correct"), "a wrong password shows the form again: {page}");
    assert!(
        wait_for(Duration::from_secs(10), || gw
            .log()
            .contains("Logon [system]; client: 127.0.0.1; matched: admin; reason: failure")),
        "{}",
        gw.log()
    );

    let admin = log_on(&base, "admin", ADMIN_PASSWORD);
    let (status, _, _, page) = request(&base, "GET", "/config/logging", &admin, &[]);
    assert!(status == 200 && page.contains("name=\"logging.retain\""), "{page}");
    let token = csrf(&page);
    let (status, _, _, page) = request(
        &base,
        "POST",
        "/config/logging",
        &admin,
        &[
            ("csrf", &token),
            ("logging.local_enabled", "on"),
            ("logging.retain", "2w"),
            ("logging.syslog", "carrier-pigeon://x"),
        ],
    );
    assert_eq!(status, 422, "refused");
    assert!(
        page.contains("class=\"field-error\"") && page.contains("carrier-pigeon"),
        "the problem stands by its field: {page}"
    );
    assert!(!std::fs::read_to_string(&gw.config_path).unwrap().contains("2w"), "nothing saved");
    let (status, location, _, _) = request(
        &base,
        "POST",
        "/config/logging",
        &admin,
        &[("csrf", &token), ("logging.local_enabled", "on"), ("logging.retain", "2w"), ("logging.syslog", "")],
    );
    assert_eq!((status, location.as_str()), (303, "/config/logging?saved"));
    assert!(std::fs::read_to_string(&gw.config_path).unwrap().contains("retain = \"2w\""), "saved to the file");
    assert!(
        wait_for(Duration::from_secs(10), || gw
            .log()
            .contains("Object modified [system]; client: 127.0.0.1; matched: admin; file: configuration: logging")),
        "{}",
        gw.log()
    );

    passwd(&gw, "report", REPORT_PASSWORD);
    let report = log_on(&base, "report", REPORT_PASSWORD);
    assert_eq!(request(&base, "GET", "/reports/detail", &report, &[]).0, 200);
    assert_eq!(request(&base, "GET", "/config/logging", &report, &[]).0, 403);
    assert!(wait_for(Duration::from_secs(10), || gw.log().contains("Unauthorized attempt")), "{}", gw.log());

    let put = |body: &str| {
        let mut r = agent()
            .put(format!("{base}/api/v1/config/delivery"))
            .header("Authorization", format!("Bearer {API_TOKEN}"))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, body) = put("{\"max_outgoing_connections\": 0}");
    assert!(status == 422 && body.contains("delivery.max_outgoing_connections"), "{status} {body}");

    let response = agent().get(format!("{base}/login")).call().unwrap();
    let headers = response.headers();
    assert!(headers.get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");

    let (status, location, _, _) = request(&base, "GET", "/logout", &admin, &[]);
    assert_eq!((status, location.as_str()), (303, "/login"));
    assert_eq!(request(&base, "GET", "/status", &admin, &[]).1, "/login", "the session is over");
}

/// `.bin` attachments go to a clamd nobody runs: a scan error, so the
/// message is held; other mail is delivered.
const HOLD_RULE: &str = "[blocking]\nunprocessable = \"hold\"\n[antivirus]\nscan_policy = \"include\"\ninclude = [\".bin\"]\n\
                         [[antivirus.scanners]]\nkind = \"clamd\"\naddress = \"127.0.0.1:1\"\ntimeout_seconds = 5\n";

/// Send a message with a `.bin` attachment, which [`HOLD_RULE`] holds.
fn send_held(gw: &Gateway, subject: &str) {
    let mail = format!(
        "From: <ann@sender.test>\r\nTo: <bo@example.com>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\n\r\n\
         data\r\n--b--\r\n"
    );
    let reply = common::submit(gw.port, "ann@sender.test", &["bo@example.com"], mail.as_bytes());
    assert!(reply.starts_with("250"), "{reply}");
    assert!(wait_for(Duration::from_secs(30), || gw.queue_len("hold") == 1), "held: {}", gw.log());
}

fn routes(sink: &Sink) -> String {
    format!("[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n", sink.port)
}

/// A JSON API call with the test's bearer token: (status, body).
fn api(base: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let url = format!("{base}{path}");
    let agent = agent();
    let bearer = format!("Bearer {API_TOKEN}");
    let mut response = match method {
        "GET" => agent.get(&url).header("Authorization", &bearer).call(),
        "PATCH" => {
            agent.patch(&url).header("Authorization", &bearer).header("Content-Type", "application/json").send(body)
        }
        _ => agent.post(&url).header("Authorization", &bearer).header("Content-Type", "application/json").send(body),
    }
    .expect("the admin server answers");
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[test]
fn the_api_lists_and_acts_on_held_mail_and_admin_ports_move_live() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let gw = Gateway::start(dir.path(), "", &format!("{HOLD_RULE}{}", routes(&sink)));
    let base = format!("http://127.0.0.1:{}", gw.admin_http());
    assert!(common::wait_port(gw.admin_http(), Duration::from_secs(30)));
    send_held(&gw, "hold me please");

    let (status, depths) = api(&base, "GET", "/api/v1/queues", "");
    assert_eq!((status, depths["hold"].as_u64()), (200, Some(1)), "{depths}");
    let (_, held) = api(&base, "GET", "/api/v1/queues/hold", "");
    let message = &held["messages"][0];
    assert_eq!(message["sender"], "ann@sender.test", "{held}");
    assert_eq!(message["recipients"][0], "bo@example.com");
    let id = message["id"].as_str().expect("an ID").to_string();

    let (status, answer) = api(&base, "POST", &format!("/api/v1/queues/hold/{id}/forward"), r#"{"to": "nobody"}"#);
    assert!(status == 422 && answer["error"].as_str().unwrap().contains("not an e-mail address"), "{answer}");
    let (status, _) = api(&base, "POST", &format!("/api/v1/queues/hold/{id}/shred"), "");
    assert_eq!(status, 404, "an unknown action");
    let (status, answer) =
        api(&base, "POST", &format!("/api/v1/queues/hold/{id}/forward"), r#"{"to": "root@example.com"}"#);
    assert_eq!(status, 200, "{answer}");
    let copy = sink.find("Subject: Copy of a message in the mxguard hold queue", Duration::from_secs(30));
    assert!(copy.is_some_and(|c| c.contains("hold me please")), "the copy arrives with the held message");
    let (status, answer) = api(&base, "POST", "/api/v1/queues/hold/NOSUCHID/drop", "");
    assert!(status == 422 && answer["error"].as_str().unwrap().contains("NOSUCHID"), "{answer}");
    let (status, answer) = api(&base, "POST", &format!("/api/v1/queues/hold/{id}/drop"), "");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(gw.queue_len("hold"), 0);

    // The Report-only administrator may read the status, not act.
    passwd(&gw, "report", REPORT_PASSWORD);
    let report = log_on(&base, "report", REPORT_PASSWORD);
    let (status, _, _, _) = request(&base, "GET", "/api/v1/queues/hold", &report, &[]);
    assert_eq!(status, 403);

    // Moving the HTTP listener: the new port serves, the old one closes.
    let moved = common::free_port();
    let (status, answer) =
        api(&base, "PATCH", "/api/v1/config/admin", &format!(r#"{{"http_listen": "127.0.0.1:{moved}"}}"#));
    assert_eq!(status, 200, "{answer}");
    assert!(common::wait_port(moved, Duration::from_secs(10)), "the new port serves: {}", gw.log());
    let (status, _, _, _) = request(&format!("http://127.0.0.1:{moved}"), "GET", "/login", "", &[]);
    assert_eq!(status, 200);
    assert!(
        wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", gw.admin_http())).is_err()),
        "the old port is closed"
    );
    let https = format!("https://127.0.0.1:{}", gw.admin_https());
    let busy = format!(r#"{{"https_listen": "127.0.0.1:{}"}}"#, gw.port);
    assert!(common::wait_port(gw.admin_https(), Duration::from_secs(10)), "{}", gw.log());
    let (status, answer) = api(&https, "PATCH", "/api/v1/config/admin", &busy);
    assert!(status == 422 && answer.to_string().contains("admin.https_listen"), "SMTP's port is refused: {answer}");
}

#[test]
fn an_installed_certificate_is_the_one_served() {
    common::require("openssl", "openssl");
    let dir = test_dir();
    let gw = Gateway::start(dir.path(), "", "");
    let base = format!("http://127.0.0.1:{}", gw.admin_http());
    assert!(common::wait_port(gw.admin_https(), Duration::from_secs(30)));
    passwd(&gw, "admin", ADMIN_PASSWORD);
    let admin = log_on(&base, "admin", ADMIN_PASSWORD);
    let (_, _, _, page) = request(&base, "GET", "/certs", &admin, &[]);
    assert!(page.contains("self-signed"), "a self-signed certificate serves at first: {page}");
    let fields = [
        ("csrf", csrf(&page)),
        ("action", "request".into()),
        ("common_name", "admin.test.example".into()),
        ("organization", "Test".into()),
        ("organizational_unit", "Mail".into()),
        ("locality", "Town".into()),
        ("state", "State".into()),
        ("country", "NL".into()),
        ("email", "admin@test.example".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _, page) = request(&base, "POST", "/certs", &admin, &fields);
    let begin = page.find("-----BEGIN CERTIFICATE REQUEST-----").expect("the request is shown");
    let end = page.find("-----END CERTIFICATE REQUEST-----").unwrap() + "-----END CERTIFICATE REQUEST-----".len();
    assert_eq!(status, 200);
    std::fs::write(dir.path().join("req.pem"), &page[begin..end]).unwrap();

    // A test CA signs it, as the organisation's CA would.
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"]
            .into_iter()
            .chain(["-days", "2", "-subj", "/CN=mxguard test CA"])
            .collect::<Vec<_>>(),
    );
    std::fs::write(dir.path().join("v3.ext"), "subjectAltName = DNS:admin.test.example\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "req.pem",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        "v3.ext",
        "-out",
        "cert.pem",
    ]);
    let signed = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap();
    let (_, _, _, page) = request(&base, "GET", "/certs", &admin, &[]);
    let install = [("csrf", csrf(&page)), ("action", "install".into()), ("certificate", signed.clone())];
    let install: Vec<(&str, &str)> = install.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _, page) = request(&base, "POST", "/certs", &admin, &install);
    assert!(status == 200 && page.contains("Certificate installed"), "{page}");

    // The certificate served on HTTPS is now the installed one.
    let fingerprint = |pem: &str| {
        let mut child = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(pem.as_bytes()).unwrap();
        String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).trim().to_string()
    };
    let served = || {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", gw.admin_https())])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        fingerprint(&String::from_utf8_lossy(&out.stdout))
    };
    let wanted = fingerprint(&signed);
    assert!(wanted.contains("Fingerprint"), "{wanted}");
    assert!(wait_for(Duration::from_secs(10), || served() == wanted), "served {} not {wanted}", served());
}

#[test]
fn a_browser_administers_the_gateway() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let gw = Gateway::start(dir.path(), "", &format!("{HOLD_RULE}{}", routes(&sink)));
    let base = format!("http://127.0.0.1:{}", gw.admin_http());
    assert!(common::wait_port(gw.admin_http(), Duration::from_secs(30)));
    passwd(&gw, "admin", ADMIN_PASSWORD);
    passwd(&gw, "report", REPORT_PASSWORD);
    send_held(&gw, "hold me for the browser");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    let browser = Browser::start(dir.path());

    // Logging on.
    browser.go(&format!("{base}/status"));
    assert!(browser.at("/login"), "no session: the logon page");
    browser.find("#password").replace_text("wrong");
    browser.find("button[type=submit]").click();
    assert!(browser.find("[role=alert]").text().contains("not correct"), "{}", browser.source());
    browser.find("#password").replace_text(ADMIN_PASSWORD);
    browser.find("button[type=submit]").click();
    assert!(browser.at("/status"), "logged on");
    let status = browser.source();
    for label in ["Accepted", "Delivered", "Held", "Quarantined", "Hold queue"] {
        assert!(status.contains(label), "the Status page shows {label}: {status}");
    }
    assert_eq!(browser.count("svg.chart"), 1, "the hourly chart");
    browser.screenshot(&shots.join("status.png"));

    // A bad value is refused next to its field, a good one saved.
    browser.go(&format!("{base}/config/logging"));
    browser.find("[name='logging.syslog']").replace_text("carrier-pigeon://x");
    browser.find("form button[type=submit]").click();
    let error = browser.find(".field-error").text();
    assert!(error.contains("carrier-pigeon"), "the problem stands by its field: {error}");
    browser.find("[name='logging.syslog']").replace_text("");
    browser.find("[name='logging.retain'] option[value='2w']").click();
    browser.find("form button[type=submit]").click();
    assert!(browser.at("?saved"), "saved");
    assert!(std::fs::read_to_string(&gw.config_path).unwrap().contains("retain = \"2w\""));

    // Pausing delivery on the Setup page stops delivery, at once.
    browser.go(&format!("{base}/config/setup"));
    browser.find("[name='delivery.pause']").click();
    browser.find("form button[type=submit]").click();
    assert!(browser.at("?saved"), "saved");
    assert!(send(gw.port, "ann@sender.test", "bo@example.com", "while paused"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(sink.find("Subject: while paused", Duration::ZERO).is_none(), "nothing is delivered while paused");
    browser.go(&format!("{base}/config/setup"));
    browser.find("[name='delivery.pause']").click();
    browser.find("form button[type=submit]").click();
    assert!(sink.find("Subject: while paused", Duration::from_secs(30)).is_some(), "delivered once resumed");

    // The hold queue: forward a copy of the ticked message, then drop it.
    browser.go(&format!("{base}/config/hold"));
    assert_eq!(browser.count("input[name=id]"), 1, "{}", browser.source());
    browser.find("input[name=id]").click();
    browser.find("#forward_to").replace_text("root@example.com");
    browser.find("button[value=forward]").click();
    let copy = sink.find("Subject: Copy of a message in the mxguard hold queue", Duration::from_secs(30));
    assert!(copy.is_some_and(|c| c.contains("hold me for the browser")));
    browser.find("input[name=id]").click();
    browser.find("button[value=drop]").click();
    assert!(browser.shows("The hold queue is empty"));
    assert_eq!(gw.queue_len("hold"), 0);

    // Reports: the summary, and the detail written to CSV and downloaded.
    browser.go(&format!("{base}/reports/summary"));
    browser.screenshot(&shots.join("summary.png"));
    browser.go(&format!("{base}/reports/detail"));
    browser.find("button[name=csv]").click();
    let mut csv = String::new();
    let downloaded = wait_for(Duration::from_secs(20), || {
        let files = std::fs::read_dir(&browser.downloads).unwrap().flatten();
        let done = files.map(|f| f.path()).find(|p| p.extension().is_some_and(|e| e == "csv"));
        csv = done.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        csv.contains("hold me for the browser")
    });
    assert!(downloaded, "the CSV download holds the events: {csv:?}");

    // A list of tables: a second scanner added on the Antivirus page.
    browser.go(&format!("{base}/antivirus"));
    browser.find("[name='antivirus.scanners.1.kind'] option[value='clamd']").click();
    browser.find("[name='antivirus.scanners.1.address']").replace_text("127.0.0.1:3310");
    browser.find("[name='antivirus.scanners.1.use']").click();
    browser.find("form button[type=submit]").click();
    assert!(browser.at("?saved"), "saved");
    let saved = std::fs::read_to_string(&gw.config_path).unwrap();
    assert_eq!(saved.matches("[[antivirus.scanners]]").count(), 2, "{saved}");
    assert!(saved.contains("address = \"127.0.0.1:3310\""), "{saved}");

    // Log off; then the Report-only administrator, restricted.
    browser.find("a[href='/logout']").click();
    assert!(browser.at("/login"), "logged off");
    browser.go(&format!("{base}/status"));
    assert!(browser.at("/login"), "no session any more");
    browser.find("input[name=role][value=report]").click();
    browser.find("#password").replace_text(REPORT_PASSWORD);
    browser.find("button[type=submit]").click();
    assert!(browser.at("/status"), "logged on");
    assert!(!browser.source().contains("href=\"/config/setup\""), "settings are not offered");
    browser.go(&format!("{base}/config/setup"));
    assert!(browser.source().contains("Not allowed"), "{}", browser.source());
    browser.go(&format!("{base}/reports/detail"));
    assert!(browser.source().contains("Generate Report"));

    // An idle session ends after admin.timeout_minutes.
    let (status, answer) = api(&base, "PATCH", "/api/v1/config/admin", r#"{"timeout_minutes": 1}"#);
    assert_eq!(status, 200, "{answer}");
    std::thread::sleep(Duration::from_secs(62));
    browser.go(&format!("{base}/status"));
    assert!(browser.at("/login"), "the idle session timed out");
}
