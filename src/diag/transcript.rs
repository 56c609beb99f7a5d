//! The conversation log of one inbound connection or one outbound delivery
//! attempt: timestamped `C:` (client) and `S:` (server) lines, `--` notes
//! from the gateway, the message content per the `data` setting, and the
//! triggers seen on the way, which decide whether an `on_error` log is
//! written.

use super::content::Content;
use super::output::Output;
use super::trigger::{self, Triggers};
use crate::config::{Config, DataMode, LogMode, Trigger};
use chrono::Local;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers outbound connections in log names (an inbound log is named by
/// the connection ID its events carry).
static OUTBOUND: AtomicU64 = AtomicU64::new(1);

/// A conversation log, or nothing when diagnostics are off for its
/// direction: then every method returns at once, so the SMTP code records
/// unconditionally and pays one check per connection. The log is written
/// (when wanted) as it is dropped, so every way a conversation ends, even
/// a task cancelled, leaves its log.
pub struct Transcript(Option<Box<Log>>);

struct Log {
    settings: Settings,
    seen: Triggers,
    content: Content,
    out: Output,
    name: Name,
    /// An outbound log has seen its mail transaction.
    transacted: bool,
}

/// The configuration a log is made by (kept for the next log of a reused
/// connection).
#[derive(Clone)]
struct Settings {
    mode: LogMode,
    /// The triggers that make an `on_error` log worth writing.
    wanted: Triggers,
    data: DataMode,
    dir: PathBuf,
}

/// What a log file is named after.
#[derive(Clone)]
struct Name {
    direction: &'static str,
    connection: String,
    /// Outbound: the connection's transaction the log belongs to.
    transaction: Option<u32>,
}

impl Name {
    fn file(&self) -> String {
        let at = Local::now().format("%Y%m%dT%H%M%S%.3f");
        match self.transaction {
            Some(n) => format!("{}-{}.{n}-{at}.log", self.direction, self.connection),
            None => format!("{}-{}-{at}.log", self.direction, self.connection),
        }
    }
}

impl Transcript {
    /// The log of the connection `connection_id` from `peer`, per
    /// `diagnostics.inbound`.
    pub fn inbound(config: &Config, connection_id: &str, peer: impl fmt::Display) -> Transcript {
        let mut t = Transcript::start(config, config.diagnostics.inbound, || Name {
            direction: "in",
            connection: connection_id.to_string(),
            transaction: None,
        });
        t.note(format_args!("connection from {peer}"));
        t
    }

    /// The log of a new outbound connection, per `diagnostics.outbound`;
    /// its first transaction shares the log with the connection's opening.
    pub fn outbound(config: &Config) -> Transcript {
        Transcript::start(config, config.diagnostics.outbound, || Name {
            direction: "out",
            connection: format!("O{}", OUTBOUND.fetch_add(1, Ordering::Relaxed)),
            transaction: Some(1),
        })
    }

    fn start(config: &Config, mode: LogMode, name: impl FnOnce() -> Name) -> Transcript {
        if mode == LogMode::Disable {
            return Transcript(None);
        }
        let d = &config.diagnostics;
        let settings = Settings {
            mode,
            wanted: Triggers::of(&d.triggers),
            data: d.data,
            dir: PathBuf::from(&config.paths.diag_dir),
        };
        Transcript(Some(Box::new(Log::new(settings, name()))))
    }

    /// A line the client sent (without its CRLF).
    pub fn client(&mut self, line: &[u8]) {
        if let Some(log) = &mut self.0 {
            log.out.line("C:", line);
        }
    }

    /// Reply lines the server sent, as on the wire (CRLF-terminated).
    pub fn server(&mut self, wire: &[u8]) {
        if let Some(log) = &mut self.0 {
            for line in wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                log.seen = log.seen.union(trigger::of_reply(line));
                log.out.line("S:", line);
            }
        }
    }

    /// Message content the client sent, as on the wire.
    pub fn data(&mut self, bytes: &[u8]) {
        if let Some(log) = &mut self.0 {
            log.content.feed(bytes, |line| log.out.line("C:", line));
        }
    }

    /// The end of the content (the DATA terminator or a BDAT chunk).
    pub fn data_end(&mut self) {
        if let Some(log) = &mut self.0 {
            log.content.end(|line| log.out.line("C:", line));
        }
    }

    /// Something went wrong that no reply shows (a timeout, a lost
    /// connection, a failed handshake, a malformed reply).
    pub fn fault(&mut self, trigger: Trigger, what: impl fmt::Display) {
        if let Some(log) = &mut self.0 {
            log.seen = log.seen.with(trigger);
        }
        self.note(what);
    }

    /// What the gateway did, for the reader of the log.
    pub fn note(&mut self, what: impl fmt::Display) {
        if let Some(log) = &mut self.0 {
            log.out.line("--", what.to_string().as_bytes());
        }
    }

    /// An outbound mail transaction starts. A connection reused from the
    /// pool starts a log of its own for it, numbered after the last, so
    /// there is one log per delivery attempt.
    pub fn transaction(&mut self, peer: impl fmt::Display) {
        let Some(log) = &mut self.0 else { return };
        if log.transacted {
            let name = Name { transaction: log.name.transaction.map(|n| n + 1), ..log.name.clone() };
            let next = Log::new(log.settings.clone(), name);
            **log = next; // the finished log is written as it drops
            log.out.line("--", format!("connection to {peer} reused").as_bytes());
        }
        log.transacted = true;
    }
}

