//! Why an envelope was refused: one named reason for every rule.

use crate::channel_id::ChannelId;
use crate::mode::ChannelMode;
use crate::time::Timestamp;

/// The reason an input was refused (`proto-spec/protocol.md` §7 lists them in the
/// order they are checked).
///
/// A rejection never changes channel state, with the one exception documented on
/// [`Rejection::Expired`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bytes do not parse as a frame or an envelope.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The frame announces more bytes than the limit allows.
    #[error("oversize frame: {len} bytes announced, the limit is {limit}")]
    Oversize {
        /// Announced body length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A protocol version this implementation does not speak.
    #[error("unsupported protocol version {version}")]
    UnsupportedVersion {
        /// The version on the wire.
        version: u16,
    },
    /// The sender is not a pinned peer.
    #[error("unknown sender {sender:?}")]
    UnknownSender {
        /// The name the envelope claims.
        sender: String,
    },
    /// The envelope is addressed to someone else (a redirect or a reflection).
    #[error("wrong recipient: addressed to {recipient:?}")]
    WrongRecipient {
        /// The name the envelope is addressed to.
        recipient: String,
    },
    /// The envelope belongs to another channel (a splice).
    #[error("wrong channel: expected {expected}, got {got}")]
    WrongChannel {
        /// This channel.
        expected: ChannelId,
        /// The envelope's channel.
        got: ChannelId,
    },
    /// In signed mode: the signature is missing or does not verify under the pinned key.
    #[error("bad signature: not signed by the pinned key of the named sender")]
    BadSignature,
    /// In off-record mode: the tag does not verify under the key this party shares with
    /// the named sender (forged or altered by someone without that key: the broker).
    #[error("bad MAC: not made with the key shared with the named sender")]
    BadMac,
    /// In off-record mode: the envelope is under an epoch key the sender already
    /// published, so anyone could have made it.
    #[error(
        "revealed key: epoch {epoch}'s MAC key was already published, anyone could have made this"
    )]
    RevealedKey {
        /// The envelope's epoch.
        epoch: u64,
    },
    /// In off-record mode: the envelope's epoch is outside the keys this party keeps
    /// (an old duplicate, or an epoch impossibly far ahead).
    #[error("stale epoch {epoch}: keys are kept from epoch {oldest} on")]
    StaleEpoch {
        /// The envelope's epoch.
        epoch: u64,
        /// The oldest epoch whose key is kept.
        oldest: u64,
    },
    /// In off-record mode: an authentic envelope publishes a key that is not the
    /// channel's key for that epoch (or an epoch not yet fully acknowledged).
    #[error("bad reveal: the key published for epoch {epoch} is not that epoch's key")]
    BadReveal {
        /// The epoch it claims to reveal.
        epoch: u64,
    },
    /// The envelope's mode is not the one local policy fixes for this peer
    /// (a downgrade, or a misconfigured peer).
    #[error("mode mismatch: this channel is {expected}, the envelope is {got}")]
    ModeMismatch {
        /// The mode local policy expects.
        expected: ChannelMode,
        /// The envelope's mode.
        got: ChannelMode,
    },
    /// The sequence number was already accepted (a replay or an exact duplicate), or
    /// a receipt or heartbeat is no newer than what was already accepted.
    #[error("replay of seq {seq} (already accepted up to {accepted})")]
    Replay {
        /// The envelope's sequence number.
        seq: u64,
        /// The highest sequence number accepted so far.
        accepted: u64,
    },
    /// Envelopes from `expected` on are missing: dropped, withheld or delayed by
    /// someone. A content envelope shows it by its own sequence number; a receipt or
    /// heartbeat by announcing a chain head beyond what was received.
    #[error("{}", gap_text(*expected, *got, *announced))]
    Gap {
        /// The next sequence number the channel expects.
        expected: u64,
        /// The sequence number the envelope carries.
        got: u64,
        /// Whether `got` is a receipt's or heartbeat's announced chain head (so `got`
        /// itself is missing too) rather than a content envelope's own number.
        announced: bool,
    },
    /// The envelope is next in sequence but claims to be older than the envelope
    /// accepted before it: renumbered or reordered.
    #[error("out of order: sent at {sent_at}, before the previous envelope ({previous})")]
    OutOfOrder {
        /// The envelope's sent-at time.
        sent_at: Timestamp,
        /// The sent-at time of the last accepted envelope.
        previous: Timestamp,
    },
    /// The envelope does not continue the history this party holds: equivocation,
    /// a splice, or a forged acknowledgement.
    #[error("chain mismatch at seq {seq}: {fault}")]
    ChainMismatch {
        /// The envelope's sequence number.
        seq: u64,
        /// Which link broke.
        fault: ChainFault,
    },
    /// Past its expiry. The envelope is authentic and in sequence, so the channel
    /// moves past it (otherwise a delaying broker could stall the channel forever),
    /// but its body is not delivered.
    #[error("expired at {expires_at} (now {now})")]
    Expired {
        /// The envelope's expiry.
        expires_at: Timestamp,
        /// The recipient's time.
        now: Timestamp,
    },
    /// Sent further in the future than the allowed clock skew.
    #[error("from the future: sent at {sent_at}, now {now}")]
    FromTheFuture {
        /// The envelope's sent-at time.
        sent_at: Timestamp,
        /// The recipient's time.
        now: Timestamp,
    },
}

