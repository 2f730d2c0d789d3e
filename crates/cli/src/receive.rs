//! `backchannel receive`.

use std::path::PathBuf;
use std::time::Duration;

use backchannel_party::{Activity, Control};
use clap::Parser;
use tokio::time::Instant;

use crate::Outcome;
use crate::print;

/// Print each message as it arrives, with its verdict, and acknowledge what was
/// accepted.
///
/// Receipts and heartbeats are handled silently unless rejected. With --count, exit 0
/// after that many new messages (duplicates are shown but not counted), or 3 if they
/// did not all arrive in time. Without it, run
/// until --timeout (or forever).
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel receive --config deploy/bravo.toml --count 1 --timeout 30\n  backchannel receive --config deploy/bravo.toml --json"
)]
pub struct Args {
    /// The party's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    timeout: Option<u64>,
    /// One JSON object per message: from, to, seq, kind, body, verdict, reason, attested.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let (me, mut party) = crate::open::open_party(&args.config)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout.unwrap_or(100 * 365 * 86_400));
    let mut seen = 0u64;
    let count = args.count;
    let json_mode = args.json;
    party
        .run_until(deadline, |a| {
            let message = match a {
                Activity::Received(r) if !(r.is_control() && r.verdict.is_ok()) => Some(r),
                _ => None,
            };
            if json_mode {
                if let Some(r) = message {
                    println!("{}", print::received_json(r));
                }
            } else if let Some(line) = print::activity_line(&me, a) {
                println!("{line}");
            }
            // A duplicate (a resend after a lost receipt, or a replay) is shown but
            // is not a new message.
            let duplicate = message.is_some_and(|r| {
                matches!(r.verdict, Err(backchannel_proto::Rejection::Replay { .. }))
            });
            if message.is_some() && !duplicate {
                seen += 1;
            }
            match count {
                Some(n) if seen >= n => Control::Stop,
                _ => Control::Continue,
            }
        })
        .await?;
    party.close().await;
    match count {
        Some(n) if seen < n => {
            eprintln!("backchannel: only {seen} of {n} message(s) arrived in time");
            Ok(Outcome::TimedOut)
        }
        _ => Ok(Outcome::Ok),
    }
}
