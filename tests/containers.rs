//! Every container and inline encoding of the corpus, through SMTP to a
//! real downstream server, with a blocked file (`*.exe`) inside: the file
//! must be gone from what is delivered, its clean neighbours kept, and
//! `DELETEDn.TXT` put in its place where the format allows.

mod common;
mod corpus;

use common::{Gateway, Sink, submit, test_dir};
use corpus::{Mail, delivered_anywhere, delivered_names};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const EVIL: &[u8] = b"MZ-evil-marker";
const CLEAN: &[u8] = b"clean-neighbour-marker";

struct Setup {
    _dir: tempfile::TempDir,
    sink: Sink,
    gw: Gateway,
}

fn setup() -> Setup {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let config = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{}\"\n\
         [blocking.filename]\nenabled = true\npatterns = [\"*.exe\", \"vbaproject.bin\"]\nreplacement_text = \"REMOVED-BY-POLICY\"\n",
        sink.port
    );
    let gw = Gateway::start(dir.path(), "", &config);
    Setup { _dir: dir, sink, gw }
}

impl Setup {
    /// Send `mail` and return what was delivered.
    fn deliver(&self, mail: Mail, subject: &str) -> Vec<u8> {
        let reply = submit(self.gw.port, "a@sender.test", &["b@example.com"], &mail.build());
        assert!(reply.starts_with("250"), "{reply}");
        let got = self.sink.find(&format!("Subject: {subject}"), WAIT);
        got.unwrap_or_else(|| panic!("{subject} not delivered; log:\n{}", self.gw.log())).into_bytes()
    }
}

/// The blocked file is gone, its neighbour and the stand-in are there.
fn assert_replaced_inside(delivered: &[u8], stand_in: &str) {
    assert!(!delivered_anywhere(delivered, EVIL), "the blocked file was delivered");
    assert!(delivered_anywhere(delivered, CLEAN), "the clean neighbour was lost");
    assert!(delivered_anywhere(delivered, b"REMOVED-BY-POLICY"), "no replacement text");
    let names = delivered_names(delivered);
    assert!(names.iter().any(|n| n.ends_with(stand_in)), "no {stand_in} in {names:?}");
}

#[test]
fn zips_with_every_compression_method() {
    let s = setup();
    for (subject, archive) in [
        ("deflate zip", corpus::zip(&[("docs/run.exe", EVIL), ("docs/readme.txt", CLEAN)])),
        ("bzip2 zip", corpus::zip_with(zip::CompressionMethod::Bzip2, &[("run.exe", EVIL), ("readme.txt", CLEAN)])),
        ("stored zip", corpus::zip_with(zip::CompressionMethod::Stored, &[("run.exe", EVIL), ("readme.txt", CLEAN)])),
    ] {
        let got = s.deliver(Mail::new(subject).attach("bundle.zip", &archive), subject);
        assert_replaced_inside(&got, "bundle.zip/deleted1.txt");
    }
    // Deflate64 holds one member: it is replaced inside the rebuilt zip.
    let got = s.deliver(
        Mail::new("deflate64 zip").attach("d64.zip", &corpus::deflate64_zip("run.exe", EVIL)),
        "deflate64 zip",
    );
    assert!(!delivered_anywhere(&got, EVIL));
    assert!(delivered_names(&got).iter().any(|n| n == "d64.zip/deleted1.txt"), "{:?}", delivered_names(&got));
}

#[test]
fn a_file_three_zips_deep() {
    let s = setup();
    let inner = corpus::zip(&[("deep/run.exe", EVIL), ("deep/readme.txt", CLEAN)]);
    let middle = corpus::zip(&[("inner.zip", &inner), ("notes.txt", b"middle")]);
    let outer = corpus::zip(&[("middle.zip", &middle)]);
    let got = s.deliver(Mail::new("three deep").attach("outer.zip", &outer), "three deep");
    assert_replaced_inside(&got, "outer.zip/middle.zip/inner.zip/deleted1.txt");
    assert!(delivered_anywhere(&got, b"middle"), "untouched members of rebuilt containers stay");
}

#[test]
fn tar_gz_is_rebuilt_and_recompressed() {
    let s = setup();
    let archive = corpus::tar_gz(&[("bin/run.exe", EVIL), ("doc/readme.txt", CLEAN)]);
    let got = s.deliver(Mail::new("tarball").attach("release.tar.gz", &archive), "tarball");
    assert_replaced_inside(&got, "release.tar.gz/deleted1.txt");
}

