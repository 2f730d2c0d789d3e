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
/// | prev [32] | ack.seq u64 | ack.head [32] | sent_at u64 | expires_at u64 | body
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
            sent_at: self.sent_at,
            expires_at: self.expires_at,
            body: self.body.into_owned(),
        }
    }
}
