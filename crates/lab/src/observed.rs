//! An envelope as the adversary keeps it: decoded, with its exact bytes.

use backchannel_proto::relay::Inspected;
use backchannel_proto::{Digest, Envelope};

/// One envelope the broker relayed, owned, so a move can keep it for later (to
/// replay, reorder or delay it).
#[derive(Clone, Debug)]
pub struct Observed {
    /// The decoded fields.
    pub envelope: Envelope<'static>,
    /// The frame exactly as the sender sent it.
    pub frame: Vec<u8>,
    /// Its authenticator (a signature in signed mode).
    pub authenticator: Vec<u8>,
    /// Its chain digest.
    pub digest: Digest,
}

impl Observed {
    /// Copies what the broker inspected.
    pub fn from_inspected(inspected: &Inspected<'_>) -> Self {
        let e = &inspected.envelope;
        Observed {
            envelope: e.envelope().clone().into_owned(),
            frame: e.frame().to_vec(),
            authenticator: e.authenticator().to_vec(),
            digest: e.digest(),
        }
    }

    /// Whether it is content (not a receipt or heartbeat) from `from` to `to`.
    pub fn is_content(&self, from: &str, to: &str) -> bool {
        !self.envelope.body.is_control()
            && self.envelope.sender == from
            && self.envelope.recipient == to
    }

    /// Whether it is content from `from` to `to` with sequence number `seq`.
    pub fn is(&self, from: &str, to: &str, seq: u64) -> bool {
        self.is_content(from, to) && self.envelope.seq == seq
    }
}
