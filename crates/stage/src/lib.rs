//! One live run of backchannel, and what it produces.
//!
//! [`Stage`] starts a broker and real party nodes in this process over TLS on loopback
//! (the only place in the workspace that starts an in-process deployment:
//! [`LocalBroker`]), applies the intermediary's moves through the lab's one [`Move`]
//! vocabulary, and records everything the nodes report once, in order, as typed
//! [`Happening`]s. Those are published as [`Event`]s in the schema of
//! `docs/events.md`; renderers read the types, never formatted text.
//!
//! [`Move`]: backchannel_lab::Move

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod event;
mod happening;
pub mod identity;
mod local_broker;
mod log;
mod scratch;
mod stage;

pub use event::{Event, EventName, Proof, RefusedEntry, RefusedList, Verdict, raw_body};
pub use happening::{Happening, Recorded};
pub use local_broker::LocalBroker;
pub use log::EventLog;
pub use scratch::ScratchDir;
pub use stage::{Ending, Intermediary, Setup, Stage, now};

/// Why a run could not start or do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Something the run needs could not be made (keys, certificate, settings).
    #[error("cannot set up the run: {0}")]
    Setup(String),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// On what.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A party node could not be opened.
    #[error("{party}: {source}")]
    Party {
        /// Which.
        party: String,
        /// Why.
        #[source]
        source: backchannel_party::PartyError,
    },
    /// No party of that name is in this run.
    #[error("{0:?} is not a party in this run")]
    NoSuchParty(String),
    /// The party's node has stopped.
    #[error("{0}'s node has stopped")]
    Stopped(String),
    /// The party refused to send (its channel or its store said no).
    #[error("{party} cannot send: {why}")]
    Refused {
        /// Which.
        party: String,
        /// Why.
        why: String,
    },
    /// The run has ended.
    #[error("the run has ended")]
    Ended,
}
