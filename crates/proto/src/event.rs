//! What a channel tells its driver, besides verdicts.

use crate::envelope::Refusal;
use crate::time::Timestamp;
use crate::verify::Attestation;

/// Something the driver should know about; drained with
/// [`Channel::poll_event`](crate::Channel::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer acknowledged every envelope up to and including `up_to`: each was
    /// delivered, except those it lists as `refused` (they arrived expired) and, if
    /// `unlisted` is not 0, that many more it refused without being able to list
    /// them. With [`Attestation::Signed`] this is the peer's signed word on both.
    Acknowledged {
        /// Highest sequence number acknowledged.
        up_to: u64,
        /// How the acknowledging envelope was authenticated.
        attestation: Attestation,
        /// Envelopes in the newly acknowledged range that the peer refused.
        refused: Vec<Refusal>,
        /// Refusals the peer counted in that range but could not list.
        unlisted: u64,
    },
    /// No receipt came for `seq` within the acknowledgement timeout: the broker or the
    /// recipient may have dropped it. Reported once per envelope.
    Unacknowledged {
        /// The envelope's sequence number.
        seq: u64,
        /// When it was sent.
        sent_at: Timestamp,
    },
}
