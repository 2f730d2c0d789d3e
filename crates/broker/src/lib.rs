//! The backchannel broker.
//!
//! A tokio + rustls server (TLS 1.3 only) that:
//!
//! 1. authenticates each party by a login bound to the TLS session's exporter value:
//!    a signature by the party's registered Ed25519 key, or (deniable contact, for
//!    parties with no signed channel) a MAC under an X25519 key the party shares with
//!    the broker's certificate key, which the broker could have made itself
//!    ([`backchannel_proto::node`]);
//! 2. **reads** every envelope a party sends, logs a readable line for it, and in
//!    signed mode verifies its signature (batched), refusing with a notice what does
//!    not verify ([`backchannel_proto::relay::inspect_batch`]); an off-record MAC it
//!    cannot check (it lacks the pair's key), and relays it as it is;
//! 3. hands each envelope to a [`RelayStrategy`] (the honest one forwards it) and
//!    queues what it decides to deliver in the recipient's bounded mailbox, which a
//!    recipient that is offline receives when it logs in.
//!
//! It holds no party's signing key and no pair's off-record key: no function here
//! could sign or MAC as a party.
//!
//! | concept | where |
//! | --- | --- |
//! | configuration file | [`config`] |
//! | who may connect before logging in, and for how long | [`admission`] |
//! | per-party mailboxes bounded by quotas, session hand-over | `mailbox.rs` |
//! | the durable, sealed store of queued frames | [`store`] |
//! | the thread that commits to the store for everyone | `store_writer.rs` |
//! | the single task that runs the relay strategy | `router.rs` |
//! | one connection: TLS, login, reader, writer | `session.rs` |
//! | accept loop and shutdown | [`run`] |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod admission;
pub mod config;
mod event;
mod mailbox;
mod router;
mod server;
mod session;
pub mod store;
mod store_writer;

pub use admission::AdmissionLimits;
pub use backchannel_proto::relay::{Honest, RelayStrategy};
pub use config::{BrokerConfig, BrokerSettings, StorePaths};
pub use event::BrokerEvent;
pub use mailbox::Quotas;
pub use server::{run, run_when_ready};
