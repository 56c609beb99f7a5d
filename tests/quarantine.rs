//! Forwarding infected files to the Central Quarantine (SPEC §6-7), with
//! real parts: the mxguard gateway and `mxguard quarantine serve` talking
//! HTTPS on loopback, smtp-sink downstream. Infected files reach the server
//! with their description; they wait in the gateway's local quarantine
//! through a server outage and a gateway restart and then arrive exactly
//! once; a refused token keeps them and says why.

mod common;
mod corpus;

use common::{API_TOKEN, Gateway, Sink, free_port, submit, test_dir, wait_for, wait_port};
use corpus::{Mail, delivered_anywhere, eicar};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const GATEWAY_TOKEN: &str = "gateway-one-token";
const CQ_API_TOKEN: &str = "cq-admin-token";

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTPS agent that accepts the server's self-signed certificate.
fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder().disable_verification(true).build();
    ureq::Agent::config_builder().tls_config(tls).http_status_as_error(false).build().into()
}

/// `mxguard quarantine serve` with its own configuration file.
struct Cq {
    port: u16,
    root: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

impl Cq {
    /// A server (not started yet) accepting uploads with `gateway_tokens`.
    fn new(root: &Path, gateway_tokens: &[&str]) -> Cq {
        let port = free_port();
        let config = root.join("cq.toml");
        let tokens: Vec<String> = gateway_tokens.iter().map(|t| format!("{t:?}")).collect();
        std::fs::write(
            &config,
            format!(
                "[quarantine_server]\nlisten = \"127.0.0.1:{port}\"\nstorage_dir = \"{}\"\nquota_mb = 500\n\
                 gateway_tokens = [{}]\napi_tokens = [\"{CQ_API_TOKEN}\"]\n",
                root.join("cq-store").display(),
                tokens.join(", ")
            ),
        )
        .unwrap();
        Cq { port, root: root.to_path_buf(), config, child: None }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.root.join("cq.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mxguard"))
            .args(["quarantine", "serve", "--config"])
            .arg(&self.config)
            .current_dir(&self.root)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("mxguard quarantine serve starts");
        self.child = Some(child);
        assert!(wait_port(self.port, Duration::from_secs(30)), "the quarantine server did not listen:\n{}", self.log());
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("cq.log")).unwrap_or_default()
    }

    /// Every item the server lists.
    fn items(&self) -> Vec<Value> {
        let url = format!("https://127.0.0.1:{}/api/v1/items", self.port);
        let Ok(mut response) = agent().get(&url).header("Authorization", format!("Bearer {CQ_API_TOKEN}")).call()
        else {
            return Vec::new();
        };
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default()).unwrap_or_default();
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The items whose subject starts with `prefix`, once there are `n`.
    fn wait_items(&self, prefix: &str, n: usize) -> Vec<Value> {
        let matching = || -> Vec<Value> {
            self.items().into_iter().filter(|i| i["subject"].as_str().is_some_and(|s| s.starts_with(prefix))).collect()
        };
        wait_for(WAIT, || matching().len() >= n);
        matching()
    }
}

impl Drop for Cq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A gateway relaying example.com to `sink`, quarantining with `mode` to
/// the server on `cq_port` with `token`.
fn gateway_config(sink: &Sink, mode: &str, cq_port: u16, token: &str) -> String {
    format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [antivirus]\nheuristic_level = \"off\"\nreplacement_text = \"VIRUS-REMOVED\"\n\
         [antivirus.quarantine]\nmode = \"{mode}\"\nserver = \"127.0.0.1:{cq_port}\"\ntoken = \"{token}\"\n\
         tls_verify = false\n",
        sink.port
    )
}

fn send(gw: &Gateway, mail: &Mail) {
    let reply = submit(gw.port, "ann@sender.test", &["bo@example.com"], &mail.build());
    assert!(reply.starts_with("250"), "{reply}");
}

/// The items waiting in the gateway's local quarantine: description and
/// bytes.
fn local_items(gw: &Gateway) -> Vec<(Value, Vec<u8>)> {
    let dir = gw.root.join("queues").join("quarantine");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.extension().is_some_and(|e| e == "json")).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|json| {
            let meta = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            (meta, std::fs::read(json.with_extension("bin")).unwrap())
        })
        .collect()
}

/// The `quarantined` figure of the gateway's status API.
fn quarantined_count(gw: &Gateway) -> u64 {
    let url = format!("http://127.0.0.1:{}/api/v1/status", gw.admin_http());
    let Ok(mut response) = agent().get(&url).header("Authorization", format!("Bearer {API_TOKEN}")).call() else {
        return 0;
    };
    let body: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default()).unwrap_or_default();
    body["quarantined"].as_u64().unwrap_or(0)
}

