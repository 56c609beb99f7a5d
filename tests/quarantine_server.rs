//! The Central Quarantine server as gateways and administrators meet it:
//! the real `mxguard quarantine serve` on a loopback port over HTTPS,
//! uploads checked for size and checksum, identical samples stored once,
//! retried uploads made idempotent, restore opened by the real `unzip`,
//! rescans with a definitions directory, submission delivered to Postfix's
//! smtp-sink, the quota, and configured certificates; signatures made from
//! items and published to a real gateway's LiveUpdate, and alerts mailed.

mod common;
mod corpus;

use common::quarantine::{API_TOKEN, CentralQuarantine, GATEWAY_TOKEN, agent};
use common::{Gateway, Sink, free_port, require, submit, test_dir, wait_for};
use corpus::{Mail, delivered_anywhere};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The server, with the requests these tests make of it.
struct Server(CentralQuarantine);

impl Server {
    /// Start with the base settings plus `extra` lines in the table.
    fn start(root: &Path, extra: &str) -> Server {
        Server(CentralQuarantine::start(root, extra))
    }

    fn log(&self) -> String {
        self.0.log()
    }

    fn url(&self, path: &str) -> String {
        self.0.url(path)
    }

    /// Upload `body` declared as `size` bytes with SHA-256 `sha256`.
    fn upload_as(&self, token: &str, body: &[u8], size: usize, sha256: &str, sample_id: Option<&str>) -> (u16, Value) {
        let mut request = agent()
            .post(self.url("/api/v1/samples"))
            .header("Authorization", format!("Bearer {token}"))
            .header("X-Sample-File", "invoice.com")
            .header("X-Sample-Size", size.to_string())
            .header("X-Sample-Checksum", sha256)
            .header("X-Scan-Virus-Name", "Eicar-Test-Signature")
            .header("X-Scan-Result", "unrepairable")
            .header("X-Platform-Host", "gw1.test")
            .header("X-Mail-From", "ann@sender.test")
            .header("X-Rcpt-To", "bo@example.com,cy@example.com")
            .header("X-Mail-Subject", "Invoice %C3%A9t%C3%A9")
            .header("X-Message-Id", "<m1@sender.test>")
            .header("X-Mime-Path", "2")
            .header("X-Defs-Sequence", "12");
        if let Some(id) = sample_id {
            request = request.header("X-Sample-Id", id);
        }
        answer(request.send(body).expect("the server answers"))
    }

    /// A correct upload of `body`.
    fn upload(&self, body: &[u8], sample_id: Option<&str>) -> (u16, Value) {
        self.upload_as(GATEWAY_TOKEN, body, body.len(), &sha256(body), sample_id)
    }

