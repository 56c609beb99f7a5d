//! The Central Quarantine's browser pages over real HTTPS: the logon of
//! the gateway's kind (password set with `mxguard passwd` on the server's
//! configuration, CSRF, a Secure HttpOnly SameSite=Strict session cookie),
//! the item list with its columns, filters, sorting and paging, the item
//! page with its history and actions, the JSON API used with the session,
//! and headless Chromium driven through WebDriver as an administrator
//! would.

mod common;

use common::quarantine::{API_TOKEN, CentralQuarantine, Sample, agent};
use common::test_dir;
use common::webdriver::Browser;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const PASSWORD: &str = "Quarant1ne-Secret!";
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

const INVOICE: Sample = Sample {
    file: "invoice.com",
    virus: "Eicar-Test-Signature",
    gateway: "gw1.test",
    sender: "ann@sender.test",
    recipients: "bo@example.com,cy@example.com",
    subject: "Invoice %C3%A9t%C3%A9",
};
const REPORT: Sample = Sample {
    file: "report.doc",
    virus: "W97M.Test",
    gateway: "gw2.test",
    sender: "dan@other.test",
    recipients: "ed@example.com",
    subject: "Quarterly report",
};

/// One answer: status, header lookup, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or("", |(_, v)| v.as_str())
    }

    /// The `name=value` part of the Set-Cookie header.
    fn cookie(&self) -> String {
        self.header("set-cookie").split(';').next().unwrap_or("").to_string()
    }
}

/// A request to `server` with `cookie`; a form body when `form` is given.
fn request(
    server: &CentralQuarantine,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<&[(&str, &str)]>,
) -> Answer {
    let agent = agent();
    let url = server.url(path);
    let mut response = match (method, form) {
        ("GET", _) => agent.get(&url).header("Cookie", cookie).call(),
        (_, Some(form)) => agent.post(&url).header("Cookie", cookie).send_form(form.iter().copied()),
        (_, None) => agent.post(&url).header("Cookie", cookie).send_empty(),
    }
    .expect("the server answers");
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    Answer { status, headers, body: response.body_mut().read_to_string().unwrap_or_default() }
}

fn get(server: &CentralQuarantine, path: &str, cookie: &str) -> Answer {
    request(server, "GET", path, cookie, None)
}

/// The CSRF token a page's forms carry.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

/// Log on; the session cookie.
fn log_on(server: &CentralQuarantine) -> String {
    let form = get(server, "/login", "");
    let anonymous = form.cookie();
    let token = csrf(&form.body);
    let answer = request(
        server,
        "POST",
        "/login",
        &anonymous,
        Some(&[("role", "admin"), ("password", PASSWORD), ("csrf", &token)]),
    );
    assert_eq!((answer.status, answer.header("location")), (303, "/items"), "{}", answer.body);
    assert_ne!(answer.cookie(), anonymous, "logging on gives a new session ID");
    answer.cookie()
}

