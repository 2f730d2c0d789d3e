//! What a party reports to its user while it runs.

use backchannel_proto::node::Notice;
use backchannel_proto::{Attestation, Body, BodyKind, Envelope, Refusal, Rejection};

/// One envelope received, with the party's verdict.
#[derive(Clone, Debug)]
pub struct Received {
    /// The decoded envelope, when the frame decoded at all.
    pub envelope: Option<Envelope<'static>>,
    /// Accepted (with its attestation) or rejected (with the reason).
    pub verdict: Result<Attestation, Rejection>,
}

impl Received {
    /// The body kind, if the envelope decoded.
    pub fn kind(&self) -> Option<BodyKind> {
        self.envelope.as_ref().map(|e| e.body.kind())
    }

    /// Whether this is an accepted receipt or heartbeat (not worth showing by default).
    pub fn is_control(&self) -> bool {
        self.envelope.as_ref().is_some_and(|e| e.body.is_control())
    }

    /// The body, if the envelope decoded.
    pub fn body(&self) -> Option<&Body<'static>> {
        self.envelope.as_ref().map(|e| &e.body)
    }
}

/// Something that happened while the party ran.
#[derive(Clone, Debug)]
pub enum Activity {
    /// Connected and logged in; the broker held `queued` envelopes for us.
    Connected {
        /// Envelopes waiting at the broker.
        queued: u64,
    },
    /// The connection was lost or refused; the party will retry until its deadline.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// An envelope arrived.
    Received(Box<Received>),
    /// The peer acknowledged our envelopes up to `up_to`: delivered, except those
    /// it says it refused.
    Acknowledged {
        /// The peer.
        peer: String,
        /// Highest sequence number acknowledged.
        up_to: u64,
        /// How the acknowledgement was authenticated.
        attestation: Attestation,
        /// Envelopes in the newly acknowledged range that the peer refused (they
        /// arrived after their validity ended).
        refused: Vec<Refusal>,
        /// Refusals in that range the peer counted but could not list.
        unlisted: u64,
    },
    /// No receipt came in time for `seq`: the broker or the recipient may have
    /// dropped it.
    Unacknowledged {
        /// The peer.
        peer: String,
        /// The envelope's sequence number.
        seq: u64,
    },
    /// The broker refused something we sent.
    Notice(Notice),
    /// This party's envelopes to `peer` are dated further ahead of its clock than a
    /// peer accepts: its clock jumped ahead and back, and a chain never goes back in
    /// time. The peer refuses them (`from-the-future`) until the clock catches up.
    ClockAhead {
        /// The peer.
        peer: String,
        /// How far ahead.
        ahead: std::time::Duration,
    },
}

impl Activity {
    /// For an acknowledgement from `peer` that covers `seq`: whether `seq` was
    /// delivered (`Ok`) or refused (`Err` with why; "unknown" when the peer refused
    /// more than it could list, so `seq` may be among them). `None` otherwise.
    pub fn settles(&self, peer: &str, seq: u64) -> Option<Result<Attestation, &'static str>> {
        match self {
            Activity::Acknowledged {
                peer: p,
                up_to,
                attestation,
                refused,
                unlisted,
            } if p == peer && *up_to >= seq => {
                if let Some(r) = refused.iter().find(|r| r.seq == seq) {
                    Some(Err(r.code.as_str()))
                } else if *unlisted > 0 {
                    Some(Err(
                        "unknown: the recipient refused envelopes it could not list",
                    ))
                } else {
                    Some(Ok(*attestation))
                }
            }
            _ => None,
        }
    }
}

/// Whether the driver loop should go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep running.
    Continue,
    /// Stop (after sending what is owed, such as receipts).
    Stop,
}
