//! The accept loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backchannel_proto::relay::RelayStrategy;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::BrokerSettings;
use crate::event::BrokerEvent;
use crate::mailbox;
use crate::router;
use crate::session::{self, Shared};

/// At most this many connections at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;

/// Serves on `listener` until `shutdown` completes, then closes every session and
/// returns. `events`, if given, receives what the broker does (best effort: events
/// are dropped rather than slowing the broker down).
pub async fn run(
    settings: BrokerSettings,
    listener: TcpListener,
    strategy: Box<dyn RelayStrategy>,
    events: Option<mpsc::Sender<BrokerEvent>>,
    shutdown: impl Future<Output = ()>,
) {
    let mailboxes = mailbox::mailboxes(&settings.registered, settings.queue_limit);
    // A few batches in flight at most: sessions wait (and stop reading their sockets)
    // rather than buffer without bound in front of the router.
    let (router_tx, router_rx) = mpsc::channel(16);
    let router = tokio::spawn(router::run(
        strategy,
        mailboxes.clone(),
        settings.queue_limit,
        router_rx,
        events.clone(),
    ));
    let shared = Arc::new(Shared {
        acceptor: TlsAcceptor::from(settings.tls.clone()),
        registered: settings.registered.clone(),
        mailboxes,
        router: router_tx,
        events,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut sessions = JoinSet::new();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(target: "broker", "listening on {addr} (TLS 1.3)");
    }
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => p,
            _ = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    next_id += 1;
                    let shared = Arc::clone(&shared);
                    let stop = stop_rx.clone();
                    let id = next_id;
                    sessions.spawn(async move {
                        session::serve(shared, stream, peer, id, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "broker", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut shutdown => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    tracing::info!(target: "broker", "shutting down");
    let _ = stop_tx.send(true);
    drop(shared);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
    let _ = tokio::time::timeout(Duration::from_secs(1), router).await;
}
