//! The accept loop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backchannel_proto::relay::RelayStrategy;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::admission::Gate;
use crate::config::{BrokerSettings, StorePaths};
use crate::event::BrokerEvent;
use crate::mailbox;
use crate::mailbox::{Mailboxes, Queued, heartbeat_channel_of};
use crate::router;
use crate::session::{self, Shared};
use crate::store::{self, Store, StoreError};
use crate::store_writer::StoreWriter;

/// Serves on `listener` until `shutdown` completes, then closes every session and
/// returns. `events`, if given, receives what the broker does (best effort: events
/// are dropped rather than slowing the broker down). With a store in `settings`, the
/// mailboxes it holds are loaded first (the only error: a store that cannot be
/// opened or trusted).
pub async fn run(
    settings: BrokerSettings,
    listener: TcpListener,
    strategy: Box<dyn RelayStrategy>,
    events: Option<mpsc::Sender<BrokerEvent>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StoreError> {
    run_when_ready(settings, listener, strategy, events, shutdown, || {}).await
}

/// [`run`], calling `ready` once the store is open and loaded, before the first
/// connection is accepted: the moment to say "listening".
pub async fn run_when_ready(
    settings: BrokerSettings,
    listener: TcpListener,
    strategy: Box<dyn RelayStrategy>,
    events: Option<mpsc::Sender<BrokerEvent>>,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(),
) -> Result<(), StoreError> {
    let mailboxes = mailbox::mailboxes(&settings.registered, settings.quotas);
    let store = match &settings.store {
        None => None,
        Some(paths) => Some(open_store(paths, &mailboxes)?),
    };
    ready();
    // A few batches in flight at most: sessions wait (and stop reading their sockets)
    // rather than buffer without bound in front of the router.
    let (router_tx, router_rx) = mpsc::channel(16);
    let router = tokio::spawn(router::run(
        strategy,
        mailboxes.clone(),
        store.clone(),
        router_rx,
        events.clone(),
    ));
    let shared = Arc::new(Shared {
        acceptor: TlsAcceptor::from(settings.tls.clone()),
        registered: settings.registered.clone(),
        mailboxes,
        store,
        router: router_tx,
        events,
        admission: settings.admission,
        login_key: settings.login_key.clone(),
        read: std::sync::atomic::AtomicU64::new(0),
    });
    let summary = tokio::spawn(read_summary(Arc::downgrade(&shared)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Gate::new(settings.admission));
    let mut sessions = JoinSet::new();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(target: "broker", "listening on {addr} (TLS 1.3)");
    }
    // Every connection is accepted at once: the admission gate, not the listen
    // backlog, decides who waits (`admission.rs`), so a flood of idle sockets cannot
    // keep an honest client from being answered.
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    next_id += 1;
                    let ticket = gate.admit(next_id, peer.ip());
                    let shared = Arc::clone(&shared);
                    let stop = stop_rx.clone();
                    let id = next_id;
                    sessions.spawn(session::serve(shared, stream, peer, id, ticket, stop));
                }
                Err(e) => {
                    // Out of file descriptors, typically: let connections end.
                    tracing::warn!(target: "broker", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut shutdown => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    tracing::info!(target: "broker", "shutting down");
    summary.abort();
    let _ = stop_tx.send(true);
    drop(shared);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
    let _ = tokio::time::timeout(Duration::from_secs(1), router).await;
    Ok(())
}

/// Opens the store, puts every frame it holds back in its mailbox (in arrival order,
/// counted against the quotas), and starts the thread that commits for everyone.
fn open_store(paths: &StorePaths, mailboxes: &Mailboxes) -> Result<StoreWriter, StoreError> {
    let key = store::read_storage_key(&paths.key)?;
    let (store, recovered) = if paths.create {
        Store::open(&paths.store, &key)?
    } else {
        Store::open_existing(&paths.store, &key)?
    };
    for group in &recovered.damaged {
        tracing::error!(target: "broker", "{}: stored group {group} failed authentication (damaged or tampered): dropped, not delivered", paths.store.display());
    }
    let mut waiting: HashMap<u64, usize> = HashMap::new();
    let mut stale = 0usize;
    for f in recovered.frames {
        let Some(mailbox) = mailboxes.get(&f.recipient) else {
            tracing::warn!(target: "broker", "{}: a stored frame is for {:?}, who is no longer registered: dropped", paths.store.display(), f.recipient);
            stale += 1;
            // Its group is removed once the rest of it is delivered.
            waiting.entry(f.group).or_insert(0);
            continue;
        };
        let from: Arc<str> = Arc::from(f.from.as_str());
        // Loaded whatever the quotas say (they were met when it was accepted); the
        // room is taken so new frames are refused until it drains.
        if mailbox.reserve(&f.recipient, &from, f.frame.len()).is_err() {
            mailbox.force_reserve(&from, f.frame.len());
        }
        *waiting.entry(f.group).or_insert(0) += 1;
        let superseded = mailbox.push(Queued {
            group: f.group,
            from,
            heartbeat: heartbeat_channel_of(&f.frame),
            frame: Arc::new(f.frame),
        });
        // A newer heartbeat on the same channel replaced it: it no longer waits.
        if let Some(count) = superseded.and_then(|old| waiting.get_mut(&old.group)) {
            *count = count.saturating_sub(1);
        }
    }
    let loaded: usize = waiting.values().sum();
    tracing::info!(target: "broker", "store {}: {loaded} queued frame(s) loaded ({stale} for parties no longer registered)", paths.store.display());
    StoreWriter::start(store, waiting).map_err(|e| StoreError::Database {
        path: paths.store.clone(),
        detail: format!("cannot start the store thread: {e}"),
    })
}

/// Logs, once a second while traffic flows, how many envelopes the broker read (each
/// one is logged at DEBUG: `BACKCHANNEL_LOG=broker::read=debug`).
async fn read_summary(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = 0u64;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = shared.read.load(std::sync::atomic::Ordering::Relaxed);
        if now > last {
            tracing::info!(target: "broker", "read {} envelope(s) in the last second ({now} in all)", now - last);
            last = now;
        }
    }
}
