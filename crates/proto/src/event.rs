//! What a channel tells its driver, besides verdicts.

use crate::time::Timestamp;
use crate::verify::Attestation;

/// Something the driver should know about; drained with
/// [`Channel::poll_event`](crate::Channel::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer acknowledged every envelope up to and including `up_to`. With
    /// [`Attestation::Signed`] the acknowledgement is the peer's signed proof of
    /// delivery of that whole prefix.
    Delivered {
        /// Highest sequence number acknowledged.
        up_to: u64,
        /// How the acknowledging envelope was authenticated.
        attestation: Attestation,
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
