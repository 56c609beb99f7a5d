//! Delivery: routes each recipient to its next hop, runs the SMTP
//! transactions (reusing connections), and settles the results: delivered
//! recipients are done, permanent failures bounce, temporary failures wait
//! in the slow queue.

pub mod dsn;
pub mod pool;
pub mod router;
pub mod slow;

use crate::config::{Config, ConfigHandle};
use crate::diag::Transcript;
use crate::dns::Dns;
use crate::envelope::{Envelope, Recipient};
use crate::events::{Event, Events, MessageRef};
use crate::smtp::client::{ConnectError, Connection, RcptResult, ServerReply};
use crate::spool::queue_file::QueuedMessage;
use crate::spool::{Queue, Spool, unix_now};
use dsn::{FailedRecipient, Returned};
use pool::{Lease, Pool};
use router::{NextHop, Target};
use slow::SlowQueue;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The result for one recipient, with the hop it was routed to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: RcptResult,
    pub hop: NextHop,
    /// The server that answered, if any.
    pub remote: Option<String>,
}

/// Outbound delivery for the fast and slow queues.
pub struct Delivery {
    pub config: ConfigHandle,
    pub spool: Arc<Spool>,
    dns: Arc<Dns>,
    pool: Pool,
    /// Deferred messages and the next-hop health that orders them.
    pub slow: SlowQueue,
    /// New messages (bounces) for the fast queue.
    fast: mpsc::UnboundedSender<String>,
    events: Events,
}

impl Delivery {
    /// Delivery with its pool sized from the configuration.
    pub fn new(
        config: ConfigHandle,
        spool: Arc<Spool>,
        dns: Arc<Dns>,
        fast: mpsc::UnboundedSender<String>,
        events: Events,
    ) -> Delivery {
        let limit = config.current().delivery.max_outgoing_connections;
        let pool = Pool::new(limit, events.clone());
        Delivery { config, spool, dns, pool, slow: SlowQueue::default(), fast, events }
    }

    /// Try every recipient of `msg` once; one outcome per recipient, in
    /// envelope order.
    pub async fn attempt(&self, config: &Config, msg: &QueuedMessage) -> Vec<Outcome> {
        let mut groups: BTreeMap<NextHop, Vec<usize>> = BTreeMap::new();
        for (i, r) in msg.envelope.recipients.iter().enumerate() {
            groups.entry(router::route(config, &r.domain())).or_default().push(i);
        }
        let mut outcomes: Vec<Option<Outcome>> = vec![None; msg.envelope.recipients.len()];
        for (hop, indexes) in groups {
            let rcpts: Vec<&Recipient> = indexes.iter().map(|&i| &msg.envelope.recipients[i]).collect();
            let (results, remote) = self.deliver_to_hop(config, &hop, &msg.envelope, &rcpts, &msg.content).await;
            self.slow.record_hop(&hop, results.iter().any(|r| matches!(r, RcptResult::Delivered(_))), remote.is_some());
            for (i, result) in indexes.into_iter().zip(results) {
                outcomes[i] = Some(Outcome { result, hop: hop.clone(), remote: remote.clone() });
            }
        }
        outcomes.into_iter().flatten().collect()
    }

