//! What the broker reports about its work, besides its log.

/// Something the broker did, for a caller that wants to show it (the demo, tests).
/// Every event is also logged through `tracing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerEvent {
    /// A party logged in.
    LoggedIn {
        /// Who.
        party: String,
        /// How many envelopes were waiting for it.
        queued: usize,
    },
    /// A login or connection was refused.
    LoginRefused {
        /// Why, one line.
        reason: String,
    },
    /// The broker read an envelope (the line says who to whom, what, and what it
    /// verified).
    Read {
        /// The line (escaped for a terminal).
        line: String,
        /// The envelope as read: sender, recipient, seq, kind, words (raw).
        envelope: Box<backchannel_proto::Envelope<'static>>,
        /// Whether the broker verified its signature.
        attested: bool,
    },
    /// The broker refused to relay an envelope and told the sender.
    Refused {
        /// The sender.
        from: String,
        /// Why, one line.
        reason: String,
    },
    /// The relay strategy withheld an envelope or added deliveries of its own.
    Strategy {
        /// What it did, one line.
        note: String,
    },
}