/// Which link of the history an envelope broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainFault {
    /// `prev` is not the digest of the envelope accepted before it.
    #[error("prev does not match the last accepted envelope")]
    PrevMismatch,
    /// It acknowledges an envelope this party never sent.
    #[error("acknowledges seq {acked}, but only {sent} were sent")]
    AckBeyondSent {
        /// The acknowledged sequence number.
        acked: u64,
        /// How many this party has sent.
        sent: u64,
    },
    /// It acknowledges less than an earlier envelope already did.
    #[error("acknowledges seq {acked}, less than the {known} already acknowledged")]
    AckRegressed {
        /// The acknowledged sequence number.
        acked: u64,
        /// What was acknowledged before.
        known: u64,
    },
    /// It acknowledges an envelope with a digest other than the one this party sent:
    /// the peer was shown a different history.
    #[error("acknowledged head for seq {acked} differs from what was sent")]
    AckHeadMismatch {
        /// The acknowledged sequence number.
        acked: u64,
    },
}

impl Rejection {
    /// A stable, kebab-case code for machine-readable output, e.g. `bad-signature`.
    pub const fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Oversize { .. } => "oversize",
            Rejection::UnsupportedVersion { .. } => "unsupported-version",
            Rejection::UnknownSender { .. } => "unknown-sender",
            Rejection::WrongRecipient { .. } => "wrong-recipient",
            Rejection::WrongChannel { .. } => "wrong-channel",
            Rejection::BadSignature => "bad-signature",
            Rejection::BadMac => "bad-mac",
            Rejection::RevealedKey { .. } => "revealed-key",
            Rejection::StaleEpoch { .. } => "stale-epoch",
            Rejection::BadReveal { .. } => "bad-reveal",
            Rejection::ModeMismatch { .. } => "mode-mismatch",
            Rejection::Replay { .. } => "replay",
            Rejection::Gap { .. } => "gap",
            Rejection::OutOfOrder { .. } => "out-of-order",
            Rejection::ChainMismatch { .. } => "chain-mismatch",
            Rejection::Expired { .. } => "expired",
            Rejection::FromTheFuture { .. } => "from-the-future",
        }
    }
}

/// "expected #2 next; received #3: #2 is missing", in words for each shape of gap.
fn gap_text(expected: u64, got: u64, announced: bool) -> String {
    let last_missing = if announced {
        got
    } else {
        got.saturating_sub(1)
    };
    let missing = if last_missing <= expected {
        format!("#{expected} is missing")
    } else {
        format!("#{expected} to #{last_missing} are missing")
    };
    if announced {
        format!(
            "gap: expected #{expected} next; the sender says it has sent up to #{got}: {missing}"
        )
    } else {
        format!("gap: expected #{expected} next; received #{got}: {missing}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_says_what_is_missing() {
        let gap = |expected, got, announced| {
            Rejection::Gap {
                expected,
                got,
                announced,
            }
            .to_string()
        };
        assert_eq!(
            gap(2, 3, false),
            "gap: expected #2 next; received #3: #2 is missing"
        );
        assert_eq!(
            gap(2, 5, false),
            "gap: expected #2 next; received #5: #2 to #4 are missing"
        );
        assert_eq!(
            gap(2, 2, true),
            "gap: expected #2 next; the sender says it has sent up to #2: #2 is missing"
        );
        assert_eq!(
            gap(1, 3, true),
            "gap: expected #1 next; the sender says it has sent up to #3: #1 to #3 are missing"
        );
    }
}
