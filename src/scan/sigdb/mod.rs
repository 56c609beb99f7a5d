//! The built-in signature engine: reads the ClamAV database formats
//! administrators already have and scans files with them. For the
//! signatures it loads it finds what `clamscan` finds, except in files
//! that look like HTML (markers such as `<html` or `<a href`): clamscan
//! matches only their normalised forms there, with no raw-byte body
//! matching and no whole-file hash, while this engine matches the raw
//! bytes and hashes of every file, so it finds a superset.
//!
//! - `hash.rs`: `.hdb`, `.hsb`, `.fp`, `.sfp` (whole-file digests).
//! - `pattern.rs`: the hex pattern language, compiled into segments.
//! - `target.rs`, `offset.rs`: which files and where a pattern applies.
//! - `body.rs`: `.ndb` lines; `logical.rs`: `.ldb` lines and expressions.
//! - `anchors.rs`: every pattern's anchor found in one pass (`grams.rs`),
//!   then verified.
//! - `verify.rs`: bounded verification of the full pattern at a hit.
//! - `cvd.rs`: `.cvd`/`.cld` packages; `arena.rs`: names and anchors
//!   kept in one buffer each.
//! - `load.rs`: files parsed in chunks on all cores, joined in order.
//!
//! Lines are trimmed; empty lines and `#` comments are skipped; a line
//! that cannot be used (malformed, unsupported, or outside the engine's
//! functionality level) is reported as `file:line: reason` and skipped.

mod anchors;
mod arena;
mod body;
mod cvd;
mod grams;
mod hash;
mod load;
mod logical;
mod offset;
mod pattern;
mod target;
mod verify;

pub use cvd::{CvdHeader, read_cvd};

use crate::mime::detect::FileType;
use anchors::AnchorSet;
use arena::Arena;
use hash::{Digests, HashIndex};
use logical::{LogicalSig, MAX_SUBSIGS};
use std::collections::HashSet;
use std::path::Path;

/// Signature files by name with their contents, as read from a directory
/// or unpacked from a `.cvd`.
pub type NamedFiles = Vec<(String, Vec<u8>)>;

/// The ClamAV functionality level this engine answers to: ClamAV 1.4's,
/// whose formats it follows, so that lines limited by `MinFL`/`MaxFL` (or
/// `Engine:`) load exactly when they would load there.
pub const FUNCTIONALITY_LEVEL: u32 = 216;

/// Whether a line limited to functionality levels `min..=max` (either may
/// be absent or empty) is for this engine.
fn flevel_allows(min: Option<&str>, max: Option<&str>) -> Result<(), String> {
    let level = |s: Option<&str>| match s.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<u32>().map(Some).map_err(|_| format!("bad functionality level {s:?}")),
    };
    if let Some(min) = level(min)?.filter(|&m| m > FUNCTIONALITY_LEVEL) {
        return Err(format!("needs functionality level {min} (engine has {FUNCTIONALITY_LEVEL}), skipped"));
    }
    if let Some(max) = level(max)?.filter(|&m| m < FUNCTIONALITY_LEVEL) {
        return Err(format!("only for functionality levels up to {max} (engine has {FUNCTIONALITY_LEVEL}), skipped"));
    }
    Ok(())
}

/// What loading found: how many signatures were loaded, and every
/// skipped line as `file:line: reason` (a whole file that could not be
/// used as `file: reason`), so administrators see what is not enforced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub signatures: usize,
    pub problems: Vec<String>,
}

/// A loaded set of signatures, shared by all scanning workers.
#[derive(Debug)]
pub struct Database {
    /// Signature names; a signature's id indexes here, in load order.
    names: Arena,
    hashes: HashIndex,
    allow: HashIndex,
    anchors: AnchorSet,
    logical: Vec<Logical>,
    /// Logical signatures that hold with no subsignature matched
    /// (`0<1`): evaluated on every file.
    unconditional: Vec<u32>,
    report: LoadReport,
}

/// A logical signature and its name's id.
#[derive(Debug)]
struct Logical {
    id: u32,
    sig: LogicalSig,
}

impl Database {
    /// Load every .hdb .hsb .ndb .ldb .fp .sfp .cvd .cld file in `dir`
    /// (not recursive; other files ignored; .cvd/.cld unpacked and their
    /// members loaded by the same rules), in file name order. Err only if
    /// the directory cannot be read.
    pub fn load_dir(dir: &Path) -> Result<Database, String> {
        load::dir(dir)
    }

    /// The same from (file name, bytes) pairs, e.g. a definitions package
    /// held in memory; files are taken in the order given.
    pub fn from_files(files: NamedFiles) -> Database {
        load::files(&files)
    }