#[test]
fn an_infected_attachment_reaches_the_central_quarantine_with_its_description() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let mut cq = Cq::new(dir.path(), &[GATEWAY_TOKEN]);
    cq.start();
    let gw = Gateway::start(dir.path(), "", &gateway_config(&sink, "all", cq.port, GATEWAY_TOKEN));
    send(&gw, &Mail::new("cq-one").attach("eicar.com", &eicar()));
    let delivered = sink.find("Subject: cq-one", WAIT).unwrap_or_else(|| panic!("not delivered:\n{}", gw.log()));
    assert!(!delivered_anywhere(delivered.as_bytes(), &eicar()), "delivered without the infection");

    let items = cq.wait_items("cq-one", 1);
    assert_eq!(items.len(), 1, "one item; gateway log:\n{}\nserver log:\n{}", gw.log(), cq.log());
    let item = &items[0];
    assert_eq!(item["sha256"], sha256(&eicar()));
    assert_eq!(item["size"], eicar().len());
    assert_eq!(item["file_name"], "eicar.com");
    assert_eq!(item["sender"], "ann@sender.test");
    assert!(item["recipients"].to_string().contains("bo@example.com"), "{item}");
    assert!(item["gateway"].to_string().contains("mx.test.example"), "{item}");
    assert!(item["virus"].to_string().contains("Eicar"), "{item}");

    // Text beyond ASCII arrives as it was.
    send(&gw, &Mail::new("cq-two résumé 100%").attach("résumé.com", &eicar()));
    let items = cq.wait_items("cq-two", 1);
    assert_eq!(items.len(), 1, "gateway log:\n{}", gw.log());
    assert_eq!(
        (items[0]["subject"].as_str(), items[0]["file_name"].as_str()),
        (Some("cq-two résumé 100%"), Some("résumé.com"))
    );

    assert!(wait_for(WAIT, || local_items(&gw).is_empty()), "the acknowledged items leave the local quarantine");
    assert!(wait_for(WAIT, || quarantined_count(&gw) == 2), "the Status page counts them");
    assert!(gw.log().contains("File quarantined [blocking]"), "{}", gw.log());
}

#[test]
fn items_wait_through_an_outage_and_a_gateway_restart_and_then_arrive_once() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let mut cq = Cq::new(dir.path(), &[GATEWAY_TOKEN]);
    let mut gw = Gateway::start(dir.path(), "", &gateway_config(&sink, "all", cq.port, GATEWAY_TOKEN));

    // The server is down: mail keeps flowing, items wait with their
    // description, container members included.
    let zip = corpus::zip(&[("readme.txt", b"hello"), ("inner.com", &eicar())]);
    send(&gw, &Mail::new("cq-down 0").attach("eicar.com", &eicar()).attach("files.zip", &zip));
    for i in 1..3 {
        send(&gw, &Mail::new(&format!("cq-down {i}")).attach(&format!("e{i}.com"), &eicar()));
    }
    for i in 0..3 {
        assert!(sink.find(&format!("Subject: cq-down {i}"), WAIT).is_some(), "delivered while the server is down");
    }
    assert!(wait_for(WAIT, || local_items(&gw).len() == 4), "four items wait:\n{}", gw.log());
    let items = local_items(&gw);
    for (meta, bytes) in &items {
        assert_eq!(bytes, &eicar(), "{meta}");
        assert_eq!(meta["sha256"], sha256(&eicar()));
    }
    let member = items.iter().find(|(m, _)| m["file_name"] == "inner.com").expect("the infected member is an item");
    let path = member.0["mime_path"].as_str().unwrap();
    assert!(path.contains(':') && path.ends_with("inner.com"), "the member's MIME path: {path}");
    assert!(
        wait_for(WAIT, || gw.log().contains("Quarantine accumulating [system]")),
        "an alert says items accumulate:\n{}",
        gw.log()
    );

    // The gateway restarts before the server is back: nothing is lost.
    gw.terminate();
    gw.spawn();
    assert_eq!(local_items(&gw).len(), 4);
    cq.start();
    let arrived = cq.wait_items("cq-down", 4);
    let mut names: Vec<String> = arrived.iter().map(|i| format!("{} {}", i["subject"], i["file_name"])).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "\"cq-down 0\" \"eicar.com\"",
            "\"cq-down 0\" \"inner.com\"",
            "\"cq-down 1\" \"e1.com\"",
            "\"cq-down 2\" \"e2.com\""
        ],
        "each item arrives once; gateway log:\n{}",
        gw.log()
    );
    assert!(wait_for(WAIT, || local_items(&gw).is_empty()), "the local quarantine empties");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(cq.wait_items("cq-down", 4).len(), 4, "nothing is sent twice");
}

#[test]
fn a_refused_token_keeps_the_items_and_says_why() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let mut cq = Cq::new(dir.path(), &[GATEWAY_TOKEN]);
    cq.start();
    let gw = Gateway::start(dir.path(), "", &gateway_config(&sink, "unrepaired", cq.port, "not-the-token"));
    // Under "unrepaired" the zip member (repaired) stays out; the
    // top-level attachment (unrepairable, deleted) is quarantined.
    let zip = corpus::zip(&[("inner.com", &eicar())]);
    send(&gw, &Mail::new("cq-token").attach("eicar.com", &eicar()).attach("files.zip", &zip));
    assert!(sink.find("Subject: cq-token", WAIT).is_some(), "delivered although the token is refused");
    assert!(
        wait_for(WAIT, || gw.log().contains("refused the gateway token")),
        "the log says why items wait:\n{}",
        gw.log()
    );
    let waiting = local_items(&gw);
    assert_eq!(waiting.len(), 1, "only the unrepaired file");
    assert_eq!(
        (waiting[0].0["file_name"].as_str(), waiting[0].0["scan_result"].as_str()),
        (Some("eicar.com"), Some("unrepairable"))
    );
    assert!(cq.items().is_empty());

    // With the right token the waiting item follows at once.
    gw.reconfigure("", &gateway_config(&sink, "unrepaired", cq.port, GATEWAY_TOKEN));
    let items = cq.wait_items("cq-token", 1);
    assert_eq!(items.len(), 1, "{}", gw.log());
    assert_eq!(items[0]["file_name"], "eicar.com");
    assert!(wait_for(WAIT, || local_items(&gw).is_empty()));
}
