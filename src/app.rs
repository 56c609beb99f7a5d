//! Wires the gateway together: spool recovery, the SMTP listeners, the
//! fast-queue workers, the slow-queue scheduler, the control socket and the
//! configuration watcher.

use crate::config::ConfigHandle;
use crate::control;
use crate::delivery::Delivery;
use crate::dns::Dns;
use crate::events::{self, Events};
use crate::pipeline::{FastQueue, Pipeline};
use crate::smtp::server::Inbound;
use crate::smtp::tls::TlsFiles;
use crate::spool::{Queue, Spool};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A started gateway; its tasks run on the current tokio runtime.
pub struct Gateway {
    pub spool: Arc<Spool>,
    pub delivery: Arc<Delivery>,
}

impl Gateway {
    /// Recover the queues and start every task. Returns once the gateway is
    /// running; the listeners come up as the configuration asks. Events go
    /// to `events`.
    pub fn start(config: ConfigHandle, pipeline: Pipeline, events: Events) -> anyhow::Result<Gateway> {
        let cfg = config.current();
        let queue_dir = PathBuf::from(&cfg.paths.queue_dir);
        let spool = Arc::new(
            Spool::open(&queue_dir).with_context(|| format!("cannot open queue directory {}", queue_dir.display()))?,
        );
        spool.recover().context("queue recovery failed")?;
        std::fs::create_dir_all(&cfg.paths.log_dir)
            .with_context(|| format!("cannot create log directory {}", cfg.paths.log_dir))?;

        let (fast_tx, fast_rx) = mpsc::unbounded_channel();
        let dns = Arc::new(Dns::new(&cfg));
        let delivery = Arc::new(Delivery::new(config.clone(), spool.clone(), dns.clone(), fast_tx.clone()));
        for id in spool.list(Queue::Slow)? {
            match (spool.load_header(Queue::Slow, &id), spool.next_try(&id)) {
                (Ok(h), Ok(next)) => delivery.slow.load(&id, h.message.arrival, next),
                (Err(e), _) | (_, Err(e)) => tracing::error!(%id, "unreadable slow-queue file left in place: {e}"),
            }
        }
        let fast_ids = spool.list(Queue::Fast)?;
        let held = spool.list(Queue::Hold)?.len();
        tracing::info!(fast = fast_ids.len(), slow = delivery.slow.len(), hold = held, "queues recovered");
        for id in fast_ids {
            let _ = fast_tx.send(id);
        }

        let fast = Arc::new(FastQueue::new(config.clone(), spool.clone(), pipeline, delivery.clone(), fast_tx.clone()));
        let tls = TlsFiles::new(queue_dir.join("tls"));
        let inbound = Arc::new(Inbound::new(config.clone(), spool.clone(), dns, tls, fast_tx.clone(), events));
        tokio::spawn(config.clone().watch_file());
        tokio::spawn(inbound.run_listeners());
        tokio::spawn(fast.run(fast_rx));
        tokio::spawn(delivery.clone().run_slow_queue());
        tokio::spawn(control::serve(spool.clone(), cfg.smtp.hostname.clone(), fast_tx, delivery.clone()));
        Ok(Gateway { spool, delivery })
    }
}

/// Run the gateway until SIGTERM or Ctrl-C.
pub async fn serve(config: ConfigHandle) -> anyhow::Result<()> {
    let (events, received) = Events::channel();
    tokio::spawn(events::log_all(received));
    Gateway::start(config, Pipeline::standard(events.clone()), events)?;
    tracing::info!("mxguard {} started", env!("CARGO_PKG_VERSION"));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("mxguard stopping; queued messages stay in the spool");
    Ok(())
}