    /// One transaction with `hop` for `rcpts`: a kept connection if there
    /// is one, else each address in turn.
    async fn deliver_to_hop(
        &self,
        config: &Config,
        hop: &NextHop,
        env: &Envelope,
        rcpts: &[&Recipient],
        content: &[u8],
    ) -> (Vec<RcptResult>, Option<String>) {
        let limit = config.delivery.max_outgoing_connections;
        let slot = loop {
            match self.pool.lease(hop, limit).await {
                Lease::Slot(slot) => break slot,
                Lease::Idle(mut pooled) => {
                    self.connected_to(&pooled.id, &pooled.remote, "connected", true);
                    match pooled.conn.send(env, rcpts, content).await {
                        Ok(results) => {
                            let remote = pooled.remote.clone();
                            self.pool.put(hop.clone(), pooled);
                            return (results, Some(remote));
                        }
                        // A kept connection that died meanwhile: its slot is freed.
                        Err(_) => self.pool.close(pooled, false),
                    }
                }
            }
        };
        let targets = match router::targets(&self.dns, config, hop).await {
            Ok(t) => t,
            Err(e) if e.permanent => return (all(rcpts, RcptResult::Failed(local(550, e.status, &e.why))), None),
            Err(e) => return (all(rcpts, RcptResult::Deferred(local(451, e.status, &e.why))), None),
        };
        let mut last = RcptResult::Deferred(local(451, "4.4.1", &format!("no server of {hop} answered")));
        for Target { addr, host } in targets {
            let id = format!("D{}", self.spool.new_id());
            let remote = format!("{host} ({addr})");
            let opened =
                match Connection::open(addr, &host, &config.smtp.hostname, true, Transcript::outbound(config)).await {
                    // A server whose TLS is broken still gets the mail in plaintext.
                    Err(ConnectError::Temporary(why)) if why.contains("TLS") => {
                        Connection::open(addr, &host, &config.smtp.hostname, false, Transcript::outbound(config)).await
                    }
                    other => other,
                };
            let mut conn = match opened {
                Ok(c) => c,
                Err(ConnectError::Temporary(why)) => {
                    self.connected_to(&id, &remote, &format!("failed: {why}"), false);
                    last = RcptResult::Deferred(local(451, "4.4.1", &why));
                    continue;
                }
                Err(ConnectError::Permanent(reply)) => {
                    self.connected_to(&id, &remote, &format!("refused: {}", reply.describe()), false);
                    last = RcptResult::Failed(reply);
                    continue;
                }
            };
            self.connected_to(&id, &remote, "connected", false);
            match conn.send(env, rcpts, content).await {
                Ok(results) => {
                    self.pool.put(hop.clone(), Pool::pooled(conn, id, remote.clone(), slot));
                    return (results, Some(remote));
                }
                Err(why) => {
                    last = RcptResult::Deferred(local(451, "4.4.2", &why));
                    self.events.emit(Event::Disconnected { connection_id: id, host: remote });
                }
            }
        }
        (all(rcpts, last), None)
    }

    fn connected_to(&self, id: &str, remote: &str, result: &str, cached: bool) {
        let (connection_id, host, result) = (id.to_string(), remote.to_string(), result.to_string());
        self.events.emit(Event::ConnectedTo { connection_id, host, result, cached });
    }

    /// Close idle connections past their time (called periodically).
    pub fn close_stale_connections(&self) {
        self.pool.close_stale();
    }

    /// Apply a delivery attempt of `msg` (from `queue`): done recipients are
    /// forgotten, failures bounce, deferrals (re)enter the slow queue. The
    /// message file is removed once nothing is left to do.
    pub fn settle(&self, queue: Queue, mut msg: QueuedMessage, outcomes: Vec<Outcome>) -> std::io::Result<()> {
        let config = self.config.current();
        let mut failed = Vec::new();
        let mut deferred = Vec::new();
        let mut deferred_hops = Vec::new();
        let mut last_error = String::new();
        let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (rcpt, o) in msg.envelope.recipients.iter().zip(outcomes) {
            match o.result {
                RcptResult::Delivered(reply) => {
                    tracing::debug!(id = %msg.id, to = %rcpt.address, "delivered: {}", reply.describe());
                    let host = o.remote.clone().unwrap_or_default();
                    delivered.entry(host).or_default().push(rcpt.address.clone());
                }
                RcptResult::Failed(reply) => {
                    tracing::info!(id = %msg.id, to = %rcpt.address, "bounced: {}", reply.describe());
                    failed.push(FailedRecipient {
                        recipient: rcpt.clone(),
                        status: enhanced_status(&reply, "5.0.0"),
                        diagnostic: reply.describe(),
                        remote: o.remote.clone(),
                    });
                }
                RcptResult::Deferred(reply) => {
                    tracing::info!(id = %msg.id, to = %rcpt.address, "deferred: {}", reply.describe());
                    last_error = reply.describe();
                    deferred.push(rcpt.clone());
                    deferred_hops.push(o.hop);
                }
            }
        }
        let message = MessageRef::of(&msg);
        for (host, recipients) in delivered {
            self.events.emit(Event::Delivered { message: message.clone(), recipients, host });
        }
        if !failed.is_empty() {
            let recipients = failed.iter().map(|f| f.recipient.address.clone()).collect();
            let reason = failed.iter().map(|f| f.diagnostic.as_str()).collect::<Vec<_>>().join("; ");
            self.events.emit(Event::DeliveryFailed { message: message.clone(), recipients, reason });
        }
        self.bounce(&config, &msg, &failed, Returned::AsAsked)?;
        if deferred.is_empty() {
            self.events.emit(Event::Completed { message });
            if queue == Queue::Slow {
                self.slow.remove(&msg.id);
            }
            return self.spool.remove(queue, &msg.id);
        }
        let changed = deferred.len() != msg.envelope.recipients.len();
        msg.envelope.recipients = deferred;
        msg.attempts = 0;
        if queue == Queue::Fast || changed {
            let content = std::mem::take(&mut msg.content);
            self.spool.store(Queue::Slow, &msg, &[&content])?;
            if queue == Queue::Fast {
                self.spool.remove(Queue::Fast, &msg.id)?;
            }
        }
        let next = self.slow.deferred(&config, &msg.id, msg.arrival, deferred_hops, last_error);
        self.spool.set_next_try(&msg.id, next)
    }

