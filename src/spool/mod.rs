//! The durable queue: one directory per state (`fast`, `slow`, `hold`) and
//! `tmp` for files being written. A message is written to `tmp`, fsynced,
//! renamed into its queue and the directory fsynced before `250` is sent;
//! every later state change is a rename. Blocking file I/O: async callers
//! run these methods on the blocking pool.

pub mod hold;
pub mod queue_file;

use queue_file::{ATTEMPTS_OFFSET, Header, QueuedMessage};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The three queues of SPEC §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    Fast,
    Slow,
    Hold,
}

impl Queue {
    /// All queues, in processing order.
    pub const ALL: [Queue; 3] = [Queue::Fast, Queue::Slow, Queue::Hold];

    /// Directory name (also the name shown to administrators).
    pub fn name(self) -> &'static str {
        match self {
            Queue::Fast => "fast",
            Queue::Slow => "slow",
            Queue::Hold => "hold",
        }
    }
}

/// Processing attempts after which a message goes to the hold queue.
pub const MAX_ATTEMPTS: u8 = 3;

/// The spool directory.
pub struct Spool {
    root: PathBuf,
    counter: AtomicU32,
}

/// Current time in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Spool {
    /// Open (creating) the spool under `root` and empty `tmp`: a file there
    /// was never acknowledged.
    pub fn open(root: &Path) -> io::Result<Spool> {
        for dir in ["tmp", "fast", "slow", "hold"] {
            fs::create_dir_all(root.join(dir))?;
        }
        for entry in fs::read_dir(root.join("tmp"))? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(Spool { root: root.to_path_buf(), counter: AtomicU32::new(0) })
    }

    /// The spool at `root` for reading only: nothing is created or emptied
    /// (for `queue list` / `queue show` beside a running gateway).
    pub fn open_readonly(root: &Path) -> Spool {
        Spool { root: root.to_path_buf(), counter: AtomicU32::new(0) }
    }

    /// The spool directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of message `id` in `queue` (its name is the ID).
    pub fn path(&self, queue: Queue, id: &str) -> PathBuf {
        self.root.join(queue.name()).join(id)
    }

    /// A new queue ID: time-ordered, unique within this spool.
    pub fn new_id(&self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed) & 0xFFFF;
        format!("{:09X}{:05X}{:04X}", now.as_secs(), now.subsec_micros(), n)
    }

    /// Write a message durably into `queue`: header, then the content
    /// pieces (trace header, body) without joining them in memory.
    pub fn store(&self, queue: Queue, msg: &QueuedMessage, content: &[&[u8]]) -> io::Result<()> {
        let tmp = self.root.join("tmp").join(&msg.id);
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let written = (|| {
            let mut w = io::BufWriter::with_capacity(64 * 1024, &mut file);
            w.write_all(&queue_file::header_bytes(msg))?;
            for piece in content {
                w.write_all(piece)?;
            }
            w.flush()?;
            drop(w);
            file.sync_data()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, self.path(queue, &msg.id))?;
        self.sync_dir(queue)
    }

    fn sync_dir(&self, queue: Queue) -> io::Result<()> {
        File::open(self.root.join(queue.name()))?.sync_all()
    }

    /// Read a whole message.
    pub fn load(&self, queue: Queue, id: &str) -> io::Result<QueuedMessage> {
        let bytes = fs::read(self.path(queue, id))?;
        let header = queue_file::parse(&bytes)?;
        let mut msg = header.message;
        msg.content = bytes[header.content_offset..].to_vec();
        Ok(msg)
    }

    /// Read only the header (envelope and state) of a message.
    pub fn load_header(&self, queue: Queue, id: &str) -> io::Result<Header> {
        let mut file = File::open(self.path(queue, id))?;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 8192];
        loop {
            let n = file.read(&mut chunk)?;
            buf.extend_from_slice(&chunk[..n]);
            if n == 0 || buf.windows(2).any(|w| w == b"\n\n") {
                return queue_file::parse(&buf);
            }
        }
    }

    /// Record the start of a processing attempt; returns the new count.
    /// Not fsynced: it must survive a process crash, which it does through
    /// the page cache; after a power loss a lost increment only means one
    /// more attempt.
    pub fn begin_attempt(&self, queue: Queue, id: &str, previous: u8) -> io::Result<u8> {
        let next = previous.saturating_add(1).min(9);
        self.write_attempts(queue, id, next)?;
        Ok(next)
    }

    /// Processing finished: clear the crash counter.
    pub fn end_attempt(&self, queue: Queue, id: &str) -> io::Result<()> {
        self.write_attempts(queue, id, 0)
    }

    fn write_attempts(&self, queue: Queue, id: &str, n: u8) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.path(queue, id))?;
        file.write_all_at(&[b'0' + n], ATTEMPTS_OFFSET)
    }

    /// Move a message to another queue (a rename, made durable).
    pub fn move_to(&self, from: Queue, to: Queue, id: &str) -> io::Result<()> {
        fs::rename(self.path(from, id), self.path(to, id))?;
        self.sync_dir(to)
    }

    /// Move a message to the hold queue, recording why.
    pub fn hold(&self, from: Queue, id: &str, reason: &str) -> io::Result<()> {
        let mut msg = self.load(from, id)?;
        msg.reason = reason.to_string();
        msg.attempts = 0;
        let content = std::mem::take(&mut msg.content);
        self.store(Queue::Hold, &msg, &[&content])?;
        self.remove(from, id)
    }

    /// Delete a message (no fsync: a resurrected file after power loss is
    /// delivered twice, never lost).
    pub fn remove(&self, queue: Queue, id: &str) -> io::Result<()> {
        match fs::remove_file(self.path(queue, id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// True if the message is in `queue`.
    pub fn contains(&self, queue: Queue, id: &str) -> bool {
        self.path(queue, id).exists()
    }

    /// IDs in a queue, oldest first.
    pub fn list(&self, queue: Queue) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(self.root.join(queue.name()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// When a slow-queue message is next due (kept as its file's
    /// modification time, as Postfix does, so it survives restarts).
    pub fn next_try(&self, id: &str) -> io::Result<SystemTime> {
        fs::metadata(self.path(Queue::Slow, id))?.modified()
    }

    /// Set when a slow-queue message is next due.
    pub fn set_next_try(&self, id: &str, when: SystemTime) -> io::Result<()> {
        File::options().write(true).open(self.path(Queue::Slow, id))?.set_modified(when)
    }

    /// Startup recovery: a message found in two queues (a crash between
    /// writing the later state and removing the earlier one) keeps only its
    /// later state.
    pub fn recover(&self) -> io::Result<()> {
        for (later, earlier) in [(Queue::Hold, Queue::Fast), (Queue::Hold, Queue::Slow), (Queue::Slow, Queue::Fast)] {
            for id in self.list(later)? {
                if self.contains(earlier, &id) {
                    tracing::warn!(%id, "found in {} and {}; keeping {}", earlier.name(), later.name(), later.name());
                    self.remove(earlier, &id)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Envelope, Recipient};

    fn message(spool: &Spool) -> QueuedMessage {
        QueuedMessage {
            id: spool.new_id(),
            arrival: unix_now(),
            envelope: Envelope {
                sender: "a@example.org".into(),
                recipients: vec![Recipient::new("b@example.com")],
                ..Envelope::default()
            },
            ..QueuedMessage::default()
        }
    }

    #[test]
    fn store_load_attempts_move_hold() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let msg = message(&spool);
        spool.store(Queue::Fast, &msg, &[b"Received: x\r\n", b"Subject: y\r\n\r\nbody\r\n"]).unwrap();
        let loaded = spool.load(Queue::Fast, &msg.id).unwrap();
        assert_eq!(loaded.content, b"Received: x\r\nSubject: y\r\n\r\nbody\r\n");
        assert_eq!(spool.begin_attempt(Queue::Fast, &msg.id, loaded.attempts).unwrap(), 1);
        assert_eq!(spool.load_header(Queue::Fast, &msg.id).unwrap().message.attempts, 1);
        spool.end_attempt(Queue::Fast, &msg.id).unwrap();
        assert_eq!(spool.load(Queue::Fast, &msg.id).unwrap().attempts, 0);
        spool.move_to(Queue::Fast, Queue::Slow, &msg.id).unwrap();
        assert_eq!(spool.list(Queue::Slow).unwrap(), vec![msg.id.clone()]);
        spool.hold(Queue::Slow, &msg.id, "crashed").unwrap();
        assert_eq!(spool.load(Queue::Hold, &msg.id).unwrap().reason, "crashed");
        assert!(spool.list(Queue::Slow).unwrap().is_empty());
    }

    #[test]
    fn open_empties_tmp_and_recover_dedupes() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("tmp/half-written"), b"x").unwrap();
        let msg = message(&spool);
        spool.store(Queue::Fast, &msg, &[b"A: b\r\n\r\n"]).unwrap();
        spool.store(Queue::Slow, &msg, &[b"A: b\r\n\r\n"]).unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none());
        spool.recover().unwrap();
        assert!(!spool.contains(Queue::Fast, &msg.id));
        assert!(spool.contains(Queue::Slow, &msg.id));
    }

    #[test]
    fn ids_are_unique_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let ids: Vec<String> = (0..1000).map(|_| spool.new_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
    }
}
