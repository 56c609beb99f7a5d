//! Forwarding events to a syslog collector (SPEC §10), the enterprise
//! console's integration: one RFC 5424 line per event [`Record`], sent as a
//! UDP datagram (RFC 5426) or an octet-counted TCP frame (RFC 6587
//! §3.4.1). Forwarding never holds up the event stream: lines wait in a
//! bounded queue, and are dropped and counted when the collector is slower
//! than the gateway or away.
//!
//! A line is `<PRI>1 TIMESTAMP HOSTNAME mxguard PID MSGID [mxguard@32473
//! name="value" ...] MSG`: facility local0, severity by action, the time
//! in UTC with milliseconds, MSGID the action without spaces
//! (`FileDeleted`), every non-empty column as a structured-data parameter
//! (UTF-8, as §6.3.3 requires; values over 1 KB are cut) and MSG a one-line
//! summary in plain ASCII (other characters become `?`), so no BOM is
//! needed and any console shows it; the exact values are in the parameters.

use super::{Category, Record};
use crate::config::is_hostname;
use chrono::{DateTime, SecondsFormat};
use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

/// How lines reach the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One datagram per line: nothing waits, nothing is confirmed.
    Udp,
    /// Octet-counted frames on one connection, reopened when lost.
    Tcp,
}

/// Where events are forwarded: `logging.syslog` once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub transport: Transport,
    /// A host name (lower case) or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// What `logging.syslog` may be, for the configuration error.
const ALLOWED: &str = "must be \"\" (off), udp://HOST:PORT or tcp://HOST:PORT, where HOST is a host name, \
                       an IPv4 address or an IPv6 address in brackets and PORT is 1 to 65535";

impl Target {
    /// `logging.syslog` read: `Ok(None)` when empty (forwarding off); the
    /// error is the sentence the configuration validator shows.
    pub fn parse(url: &str) -> Result<Option<Target>, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let (scheme, rest) = url.split_once("://").ok_or(ALLOWED)?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ => return Err(ALLOWED.into()),
        };
        let (host, port) = host_port(rest).ok_or(ALLOWED)?;
        Ok(Some(Target { transport, host, port }))
    }
}

/// `name:port`, `IPv4:port` or `[IPv6]:port`; a port is required, and a
/// dotted number that is not an IPv4 address is no name either.
fn host_port(s: &str) -> Option<(String, u16)> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return (addr.port() > 0).then(|| (addr.ip().to_string(), addr.port()));
    }
    let (host, port) = s.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0 && port.bytes().all(|b| b.is_ascii_digit()))?;
    let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    (is_hostname(host) && !numeric).then(|| (host.to_ascii_lowercase(), port))
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// local0 (16): the facility set aside for site applications, so a
/// collector can route the gateway's events apart from the MTA's `mail`
/// diagnostics.
const FACILITY: u8 = 16;
/// The SD-ID of mxguard's parameters: 32473 is the enterprise number
/// RFC 5612 reserves for examples, until mxguard has its own.
const SD_ID: &str = "mxguard@32473";
const APP_NAME: &str = "mxguard";
/// The longest value kept, in bytes: a long subject or recipient list is
/// cut to this and ends in `...`, so a line stays under 32 KB and always
/// fits one datagram.
const MAX_VALUE: usize = 1024;

/// RFC 5424 severities used.
const WARNING: u8 = 4;
const NOTICE: u8 = 5;
const INFORMATIONAL: u8 = 6;

/// Warning for what an administrator should look at (blocking findings,
/// refusals, resources, scanners, held or undeliverable mail), notice for
/// the gateway's own milestones, informational for the flow of mail.
fn severity(r: &Record) -> u8 {
    match r.action.as_str() {
        _ if r.category == Some(Category::Blocking) => WARNING,
        "Rejected"
        | "Protocol violation"
        | "Low disk space"
        | "Low memory"
        | "Scanner unavailable"
        | "File access error"
        | "Quarantine accumulating"
        | "Service start failed"
        | "Virus outbreak"
        | "Held"
        | "Delivery failed" => WARNING,
        "Service started" | "Service stopped" | "Definitions updated" | "Scanner available" | "Object modified" => {
            NOTICE
        }
        _ => INFORMATIONAL,
    }
}

