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
        /// The line.
        line: String,
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
