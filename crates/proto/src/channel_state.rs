//! The state of one channel that decides every future verdict, and that a party
//! persists between runs.

use std::collections::VecDeque;

use crate::digest::Digest;
use crate::envelope::{Ack, Refusal, RefusalCode, Refusals};
use crate::time::Timestamp;

/// Everything a channel remembers (`proto-spec/protocol.md` §7.3).
///
/// No rejected input changes it (the one documented exception is
/// [`Rejection::Expired`](crate::Rejection::Expired)); the property tests compare it
/// before and after every rejection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelState {
    /// Sequence number and chain digest of the last envelope this party sent.
    pub sent: Ack,
    /// Sent-at time of the last envelope sent (content or control); the next one is
    /// never earlier.
    pub last_sent_at: Timestamp,
    /// How much of this party's chain the peer has acknowledged.
    pub acked: Ack,
    /// Envelopes sent and not yet acknowledged, oldest first, with their exact frames
    /// so they can be sent again after a reconnect.
    pub unacked: VecDeque<Outstanding>,
    /// Sequence number and chain digest of the last envelope accepted from the peer.
    pub received: Ack,
    /// Sent-at time of the last envelope accepted from the peer (content or control).
    pub last_received_at: Timestamp,
    /// What this party refused of the peer's chain although it moved the chain on
    /// (expired envelopes); sent in every envelope ([`Envelope::refused`](crate::Envelope::refused)).
    pub refusals: Refusals,
    /// How many of the peer's refusals of this party's envelopes were already
    /// reported ([`Refusals::count`] as last seen).
    pub peer_refusals_seen: u64,
}

/// What an acknowledgement newly covers: up to where, and which of those envelopes
/// the peer refused instead of accepting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    /// Highest sequence number acknowledged.
    pub up_to: u64,
    /// Envelopes in the newly acknowledged range that the peer refused, as it listed
    /// them.
    pub refused: Vec<Refusal>,
    /// Refusals the peer counted but could no longer list (more than
    /// [`REFUSALS_LISTED`](crate::envelope::REFUSALS_LISTED) since its last
    /// acknowledgement reached us): their numbers are unknown, so no envelope in the
    /// range can be called delivered for sure.
    pub unlisted: u64,
}

/// An envelope awaiting the peer's acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outstanding {
    /// Its sequence number.
    pub seq: u64,
    /// Its chain digest, which the peer's acknowledgement must name.
    pub digest: Digest,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// Whether [`Event::Unacknowledged`](crate::Event::Unacknowledged) was already
    /// reported for it.
    pub reported: bool,
    /// The frame exactly as first sent.
    pub frame: Vec<u8>,
}

impl ChannelState {
    /// Takes the peer's acknowledgement `ack` with its refusal list: releases what
    /// it covers and returns what it newly acknowledges, or `None` if it is no news.
    /// The one place this rule lives: the channel and journal replay both call it.
    pub fn take_ack(&mut self, ack: Ack, refused: &Refusals) -> Option<Acknowledgement> {
        if ack.seq <= self.acked.seq {
            return None;
        }
        let from = self.acked.seq;
        self.acked = ack;
        while self.unacked.front().is_some_and(|o| o.seq <= ack.seq) {
            self.unacked.pop_front();
        }
        let listed: Vec<Refusal> = refused
            .listed()
            .filter(|r| r.seq > from && r.seq <= ack.seq)
            .collect();
        let new = refused.count.saturating_sub(self.peer_refusals_seen);
        self.peer_refusals_seen = self.peer_refusals_seen.max(refused.count);
        Some(Acknowledgement {
            up_to: ack.seq,
            unlisted: new.saturating_sub(listed.len() as u64),
            refused: listed,
        })
    }

    /// Notes that this party refused the peer's envelope `seq` although it moved the
    /// chain on (it expired).
    pub fn note_refusal(&mut self, seq: u64, code: RefusalCode) {
        self.refusals.push(seq, code);
    }

    /// The outstanding envelope with sequence number `seq`, found in O(1): the queue
    /// holds consecutive sequence numbers.
    pub fn outstanding(&self, seq: u64) -> Option<&Outstanding> {
        self.unacked.get(self.outstanding_index(seq)?)
    }

    /// [`ChannelState::outstanding`], to change.
    pub(crate) fn outstanding_mut(&mut self, seq: u64) -> Option<&mut Outstanding> {
        let index = self.outstanding_index(seq)?;
        self.unacked.get_mut(index)
    }

    /// Where `seq` would sit in the queue of consecutive sequence numbers.
    fn outstanding_index(&self, seq: u64) -> Option<usize> {
        let first = self.unacked.front()?.seq;
        usize::try_from(seq.checked_sub(first)?).ok()
    }
}
