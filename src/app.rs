//! Wires the gateway together: the local quarantine and spool recovery,
//! the SMTP listeners, the fast-queue workers, the slow-queue scheduler,
//! the configuration watcher, then the event consumers, the control
//! socket, the quarantine forwarder and the admin server.

use crate::admin::AppState;
use crate::admin::accounts::Accounts;
use crate::admin::certs::CertStore;
use crate::config::ConfigHandle;
use crate::config::DEFAULT_CONFIG;
use crate::control;
use crate::delivery::Delivery;
use crate::dns::Dns;
use crate::events::counters::Counters;
use crate::events::dispatch::{Consumers, dispatch};
use crate::events::store::{SqliteStore, retention_job, spawn_writer};
use crate::events::{Event, Events, Record};
use crate::lifecycle;
use crate::notify::Notifier;
use crate::pipeline::{FastQueue, Pipeline};
use crate::quarantine::forward;
use crate::quarantine::local::{self, LocalQuarantine};
use crate::scan::builtin::Signatures;
use crate::smtp::server::Inbound;
use crate::smtp::tls::TlsFiles;
use crate::spool::{Queue, Spool};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A started gateway; its tasks run on the current tokio runtime.
pub struct Gateway {
    pub spool: Arc<Spool>,
    pub delivery: Arc<Delivery>,
    /// The fast queue's input, for messages the gateway makes itself.
    pub fast: mpsc::UnboundedSender<String>,
}

impl Gateway {
    /// Recover the queues and start every task. Returns once the gateway is
    /// running; the listeners come up as the configuration asks. Events go
    /// to `events`; `signatures` is the engine's set, which updates swap.
    pub fn start(
        config: ConfigHandle,
        pipeline: Pipeline,
        events: Events,
        signatures: Arc<Signatures>,
    ) -> anyhow::Result<Gateway> {
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
        let delivery =
            Arc::new(Delivery::new(config.clone(), spool.clone(), dns.clone(), fast_tx.clone(), events.clone()));
        for id in spool.list(Queue::Slow)? {
            match (spool.load_header(Queue::Slow, &id), spool.next_try(&id)) {
                (Ok(h), Ok(next)) => delivery.slow.load(&id, h.message.arrival, next),
                (Err(e), _) | (_, Err(e)) => events.file_access_error(
                    spool.path(Queue::Slow, &id).display(),
                    format!("unreadable, left in place: {e}"),
                ),
            }
        }
        let fast_ids = spool.list(Queue::Fast)?;
        let held = spool.list(Queue::Hold)?.len();
        tracing::info!(fast = fast_ids.len(), slow = delivery.slow.len(), hold = held, "queues recovered");
        for id in fast_ids {
            let _ = fast_tx.send(id);
        }

        let fast = Arc::new(FastQueue::new(
            config.clone(),
            spool.clone(),
            pipeline,
            delivery.clone(),
            fast_tx.clone(),
            events.clone(),
        ));
        let tls = TlsFiles::new(queue_dir.join("tls"));
        let inbound = Arc::new(Inbound::new(config.clone(), spool.clone(), dns, tls, fast_tx.clone(), events.clone()));
        tokio::spawn(config.clone().watch_file());
        tokio::spawn(crate::scan::health::watch_clamd(config.clone(), events.clone()));
        tokio::spawn(inbound.run_listeners());
        tokio::spawn(fast.run(fast_rx));
        tokio::spawn(delivery.clone().run_slow_queue());
        let fast = fast_tx.clone();
        tokio::spawn(scheduled_updates(config.clone(), spool.clone(), fast_tx, delivery.clone(), signatures, events));
        Ok(Gateway { spool, delivery, fast })
    }
}

