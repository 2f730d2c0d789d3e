//! The bodies of backchannel's fuzz targets.
//!
//! Each `pub fn` takes the fuzzer's bytes and checks the protocol's claims as
//! assertions, so a fuzzer finds broken claims, not only crashes. The cargo-fuzz crate
//! in `fuzz/` calls these; `tests/replay.rs` runs every committed seed
//! (`fuzz/seeds/<target>/`) and every saved crash (`fuzz/regressions/<target>/`)
//! through them on every test run.
//!
//! | target | input | claims checked |
//! | --- | --- | --- |
//! | `frame_decode` | any bytes | no panic; an envelope that decodes re-encodes to the same bytes |
//! | `envelope_verify` | any bytes, after a channel state chosen by the first byte | only the genuine next frame is accepted; a rejection leaves the state unchanged |
//! | `channel_sequence` | structured send / deliver / mutate / tick / reconnect events | in-order, once-only, authentic acceptance; state unchanged on rejection |
//! | `broker_session` | frames before and after a login | only a genuine login logs in; only the logged-in party's authentic envelopes pass |
//! | `transcript_verify` | any bytes as a transcript | the judge never attributes to X what X's key does not verify |
//! | `config_load` | any text | the TOML, key and state parsers return errors, never panic |
//! | `adversarial_broker` | the broker's every decision | every oracle of `backchannel_lab::sim` |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A fuzz target reports a broken claim by panicking: that is what the fuzzer catches.
#![allow(clippy::panic)]

pub mod fixtures;
mod targets;

pub use targets::{
    adversarial_broker, broker_session, channel_sequence, config_load, envelope_verify,
    frame_decode, transcript_verify,
};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name `cargo fuzz` and the seed directories use.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame_decode", frame_decode),
    ("envelope_verify", envelope_verify),
    ("channel_sequence", channel_sequence),
    ("broker_session", broker_session),
    ("transcript_verify", transcript_verify),
    ("config_load", config_load),
    ("adversarial_broker", adversarial_broker),
];
