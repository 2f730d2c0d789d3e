//! The envelope: one message on a channel, with everything that pins it in place.

use std::borrow::Cow;

use crate::body::Body;
use crate::channel_id::ChannelId;
use crate::digest::Digest;
use crate::mode::ChannelMode;
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

/// The content of an envelope: every field the authenticator covers
/// (`proto-spec/protocol.md` §5.2 gives the byte layout).
///
/// ```text
/// version u16 | mode u8 | channel [16] | sender str | recipient str | seq u64
/// | prev [32] | ack.seq u64 | ack.head [32] | refused (count u64, 4 x (seq u64,
/// code u8)) | sent_at u64 | expires_at u64 | body
/// ```
///
/// This is a plain value: it proves nothing by itself. Received envelopes are
/// checked through [`EnvelopeIn`](crate::EnvelopeIn) →
/// [`VerifiedEnvelope`](crate::VerifiedEnvelope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The protocol version the sender speaks.
    pub version: ProtocolVersion,
    /// How this envelope is authenticated.
    pub mode: ChannelMode,
    /// The channel it belongs to.
    pub channel: ChannelId,
    /// The sender's name.
    pub sender: Cow<'a, str>,
    /// The intended recipient's name.
    pub recipient: Cow<'a, str>,
    /// The sender's sequence number on this channel: 1, 2, 3, ... with no gaps.
    pub seq: u64,
    /// Chain digest of the sender's previous envelope on this channel
    /// ([`Digest::ZERO`] for `seq` 1).
    pub prev: Digest,
    /// What the sender had received from its peer when it sent this: binds the two
    /// directions together.
    pub ack: Ack,
    /// What the sender refused of the peer's chain within `ack` (expired envelopes):
    /// the acknowledgement covers them, but they were not delivered.
    pub refused: Refusals,
    /// When the sender sent it (non-decreasing along a sender's chain).
    pub sent_at: Timestamp,
    /// After this the recipient must not act on it.
    pub expires_at: Timestamp,
    /// What it says.
    pub body: Body<'a>,
}

/// A cumulative acknowledgement: "I have received your envelopes 1..=`seq`, the last
/// of which has chain digest `head`". `seq` 0 with [`Digest::ZERO`] means nothing yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Ack {
    /// Highest sequence number received from the peer, in order.
    pub seq: u64,
    /// Chain digest of that envelope.
    pub head: Digest,
}

impl Envelope<'_> {
    /// A copy that owns its text.
    pub fn into_owned(self) -> Envelope<'static> {
        Envelope {
            version: self.version,
            mode: self.mode,
            channel: self.channel,
            sender: Cow::Owned(self.sender.into_owned()),
            recipient: Cow::Owned(self.recipient.into_owned()),
            seq: self.seq,
            prev: self.prev,
            ack: self.ack,
            refused: self.refused,
            sent_at: self.sent_at,
            expires_at: self.expires_at,
            body: self.body.into_owned(),
        }
    }
}

/// How many refusals an envelope lists by number ([`Refusals::recent`]).
pub const REFUSALS_LISTED: usize = 4;

/// What the sender refused of its peer's envelopes although they moved the chain on
/// (`proto-spec/protocol.md` §7.2: only an expired envelope does), so that the
/// cumulative [`Ack`] never passes for delivery of what was refused.
///
/// Layout (§5.2): `count u64`, then [`REFUSALS_LISTED`] slots of `(seq u64, code
/// u8)`, the most recent refusals oldest first, unused slots all zero at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Refusals {
    /// How many of the peer's envelopes the sender has refused on this channel, in
    /// all. Never decreases; lets the peer tell when refusals fell off the list.
    pub count: u64,
    /// The most recent ones, oldest first; `seq` 0 marks an unused slot.
    pub recent: [Refusal; REFUSALS_LISTED],
}

/// One refused envelope of the peer's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Refusal {
    /// Its sequence number (0: an unused slot).
    pub seq: u64,
    /// Why it was refused.
    pub code: RefusalCode,
}

/// Why a chain-moving envelope was refused (wire `u8`; 0 is an unused slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum RefusalCode {
    /// An unused slot (wire 0).
    #[default]
    None,
    /// It arrived after its `expires_at` (wire 1): [`Rejection::Expired`](crate::Rejection::Expired).
    Expired,
    /// A code this implementation does not know.
    Other(u8),
}

impl RefusalCode {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            RefusalCode::None => 0,
            RefusalCode::Expired => 1,
            RefusalCode::Other(v) => v,
        }
    }

    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => RefusalCode::None,
            1 => RefusalCode::Expired,
            other => RefusalCode::Other(other),
        }
    }

    /// The rejection code it stands for, as printed (`expired`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalCode::None => "none",
            RefusalCode::Expired => "expired",
            RefusalCode::Other(_) => "unknown",
        }
    }
}

impl Refusals {
    /// The listed refusals, oldest first.
    pub fn listed(&self) -> impl Iterator<Item = Refusal> + '_ {
        self.recent.iter().copied().filter(|r| r.seq != 0)
    }

    /// Records that the peer's envelope `seq` was refused for `code`.
    pub fn push(&mut self, seq: u64, code: RefusalCode) {
        self.count = self.count.saturating_add(1);
        let used = self.listed().count();
        let entry = Refusal { seq, code };
        if used < REFUSALS_LISTED {
            if let Some(slot) = self.recent.get_mut(used) {
                *slot = entry;
            }
        } else {
            self.recent.rotate_left(1);
            if let Some(last) = self.recent.last_mut() {
                *last = entry;
            }
        }
    }

    /// Whether the layout rules hold: used slots first, in increasing order, each
    /// with a code, at most `count` of them, none beyond `acked` (an envelope can only
    /// be refused once received).
    pub fn is_well_formed(&self, acked: u64) -> bool {
        let used = self.listed().count();
        let tail_empty = self
            .recent
            .iter()
            .skip(used)
            .all(|r| r.seq == 0 && r.code == RefusalCode::None);
        let increasing = self
            .recent
            .iter()
            .take(used)
            .zip(self.recent.iter().take(used).skip(1))
            .all(|(a, b)| a.seq < b.seq);
        let coded = self.listed().all(|r| r.code != RefusalCode::None);
        tail_empty
            && increasing
            && coded
            && used as u64 <= self.count
            && self.listed().all(|r| r.seq <= acked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_most_recent_and_count_all() {
        let mut r = Refusals::default();
        assert!(r.is_well_formed(0));
        for seq in 1..=6 {
            r.push(seq, RefusalCode::Expired);
            assert!(r.is_well_formed(seq));
            assert!(!r.is_well_formed(seq - 1), "lists a seq beyond the ack");
        }
        assert_eq!(r.count, 6);
        assert_eq!(r.listed().map(|x| x.seq).collect::<Vec<_>>(), [3, 4, 5, 6]);
        let mut gap_in_front = Refusals {
            count: 1,
            ..Refusals::default()
        };
        gap_in_front.recent[1] = Refusal {
            seq: 2,
            code: RefusalCode::Expired,
        };
        assert!(!gap_in_front.is_well_formed(9));
    }
}
