//! The outbound SMTP client: one connection to a next hop, with
//! opportunistic STARTTLS, pipelining when offered, DSN parameters passed
//! on, and a result per recipient. Connections are reused by the delivery
//! pool for further transactions.

use super::lines::{Line, read_line};
use super::tls;
use crate::config::Trigger;
use crate::diag::Transcript;
use crate::envelope::{Envelope, Recipient};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// RFC 5321 §4.5.3.2 client timeouts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const REPLY_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const DATA_BLOCK_TIMEOUT: Duration = Duration::from_secs(3 * 60);
const FINAL_DOT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A server reply as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    pub code: u16,
    /// All lines joined with spaces, code prefixes removed.
    pub text: String,
}

impl ServerReply {
    fn local(code: u16, text: impl Into<String>) -> ServerReply {
        ServerReply { code, text: text.into() }
    }

    /// `code text` as shown in logs and DSNs.
    pub fn describe(&self) -> String {
        format!("{} {}", self.code, self.text)
    }
}

/// The outcome for one recipient of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    Delivered(ServerReply),
    /// 4xx, or a connection problem: try again later.
    Deferred(ServerReply),
    /// 5xx: return to the sender.
    Failed(ServerReply),
}

impl RcptResult {
    fn from_reply(reply: ServerReply) -> RcptResult {
        match reply.code {
            200..=399 => RcptResult::Delivered(reply),
            500..=599 => RcptResult::Failed(reply),
            _ => RcptResult::Deferred(reply),
        }
    }
}

/// Why a connection could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// Unreachable, refused, timed out, greeting 4xx: another address or a
    /// later try may work.
    Temporary(String),
    /// The server refused us permanently (5xx greeting or EHLO/HELO).
    Permanent(ServerReply),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// What the server offered in its EHLO reply.
#[derive(Debug, Default, Clone)]
struct Extensions {
    pipelining: bool,
    eight_bit: bool,
    smtputf8: bool,
    dsn: bool,
    starttls: bool,
    size: Option<u64>,
}

/// An open, greeted SMTP connection.
pub struct Connection {
    io: BufReader<Box<dyn Stream>>,
    ext: Extensions,
    /// Peer address, for logs and DSNs.
    pub peer: SocketAddr,
    /// Whether the session is encrypted.
    pub tls: bool,
    /// The diagnostics log of the conversation.
    tap: Transcript,
}

