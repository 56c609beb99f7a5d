//! Actions requested from outside the gateway process (`mxguard queue
//! ...`, `mxguard defs update`, `mxguard status`): sent over a Unix socket
//! in the queue directory to a running gateway, so its workers and engine
//! pick the results up at once, or carried out on the files directly when
//! no gateway runs.

use crate::admin::AppState;
use crate::admin::api::status_of;
use crate::config::Config;
use crate::delivery::slow::SlowQueue;
use crate::events::{Event, Events};
use crate::scan::builtin::Signatures;
use crate::scan::liveupdate::{self, Outcome};
use crate::spool::{Queue, Spool, hold};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// An administrator's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    /// The Status figures since start, as one JSON object; only a running
    /// gateway has them.
    Status,
    /// LiveUpdate now: install a newer definitions package if a source has one.
    UpdateDefinitions,
    /// Retry every slow-queue message now.
    Flush,
    /// Move held messages (an ID or `all`) back to the fast queue.
    Reprocess(String),
    /// Delete held messages.
    Drop(String),
    /// Send an unscanned copy of held messages to one address.
    Forward { which: String, to: String, subject: String },
}

impl ControlCommand {
    /// One line on the control socket: tab-separated fields.
    pub fn to_line(&self) -> String {
        match self {
            ControlCommand::Status => "status".into(),
            ControlCommand::UpdateDefinitions => "update-definitions".into(),
            ControlCommand::Flush => "flush".into(),
            ControlCommand::Reprocess(w) => format!("reprocess\t{w}"),
            ControlCommand::Drop(w) => format!("drop\t{w}"),
            ControlCommand::Forward { which, to, subject } => format!("forward\t{which}\t{to}\t{subject}"),
        }
    }

    /// Parse a control line.
    pub fn from_line(line: &str) -> Option<ControlCommand> {
        let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('\t').collect();
        match f.as_slice() {
            ["status"] => Some(ControlCommand::Status),
            ["update-definitions"] => Some(ControlCommand::UpdateDefinitions),
            ["flush"] => Some(ControlCommand::Flush),
            ["reprocess", w] => Some(ControlCommand::Reprocess(w.to_string())),
            ["drop", w] => Some(ControlCommand::Drop(w.to_string())),
            ["forward", w, to, subject] => {
                Some(ControlCommand::Forward { which: w.to_string(), to: to.to_string(), subject: subject.to_string() })
            }
            _ => None,
        }
    }
}

/// A running gateway's queues and engine, to hand new work to.
pub struct Running<'a> {
    pub fast: &'a mpsc::UnboundedSender<String>,
    pub slow: &'a SlowQueue,
    pub signatures: &'a Signatures,
    pub events: &'a Events,
}

/// Carry out `cmd` on the spool and definitions; with `running`, also wake
/// the workers and swap the engine. Returns a one-line summary for the
/// administrator.
pub fn execute(
    spool: &Spool,
    config: &Config,
    cmd: &ControlCommand,
    running: Option<Running<'_>>,
) -> io::Result<String> {
    let hostname = config.smtp.hostname.as_str();
    let queue = |id: String| {
        if let Some(r) = &running {
            let _ = r.fast.send(id);
        }
    };
    match cmd {
        ControlCommand::Status => Err(io::Error::new(
            io::ErrorKind::NotConnected,
            format!("no gateway is running on queue directory {}", spool.root().display()),
        )),
        ControlCommand::UpdateDefinitions => update_definitions(spool, config, running.as_ref()),
        ControlCommand::Flush => {
            let ids = spool.list(Queue::Slow)?;
            match &running {
                Some(r) => r.slow.flush(),
                None => {
                    for id in &ids {
                        spool.set_next_try(id, SystemTime::now())?;
                    }
                }
            }
            Ok(format!("{} slow-queue message(s) scheduled for delivery now", ids.len()))
        }
        ControlCommand::Reprocess(which) => {
            let ids = hold::select(spool, which)?;
            for id in &ids {
                queue(hold::reprocess(spool, id)?);
            }
            Ok(format!("{} held message(s) returned to the fast queue", ids.len()))
        }
        ControlCommand::Drop(which) => {
            let ids = hold::select(spool, which)?;
            for id in &ids {
                hold::drop(spool, id)?;
            }
            Ok(format!("{} held message(s) dropped", ids.len()))
        }
        ControlCommand::Forward { which, to, subject } => {
            let ids = hold::select(spool, which)?;
            for id in &ids {
                queue(hold::forward_copy(spool, hostname, id, to, subject)?);
            }
            Ok(format!("copies of {} held message(s) queued for {to}", ids.len()))
        }
    }
}

