//! A headless Chromium driven through chromedriver over the W3C WebDriver
//! protocol (plain JSON over HTTP), for the browser tests of the
//! administration pages.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The key W3C WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session; chromedriver and the browser end with it.
pub struct Browser {
    driver: Child,
    session: String,
    base: String,
    /// Where downloads land.
    pub downloads: PathBuf,
}

/// An element of the current page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Browser {
    /// Start chromedriver on a free port and a headless Chromium with a
    /// fresh profile under `dir`, saving downloads in `dir/downloads`.
    pub fn start(dir: &Path) -> Browser {
        super::require("chromedriver", "chromium-driver");
        let port = super::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        assert!(super::wait_port(port, Duration::from_secs(30)), "chromedriver listens");
        let downloads = dir.join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let mut browser =
            Browser { driver, session: String::new(), base: format!("http://127.0.0.1:{port}"), downloads };
        let options = json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", format!("--user-data-dir={}", dir.join("profile").display())],
            "prefs": {
                "download.default_directory": browser.downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        });
        let created = browser.call(
            "POST",
            "/session",
            // The servers under test have self-signed certificates.
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "acceptInsecureCerts": true, "goog:chromeOptions": options}}}),
        );
        browser.session = created["sessionId"].as_str().expect("a WebDriver session").to_string();
        // Finding an element waits for it to appear, as after a click.
        browser.session_call("POST", "/timeouts", json!({"implicit": 10_000}));
        browser
    }

    /// One WebDriver command; its `value`. A WebDriver error fails the test.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = match method {
            "GET" => agent.get(&url).call(),
            "DELETE" => agent.delete(&url).call(),
            _ => agent.post(&url).header("Content-Type", "application/json").send(body.to_string()),
        }
        .expect("chromedriver answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("an answer");
        let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
        assert!(status == 200, "WebDriver {method} {path} {body}: {status} {answer}");
        answer["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Load `url` and wait for the page.
    pub fn go(&self, url: &str) {
        self.session_call("POST", "/url", json!({ "url": url }));
    }

    /// The address of the page shown.
    pub fn url(&self) -> String {
        self.session_call("GET", "/url", Value::Null).as_str().unwrap_or_default().to_string()
    }

    /// Wait (a click does not) until the page's address ends with `suffix`.
    pub fn at(&self, suffix: &str) -> bool {
        let arrived = super::wait_for(Duration::from_secs(10), || self.url().ends_with(suffix));
        if !arrived {
            eprintln!("at {} instead of …{suffix}:\n{}", self.url(), self.source());
        }
        arrived
    }

    /// Wait until the page holds `text`.
    pub fn shows(&self, text: &str) -> bool {
        let shown = super::wait_for(Duration::from_secs(10), || self.source().contains(text));
        if !shown {
            eprintln!("{text:?} not on {}:\n{}", self.url(), self.source());
        }
        shown
    }

    /// The current page's HTML as the browser holds it.
    pub fn source(&self) -> String {
        self.session_call("GET", "/source", Value::Null).as_str().unwrap_or_default().to_string()
    }

    /// The element `css` selects; the test fails if there is none.
    pub fn find(&self, css: &str) -> Element<'_> {
        let found = self.session_call("POST", "/element", json!({"using": "css selector", "value": css}));
        let id = found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_string();
        Element { browser: self, id }
    }

    /// How many elements `css` selects.
    pub fn count(&self, css: &str) -> usize {
        let found = self.session_call("POST", "/elements", json!({"using": "css selector", "value": css}));
        found.as_array().map_or(0, Vec::len)
    }

    /// Save a PNG of the page to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let encoded = self.session_call("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Element<'_> {
    fn call(&self, method: &str, what: &str, body: Value) -> Value {
        self.browser.session_call(method, &format!("/element/{}{what}", self.id), body)
    }

    /// Click it, as a user would.
    pub fn click(&self) {
        self.call("POST", "/click", json!({}));
    }

    /// Empty a text field and type `text` into it.
    pub fn replace_text(&self, text: &str) {
        self.call("POST", "/clear", json!({}));
        self.call("POST", "/value", json!({ "text": text }));
    }

    /// Its visible text.
    pub fn text(&self) -> String {
        self.call("GET", "/text", Value::Null).as_str().unwrap_or_default().to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = ureq::delete(&url).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
