//! One party's connection: TLS handshake, login, then a reader and a writer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use backchannel_net::{FrameReader, tls};
use backchannel_proto::PublicIdentity;
use backchannel_proto::broker_session::{BrokerSession, SessionStep};
use backchannel_proto::node::{DISPLACED, Notice, notice_frame, welcome_frame};
use backchannel_proto::relay::read_line;
use tokio::io::{AsyncWriteExt as _, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::admission::Ticket;
use crate::event::BrokerEvent;
use crate::mailbox::{Mailboxes, Queued, heartbeat_channel};
use crate::router::{Batch, Relayed};
use crate::store_writer::StoreWriter;

/// How long a new session waits for the party's previous session to let go of its
/// mailbox.
const TAKE_OVER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most frames handled as one batch.
const BATCH: usize = 256;
/// Notices waiting for one session.
const NOTICE_QUEUE: usize = 256;
/// The notice code for a login refused because every session slot is taken.
pub const BROKER_FULL: &str = "broker-full";
const DISPLACED_MESSAGE: &str = "logged in again elsewhere; this session is closed";

pub(crate) struct Shared {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) registered: Arc<Vec<PublicIdentity>>,
    pub(crate) mailboxes: Mailboxes,
    /// The durable store, if the broker has one.
    pub(crate) store: Option<StoreWriter>,
    pub(crate) router: mpsc::Sender<Batch>,
    pub(crate) events: Option<mpsc::Sender<BrokerEvent>>,
    pub(crate) admission: crate::admission::AdmissionLimits,
    /// The broker's certificate key, for deniable logins.
    pub(crate) login_key: Option<ed25519_dalek::SigningKey>,
    /// Envelopes read (passed inspection) since the start, for the per-second summary.
    pub(crate) read: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn emit(&self, event: BrokerEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.try_send(event);
        }
    }
}

/// Sends `notice` and closes the connection (best effort: the peer may be gone).
async fn close_with(mut write: impl tokio::io::AsyncWrite + Unpin, notice: &Notice) {
    if let Ok(f) = notice_frame(notice) {
        let _ = write.write_all(&f).await;
        let _ = write.shutdown().await;
    }
}

