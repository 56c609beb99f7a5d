//! The inbound SMTP session as a pure state machine: it is fed command
//! lines and content bytes and answers with what the I/O layer must do.
//! No sockets, no clocks, no disks, so every rule is unit-testable and the
//! whole thing can be fuzzed.

use super::command::{self, Command, Mailbox, Param, ParseError, Path};
use super::data::{BodyWriter, DotDecoder, Violation};
use super::reply::Reply;
use crate::config::{Action as DnsblAction, Config};
use crate::envelope::{Envelope, Recipient};
use crate::events::{Event, RejectRule};
use crate::policy::dnsbl::{self, Listing};
use crate::policy::hosts::Client;
use crate::policy::{chars, relay, size};
use std::sync::Arc;

/// RFC 5321 §4.5.3.1.8: at least 100; the issue asks for 1000.
pub const MAX_RECIPIENTS: usize = 1000;
/// Errors after which the client is disconnected (Postfix
/// `smtpd_hard_error_limit`).
pub const MAX_ERRORS: u32 = 20;
/// Longest accepted command line, CRLF included (RFC 5321 allows 512 plus
/// what extensions add).
pub const MAX_COMMAND_LINE: usize = 2048;

/// What the I/O layer must do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Reply(Reply),
    /// Send the reply and close the connection.
    Close(Reply),
    /// Send the reply, then run the TLS handshake and call
    /// [`Session::tls_started`]; discard anything already buffered.
    StartTls(Reply),
    /// Send `354`, then pass content to [`Session::data_input`] until it
    /// reports the end, and call [`Session::data_end`].
    ReadData(Reply),
    /// Read exactly `size` bytes into [`Session::chunk_input`], then call
    /// [`Session::chunk_end`].
    ReadChunk {
        size: u64,
    },
}

/// What to do when a message's content is complete.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    Reply(Reply),
    /// Queue the message durably, then call [`Session::queued`].
    Queue(Box<Envelope>, Vec<u8>),
}

/// How content is being received in the current transaction.
#[derive(Debug)]
enum Content {
    None,
    Data(DotDecoder, BodyWriter),
    Chunks {
        body: BodyWriter,
        last: bool,
    },
    /// BDAT after an error: chunks are read and thrown away until LAST.
    DiscardChunks {
        last: bool,
        reply: Reply,
    },
}

#[derive(Debug)]
struct Transaction {
    envelope: Envelope,
    content: Content,
}

/// One inbound SMTP conversation.
pub struct Session {
    config: Arc<Config>,
    client: Client,
    tls_available: bool,
    tls_active: bool,
    helo: Option<String>,
    esmtp: bool,
    tx: Option<Transaction>,
    errors: u32,
    /// The DNSBL that lists the client, once the lookup finished.
    listing: Option<Listing>,
    /// Events for the I/O layer to send on.
    events: Vec<Event>,
    /// Names the connection in events.
    connection_id: String,
    /// The last command line (shortened) and reply, for events.
    last_command: String,
    last_reply: String,
}

impl Session {
    /// A session for `client` under one configuration snapshot.
    pub fn new(config: Arc<Config>, client: Client, tls_available: bool) -> Session {
        Session {
            config,
            client,
            tls_available,
            tls_active: false,
            helo: None,
            esmtp: false,
            tx: None,
            errors: 0,
            listing: None,
            events: Vec::new(),
            connection_id: String::new(),
            last_command: String::new(),
            last_reply: String::new(),
        }
    }

    /// The same session, named `id` in its events.
    pub fn identified(mut self, id: String) -> Session {
        self.connection_id = id;
        self
    }

    /// The connection's last command and reply, for the closing event.
    pub fn closed(&self) -> Event {
        Event::ConnectionClosed {
            connection_id: self.connection_id.clone(),
            client_ip: self.client.ip.to_string(),
            last_command: self.last_command.clone(),
            last_response: self.last_reply.clone(),
        }
    }

    /// A message was queued as `id`: the Accepted event.
    pub fn accepted(&self, env: &Envelope, id: &str, body: &[u8]) -> Event {
        let message = crate::events::MessageRef {
            id: id.to_string(),
            sender: env.sender.clone(),
            recipients: env.recipients.iter().map(|r| r.address.clone()).collect(),
            subject: crate::mime::headers::subject(body),
            client_ip: env.client_ip.clone(),
        };
        Event::Accepted { message, connection_id: self.connection_id.clone(), bytes: body.len() as u64 }
    }

