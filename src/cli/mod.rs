//! The command line: `serve`, `check-config`, `passwd`, `status`, `queue`
//! administration, `scan`, `defs`, `report` and `quarantine serve`.

mod defs;
mod report;
mod scan;

use crate::admin::accounts::{Accounts, Role};
use crate::config::DEFAULT_CONFIG;
use crate::config::{Config, ConfigHandle, load_file};
use crate::control::{self, ControlCommand};
use crate::spool::{Queue, Spool};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// mxguard: SMTP antivirus gateway.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file; a missing file means the built-in defaults.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a configuration file and print every problem (exit 2 if any).
    CheckConfig {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Set an administrator's password, read as one line from standard
    /// input (kept as an argon2 hash beside the configuration: the
    /// gateway's, or a quarantine server's).
    Passwd {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// `admin` (Administrator) or `report` (Report-only administrator).
        #[arg(long, value_parser = ["admin", "report"])]
        role: String,
    },
    /// Print a running gateway's Status figures since its start as JSON
    /// (exit 1 if none runs on the configured queue directory).
    Status {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Scan files, directories and .eml messages for viruses, like
    /// clamscan (exit 0 clean, 1 found, 2 error).
    Scan {
        /// Files or directories (recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Signature directory; default: antivirus.defs_dir of the config.
        #[arg(long)]
        defs: Option<PathBuf>,
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Definitions packages: make, check and update.
    Defs {
        #[command(subcommand)]
        action: defs::DefsAction,
    },
    /// The Summary and Detail reports from the event store.
    Report {
        #[command(subcommand)]
        kind: report::ReportKind,
    },
    /// Look at and act on the queues.
    Queue {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[command(subcommand)]
        action: QueueAction,
    },
    /// The Central Quarantine server.
    Quarantine {
        #[command(subcommand)]
        action: QuarantineAction,
    },
}

#[derive(Subcommand)]
enum QuarantineAction {
    /// Run the Central Quarantine server.
    Serve {
        /// The server's configuration file: one `[quarantine_server]` table.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum QueueAction {
    /// List every queued message.
    List,
    /// Show one message's envelope, state and headers.
    Show { id: String },
    /// Retry every slow-queue message now.
    Flush,
    /// Move held messages back to the fast queue (they may crash again).
    Reprocess {
        /// A message ID, or `all`.
        which: String,
    },
    /// Delete held messages.
    Drop {
        /// A message ID, or `all`.
        which: String,
    },
    /// Send an unscanned copy of held messages to one address.
    Forward {
        /// A message ID, or `all`.
        which: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "Copy of a message in the mxguard hold queue")]
        subject: String,
    },
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config } => serve(&config),
        Command::CheckConfig { config } => check_config(&config),
        Command::Defs { action } => defs::run(action, load),
        Command::Report { kind } => report::run(kind, load),
        Command::Scan { paths, defs, config } => match load(&config) {
            Some(cfg) => {
                let defs = defs.unwrap_or_else(|| PathBuf::from(&cfg.antivirus.defs_dir));
                scan::run(&paths, &defs, &cfg.blocking.container)
            }
            None => ExitCode::from(2),
        },
        Command::Queue { config, action } => match load(&config) {
            Some(cfg) => queue(&cfg, action),
            None => ExitCode::from(2),
        },
        Command::Passwd { config, role } => passwd(&config, &role),
        Command::Status { config } => match load(&config) {
            Some(cfg) => status(&cfg),
            None => ExitCode::from(2),
        },
        Command::Quarantine { action: QuarantineAction::Serve { config } } => quarantine_serve(&config),
    }
}

fn quarantine_serve(path: &Path) -> ExitCode {
    init_logging();
    match crate::quarantine::server::Settings::load(path) {
        Ok(settings) => run_until_done(crate::quarantine::server::serve(settings, Accounts::beside(path))),
        Err(problems) => {
            eprintln!("{}: configuration refused:", path.display());
            for p in problems {
                eprintln!("  {p}");
            }
            ExitCode::from(2)
        }
    }
}

