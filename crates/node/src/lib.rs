//! The party node from the command line: `send`, `receive` and `pending`, and the
//! long-running `party` node that owns a party's files and serves those commands over
//! its control socket while it runs (a second process delegates to it instead of
//! opening the files itself).

#![forbid(unsafe_code)]

pub mod commands;
pub mod control;
pub mod node;
pub mod open;
pub mod pending;
pub mod receive;
pub mod send;
pub mod session;
pub mod shutdown;
