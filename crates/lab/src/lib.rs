//! The threat-model lab: a broker that attacks.
//!
//! Each attack is a [`Move`]: a small unit, in its own file under `moves/`, whose doc
//! comment names the real-world move it models. [`Adversary`] plugs a move into the
//! broker's relay seam ([`RelayStrategy`]). Everything here is sans-IO and uses only
//! what a broker really has: the bytes it relays, the parties' public keys, and
//! [`seal_deniable`](backchannel_proto::seal_deniable). No party's signing key is
//! reachable from this crate.
//!
//! Against the **deniable** mode the adversary is adaptive: every envelope it delivers
//! passes through the [`Rewriter`], which renumbers, relinks, retimes and re-addresses
//! it so that it fits what the recipient has seen, and translates acknowledgements
//! back so the sender sees nothing wrong. What is left to detect is what that mode
//! really guarantees against the broker: nothing.
//!
//! The outcomes the spec expects live in `proto-spec/attacks.toml` ([`expected`]).
//!
//! [`sim`] is the random adversarial broker: an in-memory, deterministic simulation
//! whose broker steps come from a seed or a fuzzer ([`choices`]), with the protocol's
//! claims checked as oracles.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod adversary;
pub mod choices;
pub mod desk;
pub mod expected;
pub mod moves;
mod observed;
mod rewriter;
pub mod scenario;
pub mod sim;

use backchannel_proto::PublicIdentity;
use backchannel_proto::relay::RelayStrategy;

pub use adversary::Adversary;
pub use moves::vocabulary::{Move, Out};
pub use observed::Observed;
pub use rewriter::Rewriter;

/// The broker strategy named `name` (`honest` or an attack in [`moves::ALL`]), for a
/// broker whose registered parties are `registered`.
pub fn strategy(name: &str, registered: &[PublicIdentity]) -> Option<Box<dyn RelayStrategy>> {
    let mv = moves::by_name(name)?;
    Some(Box::new(Adversary::new(mv, registered.to_vec())))
}
