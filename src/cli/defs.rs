//! `mxguard defs keygen|build|verify|update`: making and checking signed
//! definitions packages, and LiveUpdate now.

use crate::config::Config;
use crate::config::DEFAULT_CONFIG;
use crate::control::{self, ControlCommand};
use crate::scan::defs;
use crate::spool::Spool;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `defs` subcommands.
#[derive(Subcommand)]
pub enum DefsAction {
    /// Make a signing key pair: DIR/defs.key (private) and DIR/defs.pub.
    Keygen { dir: PathBuf },
    /// Build a signed package from the signature files in SRC.
    Build {
        src: PathBuf,
        /// The private key (defs.key).
        #[arg(long)]
        key: PathBuf,
        /// Must grow with every package.
        #[arg(long)]
        sequence: u64,
        #[arg(long)]
        version: String,
        /// A directory, or a file ending in .tar.gz.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a package's signature and files.
    Verify {
        package: PathBuf,
        /// The public key: 64 hex digits, or the path of defs.pub.
        #[arg(long)]
        public_key: String,
    },
    /// LiveUpdate now: install a newer package from liveupdate.sources.
    Update {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

/// Run one `defs` subcommand; `load` reads a configuration file.
pub fn run(action: DefsAction, load: impl Fn(&Path) -> Option<Config>) -> ExitCode {
    let result = match action {
        DefsAction::Keygen { dir } => defs::keygen(&dir).map(|()| {
            format!(
                "keys written: {} (keep private) and {}",
                dir.join(defs::PRIVATE_KEY_FILE).display(),
                dir.join(defs::PUBLIC_KEY_FILE).display()
            )
        }),
        DefsAction::Build { src, key, sequence, version, out } => defs::build(&src, &key, sequence, &version, &out)
            .map(|m| format!("package {} built: sequence {}, {} file(s)", out.display(), m.sequence, m.files.len())),
        DefsAction::Verify { package, public_key } => {
            let key = std::fs::read_to_string(&public_key).unwrap_or(public_key);
            defs::open(&package, key.trim(), u64::MAX).map(|p| {
                let m = &p.manifest;
                format!(
                    "valid: sequence {}, version {}, date {}, {} file(s)",
                    m.sequence,
                    m.version,
                    m.date,
                    m.files.len()
                )
            })
        }
        DefsAction::Update { config } => {
            let Some(cfg) = load(&config) else { return ExitCode::from(2) };
            return update(&cfg);
        }
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Through the running gateway (which then uses the new set at once), or
/// on the files when none runs.
fn update(cfg: &Config) -> ExitCode {
    let dir = Path::new(&cfg.paths.queue_dir);
    let outcome = match control::request(dir, &ControlCommand::UpdateDefinitions) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            Spool::open(dir).and_then(|spool| control::execute(&spool, cfg, &ControlCommand::UpdateDefinitions, None))
        }
        other => other,
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
