//! `mxguard report summary|detail`: the reports of SPEC §10 from the event
//! store, opened read-only so they can be made while the gateway runs.

use crate::config::Config;
use crate::config::DEFAULT_CONFIG;
use crate::events::store::{EventStore, SqliteStore};
use crate::events::{Category, Record};
use crate::report::{self, DetailQuery, Summary};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `report` subcommands.
#[derive(Subcommand)]
pub enum ReportKind {
    /// Message and infection figures, viruses, subjects and attachments.
    Summary {
        #[command(flatten)]
        range: Range,
        /// Print the JSON the API returns instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every event in the range, one per line.
    Detail {
        #[command(flatten)]
        range: Range,
        /// Only this category: system, smtp, message or blocking
        /// (repeat for several; all when none).
        #[arg(long = "category", value_parser = category)]
        categories: Vec<Category>,
        /// Only events with this text in some column (case-insensitive).
        #[arg(long)]
        search: Option<String>,
        /// Write MXGUARDyyyymmddhhmm.csv in the log directory and print
        /// its path.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Print the JSON the API returns instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// The configuration and the time range every report needs.
#[derive(Args)]
pub struct Range {
    /// The configuration: `paths.log_dir` holds the event store.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Start (included): RFC 3339, or "YYYY-MM-DD[ HH:MM]" in local time.
    #[arg(long, value_parser = report::parse_time)]
    from: i64,
    /// End (excluded), in the same forms: a day is `--from 2026-01-31
    /// --to 2026-02-01`.
    #[arg(long, value_parser = report::parse_time)]
    to: i64,
}

/// Run one `report` subcommand; `load` reads a configuration file. Exit 2
/// for a bad range or configuration, 1 when the store cannot be read.
pub fn run(kind: ReportKind, load: impl Fn(&Path) -> Option<Config>) -> ExitCode {
    let range = match &kind {
        ReportKind::Summary { range, .. } | ReportKind::Detail { range, .. } => range,
    };
    if range.from >= range.to {
        eprintln!("error: --from must be before --to");
        return ExitCode::from(2);
    }
    let Some(config) = load(&range.config) else { return ExitCode::from(2) };
    let log_dir = PathBuf::from(&config.paths.log_dir);
    if !SqliteStore::path(&log_dir).exists() {
        eprintln!(
            "error: no event store in {}: nothing has been logged there (see logging.local_enabled and paths.log_dir)",
            log_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let result = SqliteStore::open_readonly(&log_dir).and_then(|store| match kind {
        ReportKind::Summary { range, json } => {
            let summary = store.summary(range.from, range.to)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print_summary(&summary, range.from, range.to);
            }
            Ok(())
        }
        ReportKind::Detail { range, categories, search, csv, json } => {
            let query = DetailQuery { from: range.from, to: range.to, categories, search, limit: None };
            let events = store.detail(&query)?;
            if csv {
                println!("{}", report::write_csv(&events, &log_dir, chrono::Local::now().naive_local())?.display());
            } else if json {
                println!("{}", serde_json::to_string_pretty(&report::detail_json(&events))?);
            } else {
                events.iter().for_each(|r| println!("{}", line(r)));
                println!("{} event(s)", events.len());
            }
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A `--category` value.
fn category(s: &str) -> Result<Category, String> {
    Category::parse(s).ok_or_else(|| format!("{s:?} is not a category: use system, smtp, message or blocking"))
}

fn print_summary(s: &Summary, from: i64, to: i64) {
    println!("Summary report, {} to {} (local time)\n", report::local_minute(from), report::local_minute(to));
    println!("Message summary");
    for (name, n) in [
        ("Messages accepted", s.messages_accepted),
        ("Data accepted (KB)", s.data_accepted_kb),
        ("Messages rejected", s.messages_rejected),
        ("Messages blocked by size", s.messages_blocked_by_size),
        ("Messages bounced", s.messages_bounced),
        ("Messages delivered", s.messages_delivered),
        ("Message delivery failures", s.message_delivery_failures),
        ("Messages completed", s.messages_completed),
        ("Encrypted files deleted", s.encrypted_files_deleted),
    ] {
        println!("  {name:<28}{n:>12}");
    }
    println!("\nInfection summary");
    for (name, n) in [
        ("Logged", s.infections_logged),
        ("Repaired", s.infections_repaired),
        ("Deleted", s.infections_deleted),
        ("Total", s.infections_total),
        ("Quarantined", s.infections_quarantined),
    ] {
        println!("  {name:<28}{n:>12}");
    }
    let viruses: Vec<(&str, u64)> = s.viruses.iter().map(|v| (v.name.as_str(), v.count)).collect();
    let subjects: Vec<(&str, u64)> = s.subjects_blocked.iter().map(|v| (v.subject.as_str(), v.count)).collect();
    let files: Vec<(&str, u64)> = s.attachments_deleted.iter().map(|v| (v.name.as_str(), v.count)).collect();
    print_list("Viruses found", "Virus", &viruses);
    print_list("Subjects blocked", "Subject", &subjects);
    print_list("Attachments deleted", "File name", &files);
}

/// One top list with its total.
fn print_list(title: &str, column: &str, rows: &[(&str, u64)]) {
    println!("\n{title}\n  {:>10}  {column}", "Count");
    for (name, count) in rows {
        println!("  {count:>10}  {name}");
    }
    println!("  {:>10}  Total", rows.iter().map(|(_, n)| n).sum::<u64>());
}

/// One event as a line: time, category and action, then the filled
/// columns by name.
fn line(r: &Record) -> String {
    let cells = report::cells(r);
    let mut out = format!("{}  {:<8}  {}", cells[0], cells[1], cells[2]);
    for (name, cell) in report::filled_columns(r) {
        out += &format!("; {name}: {cell}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_named() {
        assert!(category("spam").unwrap_err().contains("system, smtp, message or blocking"));
        assert_eq!(category("Blocking"), Ok(Category::Blocking));
    }

    #[test]
    fn a_detail_line_shows_the_filled_columns() {
        let r = Record {
            time: 1_767_225_600_000,
            category: Some(Category::Blocking),
            action: "File deleted".into(),
            smtp_id: "ID1".into(),
            virus: "Eicar".into(),
            ..Record::default()
        };
        assert_eq!(line(&r), "2026-01-01T00:00:00.000Z  blocking  File deleted; smtp_id: ID1; virus: Eicar");
        assert!(line(&Record { bytes: 5, ..r }).ends_with("; bytes: 5"));
    }
}