/// LiveUpdate now. In a running gateway the engine is swapped, the attempt
/// and its result are events, and messages held for a scan error go back
/// to the fast queue to be scanned with the new definitions.
fn update_definitions(spool: &Spool, config: &Config, running: Option<&Running<'_>>) -> io::Result<String> {
    let fresh;
    let signatures = match running {
        Some(r) => r.signatures,
        None => {
            fresh = Signatures::new(std::path::Path::new(&config.antivirus.defs_dir));
            &fresh
        }
    };
    let outcome = liveupdate::update_now(config, signatures);
    let result = match &outcome {
        Ok(Outcome::Updated(i)) => format!("definitions {} of {} installed", i.sequence, i.date),
        Ok(Outcome::UpToDate(why)) => format!("definitions are up to date: {why}"),
        Err(why) => format!("update failed: {why}"),
    };
    let Some(r) = running else { return outcome.map(|_| result).map_err(io::Error::other) };
    r.events.emit(Event::UpdateAttempted { result: result.clone() });
    let Ok(Outcome::Updated(installed)) = outcome else { return outcome.map(|_| result).map_err(io::Error::other) };
    r.events.emit(Event::DefinitionsUpdated { sequence: installed.sequence, date: installed.date });
    let mut rescanned = 0;
    for id in spool.list(Queue::Hold)? {
        let held_for_scan_error =
            spool.load_header(Queue::Hold, &id).is_ok_and(|h| h.message.reason.starts_with(SCAN_ERROR));
        if held_for_scan_error {
            let _ = r.fast.send(hold::reprocess(spool, &id)?);
            rescanned += 1;
        }
    }
    Ok(format!("{result}; {rescanned} held message(s) sent to be scanned again"))
}

/// Carry out `cmd` in the running gateway `admin` describes, off the
/// async runtime; the one-line summary or the error.
pub async fn run(admin: &AppState, cmd: ControlCommand) -> Result<String, String> {
    let admin = admin.clone();
    tokio::task::spawn_blocking(move || {
        let running = Running {
            fast: &admin.fast,
            slow: &admin.delivery.slow,
            signatures: &admin.signatures,
            events: &admin.events,
        };
        execute(&admin.spool, &admin.config.current(), &cmd, Some(running))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|done| done.map_err(|e| e.to_string()))
}

/// How the hold reason of a message held for a scan error begins.
pub const SCAN_ERROR: &str = "scan error";

/// The control socket's path for a queue directory.
pub fn socket_path(queue_dir: &Path) -> PathBuf {
    queue_dir.join("control.sock")
}

/// Send `cmd` to a running gateway. `Err` with `NotFound` or
/// `ConnectionRefused` means none runs.
pub fn request(queue_dir: &Path, cmd: &ControlCommand) -> io::Result<String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket_path(queue_dir))?;
    stream.write_all(format!("{}\n", cmd.to_line()).as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    match reply.trim_end().split_once(' ') {
        Some(("ok", text)) => Ok(text.to_string()),
        Some(("error", text)) => Err(io::Error::other(text.to_string())),
        _ => Err(io::Error::other(format!("unexpected reply from the gateway: {reply:?}"))),
    }
}

/// Serve the control socket for a running gateway: `admin` answers
/// `status` with the same figures as `/api/v1/status`.
pub async fn serve(admin: AppState) {
    let path = socket_path(admin.spool.root());
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot open the control socket {}: {e}", path.display());
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let admin = admin.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if tokio::io::BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match ControlCommand::from_line(&line) {
                None => Err("unknown command".to_string()),
                Some(ControlCommand::Status) => {
                    status_of(&admin).await.and_then(|status| serde_json::to_string(&status).map_err(|e| e.to_string()))
                }
                Some(cmd) => run(&admin, cmd).await,
            };
            let reply = match reply {
                Ok(text) => format!("ok {text}"),
                Err(e) => format!("error {e}"),
            };
            let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        for cmd in [
            ControlCommand::Status,
            ControlCommand::UpdateDefinitions,
            ControlCommand::Flush,
            ControlCommand::Reprocess("all".into()),
            ControlCommand::Drop("ABC".into()),
            ControlCommand::Forward {
                which: "all".into(),
                to: "admin@example.com".into(),
                subject: "Held mail, please look".into(),
            },
        ] {
            assert_eq!(ControlCommand::from_line(&cmd.to_line()), Some(cmd));
        }
        assert_eq!(ControlCommand::from_line("reboot"), None);
    }
}
