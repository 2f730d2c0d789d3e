//! Rebuilding a party's channel state from its transcript: the transcript is the
//! party's write-ahead journal (`proto-spec/nodes.md` §4.2).
//!
//! A party appends every envelope it sends or receives to its transcript and fsyncs
//! once per batch, *before* it transmits anything that depends on the batch or tells
//! its user about it. The channel state that decides future verdicts is a pure
//! function of those records, so the party never rewrites it per message: it saves
//! a snapshot now and then ([`crate::persist`]) with the transcript offset it covers,
//! and after a restart replays the records written since.
//!
//! Replay trusts the records' verdicts: they are the party's own, written after it
//! checked them (the file is 0600 and the party holds an exclusive lock on it). It
//! does not verify signatures again; it does check that the records fit together
//! (each sent content envelope continues the chain), and refuses a journal that
//! does not.

use crate::channel_state::{ChannelState, Outstanding};
use crate::envelope::{Ack, Envelope, RefusalCode};
use crate::transcript::{Direction, Entry, RecordedVerdict};
use crate::verify::EnvelopeIn;

/// Why a journal could not be replayed: the transcript contradicts itself or the
/// snapshot, so the state it would give cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A record of an envelope this party sent does not decode.
    #[error("record {index}: an envelope this party sent does not decode")]
    UnreadableSent {
        /// Position of the record among those replayed.
        index: usize,
    },
    /// A record names a party that is not a configured peer.
    #[error("record {index}: {peer:?} is not a configured peer")]
    UnknownPeer {
        /// Position of the record among those replayed.
        index: usize,
        /// The name in the record.
        peer: String,
    },
    /// A sent content envelope does not continue the chain the snapshot or the
    /// earlier records left.
    #[error("record {index}: sent #{seq} does not continue the chain (last sent #{last})")]
    Discontinuous {
        /// Position of the record among those replayed.
        index: usize,
        /// Its sequence number.
        seq: u64,
        /// The last sequence number sent before it.
        last: u64,
    },
}

/// The code that [`Rejection::Expired`] is recorded under: the one rejection that
/// moves the chain on (`protocol.md` §7.2).
const EXPIRED: &str = "expired";

/// Applies transcript `entries` (in file order) to the channel `states` of `me`,
/// keyed by peer name. Returns how many records changed a state.
///
/// Each record has the effect the live channel had when it was written:
/// * sent content: the chain head moves to it and it awaits a receipt (a record of
///   the same envelope sent again changes nothing);
/// * sent control: only the last sent time moves;
/// * received and accepted (or rejected as expired) content: the peer's chain head
///   moves (an expired one is noted as refused), and its acknowledgement releases
///   what it covers;
/// * received and accepted control: the acknowledgement and the peer's time;
/// * any other rejection: nothing (a rejected input leaves the state unchanged).
pub fn replay<'a>(
    me: &str,
    states: &mut [(String, ChannelState)],
    entries: impl IntoIterator<Item = Entry<'a>>,
) -> Result<usize, ReplayError> {
    let mut changed = 0;
    for (index, entry) in entries.into_iter().enumerate() {
        let decoded = EnvelopeIn::decode(entry.frame);
        let applied = match entry.direction {
            Direction::Sent => {
                let env = decoded.map_err(|_| ReplayError::UnreadableSent { index })?;
                let state = state_of(states, &env.envelope().recipient, index)?;
                replay_sent(state, &env, index)?;
                true
            }
            Direction::Received => {
                let Ok(env) = decoded else { continue };
                let expired = entry.verdict == RecordedVerdict::Rejected
                    && rejection_code(entry.reason) == EXPIRED
                    && !env.envelope().body.is_control();
                let moves_chain = entry.verdict == RecordedVerdict::Accepted || expired;
                if !moves_chain || env.envelope().recipient != me {
                    continue;
                }
                let state = state_of(states, &env.envelope().sender, index)?;
                replay_received(state, &env, expired);
                true
            }
        };
        changed += usize::from(applied);
    }
    Ok(changed)
}

/// The code part of a recorded reason (`"<code>: <explanation>"`).
pub fn rejection_code(reason: &str) -> &str {
    reason.split_once(':').map_or(reason, |(code, _)| code)
}

fn state_of<'s>(
    states: &'s mut [(String, ChannelState)],
    peer: &str,
    index: usize,
) -> Result<&'s mut ChannelState, ReplayError> {
    states
        .iter_mut()
        .find(|(name, _)| name == peer)
        .map(|(_, s)| s)
        .ok_or_else(|| ReplayError::UnknownPeer {
            index,
            peer: peer.to_owned(),
        })
}

fn replay_sent(
    state: &mut ChannelState,
    env: &EnvelopeIn<'_>,
    index: usize,
) -> Result<(), ReplayError> {
    let e = env.envelope();
    state.last_sent_at = state.last_sent_at.max(e.sent_at);
    if e.body.is_control() {
        return Ok(());
    }
    if e.seq <= state.sent.seq {
        // A record of a frame sent again: harmless if it is the one we sent (or one
        // already acknowledged, whose digest the state no longer keeps).
        let same = state
            .outstanding(e.seq)
            .map_or(e.seq <= state.acked.seq, |o| o.digest == env.digest());
        return if same {
            Ok(())
        } else {
            Err(ReplayError::Discontinuous {
                index,
                seq: e.seq,
                last: state.sent.seq,
            })
        };
    }
    if e.seq != state.sent.seq.saturating_add(1) || e.prev != state.sent.head {
        return Err(ReplayError::Discontinuous {
            index,
            seq: e.seq,
            last: state.sent.seq,
        });
    }
    let digest = env.digest();
    state.sent = Ack {
        seq: e.seq,
        head: digest,
    };
    state.unacked.push_back(Outstanding {
        seq: e.seq,
        digest,
        sent_at: e.sent_at,
        reported: false,
        frame: env.frame().to_vec(),
    });
    Ok(())
}

fn replay_received(state: &mut ChannelState, env: &EnvelopeIn<'_>, expired: bool) {
    let e: &Envelope<'_> = env.envelope();
    if !e.body.is_control() {
        state.received = Ack {
            seq: e.seq,
            head: env.digest(),
        };
        if expired {
            state.note_refusal(e.seq, RefusalCode::Expired);
        }
    }
    state.last_received_at = e.sent_at;
    let _ = state.take_ack(e.ack, &e.refused);
}
