//! What `send` and `receive` do while a party runs, written once for both ways of
//! running them: alone (this process owns the party) or handed to a running party
//! node over its control socket. Either way the same [`Session`] sees the same
//! activities and writes the same lines, so the output and exit code are the same.

use backchannel_party::{Activity, Control};
use tokio::time::Instant;

use backchannel_show::Outcome;

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

/// This process's stdout, written once per [`BatchedTerminal::flush`] instead of once
/// per line (stdout is line-buffered: a node that prints every message it receives
/// made one `write` per message). Its owner flushes before it waits for anything, so
/// no line is held back while the process is idle. A line to stderr first flushes
/// what stdout holds, so the two keep their order on a terminal.
#[derive(Debug, Default)]
pub struct BatchedTerminal {
    held: String,
}

impl BatchedTerminal {
    /// Writes out what is held (errors writing to stdout are ignored, as `println!`
    /// would panic on them: a closed pipe must not stop a node).
    pub fn flush(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut stdout, self.held.as_bytes());
        let _ = std::io::Write::flush(&mut stdout);
        self.held.clear();
    }
}

impl Sink for BatchedTerminal {
    fn out(&mut self, line: &str) {
        self.held.push_str(line);
        self.held.push('\n');
    }

    fn err(&mut self, line: &str) {
        self.flush();
        eprintln!("{line}");
    }
}

impl Drop for BatchedTerminal {
    fn drop(&mut self) {
        self.flush();
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
            sink.err(&format!("backchannel: {}", backchannel_show::one_line(&e)));
            1
        }
    }
}
