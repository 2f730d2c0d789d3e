//! What `send` and `receive` do while a party runs, written once for both ways of
//! running them: alone (this process owns the party) or handed to a running party
//! node over its control socket. Either way the same [`Session`] sees the same
//! activities and writes the same lines, so the output and exit code are the same.

use backchannel_party::{Activity, Control};
use tokio::time::Instant;

use crate::Outcome;

/// Where a command's lines go: this process's terminal, or a node's client.
pub trait Sink: Send {
    /// One line of standard output.
    fn out(&mut self, line: &str);
    /// One line of standard error.
    fn err(&mut self, line: &str);
}

/// This process's stdout and stderr.
pub struct Terminal;

impl Sink for Terminal {
    fn out(&mut self, line: &str) {
        println!("{line}");
    }

    fn err(&mut self, line: &str) {
        eprintln!("{line}");
    }
}

/// One command's view of a running party.
pub trait Session: Send {
    /// When the command gives up waiting.
    fn deadline(&self) -> Instant;
    /// Something happened; say whether the command is done.
    fn on(&mut self, activity: &Activity, sink: &mut dyn Sink) -> Control;
    /// The command's last lines and its outcome.
    fn finish(self: Box<Self>, sink: &mut dyn Sink) -> anyhow::Result<Outcome>;
    /// Whether it is waiting for messages (a `receive`): a message that arrives
    /// while no such command runs is kept for the next one.
    fn receives(&self) -> bool {
        false
    }
}

/// The exit code for a command's result, writing the error line if it failed (the
/// same line `main` writes).
pub fn exit_code(result: anyhow::Result<Outcome>, sink: &mut dyn Sink) -> u8 {
    match result {
        Ok(outcome) => outcome.code(),
        Err(e) => {
            sink.err(&format!("backchannel: {}", crate::one_line(&e)));
            1
        }
    }
}
