//! ClamAV's daemon as a scanner: each file is streamed with `zINSTREAM`
//! (4-byte big-endian chunk lengths, a zero-length chunk to end) over TCP
//! or a Unix socket. Only `OK` is clean and only `... FOUND` a detection;
//! anything else — a size limit, an error, a timeout, a closed socket — is
//! a scan failure, never clean.

use super::{Detection, ScanFailure, Scanner, Target};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Bytes sent per `INSTREAM` chunk.
const CHUNK: usize = 64 * 1024;
/// Longest reply accepted (a virus name line).
const MAX_REPLY: u64 = 4096;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Address {
    /// `IP:port` or an absolute socket path.
    pub fn parse(s: &str) -> Option<Address> {
        if s.starts_with('/') {
            return Some(Address::Unix(PathBuf::from(s)));
        }
        s.parse().ok().map(Address::Tcp)
    }
}

/// A clamd scanner.
#[derive(Debug, Clone)]
pub struct Clamd {
    address: Address,
    timeout: Duration,
}

/// A connection to clamd, whatever the socket kind.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

impl Clamd {
    /// A scanner talking to `address`; every connect, read and write must
    /// finish within `timeout`.
    pub fn new(address: Address, timeout: Duration) -> Clamd {
        Clamd { address, timeout }
    }

    fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match &self.address {
            Address::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, self.timeout)?;
                s.set_read_timeout(Some(self.timeout))?;
                s.set_write_timeout(Some(self.timeout))?;
                Box::new(s)
            }
            Address::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(self.timeout))?;
                s.set_write_timeout(Some(self.timeout))?;
                Box::new(s)
            }
        })
    }

    /// `PING` → `PONG`: is the daemon there and answering?
    pub fn ping(&self) -> Result<(), String> {
        let reply = self.connect().and_then(|mut s| request(&mut *s, b"zPING\0", &[])).map_err(|e| e.to_string())?;
        if reply == "PONG" { Ok(()) } else { Err(format!("unexpected reply to PING: {reply:?}")) }
    }

    fn failure(&self, why: impl std::fmt::Display) -> ScanFailure {
        ScanFailure { scanner: self.name().to_string(), why: format!("clamd at {:?}: {why}", self.address) }
    }
}

/// Send `command`, then `data` as INSTREAM chunks when given, and read the
/// NUL-terminated reply.
fn request(stream: &mut dyn Stream, command: &[u8], data: &[u8]) -> std::io::Result<String> {
    stream.write_all(command)?;
    if command.starts_with(b"zINSTREAM") {
        for chunk in data.chunks(CHUNK) {
            stream.write_all(&(chunk.len() as u32).to_be_bytes())?;
            stream.write_all(chunk)?;
        }
        stream.write_all(&[0, 0, 0, 0])?;
    }
    stream.flush()?;
    let mut reply = Vec::new();
    stream.take(MAX_REPLY).read_to_end(&mut reply)?;
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    Ok(String::from_utf8_lossy(&reply[..end]).trim().to_string())
}

/// What a reply to `INSTREAM` means: `Ok(None)` clean, `Ok(Some(name))`
/// found, `Err` anything else.
fn interpret(reply: &str) -> Result<Option<String>, String> {
    let answer = reply.strip_prefix("stream:").map(str::trim).unwrap_or(reply);
    if answer == "OK" {
        return Ok(None);
    }
    match answer.strip_suffix(" FOUND") {
        Some(name) if !name.trim().is_empty() => Ok(Some(name.trim().to_string())),
        _ => Err(if reply.is_empty() { "no answer".to_string() } else { format!("answered {reply:?}") }),
    }
}

impl Scanner for Clamd {
    fn name(&self) -> &str {
        "clamd"
    }

    fn scan(&self, target: &Target<'_>) -> Result<Vec<Detection>, ScanFailure> {
        let mut stream = self.connect().map_err(|e| self.failure(format_args!("cannot connect: {e}")))?;
        let reply = request(&mut *stream, b"zINSTREAM\0", target.data).map_err(|e| self.failure(e))?;
        match interpret(&reply) {
            Ok(None) => Ok(Vec::new()),
            Ok(Some(name)) => Ok(vec![Detection { name, scanner: self.name().to_string() }]),
            Err(why) => Err(self.failure(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(interpret("stream: OK"), Ok(None));
        assert_eq!(interpret("stream: Eicar-Signature FOUND"), Ok(Some("Eicar-Signature".into())));
        assert!(interpret("INSTREAM size limit exceeded. ERROR").is_err());
        assert!(interpret("stream: Can't allocate memory ERROR").is_err());
        assert!(interpret("").is_err());
        assert!(interpret("stream:  FOUND").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(Address::parse("127.0.0.1:3310"), Some(Address::Tcp("127.0.0.1:3310".parse().unwrap())));
        assert_eq!(Address::parse("/run/clamav/clamd.ctl"), Some(Address::Unix("/run/clamav/clamd.ctl".into())));
        assert_eq!(Address::parse("clamd.local"), None);
    }

    #[test]
    fn nobody_listening_is_a_failure_not_clean() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let clamd = Clamd::new(Address::Tcp(port), Duration::from_secs(2));
        let t = Target {
            data: b"x",
            detected: crate::mime::detect::FileType::Text,
            path: "1",
            names: &[],
            declared_type: "",
        };
        assert!(clamd.scan(&t).is_err());
        assert!(clamd.ping().is_err());
    }
}
