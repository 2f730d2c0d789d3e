//! `backchannel attacks`: the live attack matrix.

use std::sync::Arc;

use backchannel_lab::expected::{self, Attack, Outcome as Expected};
use backchannel_proto::ChannelMode;
use clap::{Parser, ValueEnum};
use serde_json::json;
use tokio::sync::Semaphore;

pub use crate::lab_run::{LiveRun, expectation, matches, run_one};
use backchannel_show::Outcome;

/// Run every attack against every channel mode, live: a broker playing the attack,
/// alpha, bravo and charlie as real TLS nodes on loopback. Prints, per attack and mode,
/// who caught it (the recipient, with its rejection reason; the sender, by a missing
/// receipt; or nobody) and what a judge can prove afterwards, then a short narrative
/// per attack. Exits 1 if any live outcome differs from proto-spec/attacks.toml.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel attacks\n  backchannel attacks --mode signed --only drop\n  backchannel attacks --json > matrix.json"
)]
pub struct Args {
    /// Which modes to attack.
    #[arg(long, value_enum, default_value_t = Which::All)]
    mode: Which,
    /// Run only this attack (see proto-spec/attacks.toml for the names).
    #[arg(long)]
    only: Option<String>,
    /// One JSON array: attack, mode, outcome, reason, expected, judge, ...
    #[arg(long)]
    json: bool,
    /// Also write the matrix as one self-contained HTML page: a coloured table with the
    /// narrative and the judge's view per cell.
    #[arg(long, value_name = "FILE.html")]
    html: Option<std::path::PathBuf>,
    /// Also write every event of every run to FILE as JSON lines (docs/events.md), each
    /// run labelled "ATTACK MODE": what each node sent, saw and decided.
    #[arg(long, value_name = "FILE")]
    events: Option<std::path::PathBuf>,
    /// Print the expected outcomes and the per-attack sections as markdown, exactly as
    /// proto-spec/threat-model.md shows them, and exit.
    #[arg(long)]
    table: bool,
}

/// One mode or all three.
#[derive(Clone, Copy, ValueEnum)]
pub enum Which {
    /// Signed mode only.
    Signed,
    /// Deniable mode only.
    Deniable,
    /// Off-record mode only.
    OffRecord,
    /// All three, in that order.
    All,
}

impl Which {
    /// The modes chosen, in the order they are played.
    pub fn modes(self) -> Vec<ChannelMode> {
        match self {
            Which::Signed => vec![ChannelMode::Signed],
            Which::Deniable => vec![ChannelMode::Deniable],
            Which::OffRecord => vec![ChannelMode::OffRecord],
            Which::All => ChannelMode::ALL.to_vec(),
        }
    }
}

/// Runs at once: each run is a broker and three parties, mostly waiting on timers.
const PARALLEL: usize = 8;

/// The table rows to run: all, or the one named.
pub fn select(only: Option<&str>) -> anyhow::Result<Vec<Attack>> {
    let all = expected::attacks()?;
    match only {
        None => Ok(all),
        Some(name) => {
            let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
            let found: Vec<Attack> = all.iter().filter(|a| a.name == name).cloned().collect();
            if found.is_empty() {
                anyhow::bail!("no attack named {name:?}; known: {}", names.join(", "));
            }
            Ok(found)
        }
    }
}

/// Runs `backchannel attacks`.
pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.table {
        print!("{}", expected::markdown(&expected::attacks()?));
        return Ok(Outcome::Ok);
    }
    let attacks = select(args.only.as_deref())?;
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut jobs = Vec::new();
    for attack in &attacks {
        for mode in args.mode.modes() {
            let attack = attack.clone();
            let permits = Arc::clone(&permits);
            jobs.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                let run = run_one(&attack, mode).await;
                (attack, mode, run)
            }));
        }
    }
    // Rows are printed as they finish, in the table's order (several run at once).
    if !args.json {
        println!("{}", header());
    }
    let mut rows = Vec::new();
    for job in jobs {
        let (attack, mode, run) = job.await?;
        let run = run?;
        if !args.json {
            println!("{}", row_line(&attack, mode, &run));
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        rows.push((attack, mode, run));
    }
    if let Some(path) = &args.events {
        let mut log = backchannel_stage::EventLog::default();
        for (_, _, run) in &rows {
            log.extend(run.events.iter().cloned());
        }
        log.write(path)?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, crate::matrix_html::page(&rows))
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
    }
    let mismatches = rows
        .iter()
        .filter(|(a, m, r)| !matches(r, expectation(a, *m)))
        .count();
    if args.json {
        let out: Vec<_> = rows
            .iter()
            .map(|(a, m, r)| {
                let want = expectation(a, *m);
                json!({
                    "attack": a.name,
                    "mode": m.to_string(),
                    "outcome": r.outcome.as_str(),
                    "reason": r.reason,
                    "expected": { "outcome": want.outcome.as_str(), "reason": want.reason },
                    "matches": matches(r, want),
                    "sender_noticed": r.sender_noticed,
                    "judge": r.judge,
                    "narrative": r.narrative,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
    } else {
        print!("{}", narratives(&rows));
    }
    if mismatches > 0 {
        anyhow::bail!(
            "{mismatches} live outcome(s) differ from proto-spec/attacks.toml (marked !!)"
        );
    }
    Ok(Outcome::Ok)
}

fn cell(outcome: Expected, reason: &str) -> String {
    if reason.is_empty() {
        outcome.as_str().to_owned()
    } else {
        format!("{} ({reason})", outcome.as_str())
    }
}

fn header() -> String {
    format!(
        "{:<22} {:<10} {:<40} as the spec expects?",
        "attack", "mode", "live outcome"
    )
}

fn row_line(a: &Attack, m: ChannelMode, r: &LiveRun) -> String {
    let want = expectation(a, m);
    let ok = if matches(r, want) {
        "yes".to_owned()
    } else {
        format!("!! expected {}", cell(want.outcome, &want.reason))
    };
    format!(
        "{:<22} {:<10} {:<40} {ok}",
        a.name,
        m.to_string(),
        cell(r.outcome, &r.reason)
    )
}

fn narratives(rows: &[(Attack, ChannelMode, LiveRun)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "\nWhat happened, attack by attack:");
    let mut last = "";
    for (a, m, r) in rows {
        if a.name != last {
            let _ = writeln!(out, "\n{} ({}): {}", a.name, a.what, a.analogy);
            last = &a.name;
        }
        let _ = writeln!(
            out,
            "  [{m}] {}.\n          judge: {}",
            if r.narrative.is_empty() {
                "nothing happened"
            } else {
                &r.narrative
            },
            r.judge
        );
    }
    out
}
