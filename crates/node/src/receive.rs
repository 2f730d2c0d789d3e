//! `backchannel receive`.

use std::path::PathBuf;
use std::time::Duration;

use backchannel_party::{Activity, Control};
use clap::Parser;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::session::{Session, Sink};
use backchannel_show::Outcome;
use backchannel_show::print;

/// Print each message as it arrives, with its verdict, and acknowledge what was
/// accepted.
///
/// Receipts and heartbeats are handled silently unless rejected. With --count, exit 0
/// once that many messages were accepted (rejected ones and duplicates are shown but
/// not counted), or 3 if they did not all arrive in time. Without --count it runs
/// until --timeout (or forever), like `backchannel party`. While it runs, `send` and
/// `receive` for the same party hand their work to this process; if another process
/// already owns the party, this command asks it for what arrives and prints the same.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel receive --config deploy/bravo/bravo.toml --count 1 --timeout 30\n  backchannel receive --config deploy/bravo/bravo.toml --json"
)]
pub struct Args {
    /// The party's configuration file.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Stop after this many accepted messages.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub(crate) timeout: Option<u64>,
    /// One JSON object per message: from, to, seq, kind, body, verdict, reason, attested,
    /// attestation (signature, mac or none) and provable.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What `receive` was asked to do: what a party node needs to do it for us.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiveRequest {
    /// Stop after this many accepted messages.
    pub count: Option<u64>,
    /// Stop after this many seconds.
    pub timeout: Option<u64>,
    /// JSON output.
    pub json: bool,
}

/// Forever, as far as a deadline is concerned.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Printing what arrives, and counting accepted messages.
pub struct ReceiveSession {
    me: String,
    request: ReceiveRequest,
    deadline: Instant,
    accepted: u64,
}

impl ReceiveSession {
    /// Starts printing what arrives for `me`.
    pub fn new(me: &str, request: ReceiveRequest) -> Self {
        ReceiveSession {
            me: me.to_owned(),
            deadline: Instant::now() + request.timeout.map_or(FOREVER, Duration::from_secs),
            request,
            accepted: 0,
        }
    }
}

impl Session for ReceiveSession {
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn on(&mut self, a: &Activity, sink: &mut dyn Sink) -> Control {
        let message = match a {
            Activity::Received(r) if !(r.is_control() && r.verdict.is_ok()) => Some(r),
            _ => None,
        };
        if self.request.json {
            if let Some(r) = message {
                sink.out(&print::received_json(r).to_string());
            }
        } else if let Some(line) = print::activity_line(&self.me, a) {
            sink.out(&line);
        }
        // Only accepted content counts: a duplicate, a forgery or junk is shown but is
        // not a message received.
        if message.is_some_and(|r| r.verdict.is_ok()) {
            self.accepted += 1;
        }
        match self.request.count {
            Some(n) if self.accepted >= n => Control::Stop,
            _ => Control::Continue,
        }
    }

    fn receives(&self) -> bool {
        true
    }

    fn finish(self: Box<Self>, sink: &mut dyn Sink) -> anyhow::Result<Outcome> {
        match self.request.count {
            Some(n) if self.accepted < n => {
                sink.err(&format!(
                    "backchannel: only {} of {n} message(s) were accepted in time",
                    self.accepted
                ));
                Ok(Outcome::TimedOut)
            }
            _ => Ok(Outcome::Ok),
        }
    }
}