/// Run the gateway until SIGTERM or Ctrl-C.
pub async fn serve(config: ConfigHandle) -> anyhow::Result<()> {
    let (events, received) = Events::channel();
    let counters = Arc::new(Counters::default());
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let antivirus = config.current().antivirus.clone();
    let signatures = Arc::new(
        tokio::task::spawn_blocking(move || match antivirus.enabled {
            true => Signatures::new(Path::new(&antivirus.defs_dir)),
            false => Signatures::unloaded(),
        })
        .await?,
    );
    // Recovered before any message is processed; a quarantine that cannot
    // be used holds the messages that would have gone to it.
    let quarantine =
        Arc::new(LocalQuarantine::new(&Path::new(&config.current().paths.queue_dir).join(local::DIR_NAME)));
    if let Err(e) = quarantine.recover() {
        events.file_access_error(quarantine.dir().display(), format!("cannot open the local quarantine: {e}"));
    }
    let pipeline = Pipeline::standard(events.clone(), signatures.clone(), quarantine.clone());
    let started = Gateway::start(config.clone(), pipeline, events.clone(), signatures.clone()).and_then(|gateway| {
        let queue_dir = gateway.spool.root().to_path_buf();
        let after_crash = lifecycle::mark_running(&queue_dir)
            .with_context(|| format!("cannot write the run marker in {}", queue_dir.display()))?;
        Ok((gateway, after_crash))
    });
    // Events sent so far wait in the channel until the dispatcher starts;
    // without a spool there is nowhere to queue notifications.
    let notifier = started.as_ref().ok().map(|(g, _)| Notifier::new(config.clone(), g.spool.clone(), g.fast.clone()));
    let consumers =
        Consumers { config: config.clone(), counters: counters.clone(), store: start_event_store(&config), notifier };
    tokio::spawn(dispatch(received, consumers));
    let (gateway, after_crash) = match started {
        Ok(started) => started,
        Err(e) => {
            events.emit(Event::ServiceStartFailed { reason: format!("{e:#}") });
            events.shut_down().await;
            return Err(e);
        }
    };
    let queue_dir = gateway.spool.root().to_path_buf();
    let accounts = Accounts::beside(config.path().unwrap_or(Path::new(DEFAULT_CONFIG)));
    let admin = AppState {
        config: config.clone(),
        counters,
        spool: gateway.spool.clone(),
        signatures,
        started_at,
        events: events.clone(),
        fast: gateway.fast.clone(),
        delivery: gateway.delivery.clone(),
        accounts,
        sessions: Arc::default(),
        certs: CertStore::new(queue_dir.join("admin-tls")),
    };
    tokio::spawn(control::serve(admin.clone()));
    events.emit(Event::ServiceStarted { after_crash });
    tokio::spawn(lifecycle::watch_changes(config.clone(), events.clone()));
    tokio::spawn(crate::resources::watch(config.clone(), events.clone()));
    tokio::spawn(forward::run(config.clone(), quarantine, events.clone()));
    tokio::spawn(crate::admin::server::serve(admin));
    tracing::info!("mxguard {} started", env!("CARGO_PKG_VERSION"));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("mxguard stopping; queued messages stay in the spool");
    events.emit(Event::ServiceStopped);
    events.shut_down().await;
    lifecycle::mark_stopped(&queue_dir)
        .with_context(|| format!("cannot remove the run marker in {}", queue_dir.display()))?;
    Ok(())
}

/// Open the event store under `paths.log_dir`, start its writer and the
/// retention job; `None` (logged) if it cannot be opened: the gateway
/// then runs without local reports rather than not at all.
fn start_event_store(config: &ConfigHandle) -> Option<(mpsc::UnboundedSender<Record>, std::thread::JoinHandle<()>)> {
    let log_dir = PathBuf::from(&config.current().paths.log_dir);
    let opened = std::fs::create_dir_all(&log_dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok((SqliteStore::open(&log_dir)?, SqliteStore::open(&log_dir)?)));
    let (writer, purger) = match opened {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(dir = %log_dir.display(), "event store unavailable, events are only logged: {e:#}");
            return None;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let enabled = config.clone();
    let thread = match spawn_writer(writer, rx, move || enabled.current().logging.local_enabled) {
        Ok(thread) => thread,
        Err(e) => {
            tracing::error!("cannot start the event store writer: {e}");
            return None;
        }
    };
    let retain = config.clone();
    tokio::spawn(retention_job(purger, move || retain.current().logging.retain));
    Some((tx, thread))
}

/// LiveUpdate on its schedule: sleep until the next attempt the current
/// configuration names (looking again every minute, as it may change),
/// then update as `mxguard defs update` would.
async fn scheduled_updates(
    config: ConfigHandle,
    spool: Arc<Spool>,
    fast: mpsc::UnboundedSender<String>,
    delivery: Arc<Delivery>,
    signatures: Arc<Signatures>,
    events: Events,
) {
    const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(60);
    loop {
        let now = chrono::Local::now().naive_local();
        let due = config.current().liveupdate.next_attempt(now);
        let wait = due.map_or(LOOK_AGAIN, |at| (at - now).to_std().unwrap_or_default().min(LOOK_AGAIN));
        tokio::time::sleep(wait).await;
        if due.is_none_or(|at| chrono::Local::now().naive_local() < at) {
            continue;
        }
        let (spool, fast, delivery, signatures, events) =
            (spool.clone(), fast.clone(), delivery.clone(), signatures.clone(), events.clone());
        let config = config.current();
        let done = tokio::task::spawn_blocking(move || {
            let running =
                control::Running { fast: &fast, slow: &delivery.slow, signatures: &signatures, events: &events };
            control::execute(&spool, &config, &control::ControlCommand::UpdateDefinitions, Some(running))
        })
        .await;
        match done {
            Ok(Ok(text)) => tracing::info!("scheduled LiveUpdate: {text}"),
            other => tracing::warn!("scheduled LiveUpdate: {other:?}"),
        }
    }
}
