//! What the broker decides about each envelope: inspection, and the relay strategy.
//!
//! The broker **reads** everything: [`inspect_batch`] decodes each envelope, checks it
//! came from the party logged in on the connection, and in signed mode verifies the
//! signature (batched), so the broker refuses to relay what the recipient would refuse
//! anyway and can tell the sender why. Then a [`RelayStrategy`] decides what happens
//! to it. [`Honest`] forwards it; the attack lab plugs in adversarial strategies
//! through the same seam.
//!
//! Nothing here can sign as a party: the broker holds no party's signing key.

use std::fmt::Write as _;

use crate::body::Body;
use crate::identity::PublicIdentity;
use crate::mode::ChannelMode;
use crate::rejection::Rejection;
use crate::time::Timestamp;
use crate::verify::{Attestation, EnvelopeIn, authenticate_batch};

/// Why the broker refused to relay an envelope; sent back to its sender as a notice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The envelope names a sender other than the party logged in on the connection.
    #[error("the envelope claims sender {claimed:?}, but this connection is {session:?}")]
    SenderMismatch {
        /// The sender the envelope names.
        claimed: String,
        /// The party logged in.
        session: String,
    },
    /// The recipient is not a registered party.
    #[error("unknown recipient {0:?}")]
    UnknownRecipient(String),
    /// The envelope itself is unacceptable (malformed, oversize, bad signature, ...).
    #[error("{0}")]
    Invalid(Rejection),
    /// The recipient's mailbox is full, in all or for this sender; nothing was
    /// discarded, the sender must retry.
    #[error("{recipient}'s queue is full ({limit}); not relayed, send again later")]
    QueueFull {
        /// The recipient.
        recipient: String,
        /// The limit it reached.
        limit: QueueLimit,
    },
}

/// Which of a mailbox's limits a refused envelope reached (`proto-spec/nodes.md` §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueLimit {
    /// Envelopes waiting, from everyone.
    #[error("{0} envelopes waiting")]
    Frames(usize),
    /// Bytes waiting, from everyone.
    #[error("{0} bytes waiting")]
    Bytes(usize),
    /// Envelopes waiting from this sender.
    #[error("{0} of your envelopes waiting")]
    SenderFrames(usize),
    /// Bytes waiting from this sender.
    #[error("{0} bytes of yours waiting")]
    SenderBytes(usize),
}

impl Refusal {
    /// A stable kebab-case code for notices and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::SenderMismatch { .. } => "sender-mismatch",
            Refusal::UnknownRecipient(_) => "unknown-recipient",
            Refusal::Invalid(r) => r.code(),
            Refusal::QueueFull { .. } => "queue-full",
        }
    }
}

/// An envelope the broker read and will hand to its relay strategy.
#[derive(Clone, Debug)]
pub struct Inspected<'a> {
    /// The envelope.
    pub envelope: EnvelopeIn<'a>,
    /// What the broker could verify of its authorship.
    pub attestation: Attestation,
}

/// Inspects the envelope frames the logged-in party `me` sent, in order: each must
/// decode, name `me` as its sender and a registered party as its recipient; the signed
/// ones are then verified together (one batch equation, per-envelope fallback).
pub fn inspect_batch<'a>(
    me: &PublicIdentity,
    frames: &[&'a [u8]],
    registered: &[PublicIdentity],
) -> Vec<Result<Inspected<'a>, Refusal>> {
    let decoded: Vec<Result<EnvelopeIn<'a>, Refusal>> = frames
        .iter()
        .map(|f| {
            let env = EnvelopeIn::decode(f).map_err(Refusal::Invalid)?;
            let e = env.envelope();
            if e.sender != me.name().as_str() {
                return Err(Refusal::SenderMismatch {
                    claimed: e.sender.to_string(),
                    session: me.name().to_string(),
                });
            }
            if !registered.iter().any(|p| p.name().as_str() == e.recipient) {
                return Err(Refusal::UnknownRecipient(e.recipient.to_string()));
            }
            Ok(env)
        })
        .collect();
    let batch: Vec<(&EnvelopeIn<'a>, &PublicIdentity)> = decoded
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|e| (e, me))
        .collect();
    let mut verdicts = authenticate_batch(&batch).into_iter();
    decoded
        .into_iter()
        .map(|r| {
            let envelope = r?;
            let attestation = verdicts
                .next()
                .unwrap_or(Err(Rejection::BadSignature))
                .map_err(Refusal::Invalid)?;
            Ok(Inspected {
                envelope,
                attestation,
            })
        })
        .collect()
}