impl Connection {
    /// Connect, read the greeting, EHLO (HELO if refused) and upgrade with
    /// STARTTLS when offered and `use_tls` is set. The conversation is
    /// recorded in `tap` (see [`Transcript::outbound`]).
    pub async fn open(
        peer: SocketAddr,
        server_name: &str,
        helo: &str,
        use_tls: bool,
        mut tap: Transcript,
    ) -> Result<Connection, ConnectError> {
        tap.note(format_args!("connecting to {peer}"));
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer))
            .await
            .map_err(|_| format!("connect to {peer}: timed out"))
            .and_then(|r| r.map_err(|e| format!("connect to {peer}: {e}")))
            .map_err(|why| ConnectError::Temporary(lost(&mut tap, why)))?;
        let _ = tcp.set_nodelay(true);
        let mut conn =
            Connection { io: BufReader::new(Box::new(tcp)), ext: Extensions::default(), peer, tls: false, tap };
        let greeting = conn.reply(REPLY_TIMEOUT).await.map_err(ConnectError::Temporary)?;
        match greeting.code {
            220 => {}
            500..=599 => return Err(ConnectError::Permanent(greeting)),
            _ => return Err(ConnectError::Temporary(format!("{peer} greeted with {}", greeting.describe()))),
        }
        conn.hello(helo).await?;
        if use_tls && conn.ext.starttls {
            conn = conn.starttls(server_name, helo).await?;
        }
        Ok(conn)
    }

    async fn hello(&mut self, helo: &str) -> Result<(), ConnectError> {
        let r = self.command(&format!("EHLO {helo}")).await.map_err(ConnectError::Temporary)?;
        if r.code == 250 {
            self.ext = parse_extensions(&r.text);
            return Ok(());
        }
        let r = self.command(&format!("HELO {helo}")).await.map_err(ConnectError::Temporary)?;
        match r.code {
            250 => {
                self.ext = Extensions::default();
                Ok(())
            }
            500..=599 => Err(ConnectError::Permanent(r)),
            _ => Err(ConnectError::Temporary(format!("{} refused HELO: {}", self.peer, r.describe()))),
        }
    }

    async fn starttls(mut self, server_name: &str, helo: &str) -> Result<Connection, ConnectError> {
        let r = self.command("STARTTLS").await.map_err(ConnectError::Temporary)?;
        if r.code != 220 {
            return Ok(self); // opportunistic: carry on in plaintext
        }
        let (peer, stream, mut tap) = (self.peer, self.io.into_inner(), self.tap);
        let tls = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tls::opportunistic_connector().connect(tls::server_name(server_name), stream),
        )
        .await
        .map_err(|_| format!("TLS handshake with {peer} timed out"))
        .and_then(|r| r.map_err(|e| format!("TLS handshake with {peer} failed: {e}")))
        .map_err(|why| ConnectError::Temporary(lost(&mut tap, why)))?;
        tap.note("TLS started");
        let mut conn =
            Connection { io: BufReader::new(Box::new(tls)), ext: Extensions::default(), peer, tls: true, tap };
        conn.hello(helo).await?;
        Ok(conn)
    }

    /// Run one mail transaction for `rcpts`. `Err` means the connection
    /// failed before any recipient got a final answer (the caller may retry
    /// on a fresh connection); otherwise one result per recipient, in order.
    pub async fn send(
        &mut self,
        env: &Envelope,
        rcpts: &[&Recipient],
        content: &[u8],
    ) -> Result<Vec<RcptResult>, String> {
        self.tap.transaction(self.peer);
        if env.smtputf8 && !self.ext.smtputf8 {
            let r = ServerReply::local(
                550,
                format!("5.6.7 {} does not support SMTPUTF8, required by this message", self.peer),
            );
            self.tap.fault(Trigger::Unsupported, format_args!("not sent: {}", r.describe()));
            return Ok(rcpts.iter().map(|_| RcptResult::Failed(r.clone())).collect());
        }
        if let Some(max) = self.ext.size.filter(|m| *m > 0 && (content.len() as u64) > *m) {
            let r = ServerReply::local(
                552,
                format!("5.3.4 message size {} exceeds {}'s limit of {max}", content.len(), self.peer),
            );
            self.tap.fault(Trigger::SmtpErrors, format_args!("not sent: {}", r.describe()));
            return Ok(rcpts.iter().map(|_| RcptResult::Failed(r.clone())).collect());
        }
        let mut commands = vec![self.mail_command(env, content.len())];
        commands.extend(rcpts.iter().map(|r| self.rcpt_command(r)));
        let replies = if self.ext.pipelining {
            commands.push("DATA".into());
            for c in &commands {
                self.tap.client(c.as_bytes());
            }
            let batch: String = commands.iter().map(|c| format!("{c}\r\n")).collect();
            self.write(batch.as_bytes(), DATA_BLOCK_TIMEOUT).await?;
            let mut replies = Vec::with_capacity(commands.len());
            for _ in &commands {
                replies.push(self.reply(REPLY_TIMEOUT).await?);
            }
            replies
        } else {
            self.lockstep(&commands).await?
        };
        let mail = &replies[0];
        if mail.code >= 400 {
            self.abort_data(&replies).await?;
            return Ok(rcpts.iter().map(|_| RcptResult::from_reply(mail.clone())).collect());
        }
        let rcpt_replies = &replies[1..=rcpts.len()];
        let accepted = rcpt_replies.iter().filter(|r| r.code < 400).count();
        let data_reply = match replies.get(rcpts.len() + 1) {
            Some(r) => r.clone(),
            None if accepted > 0 => self.command("DATA").await?,
            None => ServerReply::local(503, "no valid recipients"),
        };
        if accepted == 0 || data_reply.code != 354 {
            self.abort_data(&replies).await?;
            let fallback = if accepted == 0 { None } else { Some(data_reply) };
            return Ok(rcpt_replies
                .iter()
                .map(|r| {
                    RcptResult::from_reply(if r.code < 400 {
                        fallback.clone().unwrap_or_else(|| r.clone())
                    } else {
                        r.clone()
                    })
                })
                .collect());
        }
        let stuffed = dot_stuff(content);
        self.tap.data(&stuffed);
        self.tap.data_end();
        self.write(&stuffed, DATA_BLOCK_TIMEOUT).await?;
        let final_reply = self.reply(FINAL_DOT_TIMEOUT).await?;
        Ok(rcpt_replies
            .iter()
            .map(|r| RcptResult::from_reply(if r.code < 400 { final_reply.clone() } else { r.clone() }))
            .collect())
    }

    /// After a transaction that did not reach the content, reset so the
    /// connection can be reused; a pipelined DATA that got 354 anyway is
    /// closed with an empty message.
    async fn abort_data(&mut self, replies: &[ServerReply]) -> Result<(), String> {
        if replies.last().is_some_and(|r| r.code == 354) {
            let why = "server accepted DATA without valid recipients; connection dropped";
            self.tap.fault(Trigger::ProtocolErrors, why);
            return Err(why.into());
        }
        let r = self.command("RSET").await?;
        if r.code != 250 {
            return Err(format!("RSET refused: {}", r.describe()));
        }
        Ok(())
    }

    async fn lockstep(&mut self, commands: &[String]) -> Result<Vec<ServerReply>, String> {
        let mut replies = Vec::with_capacity(commands.len());
        for c in commands {
            let r = self.command(c).await?;
            let mail_failed = replies.is_empty() && r.code >= 400;
            replies.push(r);
            if mail_failed {
                // No point in sending RCPTs after MAIL was refused.
                while replies.len() < commands.len() {
                    replies.push(replies[0].clone());
                }
                break;
            }
        }
        Ok(replies)
    }

    fn mail_command(&self, env: &Envelope, size: usize) -> String {
        let mut c = format!("MAIL FROM:<{}>", env.sender);
        if self.ext.size.is_some() {
            c.push_str(&format!(" SIZE={size}"));
        }
        if env.body_8bit && self.ext.eight_bit {
            c.push_str(" BODY=8BITMIME");
        }
        if env.smtputf8 {
            c.push_str(" SMTPUTF8");
        }
        if self.ext.dsn {
            if let Some(ret) = &env.ret {
                c.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = &env.envid {
                c.push_str(&format!(" ENVID={envid}"));
            }
        }
        c
    }

    fn rcpt_command(&self, r: &Recipient) -> String {
        let mut c = format!("RCPT TO:<{}>", r.address);
        if self.ext.dsn {
            if let Some(n) = &r.notify {
                c.push_str(&format!(" NOTIFY={n}"));
            }
            if let Some(o) = &r.orcpt {
                c.push_str(&format!(" ORCPT={o}"));
            }
        }
        c
    }

    /// Say goodbye politely (errors do not matter any more).
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.command("QUIT")).await;
    }

    async fn command(&mut self, line: &str) -> Result<ServerReply, String> {
        self.tap.client(line.as_bytes());
        self.write(format!("{line}\r\n").as_bytes(), REPLY_TIMEOUT).await?;
        self.reply(REPLY_TIMEOUT).await
    }

    async fn write(&mut self, bytes: &[u8], limit: Duration) -> Result<(), String> {
        let io = self.io.get_mut();
        match tokio::time::timeout(limit, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(lost(&mut self.tap, format!("lost connection with {}: {e}", self.peer))),
            Err(_) => Err(lost(&mut self.tap, format!("timeout writing to {}", self.peer))),
        }
    }

    /// Read one (possibly multi-line) reply.
    async fn reply(&mut self, limit: Duration) -> Result<ServerReply, String> {
        let (peer, io, tap) = (self.peer, &mut self.io, &mut self.tap);
        let read = async {
            let mut text = Vec::new();
            loop {
                let line = match read_line(io, 4096).await {
                    Ok(Line::Text(l)) => l,
                    Ok(Line::TooLong) => {
                        return Err((Trigger::ProtocolErrors, format!("{peer} sent an over-long reply line")));
                    }
                    Ok(Line::Eof) => {
                        return Err((Trigger::CommunicationErrors, format!("lost connection with {peer}")));
                    }
                    Err(e) => return Err((Trigger::CommunicationErrors, format!("lost connection with {peer}: {e}"))),
                };
                tap.server(&line);
                let line = String::from_utf8_lossy(&line).into_owned();
                let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
                let Some(code) = code else {
                    return Err((Trigger::ProtocolErrors, format!("{peer} sent a malformed reply: {line:.100}")));
                };
                text.push(line.get(4..).unwrap_or("").to_string());
                if line.as_bytes().get(3) != Some(&b'-') {
                    return Ok(ServerReply { code, text: text.join("\n") });
                }
            }
        };
        let timed_out = |_| Err((Trigger::CommunicationErrors, format!("timeout waiting for {peer}")));
        tokio::time::timeout(limit, read).await.unwrap_or_else(timed_out).map_err(|(trigger, why)| {
            self.tap.fault(trigger, &why);
            why
        })
    }
}