/// The RFC 5424 line for `record`, from `hostname` (already a header
/// field, see [`header_field`]) and process `pid`.
fn line(record: &Record, hostname: &str, pid: u32) -> String {
    let pri = FACILITY * 8 + severity(record);
    let time = DateTime::from_timestamp_millis(record.time)
        .map_or_else(|| "-".to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
    let msgid = header_field(&record.action.split_whitespace().map(capitalized).collect::<String>(), 32);
    let mut s = format!("<{pri}>1 {time} {hostname} {APP_NAME} {pid} {msgid} [{SD_ID}");
    for (name, value) in params(record).into_iter().filter(|(_, v)| !v.is_empty()) {
        let _ = write!(s, " {name}=\"{}\"", escaped(&cut(&value, MAX_VALUE)));
    }
    s.push_str("] ");
    s.push_str(&summary(record));
    s
}

/// Every column but the time (in the header) by its store and CSV name.
fn params(r: &Record) -> [(&'static str, Cow<'_, str>); 14] {
    let bytes = if r.bytes > 0 { r.bytes.to_string() } else { String::new() };
    [
        ("category", r.category.map(Category::name).unwrap_or_default().into()),
        ("action", r.action.as_str().into()),
        ("smtp_id", r.smtp_id.as_str().into()),
        ("connection_id", r.connection_id.as_str().into()),
        ("client_ip", r.client_ip.as_str().into()),
        ("sender", r.sender.as_str().into()),
        ("recipients", r.recipients.as_str().into()),
        ("subject", r.subject.as_str().into()),
        ("virus", r.virus.as_str().into()),
        ("matched", r.matched.as_str().into()),
        ("file", r.file.as_str().into()),
        ("handling", r.handling.as_str().into()),
        ("reason", r.reason.as_str().into()),
        ("bytes", bytes.into()),
    ]
}

/// The action, what it was about (reason, else what matched, else the
/// file) and the message or client it concerns, in ASCII.
fn summary(r: &Record) -> String {
    let mut s = r.action.clone();
    if let Some(detail) = [&r.reason, &r.matched, &r.file].into_iter().find(|v| !v.is_empty()) {
        s = format!("{s}: {detail}");
    }
    if !r.smtp_id.is_empty() {
        s = format!("{s} (message {})", r.smtp_id);
    } else if !r.client_ip.is_empty() {
        s = format!("{s} (client {})", r.client_ip);
    }
    cut(&s, MAX_VALUE)
        .chars()
        .map(|c| {
            if c.is_ascii_control() {
                ' '
            } else if c.is_ascii() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// `word` with its first letter in upper case.
fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A header field: printable ASCII without spaces, at most `max` bytes,
/// `-` (nil) when nothing is left.
fn header_field(s: &str, max: usize) -> String {
    let field: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if field.is_empty() { "-".into() } else { field }
}

/// `s` cut to at most `max` bytes on a character boundary, marked `...`.
fn cut(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    format!("{}...", &s[..s.floor_char_boundary(max - 3)]).into()
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped (RFC 5424 §6.3.3), control
/// characters turned into spaces so the line stays one line.
fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Lines waiting for the collector at most; more are dropped and counted.
const QUEUE: usize = 1024;
/// The wait before reconnecting after a failure, doubled on each failure
/// in a row up to [`LAST_RETRY`], back to this once a line goes through.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// A connection or write the collector does not complete in this time
/// counts as lost.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The handle events are forwarded through. Dropping it ends forwarding
/// (lines already queued are still written if the collector is connected);
/// to follow a changed `logging.syslog`, drop the old sender and [`spawn`]
/// one for the new target.
#[derive(Debug)]
pub struct SyslogSender {
    tx: mpsc::Sender<String>,
    hostname: String,
    pid: u32,
    dropped: Arc<AtomicU64>,
    /// Dropped with the sender: ends the task while it waits to reconnect.
    _stop: oneshot::Sender<()>,
}

impl SyslogSender {
    /// Queue `record`'s line without waiting: when the queue is full
    /// (collector slow or away) the line is dropped and counted.
    pub fn send(&self, record: &Record) {
        if self.tx.try_send(line(record, &self.hostname, self.pid)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines lost so far (queue full, or a datagram refused), for the
    /// status page: forwarding is best effort, but not silently so.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Start forwarding to `target` in a task of the current Tokio runtime;
/// lines name the gateway `hostname` (`smtp.hostname`).
pub fn spawn(target: Target, hostname: String) -> SyslogSender {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (stop_tx, stop) = oneshot::channel();
    let dropped = Arc::new(AtomicU64::new(0));
    tokio::spawn(forward(target, rx, stop, dropped.clone()));
    SyslogSender { tx, hostname: header_field(&hostname, 255), pid: std::process::id(), dropped, _stop: stop_tx }
}

/// Connect, carry lines until the link is lost, wait and reconnect, until
/// the sender is dropped. A line whose TCP write failed is written again
/// first on the next connection.
async fn forward(
    target: Target,
    mut rx: mpsc::Receiver<String>,
    mut stop: oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
) {
    let mut retry = FIRST_RETRY;
    let mut unsent = None;
    let mut failing = false;
    loop {
        let opened = tokio::select! {
            _ = &mut stop => return,
            opened = Link::open(&target) => opened,
        };
        let error = match opened {
            Ok(mut link) => {
                if failing {
                    tracing::info!("syslog: forwarding to {target} again");
                    failing = false;
                }
                match carry(&mut link, &mut rx, &mut unsent, &dropped, &mut retry).await {
                    Some(error) => error,
                    None => return,
                }
            }
            Err(error) => error,
        };
        if !failing {
            tracing::warn!("syslog: {target}: {error}; events wait (up to {QUEUE}) while reconnecting");
            failing = true;
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Write queued lines to `link` until it is lost (the error) or the
/// sender is dropped and the queue drained (`None`).
async fn carry(
    link: &mut Link,
    rx: &mut mpsc::Receiver<String>,
    unsent: &mut Option<String>,
    dropped: &AtomicU64,
    retry: &mut Duration,
) -> Option<io::Error> {
    loop {
        let line = match unsent.take() {
            Some(line) => line,
            // A closed connection first: a line written to it would be lost.
            None => tokio::select! {
                biased;
                error = link.closed() => return Some(error),
                line = rx.recv() => line?,
            },
        };
        match link.write(&line).await {
            Ok(()) => *retry = FIRST_RETRY,
            Err(error) if matches!(link, Link::Tcp(_)) => {
                *unsent = Some(line);
                return Some(error);
            }
            Err(_) => {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An open way to the collector.
enum Link {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Link {
    /// Resolve the target and open a socket to it.
    async fn open(target: &Target) -> io::Result<Link> {
        let host = (target.host.as_str(), target.port);
        match target.transport {
            Transport::Udp => {
                let addr = tokio::net::lookup_host(host).await?.next().ok_or(io::ErrorKind::NotFound)?;
                let any = if addr.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
                let socket = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
                socket.connect(addr).await?;
                Ok(Link::Udp(socket))
            }
            Transport::Tcp => {
                let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(host)).await;
                Ok(Link::Tcp(stream.map_err(|_| io::ErrorKind::TimedOut)??))
            }
        }
    }

    /// Send one line: a datagram, or a frame `LENGTH SP LINE`.
    async fn write(&mut self, line: &str) -> io::Result<()> {
        match self {
            Link::Udp(socket) => socket.send(line.as_bytes()).await.map(drop),
            Link::Tcp(stream) => {
                let frame = format!("{} {line}", line.len());
                tokio::time::timeout(IO_TIMEOUT, stream.write_all(frame.as_bytes()))
                    .await
                    .map_err(|_| io::ErrorKind::TimedOut)?
            }
        }
    }

    /// Resolves when the collector closes the connection. It never sends
    /// anything (RFC 6587), so reading notices a restart before the next
    /// line is lost in a dead socket. A UDP link is never closed.
    async fn closed(&mut self) -> io::Error {
        let Link::Tcp(stream) = self else { return std::future::pending().await };
        let mut buf = [0; 512];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => {
                    return io::Error::new(io::ErrorKind::ConnectionAborted, "the collector closed the connection");
                }
                Ok(_) => {}
                Err(error) => return error,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, MessageRef, RejectRule};
    use crate::policy::{Finding, Handling};
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::TcpListener;

    const HOST: &str = "mx.example.com";
    const WAIT: Duration = Duration::from_secs(20);

    fn deleted() -> Record {
        let message = MessageRef {
            id: "ID1".into(),
            sender: "a@s.test".into(),
            recipients: vec!["b@x.test".into(), "c@x.test".into()],
            subject: r#"say "hi" \ [x] ünïcode"#.into(),
            client_ip: "192.0.2.1".into(),
        };
        let finding =
            Finding::Virus { path: "2".into(), name: "e.com".into(), virus: "Eicar".into(), scanner: "builtin".into() };
        Event::Blocking { message, finding, handling: Handling::Deleted }.record(1_700_000_000_123)
    }

    fn numbered(n: usize) -> Record {
        Record { time: 1_700_000_000_000, action: "Accepted".into(), smtp_id: format!("ID{n}"), ..Record::default() }
    }

    /// A line taken apart: the seven header fields, the SD-ID, the
    /// parameters unescaped, and MSG.
    struct Parsed {
        header: Vec<String>,
        sd_id: String,
        params: Vec<(String, String)>,
        msg: String,
    }

    fn parse(line: &str) -> Parsed {
        let mut fields = line.splitn(7, ' ');
        let header: Vec<String> = fields.by_ref().take(6).map(String::from).collect();
        let rest = fields.next().expect("structured data");
        let mut chars = rest.strip_prefix('[').expect("one SD element").chars();
        let sd_id: String = chars.by_ref().take_while(|c| *c != ' ' && *c != ']').collect();
        let mut params = Vec::new();
        loop {
            let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "value of {name} in {line}");
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.push(chars.next().unwrap()),
                    '"' => break,
                    ']' => panic!("unescaped ] in {line}"),
                    c => value.push(c),
                }
            }
            params.push((name, value));
            match chars.next() {
                Some(' ') => continue,
                Some(']') => break,
                other => panic!("{other:?} after a parameter in {line}"),
            }
        }
        let msg = chars.as_str().strip_prefix(' ').expect("SP before MSG").to_string();
        Parsed { header, sd_id, params, msg }
    }

    fn param<'a>(p: &'a Parsed, name: &str) -> Option<&'a str> {
        p.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn udp(port: u16) -> Target {
        Target { transport: Transport::Udp, host: "127.0.0.1".into(), port }
    }

    fn tcp(port: u16) -> Target {
        Target { transport: Transport::Tcp, host: "127.0.0.1".into(), port }
    }

    /// One octet-counted frame from a collector's connection.
    async fn frame(reader: &mut BufReader<TcpStream>) -> String {
        let mut length = Vec::new();
        tokio::time::timeout(WAIT, reader.read_until(b' ', &mut length)).await.expect("a frame in time").unwrap();
        let length: usize = std::str::from_utf8(&length).unwrap().trim_end().parse().expect("MSG-LEN");
        let mut line = vec![0; length];
        reader.read_exact(&mut line).await.unwrap();
        String::from_utf8(line).unwrap()
    }

    async fn accept(listener: &TcpListener) -> BufReader<TcpStream> {
        BufReader::new(tokio::time::timeout(WAIT, listener.accept()).await.expect("a connection").unwrap().0)
    }

    #[test]
    fn targets_are_udp_or_tcp_to_a_name_ipv4_or_bracketed_ipv6() {
        assert_eq!(Target::parse(""), Ok(None));
        assert_eq!(Target::parse("  "), Ok(None));
        let cases = [
            ("udp://127.0.0.1:514", Transport::Udp, "127.0.0.1", 514),
            ("tcp://[::1]:601", Transport::Tcp, "::1", 601),
            ("TCP://Logs.Example.com:6514", Transport::Tcp, "logs.example.com", 6514),
            ("udp://collector:514", Transport::Udp, "collector", 514),
        ];
        for (url, transport, host, port) in cases {
            let target = Target::parse(url).unwrap().unwrap();
            assert_eq!(target, Target { transport, host: host.into(), port }, "{url}");
            assert_eq!(target.to_string(), url.to_ascii_lowercase(), "{url}");
        }
    }

    #[test]
    fn other_targets_are_refused_saying_what_is_allowed() {
        for url in [
            "logs.example.com:514",
            "http://logs.example.com:514",
            "udp://logs.example.com",
            "udp://logs.example.com:0",
            "udp://logs.example.com:70000",
            "udp://logs.example.com:+514",
            "tcp://::1:514",
            "tcp://[::1]",
            "tcp://logs.example.com:514/",
            "udp://999.1.1.1:514",
            "udp://:514",
            "udp://user@logs.example.com:514",
            "udp://-bad.example.com:514",
        ] {
            let err = Target::parse(url).unwrap_err();
            assert!(err.contains("udp://HOST:PORT") && err.contains("tcp://HOST:PORT"), "{url}: {err}");
        }
    }

    #[test]
    fn a_line_has_the_rfc5424_header_and_escaped_structured_data() {
        let line = line(&deleted(), HOST, 4242);
        let p = parse(&line);
        // local0 (16) × 8 + warning (4)
        assert_eq!(p.header, ["<132>1", "2023-11-14T22:13:20.123Z", HOST, "mxguard", "4242", "FileDeleted"]);
        assert_eq!(p.sd_id, "mxguard@32473");
        let expected = [
            ("category", "blocking"),
            ("action", "File deleted"),
            ("smtp_id", "ID1"),
            ("client_ip", "192.0.2.1"),
            ("sender", "a@s.test"),
            ("recipients", "b@x.test,c@x.test"),
            ("subject", r#"say "hi" \ [x] ünïcode"#),
            ("virus", "Eicar"),
            ("file", "e.com"),
            ("handling", "deleted"),
            ("reason", "virus Eicar in e.com at 2 (found by builtin)"),
        ];
        let names: Vec<(&str, &str)> = p.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(names, expected);
        assert!(line.contains(r#" subject="say \"hi\" \\ [x\] ünïcode" "#), "{line}");
        assert_eq!(p.msg, "File deleted: virus Eicar in e.com at 2 (found by builtin) (message ID1)");
    }

    #[test]
    fn severity_follows_the_action() {
        let message = MessageRef { id: "ID1".into(), ..MessageRef::default() };
        let cases = [
            (Event::ServiceStarted { after_crash: false }, "<133>", "ServiceStarted"),
            (Event::DefinitionsUpdated { sequence: 7, date: "2026-01-01".into() }, "<133>", "DefinitionsUpdated"),
            (Event::LowResource { what: "memory".into(), free_percent: 5 }, "<132>", "LowMemory"),
            (Event::ScannerUnavailable { scanner: "clamd".into(), why: "down".into() }, "<132>", "ScannerUnavailable"),
            (
                Event::Rejected {
                    connection_id: "C1".into(),
                    client_ip: "192.0.2.9".into(),
                    sender: String::new(),
                    recipient: "x@y.test".into(),
                    rule: RejectRule::Relay,
                    reason: "relaying denied".into(),
                },
                "<132>",
                "Rejected",
            ),
            (
                Event::SpamListRefused { client_ip: "192.0.2.9".into(), sender: String::new(), zone: "bl.test".into() },
                "<132>",
                "SpamListBlock",
            ),
            (Event::Accepted { message, connection_id: "C1".into(), bytes: 512 }, "<134>", "Accepted"),
        ];
        for (event, pri, msgid) in cases {
            let p = parse(&line(&event.record(0), HOST, 1));
            assert_eq!((p.header[0].strip_suffix("1").unwrap(), p.header[5].as_str()), (pri, msgid), "{event}");
            assert_eq!(p.header[1], "1970-01-01T00:00:00.000Z");
        }
        let p = parse(&line(
            &Event::Accepted { message: MessageRef::default(), connection_id: "C1".into(), bytes: 512 }.record(0),
            HOST,
            1,
        ));
        assert_eq!((param(&p, "bytes"), param(&p, "sender")), (Some("512"), None));
    }

    #[test]
    fn long_values_are_cut_and_the_line_stays_one_line_with_an_ascii_summary() {
        let long = "é\"".repeat(5000);
        let record = Record {
            action: "Held".into(),
            subject: long.clone(),
            recipients: long.clone(),
            reason: format!("first\nsecond {long}"),
            ..Record::default()
        };
        let line = line(&record, &header_field("mx .example\n.com", 255), 1);
        assert!(line.len() < 32 * 1024 && !line.contains('\n'), "{}", line.len());
        let p = parse(&line);
        assert_eq!(p.header[2], "mx.example.com");
        let subject = param(&p, "subject").unwrap();
        assert!(subject.len() <= MAX_VALUE && subject.ends_with("...") && subject.starts_with("é\"é"));
        assert!(param(&p, "reason").unwrap().starts_with("first second "));
        assert!(p.msg.starts_with("Held: first second ?\"?\"") && p.msg.is_ascii() && p.msg.len() <= MAX_VALUE);
        assert_eq!(header_field("", 32), "-");
    }

    #[tokio::test]
    async fn udp_sends_one_datagram_per_event() {
        let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = spawn(udp(collector.local_addr().unwrap().port()), HOST.into());
        sender.send(&deleted());
        sender.send(&numbered(2));
        let mut buf = vec![0; 65536];
        let mut lines = Vec::new();
        for _ in 0..2 {
            let n = tokio::time::timeout(WAIT, collector.recv(&mut buf)).await.expect("a datagram").unwrap();
            lines.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        assert_eq!(lines[0], line(&deleted(), HOST, std::process::id()));
        let p = parse(&lines[1]);
        assert_eq!((p.header[0].as_str(), param(&p, "smtp_id")), ("<134>1", Some("ID2")));
        assert_eq!(sender.dropped(), 0);
    }

    #[tokio::test]
    async fn tcp_sends_octet_counted_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sender = spawn(tcp(listener.local_addr().unwrap().port()), HOST.into());
        let mut collector = accept(&listener).await;
        sender.send(&deleted());
        sender.send(&numbered(2));
        assert_eq!(frame(&mut collector).await, line(&deleted(), HOST, std::process::id()));
        assert_eq!(param(&parse(&frame(&mut collector).await), "smtp_id"), Some("ID2"));
    }

    #[tokio::test]
    async fn a_restarted_collector_gets_events_again() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = spawn(tcp(addr.port()), HOST.into());
        let mut collector = accept(&listener).await;
        sender.send(&numbered(1));
        assert_eq!(param(&parse(&frame(&mut collector).await), "smtp_id"), Some("ID1"));
        drop((collector, listener));
        // Once the sender has seen the connection close, events wait for the next one.
        tokio::time::sleep(Duration::from_millis(100)).await;
        sender.send(&numbered(2));
        let listener = TcpListener::bind(addr).await.unwrap();
        let mut collector = accept(&listener).await;
        sender.send(&numbered(3));
        assert_eq!(param(&parse(&frame(&mut collector).await), "smtp_id"), Some("ID2"));
        assert_eq!(param(&parse(&frame(&mut collector).await), "smtp_id"), Some("ID3"));
    }

    #[tokio::test]
    async fn while_the_collector_is_away_the_queue_is_bounded_and_overflow_counted() {
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let sender = spawn(tcp(addr.port()), HOST.into());
        tokio::time::sleep(Duration::from_millis(100)).await; // refused, waiting to retry
        for n in 0..QUEUE + 5 {
            sender.send(&numbered(n));
        }
        assert_eq!(sender.dropped(), 5);
        let listener = TcpListener::bind(addr).await.unwrap();
        let mut collector = accept(&listener).await;
        for n in 0..QUEUE {
            assert_eq!(param(&parse(&frame(&mut collector).await), "smtp_id"), Some(format!("ID{n}").as_str()));
        }
    }

    #[tokio::test]
    async fn dropping_the_sender_closes_its_connection_so_a_new_target_takes_over() {
        let old = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sender = spawn(tcp(old.local_addr().unwrap().port()), HOST.into());
        let mut old_collector = accept(&old).await;
        drop(sender);
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, old_collector.read_to_end(&mut rest)).await.expect("closed").unwrap();
        assert!(rest.is_empty());

        let new = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = spawn(udp(new.local_addr().unwrap().port()), HOST.into());
        sender.send(&numbered(9));
        let mut buf = vec![0; 65536];
        let n = tokio::time::timeout(WAIT, new.recv(&mut buf)).await.expect("a datagram").unwrap();
        assert_eq!(param(&parse(std::str::from_utf8(&buf[..n]).unwrap()), "smtp_id"), Some("ID9"));
    }
}