    /// The result of the DNSBL lookup started at connect; must be given
    /// before `MAIL FROM` is handled.
    pub fn set_listing(&mut self, listing: Option<Listing>) {
        self.listing = listing;
    }

    /// Events produced since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn hostname(&self) -> &str {
        &self.config.smtp.hostname
    }

    /// The banner, or `421 4.3.2` while incoming mail is refused.
    pub fn greeting(&self) -> Action {
        if self.config.delivery.reject_incoming {
            return Action::Close(Reply::new(
                421,
                "4.3.2",
                format!("{} Service not available, incoming mail is refused; try again later", self.hostname()),
            ));
        }
        Action::Reply(Reply::plain(220, vec![format!("{} ESMTP mxguard", self.hostname())]))
    }

    /// The reply when the client was silent for too long.
    pub fn timeout(&self) -> Reply {
        Reply::new(421, "4.4.2", format!("{} Error: timeout exceeded", self.hostname()))
    }

    /// The reply to a command line longer than [`MAX_COMMAND_LINE`].
    pub fn line_too_long(&mut self) -> Action {
        self.error(Reply::new(500, "5.5.2", "Error: command line too long"))
    }

    /// Handle one command line (without its CRLF).
    pub fn command(&mut self, line: &[u8]) -> Action {
        self.last_command = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
        let action = self.dispatch(line);
        if let Action::Reply(r) | Action::Close(r) | Action::StartTls(r) | Action::ReadData(r) = &action {
            self.last_reply = r.summary();
        }
        action
    }

    fn dispatch(&mut self, line: &[u8]) -> Action {
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(ParseError::Unknown) => return self.error(Reply::new(500, "5.5.2", "Error: command not recognized")),
            Err(ParseError::Encoding) => {
                return self.error(Reply::new(500, "5.5.2", "Error: command is not valid UTF-8"));
            }
            Err(ParseError::Syntax(why)) => return self.error(Reply::new(501, "5.5.4", why)),
        };
        if self.in_chunking() && !matches!(cmd, Command::Bdat { .. } | Command::Rset | Command::Quit | Command::Noop) {
            return self.error(Reply::new(503, "5.5.1", "Error: only BDAT, RSET, NOOP or QUIT during a BDAT transfer"));
        }
        match cmd {
            Command::Helo(name) => self.hello(name, false),
            Command::Ehlo(name) => self.hello(name, true),
            Command::Mail { path, params } => self.mail(path, params),
            Command::Rcpt { path, params } => self.rcpt(path, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.tx = None;
                Action::Reply(Reply::new(250, "2.0.0", "Ok"))
            }
            Command::Noop => Action::Reply(Reply::new(250, "2.0.0", "Ok")),
            Command::Quit => Action::Close(Reply::new(221, "2.0.0", "Bye")),
            Command::Vrfy | Command::Expn => Action::Reply(Reply::new(502, "5.5.1", "Error: command not implemented")),
            Command::Help => Action::Reply(Reply::new(
                214,
                "2.0.0",
                "See RFC 5321; commands: EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS",
            )),
            Command::StartTls => self.starttls(),
        }
    }

    /// A protocol error: an event, and counted towards closing.
    fn error(&mut self, reply: Reply) -> Action {
        self.events.push(Event::ProtocolViolation {
            connection_id: self.connection_id.clone(),
            client_ip: self.client.ip.to_string(),
            command: self.last_command.clone(),
            response: reply.summary(),
        });
        self.count_error(reply)
    }

    /// A refusal by policy: a Rejected event, and counted towards closing.
    fn refuse(&mut self, rule: RejectRule, recipient: &str, reply: Reply) -> Action {
        self.events.push(self.rejected(rule, recipient, &reply));
        self.count_error(reply)
    }

    fn rejected(&self, rule: RejectRule, recipient: &str, reply: &Reply) -> Event {
        Event::Rejected {
            connection_id: self.connection_id.clone(),
            client_ip: self.client.ip.to_string(),
            sender: self.tx.as_ref().map(|t| t.envelope.sender.clone()).unwrap_or_default(),
            recipient: recipient.to_string(),
            rule,
            reason: reply.summary(),
        }
    }

    fn count_error(&mut self, reply: Reply) -> Action {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            return Action::Close(Reply::new(421, "4.7.0", format!("{} Error: too many errors", self.hostname())));
        }
        Action::Reply(reply)
    }

    fn in_chunking(&self) -> bool {
        matches!(self.tx.as_ref().map(|t| &t.content), Some(Content::Chunks { .. } | Content::DiscardChunks { .. }))
    }

    fn hello(&mut self, name: String, esmtp: bool) -> Action {
        self.tx = None;
        self.helo = Some(name);
        self.esmtp = esmtp;
        if !esmtp {
            return Action::Reply(Reply::new(250, "2.0.0", self.hostname().to_string()));
        }
        let mut lines = vec![
            self.hostname().to_string(),
            "PIPELINING".into(),
            format!("SIZE {}", size::limit(&self.config)),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.tls_available && !self.tls_active {
            lines.push("STARTTLS".into());
        }
        lines.extend(["SMTPUTF8".into(), "CHUNKING".into(), "DSN".into()]);
        Action::Reply(Reply::plain(250, lines))
    }

    fn starttls(&mut self) -> Action {
        if self.tls_active {
            return self.error(Reply::new(554, "5.5.1", "Error: TLS already active"));
        }
        if !self.tls_available {
            return self.error(Reply::new(454, "4.7.0", "TLS not available"));
        }
        Action::StartTls(Reply::new(220, "2.0.0", "Ready to start TLS"))
    }

    /// The handshake succeeded: RFC 3207 §4.2 — forget everything the
    /// client said before, it must greet again.
    pub fn tls_started(&mut self) {
        self.tls_active = true;
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
    }

    fn mail(&mut self, path: Path, params: Vec<Param>) -> Action {
        if self.helo.is_none() {
            return self.error(Reply::new(503, "5.5.1", "Error: send HELO/EHLO first"));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Error: nested MAIL command"));
        }
        let mut env = Envelope {
            sender: path.address(),
            client_ip: self.client.ip.to_string(),
            helo: self.helo.clone().unwrap_or_default(),
            ..Envelope::default()
        };
        if let Some(refusal) = self.dnsbl_decision(&mut env) {
            return refusal;
        }
        for (key, value) in params {
            let value = value.unwrap_or_default();
            match key.as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(n) if n > size::limit(&self.config) as u64 => {
                        let reply = Reply::new(552, "5.3.4", "Message size exceeds fixed maximum message size");
                        let mut event = self.rejected(RejectRule::Size, "", &reply);
                        if let Event::Rejected { sender, .. } = &mut event {
                            sender.clone_from(&env.sender);
                        }
                        self.events.push(event);
                        return Action::Reply(reply);
                    }
                    Ok(_) => {}
                    Err(_) => return self.error(Reply::new(501, "5.5.4", "Bad SIZE parameter")),
                },
                "BODY" if value.eq_ignore_ascii_case("8BITMIME") => env.body_8bit = true,
                "BODY" if value.eq_ignore_ascii_case("7BIT") => {}
                "SMTPUTF8" if value.is_empty() => env.smtputf8 = true,
                "RET" if value.eq_ignore_ascii_case("FULL") || value.eq_ignore_ascii_case("HDRS") => {
                    env.ret = Some(value.to_ascii_uppercase());
                }
                "ENVID" if !value.is_empty() && value.len() <= 100 && is_xtext(&value) => env.envid = Some(value),
                "AUTH" => {}
                _ => return self.error(Reply::new(555, "5.5.4", format!("Unsupported option: {key}"))),
            }
        }
        if let Path::Mailbox(m) = &path {
            if m.is_utf8() && !env.smtputf8 {
                return self.error(Reply::new(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8"));
            }
            if let Some(c) = chars::forbidden_char(&self.config, &m.address()) {
                return self.refuse(
                    RejectRule::Characters,
                    "",
                    Reply::new(553, "5.1.7", format!("Sender address contains a character not allowed here: '{c}'")),
                );
            }
        }
        self.tx = Some(Transaction { envelope: env, content: Content::None });
        Action::Reply(Reply::new(250, "2.1.0", "Ok"))
    }

    /// SPEC §4: a listed client is refused (`drop`) or its message marked
    /// for the pipeline (`log`, `forward`), unless the sender is on the
    /// anti-spam white list.
    fn dnsbl_decision(&mut self, env: &mut Envelope) -> Option<Action> {
        let listing = self.listing.as_ref()?;
        let rule = &self.config.blocking.dnsbl;
        if dnsbl::whitelisted(rule, &env.sender) {
            return None;
        }
        if rule.action != DnsblAction::Drop {
            env.listed_by = Some(listing.zone.clone());
            return None;
        }
        let (ip, zone) = (self.client.ip, listing.zone.clone());
        self.events.push(Event::SpamListRefused {
            client_ip: ip.to_string(),
            sender: env.sender.clone(),
            zone: zone.clone(),
        });
        Some(self.count_error(Reply::new(
            554,
            "5.7.1",
            format!("Service unavailable; client host [{ip}] blocked using {zone}"),
        )))
    }

    fn rcpt(&mut self, mut path: Mailbox, params: Vec<Param>) -> Action {
        let Some(tx) = self.tx.as_ref() else {
            return self.error(Reply::new(503, "5.5.1", "Error: need MAIL command"));
        };
        if tx.envelope.recipients.len() >= MAX_RECIPIENTS {
            return Action::Reply(Reply::new(452, "4.5.3", "Error: too many recipients"));
        }
        let mut rcpt = Recipient::default();
        for (key, value) in params {
            match (key.as_str(), value) {
                ("NOTIFY", Some(v)) if valid_notify(&v) => rcpt.notify = Some(v.to_ascii_uppercase()),
                ("ORCPT", Some(v)) if v.contains(';') && v.len() <= 500 => rcpt.orcpt = Some(v),
                _ => return self.error(Reply::new(555, "5.5.4", format!("Unsupported or malformed option: {key}"))),
            }
        }
        if path.is_utf8() && !tx.envelope.smtputf8 {
            return self.error(Reply::new(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8"));
        }
        if path.domain.is_empty() {
            // RFC 5321 §4.5.1: "postmaster" without a domain must be accepted.
            path.domain = self.hostname().to_ascii_lowercase();
        } else {
            if let Some(c) = chars::forbidden_char(&self.config, &path.address()) {
                return self.refuse(
                    RejectRule::Characters,
                    &path.address(),
                    Reply::new(553, "5.1.3", format!("Recipient address contains a character not allowed here: '{c}'")),
                );
            }
            if !relay::relay_allowed(&self.config, &self.client, &path.domain) {
                return self.refuse(
                    RejectRule::Relay,
                    &path.address(),
                    Reply::new(
                        550,
                        "5.7.1",
                        format!(
                            "<{}>: Relay access denied: {} is not a local domain and {} may not relay",
                            path.address(),
                            path.domain,
                            self.client.ip
                        ),
                    ),
                );
            }
        }
        rcpt.address = path.address();
        if let Some(tx) = self.tx.as_mut() {
            tx.envelope.recipients.push(rcpt);
        }
        Action::Reply(Reply::new(250, "2.1.5", "Ok"))
    }

    fn data(&mut self) -> Action {
        let max = size::limit(&self.config);
        match self.tx.as_mut() {
            None => self.error(Reply::new(503, "5.5.1", "Error: need MAIL command")),
            Some(tx) if tx.envelope.recipients.is_empty() => {
                self.error(Reply::new(503, "5.5.1", "Error: need RCPT command"))
            }
            Some(tx) => {
                tx.content = Content::Data(DotDecoder::default(), BodyWriter::new(max));
                Action::ReadData(Reply::new(354, "2.0.0", "End data with <CR><LF>.<CR><LF>"))
            }
        }
    }

    /// Content bytes during DATA; `Some(n)` once the terminator was seen
    /// after `n` bytes of `input`.
    pub fn data_input(&mut self, input: &[u8]) -> Option<usize> {
        match self.tx.as_mut().map(|t| &mut t.content) {
            Some(Content::Data(decoder, body)) => decoder.feed(input, body),
            _ => Some(0),
        }
    }

    /// The DATA terminator arrived.
    pub fn data_end(&mut self) -> Completion {
        let Some(mut tx) = self.tx.take() else {
            return Completion::Reply(Reply::new(503, "5.5.1", "Error: no transaction"));
        };
        match std::mem::replace(&mut tx.content, Content::None) {
            Content::Data(_, body) => self.complete(tx, body),
            _ => Completion::Reply(Reply::new(503, "5.5.1", "Error: no DATA in progress")),
        }
    }

    fn bdat(&mut self, size: u64, last: bool) -> Action {
        let max = size::limit(&self.config);
        let refusal = match self.tx.as_ref() {
            None => Some(Reply::new(503, "5.5.1", "Error: need MAIL command")),
            Some(t) if t.envelope.recipients.is_empty() => Some(Reply::new(503, "5.5.1", "Error: need RCPT command")),
            Some(_) => None,
        };
        match (self.tx.as_mut(), refusal) {
            (Some(tx), None) => {
                tx.content = match std::mem::replace(&mut tx.content, Content::None) {
                    // DATA never reaches a BDAT command: the I/O layer reads it to its end.
                    Content::None | Content::Data(..) => Content::Chunks { body: BodyWriter::new(max), last },
                    Content::Chunks { body, .. } => Content::Chunks { body, last },
                    Content::DiscardChunks { reply, .. } => Content::DiscardChunks { last, reply },
                };
            }
            (_, refusal) => {
                // The chunk must still be read off the wire and thrown away.
                self.errors += 1;
                let reply = refusal.unwrap_or_else(|| Reply::new(503, "5.5.1", "Error: bad sequence"));
                self.tx = Some(Transaction {
                    envelope: Envelope::default(),
                    content: Content::DiscardChunks { last, reply },
                });
            }
        }
        Action::ReadChunk { size }
    }

    /// Bytes of the current BDAT chunk.
    pub fn chunk_input(&mut self, input: &[u8]) {
        if let Some(Content::Chunks { body, .. }) = self.tx.as_mut().map(|t| &mut t.content) {
            body.push(input);
        }
    }

    /// The current BDAT chunk has been read completely.
    pub fn chunk_end(&mut self, size: u64) -> Completion {
        let Some(mut tx) = self.tx.take() else {
            return Completion::Reply(Reply::new(503, "5.5.1", "Error: no transaction"));
        };
        match std::mem::replace(&mut tx.content, Content::None) {
            Content::Chunks { body, last: true } => self.complete(tx, body),
            Content::Chunks { body, last: false } => {
                tx.content = Content::Chunks { body, last: false };
                self.tx = Some(tx);
                Completion::Reply(Reply::new(250, "2.0.0", format!("{size} octets received")))
            }
            Content::DiscardChunks { last, reply } => {
                if !last {
                    tx.content = Content::DiscardChunks { last, reply: reply.clone() };
                    self.tx = Some(tx);
                }
                Completion::Reply(reply)
            }
            _ => Completion::Reply(Reply::new(503, "5.5.1", "Error: no BDAT in progress")),
        }
    }

    fn complete(&mut self, tx: Transaction, body: BodyWriter) -> Completion {
        let (rule, reply) = match body.finish() {
            Ok(bytes) => return Completion::Queue(Box::new(tx.envelope), bytes),
            Err(Violation::TooLarge) => {
                (RejectRule::Size, Reply::new(552, "5.3.4", "Message size exceeds fixed maximum message size"))
            }
            Err(Violation::Nul) => {
                (RejectRule::Other, Reply::new(554, "5.6.0", "Message rejected: NUL character in message"))
            }
            Err(Violation::BareLineEnd) => (
                RejectRule::Other,
                Reply::new(
                    554,
                    "5.6.0",
                    "Message rejected: header line ends with a bare CR or bare LF; lines must end with CRLF",
                ),
            ),
        };
        let recipients: Vec<&str> = tx.envelope.recipients.iter().map(|r| r.address.as_str()).collect();
        let mut event = self.rejected(rule, &recipients.join(","), &reply);
        if let Event::Rejected { sender, .. } = &mut event {
            sender.clone_from(&tx.envelope.sender);
        }
        self.events.push(event);
        self.last_reply = reply.summary();
        Completion::Reply(reply)
    }

    /// The outcome of queueing the completed message.
    pub fn queued(&mut self, result: Result<&str, String>) -> Reply {
        self.tx = None;
        let reply = match result {
            Ok(id) => Reply::new(250, "2.0.0", format!("Ok: queued as {id}")),
            Err(why) => {
                Reply::new(451, "4.3.0", format!("Error: could not queue the message ({why}); try again later"))
            }
        };
        self.last_reply = reply.summary();
        reply
    }

    /// The `Received:` trace header (RFC 5321 §4.4, RFC 3848 protocol
    /// names) for a message queued as `id` at `date` (RFC 5322 format).
    pub fn received_header(&self, env: &Envelope, id: &str, date: &str) -> String {
        let proto = match (env.smtputf8, self.esmtp, self.tls_active) {
            (true, _, true) => "UTF8SMTPS",
            (true, _, false) => "UTF8SMTP",
            (false, true, true) => "ESMTPS",
            (false, true, false) => "ESMTP",
            (false, false, true) => "SMTPS",
            (false, false, false) => "SMTP",
        };
        let helo: String =
            self.helo.as_deref().unwrap_or("unknown").chars().filter(|c| !c.is_control()).take(255).collect();
        let name = self.client.verified_name.as_deref().unwrap_or("unknown");
        let mut h = format!(
            "Received: from {helo} ({name} [{}])\r\n\tby {} (mxguard) with {proto} id {id}",
            self.client.ip,
            self.hostname()
        );
        if let [only] = env.recipients.as_slice() {
            h.push_str(&format!("\r\n\tfor <{}>", only.address));
        }
        h.push_str(&format!("; {date}\r\n"));
        h
    }
}

/// RFC 3461 xtext: printable ASCII except `+` and `=` unless encoded.
fn is_xtext(s: &str) -> bool {
    s.bytes().all(|b| (33..=126).contains(&b) && b != b'=')
}

fn valid_notify(v: &str) -> bool {
    let v = v.to_ascii_uppercase();
    v == "NEVER" || v.split(',').all(|w| matches!(w, "SUCCESS" | "FAILURE" | "DELAY"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LocalRoute;

    fn session_with(edit: impl FnOnce(&mut Config)) -> Session {
        let mut c = Config::default();
        c.smtp.hostname = "mx.test".into();
        c.routing.local = vec![LocalRoute { name: "example.com".into(), relay: String::new() }];
        edit(&mut c);
        let client = Client { ip: "192.0.2.1".parse().unwrap(), verified_name: None };
        let mut s = Session::new(Arc::new(c), client, true);
        assert!(matches!(s.command(b"EHLO client.test"), Action::Reply(r) if r.code == 250));
        s
    }

    fn session() -> Session {
        session_with(|_| {})
    }

    fn code(a: Action) -> (u16, Option<&'static str>) {
        match a {
            Action::Reply(r) | Action::Close(r) | Action::StartTls(r) | Action::ReadData(r) => (r.code, r.status),
            Action::ReadChunk { .. } => (0, None),
        }
    }

    fn queued(c: Completion) -> (Envelope, Vec<u8>) {
        match c {
            Completion::Queue(e, b) => (*e, b),
            Completion::Reply(r) => panic!("expected a message, got {r}"),
        }
    }

    #[test]
    fn greeting_and_reject_switch() {
        let s = session();
        assert!(matches!(s.greeting(), Action::Reply(r) if r.code == 220));
        let s = session_with(|c| c.delivery.reject_incoming = true);
        assert!(matches!(s.greeting(), Action::Close(r) if r.code == 421 && r.status == Some("4.3.2")));
    }

    #[test]
    fn ehlo_lists_the_extensions_and_hides_starttls_once_active() {
        let mut s = session();
        let Action::Reply(r) = s.command(b"EHLO again") else { panic!() };
        let text = r.to_string();
        for ext in [
            "PIPELINING",
            "SIZE 104857600",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
            "SMTPUTF8",
            "CHUNKING",
            "DSN",
        ] {
            assert!(text.contains(ext), "{ext} missing from {text}");
        }
        assert!(matches!(s.command(b"STARTTLS"), Action::StartTls(_)));
        s.tls_started();
        assert_eq!(code(s.command(b"MAIL FROM:<a@b.test>")), (503, Some("5.5.1")), "must greet again after TLS");
        let Action::Reply(r) = s.command(b"EHLO again") else { panic!() };
        assert!(!r.to_string().contains("STARTTLS"));
        assert_eq!(code(s.command(b"STARTTLS")).0, 554);
    }

    #[test]
    fn sequence_errors() {
        let mut s = session();
        assert_eq!(code(s.command(b"RCPT TO:<a@example.com>")), (503, Some("5.5.1")));
        assert_eq!(code(s.command(b"DATA")), (503, Some("5.5.1")));
        assert_eq!(code(s.command(b"MAIL FROM:<a@b.test>")).0, 250);
        assert_eq!(code(s.command(b"MAIL FROM:<a@b.test>")), (503, Some("5.5.1")));
        assert_eq!(code(s.command(b"DATA")), (503, Some("5.5.1")), "no recipients yet");
        assert_eq!(code(s.command(b"FOOBAR")), (500, Some("5.5.2")));
        assert_eq!(code(s.command(b"MAIL FROM:<a@b.test> FOO=1")), (503, Some("5.5.1")));
        assert_eq!(code(s.command(b"RSET")).0, 250);
        assert_eq!(code(s.command(b"MAIL FROM:<a@b.test> FOO=1")), (555, Some("5.5.4")));
        let mut fresh = session_with(|_| {});
        fresh.helo = None;
        assert_eq!(code(fresh.command(b"MAIL FROM:<a@b.test>")), (503, Some("5.5.1")));
    }

    #[test]
    fn data_transaction_with_received_header() {
        let mut s = session();
        s.command(b"MAIL FROM:<a@b.test> BODY=8BITMIME RET=HDRS ENVID=e1");
        assert_eq!(code(s.command(b"RCPT TO:<bob@Example.COM> NOTIFY=FAILURE ORCPT=rfc822;bob@example.com")).0, 250);
        assert_eq!(code(s.command(b"DATA")).0, 354);
        assert_eq!(s.data_input(b"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"), Some(21));
        let (env, body) = queued(s.data_end());
        assert_eq!(body, b"Subject: x\r\n\r\nhi\r\n");
        assert_eq!(env.sender, "a@b.test");
        assert!(env.body_8bit);
        assert_eq!(env.ret.as_deref(), Some("HDRS"));
        assert_eq!(env.envid.as_deref(), Some("e1"));
        assert_eq!(env.recipients[0].address, "bob@example.com");
        assert_eq!(env.recipients[0].notify.as_deref(), Some("FAILURE"));
        let h = s.received_header(&env, "Q1", "Tue, 1 Dec 2026 10:00:00 +0000");
        assert!(h.starts_with(
            "Received: from client.test (unknown [192.0.2.1])\r\n\tby mx.test (mxguard) with ESMTP id Q1"
        ));
        assert!(h.contains("for <bob@example.com>;"));
        assert!(s.queued(Ok("Q1")).to_string().starts_with("250 2.0.0"));
    }

    #[test]
    fn relay_and_character_rules_per_recipient() {
        let mut s = session_with(|c| c.relay.chars_enabled = true);
        s.command(b"MAIL FROM:<a@b.test>");
        assert_eq!(code(s.command(b"RCPT TO:<x@elsewhere.org>")), (550, Some("5.7.1")));
        assert_eq!(code(s.command(b"RCPT TO:<x%y@example.com>")), (553, Some("5.1.3")));
        assert_eq!(code(s.command(b"RCPT TO:<ok@example.com>")).0, 250);
        assert_eq!(code(s.command(b"RCPT TO:<postmaster>")).0, 250);
        assert_eq!(code(s.command(b"RSET")).0, 250);
        assert_eq!(code(s.command(b"MAIL FROM:<a!b@b.test>")), (553, Some("5.1.7")));
        let rules: Vec<(RejectRule, String)> = s
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Rejected { rule, recipient, .. } => Some((rule, recipient)),
                _ => None,
            })
            .collect();
        assert_eq!(
            rules,
            [
                (RejectRule::Relay, "x@elsewhere.org".to_string()),
                (RejectRule::Characters, "x%y@example.com".to_string()),
                (RejectRule::Characters, String::new())
            ]
        );
    }

    #[test]
    fn protocol_errors_and_the_closing_event_name_the_command() {
        let mut s = session();
        s.command(b"RCPT TO:<x@example.com>");
        let events = s.take_events();
        let [Event::ProtocolViolation { command, response, .. }] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(
            (command.as_str(), response.as_str()),
            ("RCPT TO:<x@example.com>", "503 5.5.1 Error: need MAIL command")
        );
        s.command(b"NOOP");
        let Event::ConnectionClosed { last_command, last_response, .. } = s.closed() else { unreachable!() };
        assert_eq!((last_command.as_str(), last_response.as_str()), ("NOOP", "250 2.0.0 Ok"));
    }

    #[test]
    fn utf8_addresses_need_smtputf8() {
        let mut s = session();
        assert_eq!(code(s.command("MAIL FROM:<jörg@b.test>".as_bytes())), (553, Some("5.6.7")));
        assert_eq!(code(s.command("MAIL FROM:<jörg@b.test> SMTPUTF8".as_bytes())).0, 250);
        assert_eq!(code(s.command("RCPT TO:<zoë@example.com>".as_bytes())).0, 250);
    }

    #[test]
    fn size_limits() {
        let mut s = session_with(|c| c.smtp.max_message_mb = 1);
        assert_eq!(code(s.command(b"MAIL FROM:<a@b.test> SIZE=2000000")), (552, Some("5.3.4")));
        s.command(b"MAIL FROM:<a@b.test> SIZE=100");
        s.command(b"RCPT TO:<b@example.com>");
        s.command(b"DATA");
        let big = vec![b'x'; 1024 * 1024 + 10];
        assert_eq!(s.data_input(b"Subject: big\r\n\r\n"), None);
        assert_eq!(s.data_input(&big), None);
        assert_eq!(s.data_input(b"\r\n.\r\n"), Some(5));
        assert!(matches!(s.data_end(), Completion::Reply(r) if r.code == 552));
    }

    #[test]
    fn recipient_limit() {
        let mut s = session();
        s.command(b"MAIL FROM:<a@b.test>");
        for i in 0..MAX_RECIPIENTS {
            assert_eq!(code(s.command(format!("RCPT TO:<u{i}@example.com>").as_bytes())).0, 250);
        }
        assert_eq!(code(s.command(b"RCPT TO:<one-more@example.com>")), (452, Some("4.5.3")));
    }

    #[test]
    fn bdat_chunks_and_errors() {
        let mut s = session();
        assert_eq!(s.command(b"BDAT 5"), Action::ReadChunk { size: 5 });
        s.chunk_input(b"hello");
        assert!(
            matches!(s.chunk_end(5), Completion::Reply(r) if r.code == 503),
            "BDAT without MAIL is refused after the chunk is read"
        );
        assert_eq!(
            code(s.command(b"MAIL FROM:<a@b.test>")),
            (503, Some("5.5.1")),
            "the failed transfer must be reset first"
        );
        assert_eq!(code(s.command(b"RSET")).0, 250);
        s.command(b"MAIL FROM:<a@b.test>");
        s.command(b"RCPT TO:<b@example.com>");
        assert_eq!(s.command(b"BDAT 14"), Action::ReadChunk { size: 14 });
        s.chunk_input(b"Subject: c\r\n\r\n");
        assert!(matches!(s.chunk_end(14), Completion::Reply(r) if r.code == 250));
        assert_eq!(code(s.command(b"DATA")), (503, Some("5.5.1")), "no DATA inside a BDAT transfer");
        assert_eq!(s.command(b"BDAT 4 LAST"), Action::ReadChunk { size: 4 });
        s.chunk_input(b"hi\r\n");
        let (_, body) = queued(s.chunk_end(4));
        assert_eq!(body, b"Subject: c\r\n\r\nhi\r\n");
    }

    #[test]
    fn bad_content_is_refused() {
        for (content, status) in [(&b"A: b\nB: c\r\n\r\nx\r\n"[..], "5.6.0"), (b"A: b\r\n\r\nx\0\r\n", "5.6.0")] {
            let mut s = session();
            s.command(b"MAIL FROM:<a@b.test>");
            s.command(b"RCPT TO:<b@example.com>");
            let size = content.len() as u64;
            s.command(format!("BDAT {size} LAST").as_bytes());
            s.chunk_input(content);
            assert!(matches!(s.chunk_end(size), Completion::Reply(r) if r.code == 554 && r.status == Some(status)));
        }
    }

    #[test]
    fn dnsbl_listing_refuses_at_mail_unless_white_listed() {
        let listing = Some(Listing { zone: "bl.test".into(), code: "127.0.0.2".parse().unwrap() });
        let mut s = session_with(|c| c.blocking.dnsbl.whitelist = vec!["@friend.test".into()]);
        s.set_listing(listing.clone());
        let Action::Reply(r) = s.command(b"MAIL FROM:<a@b.test>") else { panic!() };
        assert_eq!((r.code, r.status), (554, Some("5.7.1")));
        assert!(r.to_string().contains("blocked using bl.test"));
        assert!(matches!(s.take_events().as_slice(), [Event::SpamListRefused { zone, .. }] if zone == "bl.test"));
        assert_eq!(code(s.command(b"MAIL FROM:<pal@friend.test>")).0, 250, "white-listed senders pass");
        assert!(s.take_events().is_empty());

        let mut logging = session_with(|c| c.blocking.dnsbl.action = DnsblAction::Log);
        logging.set_listing(listing);
        logging.command(b"MAIL FROM:<a@b.test>");
        logging.command(b"RCPT TO:<b@example.com>");
        logging.command(b"DATA");
        logging.data_input(b"Subject: x\r\n\r\nhi\r\n.\r\n");
        let (env, _) = queued(logging.data_end());
        assert_eq!(env.listed_by.as_deref(), Some("bl.test"), "logged listings travel with the message");
    }

    #[test]
    fn too_many_errors_closes() {
        let mut s = session();
        let mut last = None;
        for _ in 0..MAX_ERRORS {
            last = Some(s.command(b"BOGUS"));
        }
        assert!(matches!(last, Some(Action::Close(r)) if r.code == 421));
    }
}
