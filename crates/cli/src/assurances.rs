//! `backchannel assurances`: the assurance ledger, what this party believes is in force.

use std::path::PathBuf;

use anyhow::Context as _;
use backchannel_proto::ledger::Ledger;
use backchannel_proto::transcript::parse_transcript;
use backchannel_show::Outcome;
use backchannel_show::ledger::{ledger_json, ledger_text};
use clap::Parser;

/// List every assurance this party gave or accepted, with its giver, words, condition,
/// validity and status (in force, revoked, expired), from its own transcript; flag a
/// revocation of an id never given and an id given again with other words.
///
/// The ledger is this party's belief, built from its own verdicts: what a judge can
/// prove is `backchannel verify`. It reads the transcript only, so it works while the
/// party's node runs.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel assurances --config deploy/bravo/bravo.toml\n  backchannel assurances --config deploy/bravo/bravo.toml --json"
)]
pub struct Args {
    /// The party's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// One JSON object: `assurances` (giver, recipient, id, commitment, condition,
    /// valid_until, seq, status, revoked_by, revocation_reason) and `flags`, raw text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let (config, path, bytes) = backchannel_node::open::read_transcript(&args.config)?;
    let ledger = if bytes.is_empty() {
        Ledger::default()
    } else {
        let parsed = parse_transcript(&bytes).with_context(|| format!("{}", path.display()))?;
        Ledger::build(parsed.entries, backchannel_party::now())
    };
    if args.json {
        println!("{}", ledger_json(&ledger));
    } else {
        print!("{}", ledger_text(&config.name, &ledger));
    }
    Ok(Outcome::Ok)
}