impl Log {
    fn new(settings: Settings, name: Name) -> Log {
        let out = Output::new(settings.dir.join(name.file()), settings.mode == LogMode::OnError);
        let content = Content::new(settings.data);
        Log { settings, seen: Triggers::default(), content, out, name, transacted: false }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if self.settings.mode == LogMode::All || self.seen.meets(self.settings.wanted) {
            let seen = (self.seen != Triggers::default()).then(|| format!("errors seen: {}", self.seen.names()));
            self.out.write(seen.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::output::ON_ERROR_LIMIT;

    fn config(dir: &std::path::Path, diagnostics: &str) -> Config {
        Config::from_toml(&format!("[paths]\ndiag_dir = \"{}\"\n[diagnostics]\n{diagnostics}\n", dir.display()))
            .unwrap()
    }

    /// The logs written, by file name.
    fn written(dir: &std::path::Path) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten().map(|e| (e.file_name().into_string().unwrap(), std::fs::read_to_string(e.path()).unwrap()))
            })
            .into_iter()
            .flatten()
            .collect();
        found.sort();
        found
    }

    /// A short inbound session ending with `last` from the server.
    fn session(config: &Config, last: &[u8]) {
        let mut t = Transcript::inbound(config, "C1", "192.0.2.1:4000");
        t.server(b"220 mx.test ESMTP\r\n");
        t.client(b"EHLO client.test");
        t.server(b"250-mx.test\r\n250 PIPELINING\r\n");
        t.client(b"DATA");
        t.data(b"Subject: hi\r\n\r\nbody\r\n.\r\n");
        t.data_end();
        t.server(last);
    }

