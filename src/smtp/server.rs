//! The inbound listener: accepts connections within the connection limit,
//! drives one [`Session`] per connection over the socket (plain, then TLS
//! after STARTTLS), and queues completed messages durably before `250`.

use super::lines::{Line, read_line};
use super::reply::Reply;
use super::session::{Action, Completion, MAX_COMMAND_LINE, Session};
use super::tls::TlsFiles;
use crate::config::{Config, ConfigHandle, Trigger};
use crate::diag::{self, Transcript};
use crate::dns::Dns;
use crate::events::{Event, Events};
use crate::policy::dnsbl::{self, Listing};
use crate::policy::hosts::Client;
use crate::policy::relay;
use crate::spool::queue_file::QueuedMessage;
use crate::spool::{Queue, Spool, unix_now};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// RFC 5321 §4.5.3.2.7: the server waits 5 minutes for a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// RFC 5321 §4.5.3.2.6: 3 minutes for each block of data.
const DATA_TIMEOUT: Duration = Duration::from_secs(3 * 60);
/// Time allowed for the TLS handshake after `220 Ready to start TLS`.
const TLS_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything a connection needs, shared by all listeners.
pub struct Inbound {
    pub config: ConfigHandle,
    pub spool: Arc<Spool>,
    pub dns: Arc<Dns>,
    pub tls: TlsFiles,
    /// New message IDs for the fast-queue workers.
    pub fast: mpsc::UnboundedSender<String>,
    pub events: Events,
    active: AtomicUsize,
    freed: Notify,
}

/// A DNSBL lookup started at connect, awaited before the first `MAIL FROM`.
type PendingListing = Option<JoinHandle<Option<Listing>>>;

impl Inbound {
    /// Shared state for the listeners.
    pub fn new(
        config: ConfigHandle,
        spool: Arc<Spool>,
        dns: Arc<Dns>,
        tls: TlsFiles,
        fast: mpsc::UnboundedSender<String>,
        events: Events,
    ) -> Inbound {
        Inbound { config, spool, dns, tls, fast, events, active: AtomicUsize::new(0), freed: Notify::new() }
    }