    /// An administration request with a JSON body.
    fn api_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = agent()
            .post(self.url(path))
            .header("Authorization", format!("Bearer {API_TOKEN}"))
            .header("Content-Type", "application/json")
            .send(body.to_string());
        answer(response.expect("the server answers"))
    }

    /// An administration request.
    fn api(&self, method: &str, path: &str) -> (u16, Value) {
        let agent = agent();
        let auth = format!("Bearer {API_TOKEN}");
        let response = match method {
            "GET" => agent.get(self.url(path)).header("Authorization", &auth).call(),
            "DELETE" => agent.delete(self.url(path)).header("Authorization", &auth).call(),
            _ => agent.post(self.url(path)).header("Authorization", &auth).send_empty(),
        };
        answer(response.expect("the server answers"))
    }

    fn items(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.api("GET", &format!("/api/v1/items{query}"));
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The sample files in the store.
    fn stored_files(&self) -> Vec<PathBuf> {
        let samples = self.0.root.join("store/samples");
        let mut files = Vec::new();
        for dir in std::fs::read_dir(samples).unwrap() {
            for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                files.push(f.unwrap().path());
            }
        }
        files
    }
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` bytes that do not compress, different for each `seed`.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn uploads_are_verified_and_listed_with_their_metadata() {
    let dir = test_dir();
    let server = Server::start(dir.path(), "");

    let (status, receipt) = server.upload(EICAR, None);
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["sha256"], sha256(EICAR));
    assert_eq!(receipt["size"], EICAR.len());
    let id = receipt["id"].as_i64().expect("a numeric id");

    let items = server.items("");
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["id"], id);
    assert_eq!(item["file_name"], "invoice.com");
    assert_eq!(item["virus"], "Eicar-Test-Signature");
    assert_eq!(item["status"], "quarantined");
    assert_eq!(item["gateway"], "gw1.test");
    assert_eq!(item["sender"], "ann@sender.test");
    assert_eq!(item["recipients"], serde_json::json!(["bo@example.com", "cy@example.com"]));
    assert_eq!(item["subject"], "Invoice été");
    assert_eq!((item["mime_path"].as_str(), item["defs_sequence"].as_u64()), (Some("2"), Some(12)));
    assert_eq!((item["sightings"].as_u64(), item["size"].as_u64()), (Some(1), Some(EICAR.len() as u64)));
    assert!(item["received"].as_str().is_some_and(|r| r.ends_with('Z')));

    let (status, details) = server.api("GET", &format!("/api/v1/items/{id}"));
    assert_eq!(status, 200);
    assert_eq!(details["history"][0]["new_status"], "quarantined");
    assert_eq!(details["history"][0]["actor"], "gateway gw1.test");

    // Filters, sorting and paging.
    assert_eq!(server.items("?status=quarantined&virus=eicar&sender=ann").len(), 1);
    assert!(server.items("?status=held").is_empty());
    assert!(server.items("?from=2000-01-01&to=2000-12-31").is_empty());
    let (status, refused) = server.api("GET", "/api/v1/items?sort=password");
    assert_eq!((status, refused["error"].as_str()), (400, Some("parameter")), "{refused}");

    // The wrong token, and a gateway token on the administration API.
    let (status, _) = server.upload_as("not-a-token", EICAR, EICAR.len(), &sha256(EICAR), None);
    assert_eq!(status, 401);
    let (status, _) = server.upload_as(API_TOKEN, EICAR, EICAR.len(), &sha256(EICAR), None);
    assert_eq!(status, 401, "an API token does not upload");
    let response =
        agent().get(server.url("/api/v1/items")).header("Authorization", format!("Bearer {GATEWAY_TOKEN}")).call();
    assert_eq!(answer(response.unwrap()).0, 401, "a gateway token does not read the quarantine");

    // Size and content are checked, each refusal named.
    let (status, body) = server.upload_as(GATEWAY_TOKEN, &EICAR[..30], EICAR.len(), &sha256(EICAR), None);
    assert_eq!((status, body["error"].as_str()), (400, Some("underrun")), "{body}");
    let (status, body) = server.upload_as(GATEWAY_TOKEN, EICAR, 30, &sha256(&EICAR[..30]), None);
    assert_eq!((status, body["error"].as_str()), (400, Some("overrun")), "{body}");
    let long = noise(2 * 1024 * 1024, 3);
    let (status, body) = server.upload_as(GATEWAY_TOKEN, &long, 1000, &sha256(&long[..1000]), None);
    assert_eq!((status, body["error"].as_str()), (400, Some("overrun")), "a long body gets its answer too: {body}");
    let (status, body) = server.upload_as(GATEWAY_TOKEN, EICAR, EICAR.len(), &sha256(b"other"), None);
    assert_eq!((status, body["error"].as_str()), (400, Some("content")), "{body}");
    let (status, body) = server.upload_as(GATEWAY_TOKEN, EICAR, EICAR.len(), "12ab", None);
    assert_eq!((status, body["error"].as_str()), (400, Some("header")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("X-Sample-Checksum"), "{body}");

    assert_eq!(server.items("").len(), 1, "no refused upload made an item");
    assert_eq!(std::fs::read_dir(dir.path().join("store/incoming")).unwrap().count(), 0, "nothing half-stored");
}

#[test]
fn identical_bytes_are_stored_once_inert_and_retries_make_no_second_item() {
    let dir = test_dir();
    let server = Server::start(dir.path(), "");
    let (s1, first) = server.upload(EICAR, Some("gw1-0001"));
    let (s2, second) = server.upload(EICAR, Some("gw1-0002"));
    assert_eq!((s1, s2), (201, 201));
    assert_ne!(first["id"], second["id"]);

    // A retry of the first upload (its acknowledgement was lost) gets the
    // same item back.
    let (status, retried) = server.upload(EICAR, Some("gw1-0001"));
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["id"], first["id"]);
    // Also when the body is large: the answer waits for it.
    let big = noise(3 * 1024 * 1024, 9);
    assert_eq!(server.upload(&big, Some("gw1-big")).0, 201);
    assert_eq!(server.upload(&big, Some("gw1-big")).0, 200);
    let (status, _) = server.api("DELETE", &format!("/api/v1/items/{}", server.items("?per_page=1")[0]["id"]));
    assert_eq!(status, 200);
    let (status, conflict) = server.upload(b"other bytes", Some("gw1-0001"));
    assert_eq!((status, conflict["error"].as_str()), (409, Some("conflict")), "{conflict}");

    let items = server.items("");
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["sightings"] == 2), "{items:?}");
    let files = server.stored_files();
    assert_eq!(files.len(), 1, "one file for identical bytes: {files:?}");
    let stored = std::fs::read(&files[0]).unwrap();
    assert!(!stored.windows(5).any(|w| w == b"EICAR"), "the stored sample is inert");

    // The bytes go with the last item that holds them.
    let (status, _) = server.api("DELETE", &format!("/api/v1/items/{}", first["id"]));
    assert_eq!(status, 200);
    assert_eq!(server.stored_files().len(), 1);
    assert_eq!(server.items("")[0]["sightings"], 1);
    let (status, _) = server.api("DELETE", &format!("/api/v1/items/{}", second["id"]));
    assert_eq!(status, 200);
    assert!(server.stored_files().is_empty());
    assert_eq!(server.api("GET", &format!("/api/v1/items/{}", second["id"])).0, 404);
    assert_eq!(server.api("DELETE", &format!("/api/v1/items/{}", second["id"])).0, 404);
}

#[test]
fn restore_gives_a_zip_every_unzip_opens_with_the_password_infected() {
    require("unzip", "unzip");
    let dir = test_dir();
    let server = Server::start(dir.path(), "");
    let (_, receipt) = server.upload(EICAR, None);
    let mut response = agent()
        .get(server.url(&format!("/api/v1/items/{}/restore", receipt["id"])))
        .header("Authorization", format!("Bearer {API_TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("content-type").unwrap(), "application/zip");
    let zip = response.body_mut().read_to_vec().unwrap();
    let path = dir.path().join("restored.zip");
    std::fs::write(&path, &zip).unwrap();

    let out = Command::new("unzip").args(["-P", "infected", "-p"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, EICAR);
    let listing = Command::new("unzip").arg("-l").arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).contains("invoice.com"));
    let wrong = Command::new("unzip").args(["-P", "guess", "-p"]).arg(&path).stderr(Stdio::null()).output().unwrap();
    assert_ne!(wrong.stdout, EICAR, "the password is needed");

    let (_, details) = server.api("GET", &format!("/api/v1/items/{}", receipt["id"]));
    assert!(details["history"].as_array().unwrap().iter().any(|h| h["note"].as_str().unwrap().starts_with("restored")));
}

#[test]
fn a_rescan_with_new_definitions_makes_the_item_available() {
    let dir = test_dir();
    let defs = dir.path().join("defs");
    std::fs::create_dir_all(&defs).unwrap();
    let server = Server::start(dir.path(), &format!("defs_dir = \"{}\"", defs.display()));
    let sample = b"a brand new threat nobody has a signature for yet";
    let (_, receipt) = server.upload(sample, None);
    let rescan = format!("/api/v1/items/{}/rescan", receipt["id"]);

    let (status, item) = server.api("POST", &rescan);
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["status"], "needed");

    std::fs::write(defs.join("new.ndb"), format!("Test.NewThreat:0:*:{}\n", hex(b"nobody has a signature"))).unwrap();
    std::fs::write(defs.join("liveupdate.toml"), "sequence = 7\nversion = \"7\"\ndate = \"2024-05-01\"\n").unwrap();
    let (status, item) = server.api("POST", &rescan);
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["status"], "available");
    assert_eq!(item["definitions_needed"], 7);

    let (_, details) = server.api("GET", &format!("/api/v1/items/{}", receipt["id"]));
    let history = details["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!((last["old_status"].as_str(), last["new_status"].as_str()), (Some("needed"), Some("available")));
    assert!(last["note"].as_str().unwrap().contains("Test.NewThreat"), "{last}");
    assert_eq!(last["actor"], "api");

    // A definitions file on the server detects the hash as well.
    std::fs::write(defs.join("hash.hsb"), format!("{}:{}:Test.ByHash\n", sha256(EICAR), EICAR.len())).unwrap();
    let (_, eicar) = server.upload(EICAR, None);
    let (status, summary) = server.api("POST", "/api/v1/rescan");
    assert_eq!(status, 200, "{summary}");
    assert_eq!((summary["rescanned"].as_u64(), summary["available"].as_u64()), (Some(2), Some(2)), "{summary}");
    let (_, item) = server.api("GET", &format!("/api/v1/items/{}", eicar["id"]));
    assert_eq!(item["status"], "available");
}

#[test]
fn submission_reaches_the_analyst_as_an_encrypted_zip() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let extra = format!(
        "analyst_address = \"analyst@av.test\"\nrelay = \"127.0.0.1:{}\"\nsubmit_from = \"cq@cq.test\"",
        sink.port
    );
    let server = Server::start(dir.path(), &extra);
    let (_, receipt) = server.upload(EICAR, None);
    let id = receipt["id"].as_i64().unwrap();

    let (status, item) = server.api("POST", &format!("/api/v1/items/{id}/submit"));
    assert_eq!(status, 200, "{item}\n{}", server.log());
    assert_eq!(item["status"], "submitted");

    let text = sink.find("Sample submission", Duration::from_secs(20)).expect("the submission arrived");
    assert!(text.contains("analyst@av.test"));
    let message = mail_parser::MessageParser::default().parse(text.as_bytes()).unwrap();
    let attachment = message.attachment(0).expect("an attachment");
    let mut archive = zip::ZipArchive::new(Cursor::new(attachment.contents().to_vec())).unwrap();
    let mut back = Vec::new();
    archive.by_index_decrypt(0, b"infected").unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(back, EICAR);
    let (_, details) = server.api("GET", &format!("/api/v1/items/{id}"));
    let last = details["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["new_status"], "submitted");
    assert!(last["note"].as_str().unwrap().contains("analyst@av.test"), "{last}");
}

#[test]
fn a_failed_submission_is_recorded_and_without_an_analyst_submission_is_off() {
    let dir = test_dir();
    let extra = format!("analyst_address = \"analyst@av.test\"\nrelay = \"127.0.0.1:{}\"", free_port());
    let server = Server::start(dir.path(), &extra);
    let (_, receipt) = server.upload(EICAR, None);
    let (status, body) = server.api("POST", &format!("/api/v1/items/{}/submit", receipt["id"]));
    assert_eq!((status, body["error"].as_str()), (502, Some("relay")), "{body}");
    let (_, item) = server.api("GET", &format!("/api/v1/items/{}", receipt["id"]));
    assert_eq!(item["status"], "quarantined");
    assert!(item["error"].as_str().unwrap().contains("submission to analyst@av.test failed"), "{item}");
    drop(server);

    let other = test_dir();
    let server = Server::start(other.path(), "");
    let (_, receipt) = server.upload(EICAR, None);
    let (status, body) = server.api("POST", &format!("/api/v1/items/{}/submit", receipt["id"]));
    assert_eq!((status, body["error"].as_str()), (503, Some("submission")), "{body}");
}

#[test]
fn the_quota_refuses_what_does_not_fit() {
    let dir = test_dir();
    let server = Server::start(dir.path(), "quota_mb = 1");
    let first = noise(950 * 1024, 1);
    assert_eq!(server.upload(&first, None).0, 201);
    let (status, body) = server.upload(&noise(200 * 1024, 2), None);
    assert_eq!((status, body["error"].as_str()), (507, Some("quota")), "{body}");
    assert_eq!(server.upload(&first, None).0, 201, "known bytes take no room");
    let (_, figures) = server.api("GET", "/api/v1/status");
    assert_eq!(figures["quota_low"], true, "{figures}");
    assert_eq!((figures["items"].as_u64(), figures["samples"].as_u64()), (Some(2), Some(1)));
    assert!(wait_for(Duration::from_secs(5), || server.log().contains("quota remaining is low")), "{}", server.log());
}

#[test]
fn a_configured_certificate_is_served_and_bad_settings_are_named() {
    let dir = test_dir();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let extra = format!("tls_cert = \"{}\"\ntls_key = \"{}\"", cert.display(), key.display());
    let server = Server::start(dir.path(), &extra);
    let roots = ureq::tls::RootCerts::new_with_certs(&[ureq::tls::Certificate::from_der(made.cert.der()).to_owned()]);
    let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
    let trusting: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).tls_config(tls).build().into();
    let response = trusting
        .get(format!("https://127.0.0.1:{}/api/v1/status", server.0.port))
        .header("Authorization", format!("Bearer {API_TOKEN}"))
        .call()
        .expect("the configured certificate verifies");
    assert_eq!(response.status().as_u16(), 200);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[quarantine_server]\nlisten = \"everywhere\"\nquota = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mxguard"))
        .args(["quarantine", "serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quota"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&bad, "[quarantine_server]\nlisten = \"everywhere\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mxguard"))
        .args(["quarantine", "serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("quarantine_server.listen = \"everywhere\"") && stderr.contains("IP:port"), "{stderr}");
}

/// A certificate for 127.0.0.1 in `dir`: (certificate, key) PEM paths.
fn loopback_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

fn mxguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mxguard")).args(args).output().unwrap()
}

#[test]
fn a_signature_made_from_an_item_reaches_a_gateway_that_then_detects_the_sample() {
    let dir = test_dir();
    let root = dir.path();
    // Bytes the shipped definitions do not detect.
    let sample: &[u8] = b"closing-the-loop sample 4f1c9a: a threat only its hash gives away";
    let keys = root.join("keys");
    let made = mxguard(&["defs", "keygen", keys.to_str().unwrap()]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let public_key = std::fs::read_to_string(keys.join("defs.pub")).unwrap();
    let (cert, key) = loopback_certificate(root);
    let server = Server::start(
        root,
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\nsigning_key = \"{}\"",
            cert.display(),
            key.display(),
            keys.join("defs.key").display()
        ),
    );

    // A gateway with the shipped definitions of its own, updating from the
    // server over HTTPS, trusting the server's certificate.
    let gateway_defs = root.join("gateway-defs");
    std::fs::create_dir_all(&gateway_defs).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/defs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), gateway_defs.join(entry.file_name())).unwrap();
    }
    let sink = Sink::start(root, &[]);
    let gw = Gateway::start(
        root,
        "",
        &format!(
            "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
             [antivirus]\nheuristic_level = \"off\"\ndefs_dir = \"{}\"\n\
             [liveupdate]\nsources = [\"{}\"]\npublic_key = \"{}\"\nca = \"{}\"\n",
            sink.port,
            gateway_defs.display(),
            server.url("/defs/current.tar.gz"),
            public_key.trim(),
            cert.display()
        ),
    );
    let send = |subject: &str| {
        let reply = submit(
            gw.port,
            "a@sender.test",
            &["b@example.com"],
            &Mail::new(subject).attach("tool.bin", sample).build(),
        );
        assert!(reply.starts_with("250"), "{reply}");
        let text = sink.find(&format!("Subject: {subject}"), Duration::from_secs(60));
        text.unwrap_or_else(|| panic!("{subject} not delivered:\n{}", gw.log()))
    };
    assert!(delivered_anywhere(send("before the signature").as_bytes(), sample), "not detected yet");
    let (status, nothing) = server.api("GET", "/defs/current.tar.gz");
    assert_eq!(status, 404, "nothing published yet: {nothing}");

    let (_, receipt) = server.upload(sample, None);
    let (_, twin) = server.upload(sample, None);
    let id = receipt["id"].as_i64().unwrap();
    let path = format!("/api/v1/items/{id}/signature");
    let (status, refused) = server.api_json(&path, &serde_json::json!({ "name": "Two words" }));
    assert_eq!((status, refused["error"].as_str()), (400, Some("name")), "{refused}");
    let (status, published) = server.api_json(&path, &serde_json::json!({ "name": "Test.ClosedLoop-1" }));
    assert_eq!(status, 201, "{published}\n{}", server.log());
    assert_eq!(published["sequence"], 1);
    assert_eq!(published["name"], "Test.ClosedLoop-1");
    assert_eq!(published["sha256"], sha256(sample));
    assert!(published["url"].as_str().unwrap().ends_with("/defs/current.tar.gz"), "{published}");
    let (status, again) = server.api_json(&path, &serde_json::json!({ "name": "Test.ClosedLoop-2" }));
    assert_eq!((status, again["error"].as_str()), (409, Some("conflict")), "{again}");

    // Every item with those bytes is available with the new sequence, and
    // its history says who made the signature.
    for item in [&receipt, &twin] {
        let (_, details) = server.api("GET", &format!("/api/v1/items/{}", item["id"]));
        assert_eq!((details["status"].as_str(), details["definitions_needed"].as_u64()), (Some("available"), Some(1)));
        let history = details["history"].as_array().unwrap();
        assert!(
            history.iter().any(
                |h| h["actor"] == "api" && h["note"].as_str().unwrap().contains("Test.ClosedLoop-1 created by api")
            ),
            "{history:?}"
        );
    }

    // The package as a directory for a share or mirror, signed as the
    // gateways expect; over HTTPS without a token.
    let publish_dir = root.join("store/publish");
    let verified = mxguard(&[
        "defs",
        "verify",
        publish_dir.join("current").to_str().unwrap(),
        "--public-key",
        keys.join("defs.pub").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("valid: sequence 1"), "{verified:?}");
    let mut fetched = agent().get(server.url("/defs/current.tar.gz")).call().unwrap();
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.body_mut().read_to_vec().unwrap(), std::fs::read(publish_dir.join("current.tar.gz")).unwrap());
    assert_eq!(agent().get(server.url("/defs/..%2Fpublished.toml")).call().unwrap().status().as_u16(), 404);

    // The gateway updates from the server and now detects the sample.
    let updated = mxguard(&["defs", "update", "--config", gw.config_path.to_str().unwrap()]);
    let said = format!("{}{}", String::from_utf8_lossy(&updated.stdout), String::from_utf8_lossy(&updated.stderr));
    assert!(updated.status.success() && said.contains("definitions 1 of"), "{said}\n{}", gw.log());
    let after = send("after the signature");
    assert!(!delivered_anywhere(after.as_bytes(), sample), "detected by its hash:\n{after}");
    assert!(gw.log().contains("Test.ClosedLoop-1"), "{}", gw.log());
}

/// The first message `sink` receives whose subject contains `needle`: its
/// raw text and decoded body.
fn mailed(sink: &Sink, needle: &str, timeout: Duration) -> Option<(String, String)> {
    let mut found = None;
    wait_for(timeout, || {
        found = sink.messages().into_iter().find_map(|raw| {
            let message = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
            let wanted = message.subject().is_some_and(|s| s.contains(needle));
            wanted.then(|| (raw.clone(), message.body_text(0).unwrap_or_default().into_owned()))
        });
        found.is_some()
    });
    found
}

#[test]
fn overdue_items_and_a_low_quota_are_mailed_as_alerts_and_new_items_submitted() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let extra = format!(
        "quota_mb = 1\nrelay = \"127.0.0.1:{}\"\nsubmit_from = \"cq@cq.test\"\nalert_address = \"ops@cq.test\"\n\
         analyst_address = \"analyst@av.test\"\nauto_submit = true\n\
         [quarantine_server.watchdog]\nquarantined_minutes = 1\nsubmitted_minutes = 1\n",
        sink.port
    );
    let server = Server::start(dir.path(), &extra);
    let (status, receipt) = server.upload(&noise(950 * 1024, 4), None);
    assert_eq!(status, 201, "{receipt}");

    let (raw, body) = mailed(&sink, "quota remaining is low", Duration::from_secs(30)).expect("the quota alert");
    assert!(raw.contains("ops@cq.test") && body.contains("quota_mb"), "{raw}");
    let submitted = sink.find("Sample submission", Duration::from_secs(30)).expect("submitted without asking");
    assert!(submitted.contains("analyst@av.test"));
    let id = receipt["id"].as_i64().unwrap();
    let item = || server.api("GET", &format!("/api/v1/items/{id}")).1;
    assert!(wait_for(Duration::from_secs(10), || item()["status"] == "submitted"), "{}", item());

    // A minute later the item still waits for the analyst: one alert,
    // mailed, and noted in its history.
    let (raw, body) = mailed(&sink, "too long", Duration::from_secs(120)).expect("the watchdog alert");
    assert!(raw.contains("ops@cq.test"), "{raw}");
    assert!(body.contains(&format!("Item {id}:")) && body.contains("too long in status submitted"), "{body}");
    let noted = item()["history"].as_array().unwrap().iter().filter(|h| h["actor"] == "watchdog").count();
    assert_eq!(noted, 1, "{}", item());
    std::thread::sleep(Duration::from_secs(20));
    let parsed = |raw: &String| {
        mail_parser::MessageParser::default().parse(raw.as_bytes()).map(|m| m.subject().map(String::from))
    };
    let alerts =
        sink.messages().iter().filter(|raw| parsed(raw).flatten().is_some_and(|s| s.contains("too long"))).count();
    assert_eq!(alerts, 1, "one alert per stay:\n{}", server.log());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