/// Serves one connection until it closes, the party logs in elsewhere, or the broker
/// shuts down. Errors end this connection only.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    ticket: Ticket,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let deadline = shared.admission.login_deadline;
    let login = async {
        let tls = shared
            .acceptor
            .accept(stream)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let exporter = tls::exporter(tls.get_ref().1).map_err(|e| e.to_string())?;
        let (read, write) = tokio::io::split(tls);
        let mut reader = FrameReader::new(read);
        let mut first = Vec::with_capacity(1);
        match reader.read_batch(&mut first, 1).await {
            Ok(true) => {}
            Ok(false) => return Err("closed before logging in".to_owned()),
            Err(e) => return Err(e.to_string()),
        }
        let frame = first.pop().unwrap_or_default();
        let mut session =
            BrokerSession::new(exporter).accepting_mac_logins(shared.login_key.clone());
        match session.handle_frames(&[&frame], &shared.registered) {
            SessionStep::LoggedIn(party) => Ok((party, session, reader, write)),
            SessionStep::Close(notice) => {
                close_with(write, &notice).await;
                Err(notice.message)
            }
            // The party is told the same for both; the log keeps the difference.
            SessionStep::LoginRefused { notice, why } => {
                close_with(write, &notice).await;
                Err(why.to_string())
            }
            SessionStep::Envelopes(_) => Err("internal: envelopes before login".to_owned()),
        }
    };
    let login = tokio::select! {
        r = tokio::time::timeout(deadline, login) => r.unwrap_or_else(|_| {
            Err(format!("did not log in within {} ms", deadline.as_millis()))
        }),
        _ = ticket.evicted() => Err("closed to make room: it had not logged in, and newer connections were waiting".to_owned()),
    };

    let (party, mut session, mut reader, write) = match login {
        Ok(x) => x,
        Err(reason) => {
            tracing::warn!(target: "broker", "refused connection from {peer}: {reason}");
            shared.emit(BrokerEvent::LoginRefused { reason });
            return;
        }
    };
    let _slot = match ticket.promote() {
        Ok(slot) => slot,
        Err(full) => {
            tracing::warn!(target: "broker", "refused {} from {peer}: {full}", party.name());
            let notice = Notice {
                code: BROKER_FULL.to_owned(),
                message: full.to_string(),
                peer: String::new(),
                seq: 0,
            };
            close_with(write, &notice).await;
            shared.emit(BrokerEvent::LoginRefused {
                reason: full.to_string(),
            });
            return;
        }
    };
    let name = party.name().to_string();
    let Some(mailbox) = shared.mailboxes.get(&name) else {
        return;
    };
    let mut owner = mailbox.take_over(id);
    let _reading = tokio::select! {
        guard = mailbox.lock() => guard,
        _ = tokio::time::sleep(TAKE_OVER_TIMEOUT) => {
            tracing::warn!(target: "broker", "{name}: previous session did not let go of the mailbox");
            return;
        }
    };
    let queued = mailbox.len();
    tracing::info!(target: "broker", "login: {name} [{}] from {peer}, {queued} envelope(s) waiting", party.fingerprint());
    shared.emit(BrokerEvent::LoggedIn {
        party: name.clone(),
        queued,
    });

    let (notices_tx, mut notices) = mpsc::channel::<Vec<u8>>(NOTICE_QUEUE);
    let mut write = BufWriter::new(write);
    let welcome = welcome_frame(party.name(), queued as u64).unwrap_or_default();

    // Frames taken from the mailbox and not yet written: if the session ends before
    // they are, they go back to the front of the mailbox for the next session.
    let mut taken: Vec<Queued> = Vec::with_capacity(BATCH);
    let writer = async {
        write.write_all(&welcome).await?;
        write.flush().await?;
        loop {
            tokio::select! {
                biased;
                n = notices.recv() => match n {
                    Some(n) => write.write_all(&n).await?,
                    None => return Ok(()),
                },
                () = mailbox.take(BATCH, &mut taken) => {}
            }
            while let Ok(n) = notices.try_recv() {
                write.write_all(&n).await?;
            }
            for f in &taken {
                write.write_all(&f.frame).await?;
            }
            write.flush().await?;
            // Written: from here on the end-to-end receipts and retransmissions take
            // over, so the broker forgets them.
            mailbox.delivered(&taken);
            if let Some(store) = &shared.store {
                store.delivered(
                    taken
                        .iter()
                        .filter(|f| f.group != 0)
                        .map(|f| f.group)
                        .collect(),
                );
            }
            taken.clear();
        }
    };

    let reader_loop = async {
        let mut frames = Vec::with_capacity(BATCH);
        loop {
            frames.clear();
            match reader.read_batch(&mut frames, BATCH).await {
                Ok(true) => {}
                Ok(false) => return Ok::<(), String>(()),
                Err(e) => return Err(e.to_string()),
            }
            relay_batch(&shared, &mut session, &mut frames, &notices_tx).await?;
        }
    };

    let end = tokio::select! {
        r = reader_loop => r.err(),
        r = writer => r.err().map(|e: std::io::Error| e.to_string()),
        _ = owner.wait_for(|current| *current != id) => Some(DISPLACED_MESSAGE.to_owned()),
        _ = shutdown.wait_for(|stop| *stop) => None,
    };
    mailbox.put_back(&mut taken);
    if end.as_deref() == Some(DISPLACED_MESSAGE) {
        // Tell the displaced party why, so it backs off instead of logging in again at
        // once (two holders of one key would otherwise take turns without end).
        let notice = Notice {
            code: DISPLACED.to_owned(),
            message: DISPLACED_MESSAGE.to_owned(),
            peer: String::new(),
            seq: 0,
        };
        if let Ok(f) = notice_frame(&notice) {
            let _ = notices_tx.try_send(f);
        }
    }
    // A refusal that ended the session (a protocol violation) still reaches the party,
    // then TLS closes cleanly. Bounded: a peer that stopped reading cannot hold this.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(notice) = notices.try_recv() {
            write.write_all(&notice).await?;
        }
        write.flush().await?;
        write.shutdown().await
    })
    .await;
    match end {
        Some(reason) => {
            tracing::info!(target: "broker", "{name}: session from {peer} ended: {reason}")
        }
        None => tracing::info!(target: "broker", "{name}: session from {peer} closed"),
    }
}