    /// Keep one listener per `smtp.listen` address, following config
    /// changes: new addresses are bound, removed ones closed.
    pub async fn run_listeners(self: Arc<Self>) {
        let mut changes = self.config.subscribe();
        let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
        loop {
            let wanted = changes.borrow_and_update().smtp.listen.clone();
            running.retain(|addr, task| {
                let keep = wanted.contains(addr);
                if !keep {
                    tracing::info!(%addr, "SMTP listener closed");
                    task.abort();
                }
                keep
            });
            for addr in wanted {
                if running.contains_key(&addr) {
                    continue;
                }
                match bind(&addr) {
                    Ok(listener) => {
                        tracing::info!(%addr, "SMTP listener started");
                        running.insert(addr, tokio::spawn(self.clone().accept_loop(listener)));
                    }
                    Err(e) => {
                        let reason = format!("cannot listen for SMTP on {addr}: {e}");
                        self.events.emit(Event::ServiceStartFailed { reason });
                    }
                }
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Accept connections while under `smtp.max_incoming_connections`; the
    /// rest wait in the kernel's backlog, they are not refused.
    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            loop {
                let freed = self.freed.notified();
                if self.active.load(Ordering::Acquire) < self.config.current().smtp.max_incoming_connections {
                    break;
                }
                freed.await;
            }
            match listener.accept().await {
                Ok((stream, peer)) => {
                    self.active.fetch_add(1, Ordering::AcqRel);
                    let me = self.clone();
                    tokio::spawn(async move {
                        me.connection(stream, peer).await;
                        me.active.fetch_sub(1, Ordering::AcqRel);
                        me.freed.notify_waiters();
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn connection(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let config = self.config.current();
        let verified_name =
            if relay::needs_client_name(&config) { self.dns.verified_ptr(&config, peer.ip()).await } else { None };
        let client = Client { ip: peer.ip(), verified_name };
        let mut listing: PendingListing = config.blocking.dnsbl.enabled.then(|| {
            let (dns, config) = (self.dns.clone(), config.clone());
            tokio::spawn(async move { dnsbl::lookup(&dns, &config, peer.ip()).await })
        });
        let acceptor = self.tls.acceptor(&config);
        let connection_id = format!("C{}", self.spool.new_id());
        let mut session = Session::new(config.clone(), client, acceptor.is_some()).identified(connection_id.clone());
        let mut tap = Transcript::inbound(&config, &connection_id, peer);
        let mut reader = BufReader::new(stream);
        let mut out = Vec::new();
        let (connection_id, client_ip) = (connection_id, peer.ip().to_string());
        match session.greeting() {
            Action::Close(reply) => {
                let result = format!("refused: {}", reply.summary());
                self.events.emit(Event::ConnectionFrom { connection_id, client_ip, result });
                out = reply.to_wire();
                flush(&mut reader, &mut out, &mut tap).await;
                return;
            }
            action => push_reply(&mut out, action),
        }
        self.events.emit(Event::ConnectionFrom { connection_id, client_ip, result: "accepted".into() });
        if flush(&mut reader, &mut out, &mut tap).await {
            self.talk(reader, &mut session, &config, &mut listing, acceptor, &mut tap).await;
        }
        self.emit_from(&mut session);
        self.events.emit(session.closed());
    }

    /// The conversation, in plaintext and (after STARTTLS) over TLS.
    async fn talk(
        &self,
        mut reader: BufReader<TcpStream>,
        session: &mut Session,
        config: &Config,
        listing: &mut PendingListing,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        tap: &mut Transcript,
    ) {
        match self.converse(&mut reader, session, config, listing, tap).await {
            Outcome::Closed => {}
            Outcome::StartTls => {
                // Dropping the reader's buffer discards anything the client
                // pipelined behind STARTTLS (RFC 3207 §5: no injection).
                let stream = reader.into_inner();
                let Some(acceptor) = acceptor else { return };
                let Ok(Ok(tls)) = tokio::time::timeout(TLS_TIMEOUT, acceptor.accept(stream)).await else {
                    tracing::debug!("TLS handshake failed");
                    tap.fault(Trigger::CommunicationErrors, "TLS handshake failed");
                    return;
                };
                session.tls_started();
                tap.note("TLS started");
                let mut reader = BufReader::new(tls);
                let _ = self.converse(&mut reader, session, config, listing, tap).await;
            }
        }
    }

    /// Run commands until the session ends or asks for TLS. Replies are
    /// collected and written when no more pipelined input waits.
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        reader: &mut BufReader<S>,
        session: &mut Session,
        config: &Config,
        listing: &mut PendingListing,
        tap: &mut Transcript,
    ) -> Outcome {
        let mut out = Vec::new();
        loop {
            if reader.buffer().is_empty() && !flush(reader, &mut out, tap).await {
                return Outcome::Closed;
            }
            let line = match tokio::time::timeout(COMMAND_TIMEOUT, read_line(reader, MAX_COMMAND_LINE)).await {
                Err(_) => {
                    tap.fault(Trigger::CommunicationErrors, "timeout waiting for a command");
                    out.extend(session.timeout().to_wire());
                    flush(reader, &mut out, tap).await;
                    return Outcome::Closed;
                }
                Ok(Err(e)) => {
                    tap.fault(Trigger::CommunicationErrors, format_args!("cannot read a command: {e}"));
                    return Outcome::Closed;
                }
                Ok(Ok(Line::Eof)) => {
                    // Not an error: probes and impatient clients do this.
                    tap.note("connection closed by the client without QUIT");
                    return Outcome::Closed;
                }
                Ok(Ok(Line::TooLong)) => {
                    tap.note(format_args!("command line longer than {MAX_COMMAND_LINE} bytes"));
                    session.line_too_long()
                }
                Ok(Ok(Line::Text(line))) => {
                    tap.client(&line);
                    if line.get(..4).is_some_and(|verb| verb.eq_ignore_ascii_case(b"MAIL"))
                        && let Some(lookup) = listing.take()
                    {
                        session.set_listing(lookup.await.ok().flatten());
                    }
                    let action = session.command(&line);
                    self.emit_from(session);
                    action
                }
            };
            let completion = match line {
                Action::Reply(r) => {
                    out.extend(r.to_wire());
                    continue;
                }
                Action::Close(r) => {
                    out.extend(r.to_wire());
                    flush(reader, &mut out, tap).await;
                    return Outcome::Closed;
                }
                Action::StartTls(r) => {
                    out.extend(r.to_wire());
                    flush(reader, &mut out, tap).await;
                    return Outcome::StartTls;
                }
                Action::ReadData(r) => {
                    out.extend(r.to_wire());
                    if !flush(reader, &mut out, tap).await || !read_data(reader, session, tap).await {
                        return Outcome::Closed;
                    }
                    session.data_end()
                }
                Action::ReadChunk { size } => {
                    if !read_chunk(reader, session, size, tap).await {
                        return Outcome::Closed;
                    }
                    session.chunk_end(size)
                }
            };
            let reply = match completion {
                Completion::Reply(r) => r,
                Completion::Queue(envelope, body) => self.queue(session, config, *envelope, body).await,
            };
            self.emit_from(session);
            out.extend(reply.to_wire());
        }
    }

    /// Send on what the session noted since the last call.
    fn emit_from(&self, session: &mut Session) {
        for event in session.take_events() {
            self.events.emit(event);
        }
    }

    /// Store the message durably in the fast queue; the reply says whether
    /// it is now our responsibility.
    async fn queue(
        &self,
        session: &mut Session,
        config: &Config,
        envelope: crate::envelope::Envelope,
        body: Vec<u8>,
    ) -> Reply {
        let id = self.spool.new_id();
        let date = chrono::Local::now().to_rfc2822();
        let received = session.received_header(&envelope, &id, &date);
        let accepted = session.accepted(&envelope, &id, &body);
        let msg = QueuedMessage { id: id.clone(), arrival: unix_now(), envelope, ..QueuedMessage::default() };
        let spool = self.spool.clone();
        let save_to = config.diagnostics.queue_file_save.then(|| PathBuf::from(&config.paths.diag_dir));
        let stored = tokio::task::spawn_blocking(move || {
            spool.store(Queue::Fast, &msg, &[received.as_bytes(), &body])?;
            if let Some(dir) = save_to
                && let Err(e) = diag::save_queue_file(&spool.path(Queue::Fast, &msg.id), &dir, &msg.id)
            {
                tracing::warn!(id = %msg.id, dir = %dir.display(), "cannot save a copy of the queue file: {e}");
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        match stored {
            Ok(Ok(())) => {
                tracing::debug!(%id, host = %config.smtp.hostname, "message queued");
                self.events.emit(accepted);
                let _ = self.fast.send(id.clone());
                session.queued(Ok(&id))
            }
            Ok(Err(e)) => {
                self.events
                    .file_access_error(self.spool.path(Queue::Fast, &id).display(), format!("cannot queue: {e}"));
                session.queued(Err(e.to_string()))
            }
            Err(e) => session.queued(Err(e.to_string())),
        }
    }
}

/// How a plaintext conversation ended.
enum Outcome {
    Closed,
    StartTls,
}

fn push_reply(out: &mut Vec<u8>, action: Action) {
    if let Action::Reply(r) | Action::Close(r) = action {
        out.extend(r.to_wire());
    }
}

fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr: SocketAddr =
        addr.parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an IP:port address"))?;
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Write pending replies; false if the peer is gone.
async fn flush<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    out: &mut Vec<u8>,
    tap: &mut Transcript,
) -> bool {
    if out.is_empty() {
        return true;
    }
    tap.server(out);
    let written = tokio::time::timeout(DATA_TIMEOUT, reader.get_mut().write_all(out)).await;
    out.clear();
    match written {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tap.fault(Trigger::CommunicationErrors, format_args!("cannot send the reply: {e}"));
            false
        }
        Err(_) => {
            tap.fault(Trigger::CommunicationErrors, "timeout sending the reply");
            false
        }
    }
}

/// The next bytes of message content; `None` if the client stalled or
/// left first (the content so far is logged, then why it ended).
async fn content<'r, S: AsyncRead + Unpin>(reader: &'r mut BufReader<S>, tap: &mut Transcript) -> Option<&'r [u8]> {
    let why = match tokio::time::timeout(DATA_TIMEOUT, reader.fill_buf()).await {
        Ok(Ok([])) => "connection closed by the client during the message content".to_string(),
        Ok(Ok(buf)) => return Some(buf),
        Ok(Err(e)) => format!("cannot read the message content: {e}"),
        Err(_) => "timeout waiting for the message content".to_string(),
    };
    tap.data_end();
    tap.fault(Trigger::CommunicationErrors, why);
    None
}

/// Feed DATA content to the session until the terminator; false if the
/// connection ended or stalled first.
async fn read_data<S: AsyncRead + Unpin>(
    reader: &mut BufReader<S>,
    session: &mut Session,
    tap: &mut Transcript,
) -> bool {
    loop {
        let Some(buf) = content(reader, tap).await else {
            return false;
        };
        let len = buf.len();
        match session.data_input(buf) {
            Some(used) => {
                tap.data(&buf[..used]);
                tap.data_end();
                reader.consume(used);
                return true;
            }
            None => {
                tap.data(buf);
                reader.consume(len);
            }
        }
    }
}

/// Read exactly `size` bytes of a BDAT chunk into the session.
async fn read_chunk<S: AsyncRead + Unpin>(
    reader: &mut BufReader<S>,
    session: &mut Session,
    size: u64,
    tap: &mut Transcript,
) -> bool {
    let mut left = size;
    while left > 0 {
        let Some(buf) = content(reader, tap).await else {
            return false;
        };
        let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        session.chunk_input(&buf[..take]);
        tap.data(&buf[..take]);
        reader.consume(take);
        left -= take as u64;
    }
    tap.data_end();
    true
}
