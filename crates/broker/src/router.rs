//! The router: the one task that runs the relay strategy and fills mailboxes.
//!
//! Sessions verify in parallel and send the router only envelopes that passed
//! inspection, in arrival order per sender. A single owner for the strategy keeps
//! stateful strategies (replay, reorder, withhold) simple and free of locks.

use std::time::{SystemTime, UNIX_EPOCH};

use backchannel_proto::node::{Notice, notice_frame};
use backchannel_proto::relay::{Delivery, Forward, Inspected, Refusal, RelayStrategy};
use backchannel_proto::{Attestation, Body, BodyKind, ChannelId, EnvelopeIn, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::event::BrokerEvent;
use crate::mailbox::{Mailbox, Mailboxes, Queued, SharedFrame, heartbeat_channel_of};
use crate::store_writer::{Append, StoreWriter};

/// One envelope a session read and verified, with what the router needs to route it
/// (decoded once, by the session).
pub(crate) struct Relayed {
    /// The frame as received.
    pub(crate) frame: Vec<u8>,
    /// What the broker verified of it.
    pub(crate) attestation: Attestation,
    /// Its named recipient.
    pub(crate) recipient: Arc<str>,
    /// Its sequence number.
    pub(crate) seq: u64,
    /// For a heartbeat, its channel (see [`Queued::heartbeat`]).
    pub(crate) heartbeat: Option<ChannelId>,
}

/// Envelopes one session read and verified, for the router.
pub(crate) struct Batch {
    /// The party that sent them.
    pub(crate) from: String,
    /// Each frame with what the broker verified of it.
    pub(crate) frames: Vec<Relayed>,
    /// Where to send notices for the sender.
    pub(crate) notices: mpsc::Sender<Vec<u8>>,
}

pub(crate) fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

/// Most session batches gathered into one store commit.
const GATHER: usize = 16;

/// A frame the strategy decided to deliver, with its room reserved.
struct Accepted {
    to: Arc<str>,
    from: Arc<str>,
    frame: SharedFrame,
    /// See [`Queued::heartbeat`].
    heartbeat: Option<ChannelId>,
}

/// Runs until every session and the server have dropped their senders.
pub(crate) async fn run(
    mut strategy: Box<dyn RelayStrategy>,
    mailboxes: Mailboxes,
    store: Option<StoreWriter>,
    mut batches: mpsc::Receiver<Batch>,
    events: Option<mpsc::Sender<BrokerEvent>>,
) {
    let mut extra: Vec<Delivery> = Vec::new();
    let mut gathered: Vec<Batch> = Vec::with_capacity(GATHER);
    let mut accepted: Vec<Accepted> = Vec::new();
    // A strategy that decides later (a person at the desk) is asked on a timer too.
    let mut tick = strategy.poll_every().map(tokio::time::interval);
    loop {
        let next = match tick.as_mut() {
            Some(tick) => tokio::select! {
                b = batches.recv() => b,
                _ = tick.tick() => {
                    polled(strategy.as_mut(), &mailboxes, &events, &mut extra, &mut accepted);
                    deliver(&mailboxes, store.as_ref(), &mut accepted).await;
                    continue;
                }
            },
            None => batches.recv().await,
        };
        let Some(first) = next else { break };
        // Batches that arrived meanwhile share one commit.
        gathered.push(first);
        while gathered.len() < GATHER {
            match batches.try_recv() {
                Ok(b) => gathered.push(b),
                Err(_) => break,
            }
        }
        for batch in gathered.drain(..) {
            let from: Arc<str> = Arc::from(batch.from.as_str());
            for relayed in batch.frames {
                let Relayed {
                    frame,
                    attestation,
                    recipient,
                    seq,
                    heartbeat,
                } = relayed;
                extra.clear();
                // The honest broker routes on what the session decoded; a strategy
                // that looks at each envelope gets it decoded again here.
                let mut kind = None;
                // What this envelope said, to name a copy of it the strategy delivers
                // in its place (re-timed, renumbered) rather than count it as a frame
                // of its own.
                let mut words = None;
                let forward = if strategy.forwards_everything_unchanged() {
                    Forward::Original
                } else {
                    let Ok(envelope) = EnvelopeIn::decode(&frame) else {
                        continue; // inspected by the session already; cannot happen
                    };
                    kind = Some(envelope.envelope().body.kind());
                    words = Some(envelope.envelope().body.clone().into_owned());
                    let inspected = Inspected {
                        envelope,
                        attestation,
                    };
                    strategy.relay(now(), &inspected, &mut extra)
                };
                if forward == Forward::Withhold && !strategy.last_was_a_move() {
                    tracing::debug!(target: "broker", "{} re-presented {from}'s #{seq} to {recipient} to fit what the recipient saw", strategy.name());
                } else if forward == Forward::Withhold {
                    let instead = if extra.is_empty() {
                        "delivers nothing in its place".to_owned()
                    } else {
                        let original = words.as_ref().map(|body| Original {
                            sender: &from,
                            seq,
                            body,
                            recipient: &recipient,
                            frame: &frame,
                        });
                        format!(
                            "delivers in its place {}",
                            deliveries_words(&extra, original.as_ref())
                        )
                    };
                    let what = kind.map_or_else(String::new, |k| format!("{k} "));
                    note(
                        &events,
                        format!(
                            "{} acted on {from}'s {what}#{seq} to {recipient}: withheld it, {instead}",
                            strategy.name()
                        ),
                    );
                }
                if forward == Forward::Original {
                    match reserve(&mailboxes, &recipient, &from, frame.len()) {
                        Ok(()) => accepted.push(Accepted {
                            to: Arc::clone(&recipient),
                            from: Arc::clone(&from),
                            frame: Arc::new(frame),
                            heartbeat,
                        }),
                        Err(refusal) => refuse(
                            &batch.notices,
                            &events,
                            &batch.from,
                            &recipient,
                            seq,
                            &refusal,
                        ),
                    }
                }
                for d in extra.drain(..) {
                    if forward == Forward::Original && strategy.last_was_a_move() {
                        note(
                            &events,
                            format!(
                                "{} delivers as well {}",
                                strategy.name(),
                                deliveries_words(std::slice::from_ref(&d), None)
                            ),
                        );
                    }
                    match reserve(&mailboxes, &d.to, &from, d.frame.len()) {
                        Ok(()) => accepted.push(Accepted {
                            to: Arc::from(d.to),
                            from: Arc::clone(&from),
                            heartbeat: heartbeat_channel_of(&d.frame),
                            frame: Arc::new(d.frame),
                        }),
                        Err(refusal) => {
                            tracing::warn!(target: "broker", "strategy delivery to {} failed: {refusal}", d.to);
                        }
                    }
                }
            }
        }
        deliver(&mailboxes, store.as_ref(), &mut accepted).await;
    }
}

/// Asks the strategy for what it decided since it was last asked, and reserves room
/// for each frame as if its named sender had just sent it.
fn polled(
    strategy: &mut dyn RelayStrategy,
    mailboxes: &Mailboxes,
    events: &Option<mpsc::Sender<BrokerEvent>>,
    extra: &mut Vec<Delivery>,
    accepted: &mut Vec<Accepted>,
) {
    extra.clear();
    strategy.poll(now(), extra);
    for d in extra.drain(..) {
        let from: Arc<str> = EnvelopeIn::decode(&d.frame)
            .map(|e| Arc::from(&*e.envelope().sender))
            .unwrap_or_else(|_| Arc::from("broker"));
        note(
            events,
            format!(
                "{} delivers {}",
                strategy.name(),
                deliveries_words(std::slice::from_ref(&d), None)
            ),
        );
        match reserve(mailboxes, &d.to, &from, d.frame.len()) {
            Ok(()) => accepted.push(Accepted {
                to: Arc::from(d.to),
                from,
                heartbeat: heartbeat_channel_of(&d.frame),
                frame: Arc::new(d.frame),
            }),
            Err(refusal) => {
                tracing::warn!(target: "broker", "strategy delivery to {} failed: {refusal}", d.to);
            }
        }
    }
}

fn reserve(mailboxes: &Mailboxes, to: &str, from: &Arc<str>, len: usize) -> Result<(), Refusal> {
    mailboxes
        .get(to)
        .ok_or_else(|| Refusal::UnknownRecipient(to.to_owned()))?
        .reserve(to, from, len)
}

/// Makes the accepted frames deliverable, in order, as one store group.
///
/// Frames for a recipient that is reading its mailbox right now are deliverable at
/// once, and stored behind them (usually they are written out before their turn to
/// be stored comes, and are then never written to disk). Frames for a recipient that
/// is not connected are deliverable only once their group is durable: those are the
/// ones a crash would otherwise lose (`proto-spec/nodes.md` §3.1). If the store fails
/// the frames are still delivered from memory (their senders hold them
/// unacknowledged); the failure is logged as an error.
async fn deliver(mailboxes: &Mailboxes, store: Option<&StoreWriter>, accepted: &mut Vec<Accepted>) {
    if accepted.is_empty() {
        return;
    }
    let Some(store) = store else {
        push(mailboxes, None, 0, accepted.drain(..));
        return;
    };
    let group = store.next_group();
    // Decided once per recipient, so one recipient's frames keep their order.
    let mut online: HashMap<Arc<str>, bool> = HashMap::new();
    for a in accepted.iter() {
        if !online.contains_key(&a.to) {
            let reading = mailboxes.get(&*a.to).is_some_and(Mailbox::is_being_read);
            online.insert(Arc::clone(&a.to), reading);
        }
    }
    let (now, later): (Vec<Accepted>, Vec<Accepted>) = accepted
        .drain(..)
        .partition(|a| online.get(&a.to).copied().unwrap_or(false));
    // The store gets the waiting frames first, then the others (shared, not copied).
    let waiting = later.len();
    let beats: Vec<Option<ChannelId>> = later.iter().map(|a| a.heartbeat).collect();
    let frames: Vec<Append> = later
        .into_iter()
        .map(|a| (a.to, a.from, a.frame))
        .chain(
            now.iter()
                .map(|a| (Arc::clone(&a.to), Arc::clone(&a.from), Arc::clone(&a.frame))),
        )
        .collect();
    push(mailboxes, Some(store), group, now.into_iter());
    if waiting == 0 {
        store.append_later(group, frames);
        return;
    }
    let (mut frames, committed) = store.append(group, frames).await;
    let group = match committed {
        Ok(()) => group,
        Err(e) => {
            tracing::error!(target: "broker", "{waiting} frame(s) are queued in memory only: {e}");
            0
        }
    };
    frames.truncate(waiting);
    push(
        mailboxes,
        Some(store),
        group,
        frames
            .into_iter()
            .zip(beats)
            .map(|((to, from, frame), heartbeat)| Accepted {
                to,
                from,
                frame,
                heartbeat,
            }),
    );
}

/// Queues each frame in its recipient's mailbox; a heartbeat that replaced an older
/// one there counts that one's store group as no longer waiting.
fn push(
    mailboxes: &Mailboxes,
    store: Option<&StoreWriter>,
    group: u64,
    frames: impl Iterator<Item = Accepted>,
) {
    let mut superseded = Vec::new();
    for a in frames {
        if let Some(mailbox) = mailboxes.get(&*a.to) {
            let old = mailbox.push(Queued {
                group,
                from: a.from,
                frame: a.frame,
                heartbeat: a.heartbeat,
            });
            superseded.extend(old.map(|q| q.group).filter(|g| *g != 0));
        }
    }
    if let Some(store) = store {
        store.delivered(superseded);
    }
}

fn refuse(
    notices: &mpsc::Sender<Vec<u8>>,
    events: &Option<mpsc::Sender<BrokerEvent>>,
    from: &str,
    recipient: &str,
    seq: u64,
    refusal: &Refusal,
) {
    tracing::warn!(target: "broker", "refused {from}'s #{seq} for {recipient}: {refusal}");
    let notice = Notice {
        code: refusal.code().to_owned(),
        message: refusal.to_string(),
        peer: recipient.to_owned(),
        seq,
    };
    if let Ok(frame) = notice_frame(&notice) {
        // If the sender's notice queue is full, it is not reading: it will see the
        // missing receipt instead.
        let _ = notices.try_send(frame);
    }
    if let Some(tx) = events {
        let _ = tx.try_send(BrokerEvent::Refused {
            from: from.to_owned(),
            reason: refusal.to_string(),
        });
    }
}

/// What a strategy's deliveries are, in words: each message named by its sender,
/// kind, number and recipient as the recipient will see them ("north's revocation
/// #2 to south"), receipts and heartbeats counted, so that a move's note says what
/// went out and never reads like a forgery when it released what it held.
/// The envelope a strategy acted on: who sent it, its number and its words.
struct Original<'a> {
    sender: &'a str,
    seq: u64,
    body: &'a Body<'static>,
    /// The recipient it names.
    recipient: &'a str,
    /// The frame as its sender sent it: a delivery of exactly these bytes is the
    /// envelope as it came, not a re-timed copy.
    frame: &'a [u8],
}