/// A JSON API call with a session cookie and, if given, its CSRF token.
fn api(server: &CentralQuarantine, method: &str, path: &str, cookie: &str, token: Option<&str>) -> (u16, Value) {
    let agent = agent();
    let url = server.url(path);
    let mut response = match (method, token) {
        ("GET", _) => agent.get(&url).header("Cookie", cookie).call(),
        (_, Some(t)) => agent.post(&url).header("Cookie", cookie).header("X-CSRF-Token", t).send_empty(),
        (_, None) => agent.post(&url).header("Cookie", cookie).send_empty(),
    }
    .expect("the server answers");
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Where `needle` is on the page (it must be there).
fn position(html: &str, needle: &str) -> usize {
    html.find(needle).unwrap_or_else(|| panic!("{needle:?} not on the page:\n{html}"))
}

#[test]
fn an_administrator_logs_on_and_works_through_the_list_and_an_item() {
    let dir = test_dir();
    let keys = dir.path().join("keys");
    let keygen = Command::new(env!("CARGO_BIN_EXE_mxguard")).args(["defs", "keygen"]).arg(&keys).output().unwrap();
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    // Submission is on (its relay is never used here), and signatures can be made.
    let extra = format!(
        "analyst_address = \"analyst@av.test\"\nrelay = \"127.0.0.1:9\"\nsigning_key = \"{}\"",
        keys.join("defs.key").display()
    );
    let server = CentralQuarantine::start(dir.path(), &extra);
    server.passwd("admin", PASSWORD);
    assert!(dir.path().join("cq.accounts.json").exists(), "the accounts sit beside cq.toml");
    let invoice = server.upload(EICAR, &INVOICE);
    let report = server.upload(b"a macro virus in a report", &REPORT);

    // Without a session every page leads to the logon page.
    for path in ["/items", &format!("/items/{invoice}"), "/"] {
        let answer = get(&server, path, "");
        assert_eq!(answer.status, 303, "{path}");
        assert!(answer.header("location").ends_with(if path == "/" { "/items" } else { "/login" }), "{path}");
    }
    let (status, _) = api(&server, "GET", "/api/v1/items", "", None);
    assert_eq!(status, 401, "no token, no session: no API");

    // The logon page: its own cookie, kept from scripts and other sites,
    // HTTPS only, and the security headers of the gateway's pages.
    let form = get(&server, "/login", "");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Central Quarantine") && form.body.contains("name=\"password\""), "{}", form.body);
    let set_cookie = form.header("set-cookie");
    assert!(set_cookie.starts_with("mxguard_quarantine_session="), "{set_cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(set_cookie.contains(flag), "{flag} in {set_cookie}");
    }
    assert_eq!(form.header("x-frame-options"), "DENY");
    assert!(form.header("content-security-policy").contains("frame-ancestors 'none'"));
    let anonymous = form.cookie();
    let forged = request(
        &server,
        "POST",
        "/login",
        &anonymous,
        Some(&[("role", "admin"), ("password", PASSWORD), ("csrf", "forged")]),
    );
    assert_eq!(forged.status, 403, "a logon without the page's CSRF token is refused");
    let token = csrf(&form.body);
    let wrong = request(
        &server,
        "POST",
        "/login",
        &anonymous,
        Some(&[("role", "admin"), ("password", "not-the-password"), ("csrf", &token)]),
    );
    assert!(wrong.status == 200 && wrong.body.contains("not correct"), "{}", wrong.body);
    let session = log_on(&server);

    // The list: every column, both items, the figures above.
    let list = get(&server, "/items", &session);
    assert_eq!(list.status, 200, "{}", list.body);
    for column in [
        "File Name",
        "Virus",
        "Status",
        "Gateway",
        "Sender",
        "Recipients",
        "Subject",
        "Received",
        "Definitions Needed",
        "Errors",
    ] {
        assert!(list.body.contains(&format!(">{column}</a>")), "column {column}");
    }
    for value in [
        "invoice.com",
        "Eicar-Test-Signature",
        "Quarantined",
        "gw1.test",
        "ann@sender.test",
        "bo@example.com, cy@example.com",
        "Invoice été",
        "report.doc",
        "W97M.Test",
    ] {
        assert!(list.body.contains(value), "{value} in the list:\n{}", list.body);
    }
    assert!(list.body.contains("<strong>2</strong> items"), "the figures: {}", list.body);
    assert!(list.body.contains(&format!("href=\"/items/{invoice}\"")));

    // Filters, sorting and paging.
    let only = |query: &str| get(&server, &format!("/items{query}"), &session).body;
    let by_virus = only("?virus=w97m&status=");
    assert!(by_virus.contains("report.doc") && !by_virus.contains("invoice.com"), "{by_virus}");
    let by_sender = only("?sender=ann%40&gateway=gw1&from=2000-01-01");
    assert!(by_sender.contains("invoice.com") && !by_sender.contains("report.doc"), "{by_sender}");
    assert!(only("?status=held").contains("No items match"));
    assert!(only("?from=2000-01-01&to=2000-01-02").contains("No items match"));
    let ascending = only("?sort=file_name&order=asc");
    assert!(position(&ascending, ">invoice.com<") < position(&ascending, ">report.doc<"));
    assert!(ascending.contains("order=desc"), "the sorted column turns round");
    let descending = only("?sort=file_name&order=desc");
    assert!(position(&descending, ">report.doc<") < position(&descending, ">invoice.com<"));
    let first = only("?per_page=1&sort=id&order=asc");
    assert!(first.contains("Page 1 of 2") && first.contains(">invoice.com<") && !first.contains(">report.doc<"));
    assert!(first.contains("page=2"), "a link to the next page: {first}");
    let second = only("?per_page=1&sort=id&order=asc&page=2");
    assert!(second.contains(">report.doc<") && second.contains("Previous"), "{second}");
    let bad = get(&server, "/items?page=0", &session);
    assert!(bad.status == 400 && bad.body.contains("page"), "a bad parameter is named: {}", bad.body);

    // The item page: attributes, history and the actions.
    let page = get(&server, &format!("/items/{invoice}"), &session);
    assert_eq!(page.status, 200);
    for value in [
        "received from gw1.test",
        "gateway gw1.test",
        "<m1@sender.test>",
        "Restore",
        "Rescan",
        "Submit to analyst@av.test",
        "Set status",
        "Create signature",
    ] {
        let shown = value.replace('<', "&#60;").replace('>', "&#62;");
        assert!(page.body.contains(&shown), "{value} on the item page:\n{}", page.body);
    }
    let token = csrf(&page.body);

    // Rescan (no definitions here: new ones are needed) and a status set
    // by hand, both in the history under the administrator's name.
    let rescanned = request(&server, "POST", &format!("/items/{invoice}/rescan"), &session, Some(&[("csrf", &token)]));
    assert_eq!((rescanned.status, rescanned.header("location")), (303, &*format!("/items/{invoice}?done=rescanned")));
    let page = get(&server, rescanned.header("location"), &session).body;
    assert!(page.contains("Rescanned with the server") && page.contains("Needed"), "{page}");
    let held = request(
        &server,
        "POST",
        &format!("/items/{invoice}/status"),
        &session,
        Some(&[("csrf", &token), ("status", "held"), ("note", "waiting for the analyst")]),
    );
    assert_eq!(held.status, 303);
    let (_, details) = api(&server, "GET", &format!("/api/v1/items/{invoice}"), &session, None);
    assert_eq!(details["status"], "held", "{details}");
    let last = details["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["actor"].as_str(), last["note"].as_str()), (Some("admin"), Some("waiting for the analyst")));
    assert!(only("?status=held").contains("invoice.com"));

    // Create signature: a bad name is refused on the page, a good one
    // published, and the item's bytes are then detected.
    let signature = format!("/items/{invoice}/signature");
    let refused = request(&server, "POST", &signature, &session, Some(&[("csrf", &token), ("name", "no spaces")]));
    assert!(refused.status == 400 && refused.body.contains("not a signature name"), "{}", refused.body);
    let created = request(&server, "POST", &signature, &session, Some(&[("csrf", &token), ("name", "Test.Invoice-1")]));
    assert_eq!((created.status, created.header("location")), (303, &*format!("/items/{invoice}?done=signature")));
    let page = get(&server, created.header("location"), &session).body;
    assert!(page.contains("Signature created") && page.contains("Available"), "{page}");

    // Restore from the page: the zip.
    let restored = request(&server, "POST", &format!("/items/{invoice}/restore"), &session, Some(&[("csrf", &token)]));
    assert_eq!((restored.status, restored.header("content-type")), (200, "application/zip"));

    // Delete: a confirmation first, and never without the CSRF token.
    let confirm = get(&server, &format!("/items/{report}?confirm=delete"), &session).body;
    assert!(confirm.contains(&format!("action=\"/items/{report}/delete\"")), "{confirm}");
    let forged = request(&server, "POST", &format!("/items/{report}/delete"), &session, Some(&[("csrf", "forged")]));
    assert_eq!(forged.status, 403);
    assert_eq!(api(&server, "GET", &format!("/api/v1/items/{report}"), &session, None).0, 200, "still there");
    let deleted = request(&server, "POST", &format!("/items/{report}/delete"), &session, Some(&[("csrf", &token)]));
    assert_eq!((deleted.status, deleted.header("location")), (303, &*format!("/items?deleted={report}")));
    assert!(get(&server, deleted.header("location"), &session).body.contains(&format!("Item {report} deleted.")));
    assert_eq!(api(&server, "GET", &format!("/api/v1/items/{report}"), &session, None).0, 404);

    // The JSON API with the session: reads freely, changes with the token.
    let (status, listed) = api(&server, "GET", "/api/v1/items", &session, None);
    assert_eq!((status, listed["items"].as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    let rescan = format!("/api/v1/items/{invoice}/rescan");
    assert_eq!(api(&server, "POST", &rescan, &session, None).0, 403, "a change without X-CSRF-Token");
    let (status, item) = api(&server, "POST", &rescan, &session, Some(&token));
    assert_eq!(status, 200, "{item}");
    let (_, details) = api(&server, "GET", &format!("/api/v1/items/{invoice}"), &session, None);
    assert_eq!(details["history"].as_array().unwrap().last().unwrap()["actor"], "admin");
    // The API token still works, and is recorded as such.
    let mut response =
        agent().post(server.url(&rescan)).header("Authorization", format!("Bearer {API_TOKEN}")).send_empty().unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", response.body_mut().read_to_string().unwrap_or_default());

    // Logging off ends the session.
    assert_eq!(get(&server, "/logout", &session).status, 303);
    let after = get(&server, "/items", &session);
    assert_eq!((after.status, after.header("location")), (303, "/login"));
    assert_eq!(api(&server, "GET", "/api/v1/items", &session, None).0, 401);
}

#[test]
fn a_browser_logs_on_and_rescans_an_item() {
    let dir = test_dir();
    let server = CentralQuarantine::start(dir.path(), "");
    server.passwd("admin", PASSWORD);
    let id = server.upload(EICAR, &INVOICE);
    server.upload(b"a macro virus in a report", &REPORT);
    let browser = Browser::start(dir.path());

    browser.go(&server.url("/items"));
    assert!(browser.at("/login"), "no session: the logon page");
    browser.find("#password").replace_text(PASSWORD);
    browser.find("button[type=submit]").click();
    assert!(browser.at("/items"), "logged on");
    assert!(browser.shows("invoice.com") && browser.shows("Invoice été"));
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    browser.screenshot(&shots.join("quarantine-list.png"));

    browser.find(&format!("a[href='/items/{id}']")).click();
    assert!(browser.at(&format!("/items/{id}")));
    assert!(browser.shows("received from gw1.test"));
    assert_eq!(browser.count("button[value=submit]"), 0, "no analyst_address, no Submit");
    browser.find("button[value=rescan]").click();
    assert!(browser.at("?done=rescanned"));
    assert!(browser.shows("Rescanned with the server"));
    let history = browser.find("table.history").text();
    assert!(history.contains("admin") && history.contains("Needed"), "{history}");
    browser.screenshot(&shots.join("quarantine-item.png"));
}
