//! The fast queue: every accepted message goes through the processing
//! steps — decompose, block, (scan), rewrite — and then to delivery.
//! [`Pipeline::standard`] is the only place that knows that order.
//! Processing runs on the blocking pool, a panic is caught and counted as
//! a crash attempt, and a message that crashed processing three times is
//! held.

mod block;
mod decompose;
mod loops;
mod quarantine;
mod rewrite;
mod scan;

use crate::config::{Config, ConfigHandle};
use crate::delivery::Delivery;
use crate::events::{Event, Events, MessageRef};
use crate::mime::Decomposition;
use crate::policy::Decision;
use crate::quarantine::local::LocalQuarantine;
use crate::scan::builtin::Signatures;
use crate::spool::queue_file::QueuedMessage;
use crate::spool::{MAX_ATTEMPTS, Queue, Spool};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Messages processed and delivered at once from the fast queue.
const WORKERS: usize = 128;

/// What a processing step decided about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on to the next step (the message may have been changed).
    Continue,
    /// Stop and put the message in the hold queue.
    Hold(String),
    /// Stop and discard the message (counted as dropped).
    Drop(String),
    /// Stop, return the message to its sender with a DSN, and discard it.
    Bounce(String),
}

/// One message on its way through the steps: what each step learns is
/// left here for the next.
pub struct Work<'a> {
    /// The configuration snapshot for this whole message.
    pub config: &'a Config,
    pub msg: &'a mut QueuedMessage,
    /// The message taken apart (by the decompose step).
    pub parts: Option<Decomposition>,
    /// What the policy decided so far (edits accumulate over steps).
    pub decision: Decision,
    /// The decoded subject (by the blocking step), for events.
    pub subject: String,
}

impl Work<'_> {
    /// The message as events name it.
    pub fn message(&self) -> MessageRef {
        MessageRef::with_subject(self.msg, self.subject.clone())
    }
}

/// One processing stage between the fast queue and delivery.
pub trait Step: Send + Sync {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Examine the message, add to what is known, possibly rewrite it.
    fn apply(&self, work: &mut Work<'_>) -> Verdict;
}

/// The ordered processing steps.
#[derive(Default)]
pub struct Pipeline {
    steps: Vec<Box<dyn Step>>,
}

impl Pipeline {
    /// A pipeline running `steps` in order.
    pub fn new(steps: Vec<Box<dyn Step>>) -> Pipeline {
        Pipeline { steps }
    }

    /// The gateway's processing, in SPEC §1 order: set aside recipients
    /// that would loop, take the message apart, apply the blocking policy,
    /// scan for viruses and act (quarantined files go to `quarantine`),
    /// then put the message back together.
    pub fn standard(events: Events, signatures: Arc<Signatures>, quarantine: Arc<LocalQuarantine>) -> Pipeline {
        Pipeline::new(vec![
            Box::new(loops::LoopGuard::new(events.clone())),
            Box::new(decompose::Decompose),
            Box::new(block::Block::new(events.clone())),
            Box::new(scan::Scan::new(signatures, events, quarantine)),
            Box::new(rewrite::Rewrite),
        ])
    }

    /// Run every step until one stops the message.
    pub fn run(&self, config: &Config, msg: &mut QueuedMessage) -> Verdict {
        let mut work = Work { config, msg, parts: None, decision: Decision::default(), subject: String::new() };
        for step in &self.steps {
            match step.apply(&mut work) {
                Verdict::Continue => {}
                stop => {
                    tracing::info!(id = %work.msg.id, step = step.name(), "processing stopped: {stop:?}");
                    return stop;
                }
            }
        }
        Verdict::Continue
    }
}

/// What processing made of a fast-queue message.
enum Processed {
    Deliver(Box<QueuedMessage>),
    /// Return to the sender, then remove.
    Bounce(Box<QueuedMessage>, String),
    /// Held, dropped or gone: nothing more to do.
    Finished,
    /// Crashed but not yet three times: process again.
    Again,
}

/// The fast-queue workers.
pub struct FastQueue {
    config: ConfigHandle,
    spool: Arc<Spool>,
    pipeline: Arc<Pipeline>,
    delivery: Arc<Delivery>,
    requeue: mpsc::UnboundedSender<String>,
    events: Events,
}

impl FastQueue {
    /// Workers that process with `pipeline` and hand over to `delivery`;
    /// `requeue` is the fast queue's own input, for crashed attempts.
    pub fn new(
        config: ConfigHandle,
        spool: Arc<Spool>,
        pipeline: Pipeline,
        delivery: Arc<Delivery>,
        requeue: mpsc::UnboundedSender<String>,
        events: Events,
    ) -> FastQueue {
        FastQueue { config, spool, pipeline: Arc::new(pipeline), delivery, requeue, events }
    }

    /// Take message IDs from `ids` forever, at most [`WORKERS`] at once.
    pub async fn run(self: Arc<Self>, mut ids: mpsc::UnboundedReceiver<String>) {
        let workers = Arc::new(Semaphore::new(WORKERS));
        while let Some(id) = ids.recv().await {
            let Ok(permit) = workers.clone().acquire_owned().await else { return };
            let me = self.clone();
            tokio::spawn(async move {
                me.handle(id).await;
                drop(permit);
            });
        }
    }

