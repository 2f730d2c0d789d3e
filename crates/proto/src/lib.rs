//! The sans-IO core of backchannel: a secure intermediary messaging protocol.
//!
//! Two parties, `alpha` and `bravo`, exchange envelopes through a `broker` that reads
//! and forwards everything. In **signed** mode the broker cannot forge, alter,
//! replay, reorder or redirect an envelope without the recipient noticing; in
//! **deniable** mode attribution rests on the broker's word and nothing is provable
//! to a third party; in **off-record** mode a MAC only the two parties can make
//! convinces the recipient, yet proves nothing to a third party ([`off_record`]). `proto-spec/protocol.md` is the normative description; each type
//! links the section that defines it.
//!
//! This crate does no I/O (no network, no files), reads no clock and draws no
//! randomness: the current time and any secret bytes are arguments, so tests, fuzzers
//! and the simulator are deterministic. Key files' text is encoded and parsed in
//! [`keyfile`]; reading and writing them is `backchannel_net::key_files`.
//!
//! | concept | where |
//! | --- | --- |
//! | frame header, size limits | [`frame`] |
//! | the one module that uses bincode | `codec` (private) |
//! | envelope fields, bodies | [`Envelope`], [`Body`] |
//! | sealing (encode + sign or MAC) | [`seal_signed`], [`seal_deniable`], [`seal_off_record`] |
//! | off-record key schedule, tags, reveals | [`off_record`] |
//! | decoding and verification | [`EnvelopeIn`] → [`VerifiedEnvelope`], [`authenticate_batch`] |
//! | the one escaping function for untrusted text shown to people | [`text`] |
//! | the one Ed25519 verification rule (single and batch agree) | [`signature_rule`] |
//! | per-channel state machine | [`Channel`], [`ChannelState`] |
//! | a party's channels | [`Endpoint`] |
//! | transcripts and the judge | [`transcript`], [`judge()`] |
//! | login, welcome and notices between nodes | [`node`] |
//! | what the broker checks and how it relays | [`relay`], [`broker_session`] |
//! | a party's persisted channel state: snapshot + journal replay | [`persist`], [`journal`] |
//! | what a party believes and knows of each side, from its transcript | [`ledger`], [`knowledge`] |

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

mod body;
pub mod broker_session;
mod channel;
mod channel_id;
mod channel_state;
mod codec;
mod config;
mod digest;
pub mod domain;
pub mod duration;
mod endpoint;
mod envelope;
mod event;
pub mod frame;
mod identity;
pub mod journal;
pub mod judge;
pub mod keyfile;
pub mod knowledge;
pub mod ledger;
mod mode;
pub mod node;
pub mod off_record;
pub mod persist;
mod rejection;
pub mod rejection_log;
pub mod relay;
mod seal;
pub mod sign_job;
pub mod signature_rule;
pub mod text;
mod time;
pub mod transcript;
mod verify;
mod version;

pub use body::{Assurance, Body, BodyKind, MAX_TEXT_LEN, Revocation};
pub use channel::{Accepted, Channel, SendError, Transmitted};
pub use channel_id::ChannelId;
pub use channel_state::{Acknowledgement, ChannelState, Outstanding};
pub use codec::EncodeError;
pub use config::ChannelConfig;
pub use digest::Digest;
pub use endpoint::{Endpoint, EndpointSendError, UnknownPeer};
pub use envelope::{Ack, Envelope, REFUSALS_LISTED, Refusal, RefusalCode, Refusals};
pub use event::Event;
pub use identity::{Fingerprint, KeyError, PartyName, PublicIdentity, SigningIdentity};
pub use judge::{judge, judge_with_secrets};
pub use mode::{ChannelMode, UnknownMode};
pub use rejection::{ChainFault, Rejection};
pub use seal::{
    SealError, seal_deniable, seal_off_record, seal_signed, seal_with_foreign_authenticator,
};
pub use time::Timestamp;
pub use verify::{Attestation, EnvelopeIn, PeerPolicy, VerifiedEnvelope, authenticate_batch};
pub use version::ProtocolVersion;