/// Inspects a batch of frames from `party`, logs what the broker read, refuses what
/// fails, and passes the rest to the router in order.
async fn relay_batch(
    shared: &Shared,
    session: &mut BrokerSession,
    frames: &mut Vec<Vec<u8>>,
    notices: &mpsc::Sender<Vec<u8>>,
) -> Result<(), String> {
    let Some(party) = session.party().cloned() else {
        return Err("internal: not logged in".to_owned());
    };
    let party = &party;
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let verdicts = match session.handle_frames(&refs, &shared.registered) {
        SessionStep::Envelopes(verdicts) => verdicts,
        SessionStep::Close(notice) => {
            if let Ok(f) = notice_frame(&notice) {
                let _ = notices.try_send(f);
            }
            return Err(notice.message);
        }
        SessionStep::LoggedIn(_) | SessionStep::LoginRefused { .. } => {
            return Err("internal: a second login".to_owned());
        }
    };
    let mut keep = Vec::with_capacity(verdicts.len());
    for (i, verdict) in verdicts.iter().enumerate() {
        match verdict {
            Ok(inspected) => {
                // The broker reads everything: one line per envelope at DEBUG (and to
                // an event listener); a count per second at INFO (`server.rs`), so the
                // relay path does not format and write a line per message by default.
                shared
                    .read
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let logging = tracing::enabled!(target: "broker::read", tracing::Level::DEBUG);
                if logging || shared.events.is_some() {
                    let line = read_line(inspected);
                    tracing::debug!(target: "broker::read", "Read {line}");
                    if shared.events.is_some() {
                        shared.emit(BrokerEvent::Read {
                            line,
                            envelope: Box::new(inspected.envelope.envelope().clone().into_owned()),
                            attested: inspected.attestation.is_attested(),
                        });
                    }
                }
                let e = inspected.envelope.envelope();
                keep.push((
                    i,
                    inspected.attestation,
                    Arc::<str>::from(&*e.recipient),
                    e.seq,
                    heartbeat_channel(e),
                ));
            }
            Err(refusal) => {
                let (peer, seq) = refs
                    .get(i)
                    .and_then(|f| backchannel_proto::EnvelopeIn::decode(f).ok())
                    .map(|e| (e.envelope().recipient.to_string(), e.envelope().seq))
                    .unwrap_or_default();
                tracing::warn!(target: "broker", "refused from {}: #{seq} for {peer:?}: {refusal}", party.name());
                shared.emit(BrokerEvent::Refused {
                    from: party.name().to_string(),
                    reason: refusal.to_string(),
                });
                let notice = Notice {
                    code: refusal.code().to_owned(),
                    message: refusal.to_string(),
                    peer,
                    seq,
                };
                if let Ok(f) = notice_frame(&notice) {
                    let _ = notices.try_send(f);
                }
            }
        }
    }
    drop(verdicts);
    drop(refs);
    let mut taken: Vec<Option<Vec<u8>>> = frames.drain(..).map(Some).collect();
    let batch = Batch {
        from: party.name().to_string(),
        frames: keep
            .into_iter()
            .filter_map(|(i, attestation, recipient, seq, heartbeat)| {
                taken
                    .get_mut(i)
                    .and_then(Option::take)
                    .map(|frame| Relayed {
                        frame,
                        attestation,
                        recipient,
                        seq,
                        heartbeat,
                    })
            })
            .collect(),
        notices: notices.clone(),
    };
    if batch.frames.is_empty() {
        return Ok(());
    }
    shared
        .router
        .send(batch)
        .await
        .map_err(|_| "the broker is shutting down".to_owned())
}