/// What a strategy delivered, in words: each message by sender, kind and number
/// (`original`'s own bytes named as that message as it came; a copy of its words
/// naming another recipient as re-addressed; in other bytes as re-timed; either
/// renumbered if its number changed), receipts and heartbeats counted.
fn deliveries_words(deliveries: &[Delivery], original: Option<&Original<'_>>) -> String {
    let mut messages = Vec::new();
    let (mut receipts, mut heartbeats, mut other) = (0usize, 0usize, 0usize);
    for d in deliveries {
        match EnvelopeIn::decode(&d.frame) {
            Ok(e) => {
                let e = e.envelope();
                match e.body.kind() {
                    BodyKind::Receipt => receipts += 1,
                    BodyKind::Heartbeat => heartbeats += 1,
                    kind => {
                        let sender = backchannel_proto::text::plain(&e.sender);
                        let to = backchannel_proto::text::plain(&d.to);
                        let copy = original.filter(|o| o.sender == &*e.sender && *o.body == e.body);
                        messages.push(match copy {
                            Some(o) if d.frame.as_slice() == o.frame => {
                                format!("{sender}'s {kind} #{} as it came, to {to}", e.seq)
                            }
                            Some(o) if o.recipient != &*e.recipient && o.seq == e.seq => {
                                format!("{sender}'s {kind} #{} re-addressed to {to}", o.seq)
                            }
                            Some(o) if o.recipient != &*e.recipient => format!(
                                "{sender}'s {kind} #{} re-addressed to {to} and renumbered as #{}",
                                o.seq, e.seq
                            ),
                            Some(o) if o.seq == e.seq => {
                                format!(
                                    "{sender}'s {kind} #{} re-timed, still #{}, to {to}",
                                    o.seq, e.seq
                                )
                            }
                            Some(o) => format!(
                                "{sender}'s {kind} #{} re-timed and renumbered as #{} to {to}",
                                o.seq, e.seq
                            ),
                            None => format!("{sender}'s {kind} #{} to {to}", e.seq),
                        });
                    }
                }
            }
            Err(_) => other += 1,
        }
    }
    for (n, what) in [
        (receipts, "receipt(s)"),
        (heartbeats, "heartbeat(s)"),
        (other, "undecodable frame(s)"),
    ] {
        if n > 0 {
            messages.push(format!("{n} {what}"));
        }
    }
    messages.join(", ")
}

fn note(events: &Option<mpsc::Sender<BrokerEvent>>, note: String) {
    tracing::info!(target: "broker", "strategy: {note}");
    if let Some(tx) = events {
        let _ = tx.try_send(BrokerEvent::Strategy { note });
    }
}
