//! Queue actions requested from outside the gateway process (`mxguard
//! queue ...`): sent over a Unix socket in the queue directory to a running
//! gateway, so its workers pick the results up at once, or carried out on
//! the files directly when no gateway runs.

use crate::delivery::slow::SlowQueue;
use crate::spool::{Queue, Spool, hold};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// An administrator's queue action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueCommand {
    /// Retry every slow-queue message now.
    Flush,
    /// Move held messages (an ID or `all`) back to the fast queue.
    Reprocess(String),
    /// Delete held messages.
    Drop(String),
    /// Send an unscanned copy of held messages to one address.
    Forward { which: String, to: String, subject: String },
}

impl QueueCommand {
    /// One line on the control socket: tab-separated fields.
    pub fn to_line(&self) -> String {
        match self {
            QueueCommand::Flush => "flush".into(),
            QueueCommand::Reprocess(w) => format!("reprocess\t{w}"),
            QueueCommand::Drop(w) => format!("drop\t{w}"),
            QueueCommand::Forward { which, to, subject } => format!("forward\t{which}\t{to}\t{subject}"),
        }
    }

    /// Parse a control line.
    pub fn from_line(line: &str) -> Option<QueueCommand> {
        let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('\t').collect();
        match f.as_slice() {
            ["flush"] => Some(QueueCommand::Flush),
            ["reprocess", w] => Some(QueueCommand::Reprocess(w.to_string())),
            ["drop", w] => Some(QueueCommand::Drop(w.to_string())),
            ["forward", w, to, subject] => {
                Some(QueueCommand::Forward { which: w.to_string(), to: to.to_string(), subject: subject.to_string() })
            }
            _ => None,
        }
    }
}

/// A running gateway's queues, to hand new work to.
pub struct Running<'a> {
    pub fast: &'a mpsc::UnboundedSender<String>,
    pub slow: &'a SlowQueue,
}

/// Carry out `cmd` on the spool; with `running`, also wake the workers.
/// Returns a one-line summary for the administrator.
pub fn execute(spool: &Spool, hostname: &str, cmd: &QueueCommand, running: Option<Running<'_>>) -> io::Result<String> {
    let queue = |id: String| {
        if let Some(r) = &running {
            let _ = r.fast.send(id);
        }
    };
    match cmd {
        QueueCommand::Flush => {
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
        QueueCommand::Reprocess(which) => {
            let ids = hold::select(spool, which)?;
            for id in &ids {
                queue(hold::reprocess(spool, id)?);
            }
            Ok(format!("{} held message(s) returned to the fast queue", ids.len()))
        }
        QueueCommand::Drop(which) => {
            let ids = hold::select(spool, which)?;
            for id in &ids {
                hold::drop(spool, id)?;
            }
            Ok(format!("{} held message(s) dropped", ids.len()))
        }
        QueueCommand::Forward { which, to, subject } => {
            let ids = hold::select(spool, which)?;
            for id in &ids {
                queue(hold::forward_copy(spool, hostname, id, to, subject)?);
            }
            Ok(format!("copies of {} held message(s) queued for {to}", ids.len()))
        }
    }
}

/// The control socket's path for a queue directory.
pub fn socket_path(queue_dir: &Path) -> PathBuf {
    queue_dir.join("control.sock")
}

/// Send `cmd` to a running gateway. `Err` with `NotFound` or
/// `ConnectionRefused` means none runs.
pub fn request(queue_dir: &Path, cmd: &QueueCommand) -> io::Result<String> {
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

/// Serve the control socket for a running gateway.
pub async fn serve(
    spool: Arc<Spool>,
    hostname: String,
    fast: mpsc::UnboundedSender<String>,
    delivery: Arc<crate::delivery::Delivery>,
) {
    let path = socket_path(spool.root());
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
        let (spool, hostname, fast, delivery) = (spool.clone(), hostname.clone(), fast.clone(), delivery.clone());
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if tokio::io::BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match QueueCommand::from_line(&line) {
                None => "error unknown command".to_string(),
                Some(cmd) => {
                    let result = tokio::task::spawn_blocking(move || {
                        let running = Running { fast: &fast, slow: &delivery.slow };
                        execute(&spool, &hostname, &cmd, Some(running))
                    })
                    .await;
                    match result {
                        Ok(Ok(text)) => format!("ok {text}"),
                        Ok(Err(e)) => format!("error {e}"),
                        Err(e) => format!("error {e}"),
                    }
                }
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
            QueueCommand::Flush,
            QueueCommand::Reprocess("all".into()),
            QueueCommand::Drop("ABC".into()),
            QueueCommand::Forward {
                which: "all".into(),
                to: "admin@example.com".into(),
                subject: "Held mail, please look".into(),
            },
        ] {
            assert_eq!(QueueCommand::from_line(&cmd.to_line()), Some(cmd));
        }
        assert_eq!(QueueCommand::from_line("reboot"), None);
    }
}
