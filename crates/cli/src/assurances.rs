//! `backchannel assurances`: the assurance ledger, what this party believes is in force.

use std::path::PathBuf;

use anyhow::Context as _;
use backchannel_party::PartyConfig;
use backchannel_proto::ledger::{Flag, Ledger, LedgerEntry, Status};
use backchannel_proto::text::quoted;
use backchannel_proto::transcript::parse_transcript;
use clap::Parser;
use serde_json::{Value, json};

use crate::Outcome;

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
    let config = PartyConfig::load(&args.config)?;
    let base = args.config.parent().unwrap_or(std::path::Path::new("."));
    let path = base.join(&config.transcript);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
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

/// The ledger for people: one line per assurance, then the flags; every text escaped.
pub fn ledger_text(me: &str, ledger: &Ledger) -> String {
    let mut out = String::new();
    if ledger.entries.is_empty() {
        out.push_str(&format!("[{me}] no assurances given or accepted\n"));
    }
    for e in &ledger.entries {
        out.push_str(&format!("[{me}] {}\n", entry_text(e)));
    }
    out.push_str(&flags_text(me, ledger));
    out
}

/// One assurance and its status for the ledger's owner, escaped.
pub fn entry_text(e: &LedgerEntry) -> String {
    let condition = if e.condition.is_empty() {
        "unconditionally".to_owned()
    } else {
        format!("if {}", quoted(&e.condition))
    };
    let status = match &e.status {
        Status::Revoked { seq, reason } => {
            format!("REVOKED by #{seq} ({})", quoted(reason))
        }
        Status::Expired => format!("EXPIRED at {}", e.valid_until),
        Status::InForce => format!("in force until {}", e.valid_until),
    };
    format!(
        "{} -> {} {} (#{}): {} {condition}; {status}",
        e.giver,
        e.recipient,
        quoted(&e.id),
        e.seq,
        quoted(&e.commitment),
    )
}

/// The ledger's flags, one line each, escaped.
pub fn flags_text(me: &str, ledger: &Ledger) -> String {
    let mut out = String::new();
    for f in &ledger.flags {
        let line = match f {
            Flag::UnknownRevocation {
                giver,
                recipient,
                id,
                seq,
            } => format!(
                "FLAG: {giver} -> {recipient} #{seq} revokes {}, an assurance never given here",
                quoted(id)
            ),
            Flag::Reused {
                giver,
                recipient,
                id,
                seq,
                commitment,
                condition,
            } => format!(
                "FLAG: {giver} -> {recipient} #{seq} gives {} again with other words: {} if {} (the first words stand above)",
                quoted(id),
                quoted(commitment),
                quoted(condition)
            ),
        };
        out.push_str(&format!("[{me}] {line}\n"));
    }
    out
}

/// One assurance as JSON, raw strings.
pub fn entry_json(e: &LedgerEntry) -> Value {
    let (revoked_by, reason) = match &e.status {
        Status::Revoked { seq, reason } => (json!(seq), json!(reason)),
        _ => (Value::Null, Value::Null),
    };
    json!({
        "giver": e.giver,
        "recipient": e.recipient,
        "id": e.id,
        "commitment": e.commitment,
        "condition": e.condition,
        "valid_until": e.valid_until.to_string(),
        "seq": e.seq,
        "status": e.status.as_str(),
        "revoked_by": revoked_by,
        "revocation_reason": reason,
    })
}

/// The ledger as one JSON object with raw strings.
pub fn ledger_json(ledger: &Ledger) -> Value {
    let flags: Vec<Value> = ledger
        .flags
        .iter()
        .map(|f| match f {
            Flag::UnknownRevocation {
                giver,
                recipient,
                id,
                seq,
            } => json!({"flag": "unknown-revocation", "giver": giver, "recipient": recipient, "id": id, "seq": seq}),
            Flag::Reused {
                giver,
                recipient,
                id,
                seq,
                commitment,
                condition,
            } => json!({"flag": "id-reused", "giver": giver, "recipient": recipient, "id": id, "seq": seq, "commitment": commitment, "condition": condition}),
        })
        .collect();
    json!({
        "assurances": ledger.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "flags": flags,
    })
}
