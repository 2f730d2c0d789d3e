//! What backchannel's broker and party share on the network.
//!
//! The protocol core (`backchannel-proto`) never touches a socket; this crate is the
//! thin layer both network nodes use to move its frames over TLS 1.3:
//!
//! | concept | where |
//! | --- | --- |
//! | reading whole frames from a stream, in batches, header checked first | [`FrameReader`] |
//! | TLS 1.3-only configurations, the broker's certificate pinned by clients | [`tls`] |
//! | the per-session value a login signs | [`tls::exporter`] |
//! | reading a node's TOML configuration | [`config_file`] |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod config_file;
mod frame_reader;
pub mod key_files;
pub mod tls;

pub use frame_reader::{FrameIoError, FrameReader};
