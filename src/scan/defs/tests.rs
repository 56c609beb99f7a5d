//! Packages made with `keygen` and `build`, opened back, and every way a
//! package is refused: each test alters one thing in a good package.

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const MAX_BYTES: u64 = 1 << 20;

/// The signature files of the fixture's source directory.
const SIGNATURE_FILES: [(&str, &[u8]); 2] =
    [("main.ndb", b"Eicar-Test:0:*:58354f2150"), ("daily.hdb", b"44d88612fea8a8f36de82e1278abb02f:68:Eicar\n")];

/// A key pair and a source directory of signature files, in a temporary
/// directory.
struct Fixture {
    dir: TempDir,
    public_key: String,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let public_key = new_key_pair(&dir.path().join("keys"));
        let src = dir.path().join("src");
        fs::create_dir(&src).expect("source directory");
        for (name, data) in SIGNATURE_FILES {
            fs::write(src.join(name), data).expect("signature file");
        }
        Fixture { dir, public_key }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn private_key(&self) -> PathBuf {
        self.path("keys").join(PRIVATE_KEY_FILE)
    }

    /// The source directory built as `name` (a directory, or a .tar.gz
    /// file), sequence 7.
    fn build(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        build(&self.path("src"), &self.private_key(), 7, "2025.06.01-1", &out).expect("build");
        out
    }

    fn open(&self, package: &Path) -> Result<Package, DefsError> {
        open(package, &self.public_key, MAX_BYTES)
    }

    /// Replace the manifest of the package directory with `text`, signed
    /// with the private key file `key`.
    fn sign_manifest(&self, package: &Path, text: &str, key: &Path) {
        let key = keys::read_signing_key(key).expect("private key");
        fs::write(package.join(MANIFEST_FILE), text).expect("manifest");
        fs::write(package.join(SIGNATURE_FILE), keys::sign(&key, text.as_bytes())).expect("signature");
    }
}

/// A new key pair in `dir`; its public key.
fn new_key_pair(dir: &Path) -> String {
    keygen(dir).expect("keygen");
    fs::read_to_string(dir.join(PUBLIC_KEY_FILE)).expect("public key")
}

/// The fixture's signature files as a package holds them: in name order.
fn expected_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = SIGNATURE_FILES.iter().map(|(name, data)| (name.to_string(), data.to_vec())).collect();
    files.sort();
    files
}

fn manifest_text(package: &Path) -> String {
    fs::read_to_string(package.join(MANIFEST_FILE)).expect("manifest")
}

/// A gzip-compressed tar of `entries`, names written into the header as
/// they are (the tar crate's own setters refuse `..`).
fn raw_tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().expect("GNU header").name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.append(&header, *data).expect("tar entry");
    }
    tar.into_inner().and_then(|gz| gz.finish()).expect("tar.gz")
}

