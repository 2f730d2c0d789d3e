//! Timing and size policy of a channel.

use std::time::Duration;

/// How a channel behaves in time and how much it holds (`proto-spec/protocol.md` §7.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// After this long without a receipt, an envelope is reported as
    /// [`Event::Unacknowledged`](crate::Event::Unacknowledged).
    pub ack_timeout: Duration,
    /// Send a heartbeat after this long without sending anything, while something is
    /// owed on the channel (`protocol.md` §5.3); `None` disables it.
    pub heartbeat_interval: Option<Duration>,
    /// How far a sender's clock may run ahead of ours before its envelopes are
    /// refused as [`FromTheFuture`](crate::Rejection::FromTheFuture).
    pub max_clock_skew: Duration,
    /// Lifetime of receipts and heartbeats.
    pub control_ttl: Duration,
    /// How many envelopes may await a receipt before [`send`](crate::Channel::send)
    /// refuses more: the bound on what a silent peer or broker can make us hold.
    pub max_unacked: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            ack_timeout: Duration::from_secs(30),
            heartbeat_interval: Some(Duration::from_secs(60)),
            max_clock_skew: Duration::from_secs(120),
            control_ttl: Duration::from_secs(24 * 3600),
            max_unacked: 4096,
        }
    }
}
