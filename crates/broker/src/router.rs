//! The router: the one task that runs the relay strategy and fills mailboxes.
//!
//! Sessions verify in parallel and send the router only envelopes that passed
//! inspection, in arrival order per sender. A single owner for the strategy keeps
//! stateful strategies (replay, reorder, withhold) simple and free of locks.

use std::time::{SystemTime, UNIX_EPOCH};

use backchannel_proto::node::{Notice, notice_frame};
use backchannel_proto::relay::{Delivery, Forward, Inspected, Refusal, RelayStrategy};
use backchannel_proto::{Attestation, EnvelopeIn, Timestamp};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::event::BrokerEvent;
use crate::mailbox::Mailboxes;

/// Envelopes one session read and verified, for the router.
pub(crate) struct Batch {
    /// The party that sent them.
    pub(crate) from: String,
    /// Each frame with what the broker verified of it.
    pub(crate) frames: Vec<(Vec<u8>, Attestation)>,
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

/// Runs until every session and the server have dropped their senders.
pub(crate) async fn run(
    mut strategy: Box<dyn RelayStrategy>,
    mailboxes: Mailboxes,
    queue_limit: usize,
    mut batches: mpsc::Receiver<Batch>,
    events: Option<mpsc::Sender<BrokerEvent>>,
) {
    let mut extra: Vec<Delivery> = Vec::new();
    while let Some(batch) = batches.recv().await {
        for (frame, attestation) in batch.frames {
            let Ok(envelope) = EnvelopeIn::decode(&frame) else {
                continue; // inspected by the session already; cannot happen
            };
            let e = envelope.envelope();
            let (recipient, seq) = (e.recipient.to_string(), e.seq);
            let inspected = Inspected {
                envelope,
                attestation,
            };
            extra.clear();
            let forward = strategy.relay(now(), &inspected, &mut extra);
            drop(inspected);
            if forward == Forward::Withhold {
                let instead = match extra.len() {
                    0 => "delivers nothing in its place".to_owned(),
                    n => format!("delivers {n} frame(s) of its own instead"),
                };
                note(
                    &events,
                    format!(
                        "{} acted on {from}'s #{seq} to {recipient}: withheld it, {instead}",
                        strategy.name(),
                        from = batch.from
                    ),
                );
            }
            if forward == Forward::Original
                && let Err(refusal) = deliver(&mailboxes, queue_limit, &recipient, frame)
            {
                refuse(
                    &batch.notices,
                    &events,
                    &batch.from,
                    &recipient,
                    seq,
                    &refusal,
                );
            }
            for d in extra.drain(..) {
                if forward == Forward::Original {
                    note(
                        &events,
                        format!("{} delivers an extra frame to {}", strategy.name(), d.to),
                    );
                }
                if let Err(refusal) = deliver(&mailboxes, queue_limit, &d.to, d.frame) {
                    tracing::warn!(target: "broker", "strategy delivery to {} failed: {refusal}", d.to);
                }
            }
        }
    }
}

fn deliver(mailboxes: &Mailboxes, limit: usize, to: &str, frame: Vec<u8>) -> Result<(), Refusal> {
    let mailbox = mailboxes
        .get(to)
        .ok_or_else(|| Refusal::UnknownRecipient(to.to_owned()))?;
    match mailbox.tx.try_send(frame) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => Err(Refusal::QueueFull {
            recipient: to.to_owned(),
            limit,
        }),
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

fn note(events: &Option<mpsc::Sender<BrokerEvent>>, note: String) {
    tracing::info!(target: "broker", "strategy: {note}");
    if let Some(tx) = events {
        let _ = tx.try_send(BrokerEvent::Strategy { note });
    }
}
