//! A backchannel party: the network node that sends and receives envelopes.
//!
//! It drives the sans-IO core ([`backchannel_proto::Endpoint`]) over a TLS 1.3
//! connection to the broker: it logs in, sends envelopes, verifies what arrives,
//! answers with cumulative receipts (one per batch of input), reconnects with backoff
//! and sends again what has no receipt yet.
//!
//! Its guarantees (`proto-spec/nodes.md` §4):
//! * **one writer**: a [`Party`] holds an exclusive lock on its state for its life;
//! * **durable before visible**: every envelope sent or received is appended to the
//!   transcript, which is the party's journal, and fsynced *before* anything that
//!   depends on it is transmitted or reported; so a crash loses nothing reported as
//!   sent and nothing acknowledged;
//! * **group commit**: a batch of received frames, or of sends
//!   ([`Party::send_many`]), costs one fsync; the channel state is rebuilt from the
//!   last snapshot plus the records after it, and snapshots are written rarely.
//!
//! | concept | where |
//! | --- | --- |
//! | configuration file | [`config`] |
//! | the lock: one process per party | [`lock`] |
//! | the transcript file, the journal | [`transcript_file`] |
//! | the snapshot file (write, fsync, rename) | [`state_file`] |
//! | crash injection points for tests | [`crash`] |
//! | connecting and logging in | `connection.rs` |
//! | the driver loop and what it reports | [`Party`], [`Activity`] |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod activity;
pub mod config;
mod connection;
pub mod crash;
pub mod lock;
mod party;
mod signing;
pub mod state_file;
pub mod transcript_file;

pub use activity::{Activity, Control, Received};
pub use config::{PartyConfig, PartySettings};
pub use connection::ConnectError;
pub use party::{Outgoing, Party, PartyError, RunEnd, now};
