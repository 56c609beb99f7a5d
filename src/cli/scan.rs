//! `mxguard scan PATH...`: files, directories (recursively) and `.eml`
//! messages scanned with the built-in engine the way mail is — archives
//! and messages taken apart — and reported like clamscan: one line per
//! file, `PATH: NAME FOUND` or `PATH: OK`, then a summary.

use crate::config::ContainerRule;
use crate::mime::{Decomposition, decompose, decompose_file};
use crate::scan::builtin::{Builtin, Loaded};
use crate::scan::{Scanner, Target};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Scan `paths` with the signatures in `defs`; exit 0 clean, 1 found, 2 on
/// errors.
pub fn run(paths: &[PathBuf], defs: &Path, rule: &ContainerRule) -> ExitCode {
    let started = Instant::now();
    let loaded = Loaded::from_dir(defs);
    if let Some(e) = &loaded.error {
        eprintln!("{}: cannot load signatures: {e}", defs.display());
        return ExitCode::from(2);
    }
    let signatures = loaded.db.report().signatures;
    let engine = Builtin(std::sync::Arc::new(loaded));
    let mut errors = 0;
    let mut files = Vec::new();
    for path in paths {
        if let Err(e) = collect(path, &mut files) {
            println!("{}: {e} ERROR", path.display());
            errors += 1;
        }
    }
    let progress = std::io::stderr().is_terminal();
    let (mut infected, mut scanned, mut bytes) = (0, 0, 0u64);
    for (i, file) in files.iter().enumerate() {
        if progress {
            show_progress(i, files.len());
        }
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                println!("{}: {e} ERROR", file.display());
                errors += 1;
                continue;
            }
        };
        bytes += data.len() as u64;
        scanned += 1;
        let tree = taken_apart(file, data, rule);
        match first_detection(&engine, &tree) {
            Ok(Some(name)) => {
                infected += 1;
                println!("{}: {name} FOUND", file.display());
            }
            Ok(None) => println!("{}: OK", file.display()),
            Err(why) => {
                errors += 1;
                println!("{}: {why} ERROR", file.display());
            }
        }
    }
    if progress {
        eprint!("\r{:60}\r", "");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("\n----------- SCAN SUMMARY -----------");
    println!("Known viruses: {signatures}\nScanned files: {scanned}\nInfected files: {infected}");
    println!("Data scanned: {:.2} MB\nTime: {seconds:.3} sec", bytes as f64 / 1_048_576.0);
    let _ = std::io::stdout().flush();
    if errors > 0 {
        ExitCode::from(2)
    } else if infected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Files under `path` (itself if it is one), in name order.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !std::fs::metadata(path)?.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        collect(&entry, out)?;
    }
    Ok(())
}

/// A `.eml` file is taken apart as mail, anything else as an attachment.
fn taken_apart(file: &Path, data: Vec<u8>, rule: &ContainerRule) -> Decomposition {
    let is_mail = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml"));
    if is_mail {
        return decompose(&data, rule);
    }
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    decompose_file(&name, data, rule)
}

/// The first signature matching any part, parents before their contents.
fn first_detection(engine: &Builtin, tree: &Decomposition) -> Result<Option<String>, String> {
    for part in tree.all().into_iter().filter(|p| !p.encrypted) {
        let target = Target {
            data: &part.data,
            detected: part.detected,
            path: &part.path,
            names: &part.names,
            declared_type: &part.declared_type,
        };
        match engine.scan(&target) {
            Ok(found) => {
                if let Some(d) = found.into_iter().next() {
                    return Ok(Some(d.name));
                }
            }
            Err(failure) => return Err(failure.why),
        }
    }
    Ok(None)
}

fn show_progress(done: usize, total: usize) {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width).min(width);
    eprint!("\r[{}{}] {done}/{total} files", "#".repeat(filled), " ".repeat(width - filled));
}
