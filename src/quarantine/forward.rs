//! Forwarding local quarantine items to the Central Quarantine (SPEC §6-7):
//! every waiting item, oldest first, is uploaded and removed once the
//! server has acknowledged it. While the server cannot be reached or
//! refuses the gateway, items stay, passes are retried with exponential
//! backoff, and one *Quarantine accumulating* alert per outage says how
//! many wait. Items written before a restart are found by listing the
//! directory, so nothing is lost.

use super::local::LocalQuarantine;
use super::upload::{Client, Upload};
use crate::config::{ConfigHandle, Quarantine};
use crate::events::{Event, Events};
use std::sync::Arc;
use std::time::Duration;

/// The first wait after a failed pass; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// How one pass over the waiting items ended.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    /// Nothing waits any more.
    Done,
    /// `pending` items still wait, because of `why`.
    Waiting { pending: usize, why: String },
}

/// Forward items forever: a pass now (items left by an earlier run), then
/// one whenever an item is added or the configuration changes, and
/// retries with backoff while items wait.
pub async fn run(config: ConfigHandle, store: Arc<LocalQuarantine>, events: Events) {
    let mut changes = config.subscribe();
    let mut retry = FIRST_RETRY;
    let mut outage = false;
    loop {
        let quarantine = config.current().antivirus.quarantine.clone();
        let (pass_store, pass_events) = (store.clone(), events.clone());
        let (done, outcome) = tokio::sync::oneshot::channel();
        // A thread of its own, not the blocking pool: stopping the gateway
        // never waits for an upload (an interrupted one is sent again, and
        // the server recognises the item).
        let spawned = std::thread::Builder::new()
            .name("quarantine-forward".into())
            .spawn(move || done.send(pass(&pass_store, &quarantine, &pass_events)));
        let pass = match spawned {
            Ok(_) => outcome.await.unwrap_or_else(|_| Pass::Waiting { pending: 0, why: "forwarding crashed".into() }),
            Err(e) => Pass::Waiting { pending: 0, why: format!("cannot start forwarding: {e}") },
        };
        match pass {
            Pass::Done => {
                if std::mem::take(&mut outage) {
                    tracing::info!("the Central Quarantine has every waiting item again");
                }
                retry = FIRST_RETRY;
                tokio::select! {
                    _ = store.added() => {}
                    Ok(()) = changes.changed() => {}
                }
            }
            Pass::Waiting { pending, why } => {
                tracing::warn!(pending, "quarantine items wait, next attempt in {retry:?}: {why}");
                if !std::mem::replace(&mut outage, true) {
                    let server = config.current().antivirus.quarantine.server.clone();
                    events.emit(Event::QuarantineAccumulating { pending, server, why });
                }
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    Ok(()) = changes.changed() => {}
                }
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }
}

/// Try every waiting item once, oldest first; stop at the first sign the
/// server is unavailable. Blocking.
fn pass(store: &LocalQuarantine, quarantine: &Quarantine, events: &Events) -> Pass {
    let ids = match store.list() {
        Ok(ids) => ids,
        // Nothing was ever quarantined (or could be: see the start-up event).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Pass::Done,
        Err(e) => {
            events.file_access_error(store.dir().display(), format!("cannot list the local quarantine: {e}"));
            return Pass::Waiting { pending: 0, why: format!("cannot list {}: {e}", store.dir().display()) };
        }
    };
    if ids.is_empty() {
        return Pass::Done;
    }
    let client = match Client::new(quarantine) {
        Ok(client) => client,
        Err(why) => return Pass::Waiting { pending: ids.len(), why },
    };
    let mut refused = Vec::new();
    for (done, id) in ids.iter().enumerate() {
        let (sample, data) = match store.load(id) {
            Ok(item) => item,
            Err(e) => {
                let why = format!("unreadable quarantine item, set aside: {e}");
                match store.set_aside(id) {
                    Ok(damaged) => events.file_access_error(damaged.join(id).display(), why),
                    Err(moved) => {
                        events
                            .file_access_error(store.dir().join(id).display(), format!("{why}; cannot move: {moved}"));
                        refused.push(id);
                    }
                }
                continue;
            }
        };
        match client.upload(&sample, &data) {
            Upload::Stored(server_id) => {
                let file = &sample.meta.file_name;
                tracing::info!(item = %id, server_id, %file, "forwarded to the Central Quarantine");
                if let Err(e) = store.remove(id) {
                    events.file_access_error(store.dir().join(id).display(), format!("cannot remove a sent item: {e}"));
                }
            }
            Upload::Refused(why) => {
                tracing::warn!(item = %id, "the Central Quarantine refused the item, which stays: {why}");
                refused.push(id);
            }
            Upload::Unavailable(why) => return Pass::Waiting { pending: ids.len() - done + refused.len(), why },
        }
    }
    match refused.len() {
        0 => Pass::Done,
        pending => Pass::Waiting { pending, why: format!("the Central Quarantine refused {pending} item(s)") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, QuarantineMode};
    use crate::events::Item;
    use crate::quarantine::local::Sample;
    use crate::quarantine::sample::{Metadata, sha256_hex};
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;

    /// One request the test server received: its headers (lower-case
    /// names) and body.
    type Received = (HashMap<String, String>, Vec<u8>);

    /// How the test server answers a request: status and body.
    type Answer = fn(&Received) -> (u16, String);

    /// A small HTTPS server with a self-signed certificate for
    /// 127.0.0.1, answering each request with `answer`.
    struct Server {
        port: u16,
        cert_pem: String,
        received: Arc<Mutex<Vec<Received>>>,
    }

    impl Server {
        fn start(listener: TcpListener, answer: Answer) -> Server {
            let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
            let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
            let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![made.cert.der().clone()], key)
                .unwrap();
            let (tls, received) = (Arc::new(tls), Arc::new(Mutex::new(Vec::new())));
            let port = listener.local_addr().unwrap().port();
            let seen = received.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let connection = rustls::ServerConnection::new(tls.clone()).unwrap();
                    let mut stream = rustls::StreamOwned::new(connection, stream);
                    let Some(request) = read_request(&mut stream) else { continue };
                    let (status, body) = answer(&request);
                    seen.lock().unwrap().push(request);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                }
            });
            Server { port, cert_pem: made.cert.pem(), received }
        }

        fn requests(&self) -> Vec<Received> {
            self.received.lock().unwrap().clone()
        }
    }

    fn read_request(stream: &mut impl Read) -> Option<Received> {
        let mut reader = BufReader::new(stream);
        let mut headers = HashMap::new();
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let Some((name, value)) = line.trim_end().split_once(':') else { break };
            headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
        }
        let mut body = vec![0; headers.get("content-length")?.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        Some((headers, body))
    }

    /// The acknowledgement a correct server gives.
    fn acknowledge(request: &Received) -> (u16, String) {
        let (sha, size) = (sha256_hex(&request.1), request.1.len());
        (201, format!("{{\"id\":7,\"sha256\":\"{sha}\",\"size\":{size}}}"))
    }

    fn settings(port: u16) -> Quarantine {
        Quarantine {
            mode: QuarantineMode::All,
            server: format!("127.0.0.1:{port}"),
            token: "gw-token".into(),
            tls_verify: false,
            ca: String::new(),
        }
    }

    fn store_with(dir: &std::path::Path, items: &[(&str, &[u8])]) -> Arc<LocalQuarantine> {
        let store = LocalQuarantine::new(dir);
        store.recover().unwrap();
        for (id, data) in items {
            let meta = Metadata {
                file_name: "é.com".into(),
                mime_path: "2".into(),
                virus: "Eicar".into(),
                scan_result: "unrepairable".into(),
                defs_sequence: Some(12),
                gateway: "gw1.test".into(),
                sender: "a@s.test".into(),
                recipients: vec!["b@x.test".into(), "c@x.test".into()],
                subject: "Invoice".into(),
                message_id: "<m1@s.test>".into(),
            };
            let (size, sha256) = (data.len() as u64, sha256_hex(data));
            let sample = Sample { id: id.to_string(), meta, size, sha256, ..Sample::default() };
            store.put(&sample, data).unwrap();
        }
        Arc::new(store)
    }

    #[test]
    fn an_acknowledged_item_is_sent_with_its_description_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[("A-1", b"infected bytes")]);
        let server = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), acknowledge);
        let (events, _rx) = Events::channel();
        assert_eq!(pass(&store, &settings(server.port), &events), Pass::Done);
        assert!(store.list().unwrap().is_empty(), "removed once acknowledged");
        let (headers, body) = &server.requests()[0];
        assert_eq!(body, b"infected bytes");
        for (name, value) in [
            ("authorization", "Bearer gw-token"),
            ("x-sample-id", "A-1"),
            ("x-sample-file", "%C3%A9.com"),
            ("x-sample-size", "14"),
            ("x-sample-checksum", sha256_hex(b"infected bytes").as_str()),
            ("x-scan-virus-name", "Eicar"),
            ("x-scan-result", "unrepairable"),
            ("x-platform-host", "gw1.test"),
            ("x-mail-from", "a@s.test"),
            ("x-rcpt-to", "b@x.test,c@x.test"),
            ("x-mail-subject", "Invoice"),
            ("x-message-id", "<m1@s.test>"),
            ("x-mime-path", "2"),
            ("x-defs-sequence", "12"),
        ] {
            assert_eq!(headers.get(name).map(String::as_str), Some(value), "{name}");
        }
    }

    #[test]
    fn bytes_damaged_on_disk_are_declared_as_recorded_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[("A-1", b"infected bytes")]);
        std::fs::write(dir.path().join("A-1.bin"), b"infected bytez").unwrap();
        // As the real server does: the body must match the declared checksum.
        let server = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), |request| {
            match request.0.get("x-sample-checksum") == Some(&sha256_hex(&request.1)) {
                true => acknowledge(request),
                false => (400, "{\"error\":\"content\"}".into()),
            }
        });
        let (events, _rx) = Events::channel();
        assert!(matches!(pass(&store, &settings(server.port), &events), Pass::Waiting { pending: 1, .. }));
        let declared = server.requests()[0].0.get("x-sample-checksum").cloned();
        assert_eq!(declared, Some(sha256_hex(b"infected bytes")), "the checksum recorded at quarantine time");
        assert_eq!(store.list().unwrap(), ["A-1"], "kept, not stored damaged");
    }

    #[test]
    fn the_server_is_checked_against_the_configured_ca() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[("A-1", b"x")]);
        let server = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), acknowledge);
        let (events, _rx) = Events::channel();
        let strict = Quarantine { tls_verify: true, ..settings(server.port) };
        assert!(matches!(pass(&store, &strict, &events), Pass::Waiting { pending: 1, .. }), "public roots only");
        let ca = dir.path().join("cq.pem");
        std::fs::write(&ca, &server.cert_pem).unwrap();
        let trusted = Quarantine { ca: ca.display().to_string(), ..strict };
        assert_eq!(pass(&store, &trusted, &events), Pass::Done);
    }

    #[test]
    fn refused_and_unreachable_uploads_keep_every_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[("A-1", b"one"), ("B-2", b"two")]);
        let (events, _rx) = Events::channel();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let down = settings(closed.local_addr().unwrap().port());
        drop(closed);
        assert!(matches!(pass(&store, &down, &events), Pass::Waiting { pending: 2, .. }));
        let token = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), |_| (401, "bad token".into()));
        let Pass::Waiting { pending, why } = pass(&store, &settings(token.port), &events) else { panic!("kept") };
        assert!(pending == 2 && why.contains("token"), "{why}");
        assert_eq!(token.requests().len(), 1, "a refused token ends the pass");
        let short =
            Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), |_| (400, "{\"error\":\"underrun\"}".into()));
        assert!(matches!(pass(&store, &settings(short.port), &events), Pass::Waiting { pending: 2, .. }));
        assert_eq!(short.requests().len(), 2, "a refused item does not stop the others");
        let wrong = Server::start(TcpListener::bind("127.0.0.1:0").unwrap(), |_| {
            (201, "{\"id\":1,\"sha256\":\"00\",\"size\":3}".into())
        });
        assert!(matches!(pass(&store, &settings(wrong.port), &events), Pass::Waiting { pending: 2, .. }));
        assert_eq!(store.list().unwrap(), ["A-1", "B-2"]);
    }

    #[tokio::test]
    async fn an_outage_alerts_once_and_the_items_follow_when_the_server_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[("A-1", b"one")]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut config = Config::default();
        config.antivirus.quarantine = settings(port);
        let (events, mut rx) = Events::channel();
        tokio::spawn(run(ConfigHandle::new(config, None), store.clone(), events));
        let Some(Item::Event(Event::QuarantineAccumulating { pending: 1, .. })) = rx.recv().await else {
            panic!("an alert says items accumulate")
        };
        store_with(dir.path(), &[("B-2", b"two")]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let server = Server::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), acknowledge);
        for _ in 0..100 {
            if store.list().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(store.list().unwrap().is_empty(), "everything forwarded once the server is back");
        assert_eq!(server.requests().len(), 2, "each item sent once");
        assert!(rx.try_recv().is_err(), "one alert per outage");
    }
}
