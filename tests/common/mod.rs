//! Shared harness for the integration tests: the real `mxguard` binary with
//! a config written per test, Postfix's `smtp-sink` as the downstream mail
//! server, dnsmasq as a real DNS server, swaks and raw sockets as clients.
//! Every port is ephemeral and every server listens on 127.0.0.1 only.
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod quarantine;
pub mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Wait until something accepts connections on `port`.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Poll `cond` until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// Fail with a clear message if a tool the tests need is missing (the
/// README's test command installs them).
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{tool} is missing: install the Debian package {package} (see README.md)");
}

/// Set `role`'s password with `mxguard passwd --config <config>`, the
/// password on standard input as an administrator would type it.
pub fn passwd(config: &Path, role: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mxguard"))
        .args(["passwd", "--config"])
        .arg(config)
        .args(["--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "mxguard passwd --role {role}");
}

/// A plain RFC 5322 message.
pub fn message(from: &str, to: &str, subject: &str) -> String {
    format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\nhello\r\n")
}

/// Postfix's smtp-sink, dumping one file per received message.
pub struct Sink {
    pub port: u16,
    pub dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Sink {
    /// A started sink; `extra` are smtp-sink options (e.g. `-f RCPT`).
    pub fn start(root: &Path, extra: &[&str]) -> Sink {
        require("smtp-sink", "postfix");
        let dir = root.join(format!("sink-{}", free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        Command::new("chown").arg("nobody").arg(&dir).status().unwrap();
        let mut sink =
            Sink { port: free_port(), dir, extra: extra.iter().map(|s| s.to_string()).collect(), child: None };
        sink.resume();
        sink
    }

    /// Start (again) on the same port.
    pub fn resume(&mut self) {
        let template = format!("{}/%H%M%S.", self.dir.display());
        let child = Command::new("smtp-sink")
            .args(["-u", "nobody"])
            .args(&self.extra)
            .args(["-d", &template, &format!("127.0.0.1:{}", self.port), "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink starts");
        self.child = Some(child);
        assert!(wait_port(self.port, Duration::from_secs(10)), "smtp-sink listens");
    }

    /// Stop it (the port then refuses connections).
    pub fn pause(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The messages received so far (each with smtp-sink's X-Mail-Args /
    /// X-Rcpt-Args lines in front).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&self.dir).unwrap().filter_map(|e| Some(e.ok()?.path())).collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|f| std::fs::read(f).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            // A transaction in progress has no end of message yet.
            .filter(|t| t.contains("\n\n") || t.contains("\r\n\r\n"))
            .collect()
    }

    /// The `Subject:` of every message received.
    pub fn subjects(&self) -> std::collections::HashSet<String> {
        self.messages()
            .iter()
            .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Subject: ")).map(|s| s.trim_end().to_string()))
            .collect()
    }

    /// Number of messages received.
    pub fn count(&self) -> usize {
        self.messages().len()
    }

    /// Wait until `n` messages arrived.
    pub fn wait_count(&self, n: usize, timeout: Duration) -> bool {
        wait_for(timeout, || self.count() >= n)
    }

    /// The first received message containing `needle`, waiting for it.
    pub fn find(&self, needle: &str, timeout: Duration) -> Option<String> {
        let mut found = None;
        wait_for(timeout, || {
            found = self.messages().into_iter().find(|m| m.contains(needle));
            found.is_some()
        });
        found
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.pause();
    }
}

/// Give `root` the shipped `etc/defs`, which the default `defs_dir` names
/// relative to the gateway's working directory, as on a fresh install.
fn ship_definitions(root: &Path) {
    let etc = root.join("etc");
    if !etc.join("defs").exists() {
        std::fs::create_dir_all(&etc).unwrap();
        std::os::unix::fs::symlink(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/defs"), etc.join("defs")).unwrap();
    }
}

/// The token the test configuration accepts on the JSON API.
pub const API_TOKEN: &str = "mxguard-test-token";

/// The mxguard binary running with a config file written by the test.
pub struct Gateway {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub port: u16,
    admin_ports: (u16, u16),
    child: Option<Child>,
}

impl Gateway {
    /// Start mxguard listening on a fresh port. `extra_toml` is appended to
    /// a base config ([smtp] listen/hostname, [paths], [admin] ports); it
    /// may add keys to other sections and `[[routing.local]]` entries.
    pub fn start(root: &Path, smtp_extra: &str, extra_toml: &str) -> Gateway {
        let port = free_port();
        let mut gw = Gateway {
            root: root.to_path_buf(),
            config_path: root.join("mxguard.toml"),
            port,
            admin_ports: (free_port(), free_port()),
            child: None,
        };
        gw.write_config(smtp_extra, extra_toml);
        ship_definitions(root);
        gw.spawn();
        gw
    }

    /// Replace the configuration file by renaming a new one over it, as
    /// most editors do.
    pub fn write_config(&self, smtp_extra: &str, extra_toml: &str) {
        let tmp = self.root.join("mxguard.toml.new");
        std::fs::write(&tmp, self.config_text(smtp_extra, extra_toml)).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }

    /// Replace the configuration file and wait until the running gateway
    /// has loaded it.
    pub fn reconfigure(&self, smtp_extra: &str, extra_toml: &str) {
        let loads = || self.log().matches("configuration reloaded").count();
        let before = loads();
        self.write_config(smtp_extra, extra_toml);
        assert!(wait_for(Duration::from_secs(30), || loads() > before), "not reloaded:\n{}", self.log());
    }

    /// Rewrite the configuration file in place (same inode), as `vi` with
    /// `backupcopy=yes` or `echo >` do.
    pub fn overwrite_config(&self, smtp_extra: &str, extra_toml: &str) {
        std::fs::write(&self.config_path, self.config_text(smtp_extra, extra_toml)).unwrap();
    }

    fn config_text(&self, smtp_extra: &str, extra_toml: &str) -> String {
        let root = self.root.display();
        format!(
            "[smtp]\nlisten = [\"127.0.0.1:{}\"]\nhostname = \"mx.test.example\"\n{smtp_extra}\n\
             [paths]\nqueue_dir = \"{root}/queues\"\nlog_dir = \"{root}/logs\"\n\
             [admin]\nhttp_listen = \"127.0.0.1:{}\"\nhttps_listen = \"127.0.0.1:{}\"\napi_tokens = [\"{API_TOKEN}\"]\nreport_only_enabled = true\n\n{extra_toml}\n",
            self.port, self.admin_ports.0, self.admin_ports.1
        )
    }

    /// (Re)start the process and wait for its SMTP port.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.root.join("mxguard.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mxguard"))
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .current_dir(&self.root)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("mxguard starts");
        self.child = Some(child);
        assert!(wait_port(self.port, Duration::from_secs(30)), "mxguard did not open its port; log:\n{}", self.log());
    }

    /// The administration HTTP port.
    pub fn admin_http(&self) -> u16 {
        self.admin_ports.0
    }

    /// The administration HTTPS port.
    pub fn admin_https(&self) -> u16 {
        self.admin_ports.1
    }

    /// The process's peak resident memory (VmHWM) in bytes.
    pub fn peak_memory(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("VmHWM in /proc status");
        kb.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
    }

    /// Everything the gateway logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("mxguard.log")).unwrap_or_default()
    }

    /// Stop the process cleanly (SIGTERM) and wait for it.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// Kill the process without warning (SIGKILL).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Run `mxguard <args> --config <this config>` and return its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxguard"));
        cmd.arg(args[0]).arg("--config").arg(&self.config_path).args(&args[1..]);
        cmd.output().unwrap()
    }

    /// Files in one queue directory.
    pub fn queue_len(&self, queue: &str) -> usize {
        std::fs::read_dir(self.root.join("queues").join(queue)).map(|d| d.count()).unwrap_or(0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Run swaks against `port` with extra arguments; returns (success, output).
pub fn swaks(port: u16, args: &[&str]) -> (bool, String) {
    require("swaks", "swaks");
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{port}"), "--timeout", "30"])
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Send one message with swaks; true if the server accepted it.
pub fn send(port: u16, from: &str, to: &str, subject: &str) -> bool {
    swaks(port, &["--from", from, "--to", to, "--data", &message(from, to, subject)]).0
}

/// A raw SMTP conversation over a socket, for protocol-level tests.
pub struct Raw {
    pub reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Raw {
    /// Connect and read the greeting.
    pub fn connect(port: u16) -> (Raw, String) {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut raw = Raw { reader: BufReader::new(stream.try_clone().unwrap()), stream };
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Send bytes as they are (one write).
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Read one complete (possibly multi-line) reply; empty at EOF.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return all,
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// Send a command line and read its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// True if the server closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}

/// dnsmasq as a real DNS server on 127.0.0.1, answering only from the
/// records given (authoritative for `.test`: other names there are NXDOMAIN).
pub struct DnsServer {
    pub port: u16,
    child: Child,
}

impl DnsServer {
    /// Start with dnsmasq record options such as
    /// `--mx-host=example.test,mail.example.test,10` or
    /// `--host-record=mail.example.test,127.0.0.1` (A and PTR).
    pub fn start(records: &[String]) -> DnsServer {
        require("dnsmasq", "dnsmasq-base");
        let port = free_port();
        let child = Command::new("dnsmasq")
            .args(["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file="])
            .args(["--listen-address=127.0.0.1", "--bind-interfaces", "--local=/test/"])
            .arg(format!("--port={port}"))
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq starts");
        assert!(wait_port(port, Duration::from_secs(10)), "dnsmasq listens on {port}");
        DnsServer { port, child }
    }

    /// The `[dns]` section pointing mxguard at this server.
    pub fn config(&self) -> String {
        format!("[dns]\nnameservers = [\"127.0.0.1:{}\"]\n", self.port)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory every test server can use (smtp-sink and dnsmasq
/// drop privileges to `nobody`).
pub fn test_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// Submit `message` over SMTP (dot-stuffed DATA); returns the final reply
/// line, or the first refusal.
pub fn submit(port: u16, from: &str, to: &[&str], message: &[u8]) -> String {
    let (mut raw, greeting) = Raw::connect(port);
    if !greeting.starts_with("220") {
        return greeting;
    }
    raw.cmd("EHLO client.test");
    for line in std::iter::once(format!("MAIL FROM:<{from}>")).chain(to.iter().map(|t| format!("RCPT TO:<{t}>"))) {
        let reply = raw.cmd(&line);
        if !reply.starts_with("250") {
            return reply;
        }
    }
    let reply = raw.cmd("DATA");
    if !reply.starts_with("354") {
        return reply;
    }
    let mut data = Vec::with_capacity(message.len() + 1024);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
    }
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    raw.send(&data);
    let reply = raw.reply();
    raw.cmd("QUIT");
    reply
}