/// The line the broker logs for every envelope it reads: who to whom, which envelope,
/// what it says, and what the broker could verify.
pub fn read_line(inspected: &Inspected<'_>) -> String {
    use crate::text::{plain, quoted};
    let e = inspected.envelope.envelope();
    let mut line = if e.body.is_control() {
        // A receipt or heartbeat has no place of its own in the chain: its seq is
        // the sender's head.
        format!(
            "{} -> {} {} ({} at #{}): ",
            e.sender,
            e.recipient,
            e.body.kind(),
            e.sender,
            e.seq
        )
    } else {
        format!(
            "{} -> {} #{} {}: ",
            e.sender,
            e.recipient,
            e.seq,
            e.body.kind()
        )
    };
    match &e.body {
        Body::Text(t) => {
            let _ = write!(line, "{}", quoted(t));
        }
        Body::Assurance(a) => {
            let _ = write!(
                line,
                "{} {} if {} until {}",
                plain(&a.id),
                quoted(&a.commitment),
                quoted(&a.condition),
                a.valid_until
            );
        }
        Body::Revocation(r) => {
            let _ = write!(
                line,
                "withdraws {} ({})",
                plain(&r.assurance_id),
                quoted(&r.reason)
            );
        }
        Body::Receipt | Body::Heartbeat => {
            let _ = write!(line, "acknowledges up to #{}", e.ack.seq);
        }
    }
    let _ = match (e.mode, inspected.attestation) {
        (ChannelMode::Signed, Attestation::Signed(fp)) => {
            write!(line, " [signed: signature by {fp} verified]")
        }
        (ChannelMode::OffRecord, _) => write!(
            line,
            " [off-record: a MAC only {} and {} can check]",
            plain(&e.sender),
            plain(&e.recipient)
        ),
        _ => write!(line, " [deniable: unsigned, rests on the broker's word]"),
    };
    line
}

/// What to do with the envelope being relayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    /// Deliver it, unchanged, to its recipient.
    Original,
    /// Do not deliver it (the strategy may deliver something else instead).
    Withhold,
}

/// A frame a strategy wants delivered to a party, in addition to or instead of the
/// original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The party to deliver to.
    pub to: String,
    /// The frame.
    pub frame: Vec<u8>,
}

/// The broker's behaviour towards the envelopes it relays: the one seam through which
/// honest and adversarial brokers differ.
///
/// Called once per inspected envelope, in the order the broker received them. A
/// strategy returns whether the original is forwarded and may push extra deliveries
/// (forgeries, replays, held-back envelopes) to `extra`; they are delivered after the
/// original. A strategy can build frames only from what a broker has: the bytes it
/// relayed, public keys, and [`seal_deniable`](crate::seal_deniable).
pub trait RelayStrategy: Send {
    /// A short name for logs, e.g. `honest`.
    fn name(&self) -> &'static str;

    /// Decides about one envelope.
    fn relay(
        &mut self,
        now: Timestamp,
        envelope: &Inspected<'_>,
        extra: &mut Vec<Delivery>,
    ) -> Forward;

    /// Whether the last [`RelayStrategy::relay`] was a deliberate move (the broker logs
    /// it), as opposed to passing the envelope on, possibly re-presented so that it
    /// fits what the recipient saw before (renumbered after an earlier move, say).
    fn last_was_a_move(&self) -> bool {
        true
    }

    /// Whether [`RelayStrategy::relay`] always returns [`Forward::Original`] and adds
    /// nothing, whatever the envelope: then the broker does not decode each envelope
    /// again to ask (it routes on what its session already decoded). Default: `false`;
    /// only [`Honest`] says `true`.
    fn forwards_everything_unchanged(&self) -> bool {
        false
    }

    /// How often the broker should call [`RelayStrategy::poll`], for a strategy whose
    /// decisions are not all made when an envelope arrives (a person at the broker's
    /// desk releasing a held message, say). `None`, the default: never.
    fn poll_every(&self) -> Option<std::time::Duration> {
        None
    }

    /// Delivers what the strategy decided since the last call, with no envelope
    /// arriving: pushed to `extra` like [`RelayStrategy::relay`]'s extra deliveries.
    fn poll(&mut self, _now: Timestamp, _extra: &mut Vec<Delivery>) {}
}

/// The honest broker: forwards every envelope, unchanged, to its recipient.
#[derive(Clone, Copy, Debug, Default)]
pub struct Honest;

impl RelayStrategy for Honest {
    fn name(&self) -> &'static str {
        "honest"
    }

    fn forwards_everything_unchanged(&self) -> bool {
        true
    }

    fn relay(
        &mut self,
        _now: Timestamp,
        _envelope: &Inspected<'_>,
        _extra: &mut Vec<Delivery>,
    ) -> Forward {
        Forward::Original
    }
}
