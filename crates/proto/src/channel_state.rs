//! The state of one channel that decides every future verdict, and that a party
//! persists between runs.

use std::collections::VecDeque;

use crate::digest::Digest;
use crate::envelope::Ack;
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
    /// The outstanding envelope with sequence number `seq`, found in O(1): the queue
    /// holds consecutive sequence numbers.
    pub fn outstanding(&self, seq: u64) -> Option<&Outstanding> {
        let first = self.unacked.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.unacked.get(index)
    }
}