    /// Return `msg` to its sender for all its recipients because the policy
    /// refused it (`reason`), and remove it from `queue`.
    pub fn refuse(&self, queue: Queue, msg: &QueuedMessage, reason: &str) -> std::io::Result<()> {
        let failed = FailedRecipient::all(msg, "5.6.0", &format!("550 5.6.0 {reason}"));
        self.bounce(&self.config.current(), msg, &failed, Returned::Headers)?;
        self.spool.remove(queue, &msg.id)?;
        self.events.emit(Event::Bounced { message: MessageRef::of(msg), reason: reason.to_string() });
        Ok(())
    }

    /// Return `msg` to its sender for the `failed` recipients (if it has a
    /// sender and they asked for failure notices).
    pub fn bounce(
        &self,
        config: &Config,
        msg: &QueuedMessage,
        failed: &[FailedRecipient],
        returned: Returned,
    ) -> std::io::Result<()> {
        let wanted: Vec<FailedRecipient> =
            failed.iter().filter(|f| f.recipient.wants_failure_notice()).cloned().collect();
        let Some(dsn) = dsn::build(&config.smtp.hostname, msg, &wanted, returned) else {
            return Ok(());
        };
        let notice = QueuedMessage {
            id: self.spool.new_id(),
            arrival: unix_now(),
            envelope: Envelope {
                sender: String::new(),
                recipients: vec![Recipient::new(msg.envelope.sender.clone())],
                smtputf8: !msg.envelope.sender.is_ascii(),
                body_8bit: true,
                client_ip: "127.0.0.1".into(),
                helo: config.smtp.hostname.clone(),
                ..Envelope::default()
            },
            ..QueuedMessage::default()
        };
        self.spool.store(Queue::Fast, &notice, &[&dsn])?;
        tracing::info!(id = %msg.id, dsn = %notice.id, to = %msg.envelope.sender, "delivery status notification queued");
        let _ = self.fast.send(notice.id);
        Ok(())
    }
}

fn all(rcpts: &[&Recipient], result: RcptResult) -> Vec<RcptResult> {
    rcpts.iter().map(|_| result.clone()).collect()
}

fn local(code: u16, status: &str, why: &str) -> ServerReply {
    ServerReply { code, text: format!("{status} {why}") }
}

/// The enhanced status at the start of a reply's text, or `default`.
fn enhanced_status(reply: &ServerReply, default: &str) -> String {
    let first = reply.text.split_whitespace().next().unwrap_or("");
    let looks_right = first.split('.').count() == 3
        && first.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if looks_right { first.to_string() } else { default.to_string() }
}
