//! The browser administration over real HTTP and HTTPS: logon with CSRF,
//! roles, a settings form saved (and refused with the problem next to its
//! field), the config API, security headers, and headless Chromium
//! rendering the pages.

mod common;

use common::{API_TOKEN, Gateway, test_dir, wait_for};
use std::io::Write;
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_mxguard"))
        .args(["passwd", "--config"])
        .arg(&gw.config_path)
        .args(["--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "mxguard passwd --role {role}");
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

#[test]
fn https_and_a_real_browser_render_the_pages() {
    common::require("chromium", "chromium");
    let dir = test_dir();
    let gw = Gateway::start(dir.path(), "", "");
    let https = format!("https://127.0.0.1:{}", gw.admin_https());
    assert!(common::wait_port(gw.admin_https(), Duration::from_secs(30)));
    let (status, _, _, html) = request(&https, "GET", "/login", "", &[]);
    assert!(status == 200 && html.contains("name=\"password\""), "HTTPS serves the logon page");

    let profile = dir.path().join("chromium");
    let output = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://127.0.0.1:{}/login", gw.admin_http()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains("type=\"password\"") && dom.contains("Log on"), "Chromium renders the logon page: {dom}");
}