    #[test]
    fn disabled_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "");
        let t = Transcript::inbound(&c, "C1", "192.0.2.1:4000");
        assert!(t.0.is_none() && Transcript::outbound(&c).0.is_none());
        session(&c, b"500 5.5.2 Error\r\n");
        assert!(written(dir.path()).is_empty());
    }

    #[test]
    fn all_writes_every_conversation_with_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        session(&config(dir.path(), "inbound = \"all\""), b"250 2.0.0 Ok: queued as X\r\n");
        let logs = written(dir.path());
        assert_eq!(logs.len(), 1);
        let (name, text) = &logs[0];
        assert!(name.starts_with("in-C1-") && name.ends_with(".log"), "{name}");
        let tagged: Vec<&str> = text.lines().map(|l| &l[24..]).collect();
        assert_eq!(
            tagged,
            [
                "-- connection from 192.0.2.1:4000",
                "S: 220 mx.test ESMTP",
                "C: EHLO client.test",
                "S: 250-mx.test",
                "S: 250 PIPELINING",
                "C: DATA",
                "C: [content: 4 lines, 24 bytes]",
                "S: 250 2.0.0 Ok: queued as X",
            ]
        );
    }

    #[test]
    fn data_modes() {
        for (data, expected) in [
            ("ignore", vec![]),
            ("summarize", vec!["C: [content: 4 lines, 24 bytes]"]),
            ("echo", vec!["C: Subject: hi", "C: ", "C: body", "C: ."]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            session(&config(dir.path(), &format!("inbound = \"all\"\ndata = \"{data}\"")), b"250 2.0.0 Ok\r\n");
            let text = &written(dir.path())[0].1;
            let lines: Vec<&str> = text.lines().map(|l| &l[24..]).collect();
            let after_data = lines.iter().position(|l| *l == "C: DATA").unwrap() + 1;
            assert_eq!(lines[after_data..lines.len() - 1], expected, "data = {data}");
        }
    }

    #[test]
    fn on_error_writes_only_when_a_wanted_trigger_happened() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "inbound = \"on_error\"");
        session(&c, b"250 2.0.0 Ok\r\n");
        assert!(written(dir.path()).is_empty(), "a clean session leaves no log");
        session(&c, b"500 5.5.2 Error: command not recognized\r\n");
        let logs = written(dir.path());
        assert_eq!(logs.len(), 1);
        assert!(logs[0].1.contains("C: EHLO client.test"));
        assert!(logs[0].1.trim_end().ends_with("-- errors seen: smtp_errors, protocol_errors"), "{}", logs[0].1);

        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "inbound = \"on_error\"\ntriggers = [\"unsupported\", \"communication_errors\"]");
        session(&c, b"550 5.1.1 no such user\r\n");
        assert!(written(dir.path()).is_empty(), "smtp_errors is not a wanted trigger");
        session(&c, b"502 5.5.1 Error: command not implemented\r\n");
        assert_eq!(written(dir.path()).len(), 1);
        let mut t = Transcript::inbound(&c, "C2", "192.0.2.1:4000");
        t.fault(Trigger::CommunicationErrors, "timeout waiting for a command");
        drop(t);
        let logs = written(dir.path());
        assert_eq!(logs.len(), 2);
        assert!(logs[1].1.contains(" -- timeout waiting for a command\n"), "{}", logs[1].1);
    }

    #[test]
    fn an_on_error_log_keeps_its_start_and_still_sees_later_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "inbound = \"on_error\"\ndata = \"echo\"");
        let mut t = Transcript::inbound(&c, "C1", "192.0.2.1:4000");
        t.client(b"DATA");
        t.data(&b"0123456789012345678901234567890123456789\r\n".repeat(20_000));
        t.data_end();
        t.server(b"451 4.3.0 Error: could not queue the message\r\n");
        drop(t);
        let text = &written(dir.path())[0].1;
        assert!(text.len() < ON_ERROR_LIMIT + 1000, "{} bytes", text.len());
        assert!(text.lines().nth(1).unwrap().ends_with(" C: DATA"));
        assert_eq!(text.lines().filter(|l| *l == "... truncated").count(), 1);
        assert!(!text.contains("451 4.3.0"));
        assert!(
            text.trim_end().ends_with("-- errors seen: smtp_errors, local_errors"),
            "{}",
            &text[text.len() - 200..]
        );
    }

    #[test]
    fn each_transaction_on_a_reused_connection_gets_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "outbound = \"all\"");
        let mut t = Transcript::outbound(&c);
        t.server(b"220 sink\r\n");
        t.transaction("192.0.2.9:25");
        t.client(b"MAIL FROM:<a@b.test>");
        t.server(b"250 2.1.0 Ok\r\n");
        t.transaction("192.0.2.9:25");
        t.client(b"MAIL FROM:<c@d.test>");
        t.server(b"250 2.1.0 Ok\r\n");
        t.client(b"QUIT");
        drop(t);
        let logs = written(dir.path());
        assert_eq!(logs.len(), 2);
        let connection = logs[0].0.split('.').next().unwrap();
        assert!(connection.starts_with("out-O"), "{connection}");
        assert!(
            logs[0].0.starts_with(&format!("{connection}.1-")) && logs[1].0.starts_with(&format!("{connection}.2-"))
        );
        assert!(logs[0].1.contains("S: 220 sink") && logs[0].1.contains("<a@b.test>") && !logs[0].1.contains("QUIT"));
        assert!(logs[1].1.contains("-- connection to 192.0.2.9:25 reused") && logs[1].1.contains("C: QUIT"));
        assert!(!logs[1].1.contains("<a@b.test>"));
    }
}
