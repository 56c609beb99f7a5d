//! `mxguard report summary|detail` on a real event store: figures as
//! JSON, detail filtered by category and search, the CSV file, and clear
//! refusals of bad arguments.

mod common;

use mxguard::events::store::{EventStore, SqliteStore};
use mxguard::events::{Category, Record};
use std::path::Path;
use std::process::{Command, Output};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn mxguard(config: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--config",
        config.to_str().unwrap(),
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-02T00:00:00Z",
    ]);
    Command::new(env!("CARGO_BIN_EXE_mxguard")).arg("report").args(all).output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A config whose log directory holds a store with a few events.
fn setup(dir: &Path) -> std::path::PathBuf {
    let logs = dir.join("logs");
    let config = dir.join("mxguard.toml");
    std::fs::write(&config, format!("[paths]\nlog_dir = {:?}\n[smtp]\nhostname = \"mx.test\"\n", logs)).unwrap();
    let r = |time, category, action: &str| Record {
        time,
        category: Some(category),
        action: action.into(),
        ..Record::default()
    };
    let mut store = SqliteStore::open(&logs).unwrap();
    store
        .insert(&[
            Record { bytes: 4096, subject: "Hello, \"world\"".into(), ..r(T0 + 1, Category::Message, "Accepted") },
            Record { virus: "Eicar-Test-Signature".into(), ..r(T0 + 2, Category::Blocking, "File deleted") },
            Record { client_ip: "192.0.2.9".into(), ..r(T0 + 3, Category::Smtp, "Connection from") },
            r(T0 - 1, Category::Message, "Accepted"),
        ])
        .unwrap();
    config
}

#[test]
fn summary_and_detail_from_the_store() {
    let dir = common::test_dir();
    let config = setup(dir.path());

    let json: serde_json::Value = serde_json::from_str(&stdout(&mxguard(&config, &["summary", "--json"]))).unwrap();
    assert_eq!((json["messages_accepted"].as_u64(), json["data_accepted_kb"].as_u64()), (Some(1), Some(4)));
    assert_eq!(json["viruses"], serde_json::json!([{"name": "Eicar-Test-Signature", "count": 1}]));
    let table = stdout(&mxguard(&config, &["summary"]));
    assert!(table.contains("Messages accepted") && table.contains("Eicar-Test-Signature"), "{table}");

    let lines = stdout(&mxguard(&config, &["detail", "--category", "smtp", "--category", "blocking"]));
    assert!(lines.contains("File deleted") && lines.contains("Connection from") && !lines.contains("Accepted"));
    assert!(lines.ends_with("2 event(s)\n"), "{lines}");
    let found = stdout(&mxguard(&config, &["detail", "--search", "eicar"]));
    assert!(found.contains("virus: Eicar-Test-Signature") && found.ends_with("1 event(s)\n"), "{found}");

    let path = stdout(&mxguard(&config, &["detail", "--csv"]));
    let path = Path::new(path.trim());
    assert!(path.starts_with(dir.path().join("logs")), "{}", path.display());
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("MXGUARD") && name.ends_with(".csv") && name.len() == "MXGUARDyyyymmddhhmm.csv".len());
    let mut csv = csv::Reader::from_path(path).unwrap();
    assert_eq!(csv.headers().unwrap().iter().collect::<Vec<_>>(), Record::COLUMNS);
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][8], "Hello, \"world\"");
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    let dir = common::test_dir();
    let config = setup(dir.path());
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_mxguard")).arg("report").args(args).output().unwrap();
    let c = config.to_str().unwrap();
    for (args, expected) in [
        (vec!["summary", "--config", c, "--from", "soon", "--to", "2026-01-02"], "is not a time"),
        (vec!["summary", "--config", c, "--from", "2026-01-02", "--to", "2026-01-01"], "--from must be before --to"),
        (
            vec!["detail", "--config", c, "--from", "2026-01-01", "--to", "2026-01-02", "--category", "spam"],
            "not a category",
        ),
        (vec!["summary", "--config", c, "--from", "2026-01-01"], "--to"),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, format!("[paths]\nlog_dir = {:?}\n", dir.path().join("nothing"))).unwrap();
    let out = mxguard(&empty, &["summary"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no event store"));
}