    async fn handle(&self, id: String) {
        self.wait_while_paused().await;
        let me_spool = self.spool.clone();
        let pipeline = self.pipeline.clone();
        let config = self.config.current();
        let (task_id, events) = (id.clone(), self.events.clone());
        let processed =
            tokio::task::spawn_blocking(move || process(&me_spool, &pipeline, &config, &task_id, &events)).await;
        match processed {
            Ok(Processed::Deliver(msg)) => self.deliver(*msg).await,
            Ok(Processed::Bounce(msg, reason)) => self.bounce(*msg, reason).await,
            Ok(Processed::Finished) => {}
            Ok(Processed::Again) | Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = self.requeue.send(id);
            }
        }
    }

    async fn wait_while_paused(&self) {
        let mut changes = self.config.subscribe();
        while changes.borrow_and_update().delivery.pause {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Return a message the policy refused to its sender, then drop it.
    async fn bounce(&self, msg: QueuedMessage, reason: String) {
        let delivery = self.delivery.clone();
        let id = msg.id.clone();
        let done = tokio::task::spawn_blocking(move || delivery.refuse(Queue::Fast, &msg, &reason)).await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::error!(%id, "could not return the message to its sender: {done:?}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = self.requeue.send(id);
        }
    }

    async fn deliver(&self, msg: QueuedMessage) {
        let config = self.config.current();
        let outcomes = self.delivery.attempt(&config, &msg).await;
        let delivery = self.delivery.clone();
        let id = msg.id.clone();
        match tokio::task::spawn_blocking(move || delivery.settle(Queue::Fast, msg, outcomes)).await {
            Ok(Ok(())) => {}
            other => {
                // The file stays in the fast queue; try the whole message again.
                tracing::error!(%id, "could not record delivery results: {other:?}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = self.requeue.send(id);
            }
        }
    }
}

/// Load, count the attempt, run the steps with panics caught, and act on
/// the verdict. Blocking: runs on the blocking pool.
fn process(spool: &Spool, pipeline: &Pipeline, config: &Config, id: &str, events: &Events) -> Processed {
    let mut msg = match spool.load(Queue::Fast, id) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Processed::Finished,
        Err(e) => {
            events.file_access_error(spool.path(Queue::Fast, id).display(), format!("unreadable queue file: {e}"));
            return hold(spool, id, &format!("unreadable queue file: {e}"), None, events);
        }
    };
    if msg.unscanned {
        return Processed::Deliver(Box::new(msg));
    }
    if msg.attempts >= MAX_ATTEMPTS {
        return hold(spool, id, &format!("processing failed {} times (crash)", msg.attempts), Some(&msg), events);
    }
    let attempts = match spool.begin_attempt(Queue::Fast, id, msg.attempts) {
        Ok(n) => n,
        Err(e) => {
            events.file_access_error(spool.path(Queue::Fast, id).display(), format!("cannot record the attempt: {e}"));
            return Processed::Again;
        }
    };
    match catch_unwind(AssertUnwindSafe(|| pipeline.run(config, &mut msg))) {
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(%id, attempts, "processing crashed: {what}");
            if attempts >= MAX_ATTEMPTS {
                hold(spool, id, &format!("processing crashed {attempts} times: {what}"), Some(&msg), events)
            } else {
                Processed::Again
            }
        }
        Ok(verdict) => {
            if let Err(e) = spool.end_attempt(Queue::Fast, id) {
                tracing::warn!(%id, "cannot clear processing attempts: {e}");
            }
            match verdict {
                Verdict::Continue => Processed::Deliver(Box::new(msg)),
                Verdict::Hold(reason) => hold(spool, id, &reason, Some(&msg), events),
                Verdict::Bounce(reason) => Processed::Bounce(Box::new(msg), reason),
                Verdict::Drop(reason) => {
                    if let Err(e) = spool.remove(Queue::Fast, id) {
                        events.file_access_error(spool.path(Queue::Fast, id).display(), format!("cannot remove: {e}"));
                    }
                    events.emit(Event::Dropped { message: MessageRef::of(&msg), reason });
                    Processed::Finished
                }
            }
        }
    }
}

/// Move `id` (whose content is `msg`, when it could be read) to the hold
/// queue.
fn hold(spool: &Spool, id: &str, reason: &str, msg: Option<&QueuedMessage>, events: &Events) -> Processed {
    match spool.hold(Queue::Fast, id, reason) {
        Ok(()) => {
            let message =
                msg.map(MessageRef::of).unwrap_or_else(|| MessageRef { id: id.into(), ..MessageRef::default() });
            events.emit(Event::Held { message, reason: reason.to_string() });
            Processed::Finished
        }
        Err(e) => {
            events.file_access_error(
                spool.path(Queue::Fast, id).display(),
                format!("cannot move to the hold queue: {e}"),
            );
            Processed::Finished
        }
    }
}