/// Note a failed connection in the log; `why` is the error to return.
fn lost(tap: &mut Transcript, why: String) -> String {
    tap.fault(Trigger::CommunicationErrors, &why);
    why
}

fn parse_extensions(ehlo: &str) -> Extensions {
    let mut ext = Extensions::default();
    for line in ehlo.lines().skip(1) {
        let mut words = line.split_whitespace();
        let keyword = words.next().unwrap_or("").to_ascii_uppercase();
        match keyword.as_str() {
            "PIPELINING" => ext.pipelining = true,
            "8BITMIME" => ext.eight_bit = true,
            "SMTPUTF8" => ext.smtputf8 = true,
            "DSN" => ext.dsn = true,
            "STARTTLS" => ext.starttls = true,
            "SIZE" => ext.size = Some(words.next().and_then(|w| w.parse().ok()).unwrap_or(0)),
            _ => {}
        }
    }
    ext
}

/// Content ready for the DATA phase: leading dots doubled, CRLF ensured at
/// the end, and the terminating `.CRLF` added.
pub fn dot_stuff(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 5);
    let mut rest = content;
    while let Some(&first) = rest.first() {
        let run = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        if first == b'.' {
            out.push(b'.');
        }
        out.extend_from_slice(&rest[..run]);
        rest = &rest[run..];
    }
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b"A: b\r\n\r\n.x\r\n..\r\n"), b"A: b\r\n\r\n..x\r\n...\r\n.\r\n");
        assert_eq!(dot_stuff(b"no newline"), b"no newline\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(dot_stuff(b".first"), b"..first\r\n.\r\n");
    }

    #[test]
    fn extensions() {
        let e = parse_extensions("mx.example\nPIPELINING\nSIZE 1000\nDSN\nstarttls\n8BITMIME");
        assert!(e.pipelining && e.dsn && e.starttls && e.eight_bit && !e.smtputf8);
        assert_eq!(e.size, Some(1000));
    }
}
