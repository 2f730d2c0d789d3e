//! The sending side of the benchmark, run as its own process (`backchannel
//! bench-send`): alpha streams texts to bravo and times each one from its scheduled
//! send time to the receipt that covers it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use backchannel_party::{Activity, Control, Outgoing, RunEnd};
use backchannel_proto::Body;
use clap::Parser;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use backchannel_show::Outcome;

/// (Internal to `backchannel bench`.) Stream messages and report JSON on stdout.
#[derive(Parser)]
#[command(hide = true)]
pub struct Args {
    /// The sending party's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// The recipient.
    #[arg(long)]
    pub to: String,
    /// Body size in bytes.
    #[arg(long)]
    pub size: usize,
    /// How long to send.
    #[arg(long)]
    pub seconds: f64,
    /// Messages awaiting a receipt at most.
    #[arg(long)]
    pub window: usize,
    /// Messages per second (open loop); none: as fast as the window allows.
    #[arg(long)]
    pub rate: Option<f64>,
}

/// What the sender measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct SenderReport {
    /// Messages acknowledged within the run.
    pub delivered: u64,
    /// Seconds from the first send to the last receipt counted.
    pub elapsed_s: f64,
    /// Latencies in microseconds, sorted: scheduled send time to covering receipt.
    pub latencies_us: Vec<u64>,
    /// This process's CPU time, microseconds.
    pub cpu_us: u64,
}

pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let (_, mut party) = backchannel_node::open::open_party(&args.config)?;
    let text = "x".repeat(args.size);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(1.0 / r.max(0.001)));
    let mut scheduled: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut latencies: Vec<u64> = Vec::new();
    let mut next_due = start;
    let mut last_receipt = start;
    let mut acked = 0u64;
    loop {
        let now = Instant::now();
        let sending = now < deadline;
        if !sending && scheduled.is_empty() {
            break;
        }
        if now > deadline + Duration::from_secs(10) {
            break; // what is still unacknowledged is not counted
        }
        // Which sends are due: open loop, every scheduled time passed; closed loop, as
        // many as the window has room for. Each keeps its scheduled time, so a stall
        // shows in the latency (no coordinated omission).
        let mut due: Vec<Instant> = Vec::new();
        if sending {
            let room = args.window.saturating_sub(scheduled.len());
            match interval {
                Some(step) => {
                    while next_due <= now && due.len() < room {
                        due.push(next_due);
                        next_due += step;
                    }
                }
                None => due.extend(std::iter::repeat_n(now, room)),
            }
        }
        if !due.is_empty() {
            let batch: Vec<Outgoing<'_>> = due
                .iter()
                .map(|_| Outgoing {
                    to: args.to.clone(),
                    body: Body::Text(text.as_str().into()),
                    ttl: Duration::from_secs(3600),
                })
                .collect();
            for (result, at) in party.send_many(batch)?.into_iter().zip(due) {
                if let Ok(seq) = result {
                    scheduled.push_back((seq, at));
                }
            }
        }
        // Open loop with the window full: nothing can be sent before a receipt comes,
        // so wait for one (the callback stops the run when there is room) instead of
        // waking for a send time that has already passed.
        let full = scheduled.len() >= args.window;
        let wake = match interval {
            Some(_) if sending && !full => next_due.min(deadline),
            Some(_) if sending => deadline,
            _ => deadline + Duration::from_secs(10),
        };
        let to = args.to.as_str();
        let window = args.window;
        let end = party
            .run_until_interrupted(wake, std::future::pending::<()>(), |a| match a {
                Activity::Acknowledged { peer, up_to, .. } if peer == to => {
                    let now = Instant::now();
                    while scheduled.front().is_some_and(|(seq, _)| seq <= up_to) {
                        if let Some((_, at)) = scheduled.pop_front() {
                            latencies.push(
                                u64::try_from(now.saturating_duration_since(at).as_micros())
                                    .unwrap_or(u64::MAX),
                            );
                            acked += 1;
                        }
                    }
                    last_receipt = now;
                    // Room in the window: go and send more, in batches of at least a
                    // quarter window (each batch is one fsync).
                    let room = window.saturating_sub(scheduled.len());
                    let stop = match interval {
                        None => room >= (window / 4).max(1),
                        Some(_) => full && room > 0,
                    };
                    if stop {
                        Control::Stop
                    } else {
                        Control::Continue
                    }
                }
                _ => Control::Continue,
            })
            .await?;
        if matches!(end, RunEnd::Deadline) && Instant::now() >= deadline + Duration::from_secs(10) {
            break;
        }
    }
    party.close().await;
    latencies.sort_unstable();
    let report = SenderReport {
        delivered: acked,
        elapsed_s: last_receipt.saturating_duration_since(start).as_secs_f64(),
        latencies_us: latencies,
        cpu_us: super::proc_stat::cpu_us(std::process::id()).unwrap_or(0),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(Outcome::Ok)
}
