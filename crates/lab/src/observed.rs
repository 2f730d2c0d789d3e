//! An envelope as the adversary keeps it: decoded, with its exact bytes.

use std::sync::Arc;

use backchannel_proto::relay::Inspected;
use backchannel_proto::{Attestation, Digest, Envelope};

use crate::moves::cast::Cast;

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
    /// For content: its place among the content envelopes the broker has seen in its
    /// direction, 1 for the first (however far its sender's numbering has got); 0 for
    /// an envelope older than the first seen, and for receipts and heartbeats.
    pub position: u64,
    /// Who plays which role.
    pub cast: Arc<Cast>,
    /// What the broker could verify of its authorship.
    pub attestation: Attestation,
}

impl Observed {
    /// Copies what the broker inspected, at `position` (see the field), with `cast`.
    pub fn from_inspected(inspected: &Inspected<'_>, position: u64, cast: Arc<Cast>) -> Self {
        let e = &inspected.envelope;
        Observed {
            envelope: e.envelope().clone().into_owned(),
            frame: e.frame().to_vec(),
            authenticator: e.authenticator().to_vec(),
            digest: e.digest(),
            position,
            cast,
            attestation: inspected.attestation,
        }
    }

    /// The party playing `role` ([`ALPHA`](crate::moves::ALPHA), ...).
    pub fn name<'a>(&'a self, role: &'a str) -> &'a str {
        self.cast.name(role)
    }

    /// Whether it goes from the party playing `from` to the one playing `to`.
    pub fn is_from(&self, from: &str, to: &str) -> bool {
        self.envelope.sender == self.name(from) && self.envelope.recipient == self.name(to)
    }

    /// Whether it is content (not a receipt or heartbeat) from the party playing
    /// `from` to the one playing `to`.
    pub fn is_content(&self, from: &str, to: &str) -> bool {
        !self.envelope.body.is_control() && self.is_from(from, to)
    }

    /// Whether it is the `position`-th content envelope the broker has seen from the
    /// party playing `from` to the one playing `to`.
    pub fn is(&self, from: &str, to: &str, position: u64) -> bool {
        self.is_content(from, to) && self.position == position
    }
}