fn passwd(config: &Path, role: &str) -> ExitCode {
    let Some(role) = Role::parse(role) else { return ExitCode::from(2) };
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("New {} password: ", role.title());
    }
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: cannot read the password: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    let accounts = Accounts::beside(config);
    match accounts.set_password(role, password) {
        Ok(()) => {
            println!("{} password set in {}", role.title(), accounts.path().display());
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

fn status(cfg: &Config) -> ExitCode {
    let dir = PathBuf::from(&cfg.paths.queue_dir);
    match control::request(&dir, &ControlCommand::Status) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            eprintln!("error: no gateway is running on queue directory {}", dir.display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> Option<Config> {
    match load_file(path) {
        Ok(c) => Some(c),
        Err(problems) => {
            eprintln!("{}: configuration refused:", path.display());
            for p in problems {
                eprintln!("  {p}");
            }
            None
        }
    }
}

fn check_config(path: &Path) -> ExitCode {
    match load(path) {
        Some(_) if !path.exists() => {
            println!("{}: no such file; the built-in defaults apply and are valid", path.display());
            ExitCode::SUCCESS
        }
        Some(_) => {
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        None => ExitCode::from(2),
    }
}

/// Log to standard error at `RUST_LOG` (default `info`).
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
}

/// Run a server on a multi-threaded runtime until it returns.
fn run_until_done(server: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: &Path) -> ExitCode {
    init_logging();
    let Some(config) = load(path) else { return ExitCode::from(2) };
    if !path.exists() {
        tracing::info!("{} not found: running with the built-in defaults", path.display());
    }
    run_until_done(crate::app::serve(ConfigHandle::new(config, Some(path.to_path_buf()))))
}

fn queue(cfg: &Config, action: QueueAction) -> ExitCode {
    let dir = PathBuf::from(&cfg.paths.queue_dir);
    let result = match action {
        QueueAction::List => list(&dir),
        QueueAction::Show { id } => show(&dir, &id),
        QueueAction::Flush => command(cfg, &dir, ControlCommand::Flush),
        QueueAction::Reprocess { which } => command(cfg, &dir, ControlCommand::Reprocess(which)),
        QueueAction::Drop { which } => command(cfg, &dir, ControlCommand::Drop(which)),
        QueueAction::Forward { which, to, subject } => {
            command(cfg, &dir, ControlCommand::Forward { which, to, subject })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Send to a running gateway, or act on the files when none runs.
fn command(cfg: &Config, dir: &Path, cmd: ControlCommand) -> std::io::Result<()> {
    let text = match control::request(dir, &cmd) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            control::execute(&Spool::open(dir)?, cfg, &cmd, None)?
        }
        other => other?,
    };
    println!("{text}");
    Ok(())
}

fn list(dir: &Path) -> std::io::Result<()> {
    let spool = Spool::open_readonly(dir);
    println!("{:<20} {:<5} {:>9} {:<25} {:<30} recipients", "id", "queue", "size", "arrival", "sender");
    for queue in Queue::ALL {
        for id in spool.list(queue).unwrap_or_default() {
            let Ok(h) = spool.load_header(queue, &id) else { continue };
            let m = &h.message;
            let size = std::fs::metadata(dir.join(queue.name()).join(&id)).map(|m| m.len()).unwrap_or(0);
            let arrival =
                chrono::DateTime::from_timestamp(m.arrival as i64, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
            let rcpts: Vec<&str> = m.envelope.recipients.iter().map(|r| r.address.as_str()).collect();
            let sender = if m.envelope.sender.is_empty() { "<>" } else { &m.envelope.sender };
            println!("{id:<20} {:<5} {size:>9} {arrival:<25} {sender:<30} {}", queue.name(), rcpts.join(", "));
            if !m.reason.is_empty() {
                println!("{:<20} reason: {}", "", m.reason);
            }
        }
    }
    Ok(())
}

fn show(dir: &Path, id: &str) -> std::io::Result<()> {
    let spool = Spool::open_readonly(dir);
    let queue = Queue::ALL
        .into_iter()
        .find(|q| spool.contains(*q, id))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no message {id} in any queue")))?;
    let m = spool.load(queue, id)?;
    let e = &m.envelope;
    println!("id:        {id}\nqueue:     {}\nsender:    <{}>", queue.name(), e.sender);
    for r in &e.recipients {
        println!(
            "recipient: <{}>{}",
            r.address,
            r.notify.as_deref().map(|n| format!(" NOTIFY={n}")).unwrap_or_default()
        );
    }
    println!("client:    {} ({})\nattempts:  {}", e.client_ip, e.helo, m.attempts);
    if !m.reason.is_empty() {
        println!("reason:    {}", m.reason);
    }
    let end = m.content.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 2).unwrap_or(m.content.len());
    println!("\n{}", String::from_utf8_lossy(&m.content[..end]));
    Ok(())
}
