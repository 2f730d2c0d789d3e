//! The classroom's HTTP server, bounded: a class network is not a friendly place.
//!
//! * **Deadlines.** A request's headers must arrive within [`HEADER_DEADLINE`]; a
//!   request (headers, body and answer) other than an event stream must finish within
//!   [`REQUEST_DEADLINE`]. A connection carries one request (no keep-alive), so an
//!   idle connection is one still sending its headers.
//! * **A cap on connections**, below the process's file limit (raised to its hard
//!   limit at start where the system allows). When it is reached, a new connection
//!   takes the place of the oldest one that has not finished its headers, which is
//!   closed; with none such it is refused at once, never queued. So a thousand
//!   connections that never send a request cannot keep a student out, as a flood of
//!   idle sockets cannot at the broker (`proto-spec/nodes.md` §2.1).
//! * Event streams are capped per session and in all in `web.rs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// How long a client has to send a request's headers.
pub const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// How long a request other than an event stream may take in all.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// The most connections held, if the file limit allows as many.
const MAX_CONNECTIONS: usize = 1024;
/// File descriptors kept for everything else: the round's broker and party nodes,
/// their files, the event streams' timers.
const RESERVED_FILES: u64 = 256;

/// Raises the soft limit on open files to the hard limit where allowed, and returns
/// how many connections to hold: at most [`MAX_CONNECTIONS`], and
/// [`RESERVED_FILES`] below the limit.
pub fn connection_cap() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = match (limit.current, limit.maximum) {
        (Some(current), Some(maximum)) if maximum > current => {
            let wanted = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            if setrlimit(Resource::Nofile, wanted).is_ok() {
                Some(maximum)
            } else {
                Some(current)
            }
        }
        (Some(current), _) => Some(current),
        (None, _) => None,
    };
    let files = raised.unwrap_or(u64::MAX);
    let usable = files.saturating_sub(RESERVED_FILES).max(16);
    usize::try_from(usable).map_or(MAX_CONNECTIONS, |u| u.min(MAX_CONNECTIONS))
}

/// The connections that have not finished their first request's headers, oldest
/// first, each with the means to close it.
#[derive(Default)]
struct Waiting {
    queue: Mutex<VecDeque<(u64, oneshot::Sender<()>)>>,
}

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, oneshot::Sender<()>)>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the oldest waiting connection; false if there is none.
    fn evict_oldest(&self) -> bool {
        match self.lock().pop_front() {
            Some((_, close)) => {
                let _ = close.send(());
                true
            }
            None => false,
        }
    }

    fn remove(&self, id: u64) {
        self.lock().retain(|(i, _)| *i != id);
    }

    fn holds(&self, id: u64) -> bool {
        self.lock().iter().any(|(i, _)| *i == id)
    }
}

/// Serves `app` on `listener` until `shutdown` completes, within the bounds above.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cap: usize,
    shutdown: impl Future<Output = ()>,
) {
    let waiting = Arc::new(Waiting::default());
    let mut connections = JoinSet::new();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, typically: let connections end.
                        tracing::warn!("classroom: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if connections.len() >= cap && !waiting.evict_oldest() {
                    // Full of requests in progress: refused at once, not queued.
                    drop(stream);
                    continue;
                }
                next_id = next_id.wrapping_add(1);
                let (close, closed) = oneshot::channel();
                waiting.lock().push_back((next_id, close));
                connections.spawn(connection(
                    stream,
                    peer,
                    app.clone(),
                    (next_id, Arc::clone(&waiting)),
                    closed,
                ));
            }
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Event streams never end by themselves.
    connections.abort_all();
}

/// One connection: one request, within the deadlines; closed early if a newer
/// connection needs its place while it has not sent its headers.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    (id, waiting): (u64, Arc<Waiting>),
    closed: oneshot::Receiver<()>,
) {
    let started = Arc::clone(&waiting);
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // Its headers arrived: no longer a connection a newer one may displace.
            started.remove(id);
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                let streaming = request.uri().path() == "/api/stream";
                let request = request.map(axum::body::Body::new);
                let answer = app.oneshot(request);
                if streaming {
                    answer.await
                } else {
                    match tokio::time::timeout(REQUEST_DEADLINE, answer).await {
                        Ok(done) => done,
                        Err(_) => Ok((StatusCode::REQUEST_TIMEOUT, "the request took too long")
                            .into_response()),
                    }
                }
            }
        });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .keep_alive(false);
    let served = http.serve_connection(TokioIo::new(stream), service);
    // The header deadline, whether or not a first byte came.
    let deadline = async {
        tokio::time::sleep(HEADER_DEADLINE).await;
        if !waiting.holds(id) {
            std::future::pending::<()>().await;
        }
    };
    // Closed to make room only when told to; the sender is dropped (not used) once
    // the request has started.
    let displaced = async {
        if closed.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = served => {}
        () = displaced => {}
        () = deadline => {}
    }
    waiting.remove(id);
}