#[test]
fn formats_that_cannot_hold_a_replacement_go_whole() {
    let s = setup();
    let package = corpus::ole_package("Invoice.pdf", "C:\\Users\\x\\Temp\\run.exe", EVIL);
    for (subject, name, data) in [
        ("seven zip", "tools.7z", corpus::seven_zip(&[("run.exe", EVIL), ("readme.txt", CLEAN)])),
        ("tnef", "winmail.dat", corpus::tnef(&[("run.exe", EVIL), ("readme.txt", CLEAN)])),
        (
            "ole package",
            "report.doc",
            corpus::ole(&[("WordDocument", &[0u8; 64]), ("ObjectPool/_1/\u{1}Ole10Native", &package)]),
        ),
    ] {
        let got = s.deliver(Mail::new(subject).attach(name, &data), subject);
        let names = delivered_names(&got);
        assert!(!names.iter().any(|n| n == name), "{subject}: the container must go, got {names:?}");
        assert!(names.iter().any(|n| n == "deleted1.txt"), "{subject}: a text part takes its place: {names:?}");
        assert!(delivered_anywhere(&got, b"REMOVED-BY-POLICY"));
    }
}

#[test]
fn inline_uuencode_and_binhex_blocks_are_replaced() {
    let s = setup();
    for (subject, text, encoded_name) in [
        ("uuencoded", corpus::uuencoded_text("run.exe", EVIL), "begin 644 DELETED1.TXT"),
        ("binhexed", corpus::binhex_text("run.exe", EVIL), "(This file must be converted with BinHex 4.0)"),
    ] {
        let text = [text.as_slice(), b"\r\n", CLEAN].concat();
        let mail = Mail::new(subject).part("Content-Type: text/plain; charset=us-ascii\r\n", &text);
        let got = s.deliver(mail, subject);
        let bodies = corpus::files(&got);
        let body = bodies.iter().find(|(_, d)| d.windows(CLEAN.len()).any(|w| w == CLEAN)).expect("the text stays");
        let body = String::from_utf8_lossy(&body.1);
        assert!(body.contains(encoded_name), "{subject}: {body}");
        assert!(!body.contains("run.exe"), "{subject}: the encoded file is gone: {body}");
        let decoded = mxguard::mime::containers::inline::open(body.as_bytes(), &mut budget(), 1).unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!((decoded[0].name.as_str(), decoded[0].data.as_slice()), ("DELETED1.TXT", &b"REMOVED-BY-POLICY"[..]));
    }
}

fn budget() -> mxguard::mime::limits::Budget {
    mxguard::mime::limits::Budget::new(1 << 20, 5, 10, 0, Duration::from_secs(5))
}

#[test]
fn a_message_inside_a_message() {
    let s = setup();
    let inner = Mail::new("inner message").attach("run.exe", EVIL).attach("readme.txt", CLEAN).build();
    let outer = Mail::new("forwarded message")
        .raw_part(&format!("Content-Type: message/rfc822\r\n\r\n{}", String::from_utf8(inner).unwrap()));
    let got = s.deliver(outer, "forwarded message");
    assert!(!delivered_anywhere(&got, EVIL));
    assert!(delivered_anywhere(&got, CLEAN) && delivered_anywhere(&got, b"REMOVED-BY-POLICY"));
    assert!(String::from_utf8_lossy(&got).contains("Subject: inner message"), "the inner message keeps its headers");
}

#[test]
fn office_macros_are_exposed() {
    let s = setup();
    let got = s
        .deliver(Mail::new("macro document").attach("report.docm", &corpus::docm(b"Sub AutoOpen()")), "macro document");
    let names = delivered_names(&got);
    assert!(
        names.iter().any(|n| n == "report.docm/deleted1.txt"),
        "vbaProject.bin was seen inside the OOXML zip: {names:?}"
    );
    assert!(names.iter().any(|n| n == "report.docm/word/document.xml"), "{names:?}");
}

#[test]
fn content_decides_not_the_name() {
    let s = setup();
    let archive = corpus::zip(&[("x/run.exe", EVIL), ("readme.txt", CLEAN)]);
    let got = s.deliver(Mail::new("zip named txt").attach("notes.txt", &archive), "zip named txt");
    assert_replaced_inside(&got, "notes.txt/deleted1.txt");
}