#[test]
fn keygen_writes_one_hex_line_each_and_keeps_the_private_key_private() {
    let f = Fixture::new();
    let private = fs::read_to_string(f.private_key()).expect("private key");
    for text in [&private, &f.public_key] {
        let line = text.strip_suffix('\n').expect("one line");
        assert_eq!(line.len(), 64);
        assert!(line.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')), "{line}");
    }
    let derived = keys::read_signing_key(&f.private_key()).expect("private key").verifying_key();
    assert_eq!(hex::encode(derived.as_bytes()), f.public_key.trim_end());
    let mode = fs::metadata(f.private_key()).expect("private key").permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn keygen_refuses_to_overwrite_either_file() {
    let f = Fixture::new();
    let before = fs::read(f.private_key()).expect("private key");
    let refused = keygen(&f.path("keys"));
    assert!(matches!(&refused, Err(DefsError::AlreadyExists { path }) if *path == f.private_key()), "{refused:?}");
    assert_eq!(fs::read(f.private_key()).expect("private key"), before);

    let only_public = f.path("only-public");
    fs::create_dir(&only_public).expect("directory");
    fs::write(only_public.join(PUBLIC_KEY_FILE), "kept\n").expect("public key");
    assert!(matches!(keygen(&only_public), Err(DefsError::AlreadyExists { .. })));
    assert!(!only_public.join(PRIVATE_KEY_FILE).exists());
}

#[test]
fn directory_package_opens_with_its_files_and_manifest() {
    let f = Fixture::new();
    let out = f.path("pkg");
    let built = build(&f.path("src"), &f.private_key(), 7, "2025.06.01-1", &out).expect("build");
    let package = f.open(&out).expect("open");
    assert_eq!(package.manifest, built);
    assert_eq!(package.manifest.sequence, 7);
    assert_eq!(package.manifest.version, "2025.06.01-1");
    assert!(chrono::DateTime::parse_from_rfc3339(&package.manifest.date).is_ok());
    let listed: Vec<_> = package.manifest.files.iter().map(|file| (file.name.clone(), file.size)).collect();
    let expected: Vec<_> = expected_files().into_iter().map(|(name, data)| (name, data.len() as u64)).collect();
    assert_eq!(listed, expected);
    assert_eq!(package.files, expected_files());
}

#[test]
fn tar_gz_package_opens_from_a_path_bytes_and_file_urls() {
    let f = Fixture::new();
    let out = f.build("pkg.tar.gz");
    assert!(out.is_file());
    let package = f.open(&out).expect("open");
    assert_eq!(package.files, expected_files());

    let bytes = fs::read(&out).expect("package");
    assert_eq!(open_tar_gz(&bytes, &f.public_key, MAX_BYTES).expect("open bytes"), package);
    let path = out.to_str().expect("UTF-8 path");
    let escaped_url = format!("file://localhost{}", path.replace("pkg.tar", "pkg%2Etar"));
    for source in [path.to_string(), format!("file://{path}"), escaped_url] {
        assert_eq!(read_source(&source, &f.public_key, "", MAX_BYTES).expect(&source), package);
    }
}

#[test]
fn files_signed_in_memory_are_one_package_in_both_forms() {
    let f = Fixture::new();
    let files = SIGNATURE_FILES.map(|(name, data)| (name.to_string(), data.to_vec())).to_vec();
    let signed = sign(files, &f.private_key(), 3, "cq-3").expect("signed");
    signed.write(&f.path("dir")).expect("directory");
    signed.write(&f.path("pkg.tar.gz")).expect("tar.gz");
    let (dir, packed) = (f.open(&f.path("dir")).expect("dir"), f.open(&f.path("pkg.tar.gz")).expect("tar.gz"));
    assert_eq!((&dir, dir.manifest.sequence), (&packed, 3));
    assert_eq!(dir.files, expected_files());
    assert!(matches!(signed.write(&f.path("dir")), Err(DefsError::AlreadyExists { .. })));
    let reserved = sign(vec![("manifest.x".into(), b"x".to_vec())], &f.private_key(), 4, "x");
    assert!(matches!(reserved, Err(DefsError::BadName { .. })), "{reserved:?}");
    assert!(matches!(sign(Vec::new(), &f.private_key(), 4, "x"), Err(DefsError::CannotBuild { .. })));
    assert_eq!(public_key_of(&f.private_key()).expect("public key"), f.public_key.trim());
}

#[test]
fn build_skips_manifest_files_and_refuses_bad_input() {
    let f = Fixture::new();
    let first = f.build("pkg");
    let rebuilt = build(&first, &f.private_key(), 8, "2025.06.02-1", &f.path("pkg2")).expect("rebuild");
    let names: Vec<_> = rebuilt.files.iter().map(|file| file.name.as_str()).collect();
    assert_eq!(names, ["daily.hdb", "main.ndb"]);

    let overwrite = build(&f.path("src"), &f.private_key(), 9, "x", &first);
    assert!(matches!(overwrite, Err(DefsError::AlreadyExists { .. })), "{overwrite:?}");
    let empty_version = build(&f.path("src"), &f.private_key(), 9, " ", &f.path("pkg3"));
    assert!(matches!(empty_version, Err(DefsError::MalformedManifest { .. })), "{empty_version:?}");
    fs::create_dir(f.path("empty")).expect("directory");
    let nothing = build(&f.path("empty"), &f.private_key(), 9, "x", &f.path("pkg4"));
    assert!(matches!(nothing, Err(DefsError::CannotBuild { .. })), "{nothing:?}");
    let not_a_key = build(&f.path("src"), &f.path("src").join("main.ndb"), 9, "x", &f.path("pkg5"));
    assert!(matches!(not_a_key, Err(DefsError::BadKey { .. })), "{not_a_key:?}");
    assert!(!f.path("pkg3").exists() && !f.path("pkg4").exists() && !f.path("pkg5").exists());
}

#[test]
fn manifest_changed_by_one_byte_is_refused() {
    let f = Fixture::new();
    let out = f.build("pkg");
    let text = manifest_text(&out);
    let tampered = text.replacen("sequence = 7", "sequence = 9", 1);
    assert_ne!(tampered, text);
    fs::write(out.join(MANIFEST_FILE), tampered).expect("manifest");
    let refused = f.open(&out);
    assert!(matches!(refused, Err(DefsError::SignatureMismatch)), "{refused:?}");
}

#[test]
fn manifest_signed_with_another_key_is_refused() {
    let f = Fixture::new();
    let out = f.build("pkg");
    new_key_pair(&f.path("rogue"));
    f.sign_manifest(&out, &manifest_text(&out), &f.path("rogue").join(PRIVATE_KEY_FILE));
    let refused = f.open(&out);
    assert!(matches!(refused, Err(DefsError::SignatureMismatch)), "{refused:?}");
}

#[test]
fn wrong_or_unusable_public_key_or_signature_is_refused() {
    let f = Fixture::new();
    let out = f.build("pkg");
    let other_key = new_key_pair(&f.path("other"));
    let refused = open(&out, &other_key, MAX_BYTES);
    assert!(matches!(refused, Err(DefsError::SignatureMismatch)), "{refused:?}");
    let refused = open(&out, "not a key", MAX_BYTES);
    assert!(matches!(refused, Err(DefsError::BadKey { .. })), "{refused:?}");

    fs::write(out.join(SIGNATURE_FILE), "not a signature\n").expect("signature");
    let refused = f.open(&out);
    assert!(matches!(refused, Err(DefsError::MalformedSignature)), "{refused:?}");
}

#[test]
fn signature_file_changed_after_signing_is_refused() {
    let f = Fixture::new();
    let out = f.build("pkg");
    let path = out.join("main.ndb");
    let mut data = fs::read(&path).expect("signature file");
    data[0] ^= 1;
    fs::write(&path, &data).expect("signature file");
    let error = f.open(&out).expect_err("a changed file was accepted");
    let DefsError::HashMismatch { name, expected, found } = &error else {
        panic!("expected a hash mismatch, got {error:?}");
    };
    assert_eq!(name, "main.ndb");
    assert!(manifest_text(&out).contains(&format!("sha256 = \"{expected}\"")));
    assert_ne!(found, expected);
    let message = error.to_string();
    assert!(message.contains("main.ndb") && message.contains(expected) && message.contains(found), "{message}");

    fs::write(&path, b"short").expect("signature file");
    let refused = f.open(&out);
    let signed_size = data.len() as u64;
    assert!(
        matches!(refused, Err(DefsError::SizeMismatch { expected, found: 5, .. }) if expected == signed_size),
        "{refused:?}"
    );
}

#[test]
fn missing_file_or_signature_is_refused() {
    let f = Fixture::new();
    let out = f.build("pkg");
    fs::remove_file(out.join("main.ndb")).expect("remove");
    let refused = f.open(&out);
    assert!(matches!(&refused, Err(DefsError::MissingFile { name }) if name == "main.ndb"), "{refused:?}");

    fs::remove_file(out.join(SIGNATURE_FILE)).expect("remove");
    let refused = f.open(&out);
    assert!(matches!(refused, Err(DefsError::MissingManifest { file: SIGNATURE_FILE })), "{refused:?}");
}

#[test]
fn unlisted_file_or_directory_is_refused() {
    let f = Fixture::new();
    let out = f.build("pkg");
    fs::write(out.join("extra.ndb"), "Extra:0:*:00").expect("extra file");
    let refused = f.open(&out);
    assert!(matches!(&refused, Err(DefsError::ExtraFile { name }) if name == "extra.ndb"), "{refused:?}");

    fs::remove_file(out.join("extra.ndb")).expect("remove");
    fs::create_dir(out.join("sub")).expect("directory");
    let refused = f.open(&out);
    assert!(matches!(&refused, Err(DefsError::NotAFile { name }) if name == "sub"), "{refused:?}");
}

#[test]
fn names_leading_out_of_the_package_are_refused() {
    let f = Fixture::new();
    let out = f.build("pkg");
    // A correctly signed manifest naming a file beside the package, which
    // exists with the listed content: only the name is wrong.
    let mut manifest = Manifest::parse(manifest_text(&out).as_bytes()).expect("manifest");
    fs::write(f.path("outside.ndb"), SIGNATURE_FILES[0].1).expect("outside file");
    manifest.files[1].name = "../outside.ndb".to_string();
    fs::remove_file(out.join("main.ndb")).expect("remove");
    let text = toml::to_string(&manifest).expect("manifest text");
    f.sign_manifest(&out, &text, &f.private_key());
    let refused = f.open(&out);
    assert!(matches!(&refused, Err(DefsError::BadName { name, .. }) if name == "../outside.ndb"), "{refused:?}");

    let archive = raw_tar_gz(&[("../evil.ndb", b"x")]);
    let refused = open_tar_gz(&archive, &f.public_key, MAX_BYTES);
    assert!(matches!(&refused, Err(DefsError::BadName { name, .. }) if name == "../evil.ndb"), "{refused:?}");
}

#[test]
fn only_a_newer_sequence_may_replace_the_running_one() {
    let manifest =
        Manifest { sequence: 5, version: "5".to_string(), date: "2025-06-01T00:00:00Z".to_string(), files: Vec::new() };
    assert!(check_newer(&manifest, None).is_ok());
    assert!(check_newer(&manifest, Some(4)).is_ok());
    for running in [5, 6] {
        let refused = check_newer(&manifest, Some(running));
        assert!(
            matches!(refused, Err(DefsError::NotNewer { candidate: 5, running: r }) if r == running),
            "{refused:?}"
        );
    }
    let message = DefsError::NotNewer { candidate: 5, running: 6 }.to_string();
    assert!(message.contains("sequence 5") && message.contains("sequence 6"), "{message}");
}

#[test]
fn malformed_manifest_is_refused_even_when_signed() {
    let f = Fixture::new();
    let out = f.build("pkg");
    let good = manifest_text(&out);
    let cases = [
        ("sequence = \"seven\"\n".to_string(), "line 1"),
        (good.replacen("date = \"", "date = \"yesterday ", 1), "RFC 3339"),
        (good.replacen("name = \"main.ndb\"", "name = \"daily.hdb\"", 1), "listed twice"),
        (good.replacen("name = \"main.ndb\"", "name = \"manifest.ndb\"", 1), "reserved"),
    ];
    for (text, reason) in cases {
        assert_ne!(text, good);
        f.sign_manifest(&out, &text, &f.private_key());
        let message = match f.open(&out) {
            Err(error @ (DefsError::MalformedManifest { .. } | DefsError::BadName { .. })) => error.to_string(),
            other => panic!("expected a malformed manifest for {text:?}, got {other:?}"),
        };
        assert!(message.contains(reason), "{message}");
    }
}

#[test]
fn package_over_the_size_cap_is_refused() {
    let f = Fixture::new();
    // Compresses to almost nothing: the cap counts unpacked bytes.
    fs::write(f.path("src").join("big.ndb"), vec![b'A'; 64 * 1024]).expect("big file");
    let packed = f.build("pkg.tar.gz");
    assert!(fs::metadata(&packed).expect("package").len() < 16 * 1024);
    let refused = open(&packed, &f.public_key, 16 * 1024);
    assert!(matches!(refused, Err(DefsError::TooLarge { max_bytes: 16384 })), "{refused:?}");
    assert!(open(&packed, &f.public_key, 128 * 1024).is_ok());

    let dir = f.build("pkg");
    let refused = open(&dir, &f.public_key, 16 * 1024);
    assert!(matches!(refused, Err(DefsError::TooLarge { .. })), "{refused:?}");
}

/// Python's `http.server` serving `dir` on a loopback port, stopped on drop.
struct HttpServer(std::process::Child, u16);

impl HttpServer {
    fn start(dir: &Path) -> HttpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs");
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "http.server did not start");
        HttpServer(child, port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_package_is_downloaded_over_http_and_a_failed_download_says_why() {
    let f = Fixture::new();
    f.build("pkg.tar.gz");
    let server = HttpServer::start(&f.path(""));
    let url = format!("http://127.0.0.1:{}/pkg.tar.gz", server.1);
    let package = read_source(&url, &f.public_key, "", MAX_BYTES).expect("downloaded and verified");
    assert_eq!(package.files, expected_files());

    let missing = format!("http://127.0.0.1:{}/none.tar.gz", server.1);
    let refused = read_source(&missing, &f.public_key, "", MAX_BYTES);
    assert!(matches!(&refused, Err(e @ DefsError::Download { .. }) if e.to_string().contains("404")), "{refused:?}");
    let small = read_source(&url, &f.public_key, "", 100);
    assert!(matches!(small, Err(DefsError::Download { .. } | DefsError::TooLarge { .. })), "{small:?}");
    drop(server);
    let down = read_source(&url, &f.public_key, "", MAX_BYTES);
    assert!(matches!(down, Err(DefsError::Download { .. })), "{down:?}");
}

#[test]
fn sources_other_than_local_packages_are_refused_with_the_reason() {
    let f = Fixture::new();
    for (source, reason) in
        [("ftp://defs.example/pkg.tar.gz", "unknown URL scheme"), ("file://mirror/defs/pkg.tar.gz", "local path")]
    {
        match read_source(source, &f.public_key, "", MAX_BYTES) {
            Err(error @ DefsError::UnsupportedSource { .. }) => {
                let message = error.to_string();
                assert!(message.contains(source) && message.contains(reason), "{message}");
            }
            other => panic!("expected {source} to be unsupported, got {other:?}"),
        }
    }
    let not_a_package = f.path("src").join("main.ndb");
    let refused = f.open(&not_a_package);
    assert!(matches!(refused, Err(DefsError::UnsupportedSource { .. })), "{refused:?}");
}
