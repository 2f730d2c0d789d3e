//! A backchannel party: the network node that sends and receives envelopes.
//!
//! It drives the sans-IO core ([`backchannel_proto::Endpoint`]) over a TLS 1.3
//! connection to the broker: it logs in, sends envelopes, verifies what arrives,
//! answers with cumulative receipts (one per batch of input), reconnects with backoff
//! and sends again what has no receipt yet. Every envelope sent or received is
//! appended to the party's transcript, and its channel state is saved atomically
//! after every change, so separate runs continue one chain and a crash loses nothing
//! that was reported as sent.
//!
//! | concept | where |
//! | --- | --- |
//! | configuration file | [`config`] |
//! | the transcript file | [`transcript_file`] |
//! | the state file (write, fsync, rename) | [`state_file`] |
//! | connecting and logging in | `connection.rs` |
//! | the driver loop and what it reports | [`Party`], [`Activity`] |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod activity;
pub mod config;
mod connection;
mod party;
pub mod state_file;
pub mod transcript_file;

pub use activity::{Activity, Control, Received};
pub use config::{PartyConfig, PartySettings};
pub use connection::ConnectError;
pub use party::{Party, PartyError, now};