    /// What loading found.
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Names of the signatures matching `data` (whose content type is
    /// `file`), each once, in load order; empty when an .fp/.sfp entry
    /// allow-lists the file.
    pub fn scan(&self, data: &[u8], file: FileType) -> Vec<String> {
        let mut digests = Digests::new(data);
        let mut ids = self.hashes.matches(&mut digests);
        let findings = self.anchors.scan(data, file);
        ids.extend(findings.body.iter().copied());
        let none = [0; MAX_SUBSIGS];
        let triggered = findings.logical.keys().copied().filter(|i| !self.unconditional.contains(i));
        for index in triggered.chain(self.unconditional.iter().copied()) {
            let Some(logical) = self.logical.get(index as usize) else { continue };
            let counts = findings.logical.get(&index).unwrap_or(&none);
            if logical.sig.applies(data.len(), file) && logical.sig.holds(counts) {
                ids.push(logical.id);
            }
        }
        if ids.is_empty() || !self.allow.matches(&mut digests).is_empty() {
            return Vec::new();
        }
        ids.sort_unstable();
        ids.dedup();
        let mut seen = HashSet::new();
        ids.iter()
            .filter_map(|&id| self.names.get(id))
            .filter(|name| seen.insert(*name))
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    const EICAR_NDB: &str = "Eicar-Test-Signature:0:0:58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a";

    fn db(files: &[(&str, &str)]) -> Database {
        Database::from_files(files.iter().map(|(n, c)| (n.to_string(), c.as_bytes().to_vec())).collect())
    }

    fn md5_hex(data: &[u8]) -> String {
        use md5::{Digest, Md5};
        Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn eicar_is_detected() {
        let db = db(&[("test.ndb", EICAR_NDB)]);
        assert_eq!(db.report(), &LoadReport { signatures: 1, problems: vec![] });
        assert_eq!(db.scan(EICAR, FileType::Text), vec!["Eicar-Test-Signature"]);
        let mut later = b" ".to_vec();
        later.extend_from_slice(EICAR);
        assert!(db.scan(&later, FileType::Text).is_empty(), "offset 0 only");
    }

    #[test]
    fn malformed_lines_are_reported_and_the_rest_loads() {
        let db = db(&[
            (
                "a.ndb",
                "# comment\n\nGood.One:0:*:414243\nBad.One:0:*:4142zz\n  Good.Two:0:*:444546  \r\nBad.Two:3:*:414243\n",
            ),
            ("b.hdb", "nonsense\n"),
            ("c.txt", "ignored:0:*:414243\n"),
        ]);
        assert_eq!(db.report().signatures, 2);
        assert_eq!(db.report().problems.len(), 3);
        assert!(db.report().problems[0].starts_with("a.ndb:4: "), "{:?}", db.report().problems);
        assert!(db.report().problems[1].starts_with("a.ndb:6: target type 3"));
        assert!(db.report().problems[2].starts_with("b.hdb:1: "));
        assert_eq!(db.scan(b"ABC DEF", FileType::Text), vec!["Good.One", "Good.Two"]);
    }

    #[test]
    fn results_are_unique_and_in_load_order() {
        let hdb = format!("{}:3:Hash.Sig", md5_hex(b"ABC"));
        let db = db(&[
            ("a.ndb", "Body.Sig:0:*:414243\nSame.Name:0:*:414243\nSame.Name:0:0:4142??"),
            ("b.hdb", &hdb),
            ("c.ldb", "Logic.Sig;Target:0;0&1;4142;4243"),
        ]);
        assert_eq!(db.scan(b"ABC", FileType::Text), vec!["Body.Sig", "Same.Name", "Hash.Sig", "Logic.Sig"]);
    }

    #[test]
    fn allow_lists_clear_a_file() {
        let data = b"hello world\n";
        let md5 = md5_hex(data);
        let sha256 = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";
        for (file, line) in [
            ("x.fp", format!("{md5}:12:Clean")),
            ("x.sfp", format!("{sha256}:12:Clean")),
            ("x.fp", format!("{md5}:*:Clean:73")),
        ] {
            let db = db(&[("a.ndb", "Sig:0:*:68656c6c6f"), ("b.hdb", &format!("{md5}:12:Hash")), (file, &line)]);
            assert_eq!(db.report().problems, Vec::<String>::new());
            assert!(db.scan(data, FileType::Text).is_empty(), "{file} {line}");
            assert_eq!(db.scan(b"hello world!", FileType::Text), vec!["Sig"], "same size, other digest");
        }
        let db = db(&[("a.ndb", "Sig:0:*:68656c6c6f"), ("x.fp", &format!("{md5}:13:Clean"))]);
        assert_eq!(db.scan(data, FileType::Text), vec!["Sig"], "allow-listed size differs");
    }

    #[test]
    fn pe_only_signature_does_not_fire_on_text() {
        let db = db(&[("a.ndb", "Pe.Sig:1:*:41424344"), ("b.ldb", "Pe.Logic;Target:1;0;41424344")]);
        assert_eq!(db.scan(b"MZ..ABCD", FileType::Pe), vec!["Pe.Sig", "Pe.Logic"]);
        assert!(db.scan(b"MZ..ABCD", FileType::Text).is_empty());
    }

    #[test]
    fn every_offset_form() {
        let db = db(&[(
            "a.ndb",
            "Any:0:*:414243\nAt2:0:2:414243\nAt1to3:0:1,2:414243\nEnd5:0:EOF-5:414243\nEnd7to5:0:EOF-7,2:414243",
        )]);
        assert_eq!(db.scan(b"..ABC..", FileType::Text), vec!["Any", "At2", "At1to3", "End5", "End7to5"]);
        assert_eq!(db.scan(b"....ABC", FileType::Text), vec!["Any"]);
        assert_eq!(db.scan(b"ABC", FileType::Text), vec!["Any"]);
    }

    #[test]
    fn logical_signatures_with_modifiers() {
        let db = db(&[(
            "a.ldb",
            "NoCase;Target:0;0;68656c6c6f::i\nWide;Target:0;0;68656c6c6f::w\nBoth;Target:0;0=2;68656c6c6f::wa\nWord;Target:0;0;68656c6c6f::f\nNone;Target:0;0<1;7a7a7a",
        )]);
        assert_eq!(db.scan(b"HeLLo world", FileType::Text), vec!["NoCase", "None"]);
        assert_eq!(db.scan(b"HeLLo world hello.", FileType::Text), vec!["NoCase", "Word", "None"]);
        assert_eq!(db.scan(b"h\0e\0l\0l\0o\0 hello", FileType::Other), vec!["NoCase", "Wide", "Both", "Word", "None"]);
        assert_eq!(db.scan(b"hellothere", FileType::Text), vec!["NoCase", "None"]);
        assert!(db.scan(b"zzz", FileType::Text).is_empty());
    }

    #[test]
    fn logical_file_size_and_flevel() {
        let db = db(&[(
            "a.ldb",
            "Small;Engine:51-255,Target:0,FileSize:1-5;0;414243\nFuture;Engine:250-255,Target:0;0;414243",
        )]);
        assert_eq!(db.report().signatures, 1);
        assert!(db.report().problems[0].starts_with("a.ldb:2: needs functionality level 250"));
        assert_eq!(db.scan(b"ABC", FileType::Text), vec!["Small"]);
        assert!(db.scan(b"ABC...", FileType::Text).is_empty());
    }

    #[test]
    fn packages_are_unpacked_and_checked() {
        let good = cvd::tests::cvd(&[("daily.info", b""), ("daily.ndb", b"Packed:0:*:414243\nBroken:0:*:41\n")]);
        let mut bad = good.clone();
        if let Some(last) = bad.last_mut() {
            *last ^= 1;
        }
        let nested = cvd::tests::cvd(&[("inner.cvd", &good)]);
        let db = Database::from_files(vec![
            ("daily.cvd".into(), good),
            ("bad.cvd".into(), bad),
            ("outer.cld".into(), nested),
        ]);
        assert_eq!(db.scan(b"ABC", FileType::Text), vec!["Packed"]);
        let problems = &db.report().problems;
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("daily.cvd/daily.ndb:2: "));
        assert!(problems[1].starts_with("bad.cvd: MD5"));
        assert!(problems[2].starts_with("outer.cld/inner.cvd: package inside"));
    }

    #[test]
    fn load_dir_reads_known_extensions_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("b.ndb"), "Second:0:*:444546\n").expect("write");
        std::fs::write(dir.path().join("a.NDB"), "First:0:*:414243\n").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "Ignored:0:*:414243\n").expect("write");
        std::fs::create_dir(dir.path().join("sub.ndb")).expect("mkdir");
        let db = Database::load_dir(dir.path()).expect("readable");
        assert_eq!(db.report(), &LoadReport { signatures: 2, problems: vec![] });
        assert_eq!(db.scan(b"DEF ABC", FileType::Text), vec!["First", "Second"]);
        assert!(Database::load_dir(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn flevel_gate() {
        assert!(flevel_allows(None, None).is_ok());
        assert!(flevel_allows(Some(""), Some("")).is_ok());
        assert!(flevel_allows(Some("216"), Some("216")).is_ok());
        assert!(flevel_allows(Some("217"), None).is_err());
        assert!(flevel_allows(None, Some("215")).is_err());
        assert!(flevel_allows(Some("x"), None).is_err());
    }
}
