//! `backchannel send`.

use std::path::PathBuf;
use std::time::Duration;

use backchannel_party::{Activity, Control};
use backchannel_proto::{Assurance, Body, Revocation};
use clap::Parser;
use serde_json::json;
use tokio::time::Instant;

use crate::Outcome;
use crate::print;

/// Send one message and wait for the recipient's receipt.
///
/// Exit 0 when a receipt that verifies came back, 3 when none came in time (the
/// broker or the recipient may have dropped it), 1 on any other error.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel send --config deploy/alpha.toml --to bravo \"Our aircraft will keep clear of the agreed corridor.\"\n  backchannel send --config deploy/alpha.toml --to bravo --assurance A-1 --valid-days 30 --condition \"absent provocation\" \"No preemptive strike\"\n  backchannel send --config deploy/alpha.toml --to bravo --revoke A-1 \"Assurance A-1 is withdrawn as of now.\""
)]
pub struct Args {
    /// The party's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The recipient.
    #[arg(long)]
    to: String,
    /// Send an assurance with this id; MESSAGE is the commitment.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "revoke",
        requires = "valid_days"
    )]
    assurance: Option<String>,
    /// How many days the assurance holds.
    #[arg(long, value_name = "N", requires = "assurance")]
    valid_days: Option<u32>,
    /// The assurance's condition, e.g. "absent provocation" (default: unconditional).
    #[arg(long, requires = "assurance", default_value = "")]
    condition: String,
    /// Withdraw the assurance with this id; MESSAGE is the reason.
    #[arg(long, value_name = "ID")]
    revoke: Option<String>,
    /// The message text (or commitment, or reason).
    message: String,
    /// Seconds to wait for the receipt.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// How long a plain message or revocation stays deliverable.
const MESSAGE_TTL: Duration = Duration::from_secs(7 * 86_400);

pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let (me, mut party) = crate::open::open_party(&args.config)?;
    let (body, ttl) = match (&args.assurance, &args.revoke) {
        (Some(id), _) => {
            let days = args.valid_days.unwrap_or(1);
            let ttl = Duration::from_secs(u64::from(days) * 86_400);
            let body = Body::Assurance(Assurance {
                id: id.as_str().into(),
                commitment: args.message.as_str().into(),
                condition: args.condition.as_str().into(),
                valid_until: backchannel_party::now().saturating_add(ttl),
            });
            // An assurance is not worth delivering after it lapses.
            (body, ttl.min(MESSAGE_TTL))
        }
        (None, Some(id)) => (
            Body::Revocation(Revocation {
                assurance_id: id.as_str().into(),
                reason: args.message.as_str().into(),
            }),
            MESSAGE_TTL,
        ),
        (None, None) => (Body::Text(args.message.as_str().into()), MESSAGE_TTL),
    };
    let shown = print::body_text(&body);
    let seq = party.send(&args.to, body, ttl)?;
    if !args.json {
        println!("[{me}] sent #{seq} to {}: {shown}", args.to);
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut delivered = None;
    let to = args.to.clone();
    let json_mode = args.json;
    let mut refused = None;
    party
        .run_until(deadline, |a| {
            if !json_mode && let Some(line) = print::activity_line(&me, a) {
                println!("{line}");
            }
            match a {
                Activity::Delivered {
                    peer,
                    up_to,
                    attestation,
                } if *peer == to && *up_to >= seq => {
                    delivered = Some(*attestation);
                    Control::Stop
                }
                // A full mailbox is temporary: the envelope stays unacknowledged and is
                // sent again by the retransmission timer or the next run. Any other
                // refusal will not change by waiting.
                Activity::Notice(n) if n.seq == seq && n.peer == to && n.code == "queue-full" => {
                    Control::Continue
                }
                Activity::Notice(n) if n.seq == seq && n.peer == to => {
                    refused = Some(n.clone());
                    Control::Stop
                }
                _ => Control::Continue,
            }
        })
        .await?;
    party.close().await;
    if args.json {
        println!(
            "{}",
            json!({
                "to": args.to,
                "seq": seq,
                "delivered": delivered.is_some(),
                "attested": delivered.is_some_and(|a| a.is_attested()),
                "refused": refused.as_ref().map(|n| n.to_string()),
            })
        );
    }
    if let Some(n) = refused {
        anyhow::bail!("the broker refused #{seq}: {n}");
    }
    match delivered {
        Some(_) => Ok(Outcome::Ok),
        None => {
            eprintln!(
                "backchannel: no receipt for #{seq} from {} within {} s: the broker or the recipient may have dropped it (it stays queued and is sent again on the next run)",
                args.to, args.timeout
            );
            Ok(Outcome::TimedOut)
        }
    }
}
