//! What a run records as it happens, in the nodes' own types: the raw material of the
//! published [`Event`](crate::Event)s, of each node's account and of the lab's verdict.

use backchannel_broker::BrokerEvent;
use backchannel_party::Activity;
use backchannel_proto::{Body, Timestamp};

/// One thing that happened during a run.
#[derive(Clone, Debug)]
pub enum Happening {
    /// A party sealed and sent an envelope.
    Sent {
        /// Who.
        from: String,
        /// To whom.
        to: String,
        /// Its sequence number.
        seq: u64,
        /// What it said.
        body: Body<'static>,
    },
    /// A party reported something.
    Activity {
        /// Which party.
        node: String,
        /// What.
        activity: Activity,
    },
    /// The broker did something.
    Broker(BrokerEvent),
}

/// A happening with when it happened. A run keeps them in the order they were
/// recorded, which is the order they happened in this process.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The run's clock when it was recorded.
    pub at: Timestamp,
    /// What.
    pub happening: Happening,
}

impl Recorded {
    /// The party's activity, if this is one of `node`'s.
    pub fn activity_of(&self, node: &str) -> Option<&Activity> {
        match &self.happening {
            Happening::Activity { node: n, activity } if n == node => Some(activity),
            _ => None,
        }
    }
}
