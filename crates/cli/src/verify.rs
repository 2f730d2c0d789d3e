//! `backchannel verify`: the judge's view of a transcript.

use std::path::PathBuf;

use anyhow::Context as _;
use backchannel_proto::judge::{Finding, JudgeReport};
use backchannel_proto::{BodyKind, ChannelMode, Rejection, judge_with_secrets, keyfile};
use clap::Parser;
use serde_json::{Value, json};

use crate::Outcome;

/// Check a transcript as an outsider holding only public keys: for each entry, is it
/// provably written by its sender, unattributable (deniable mode), attributable to
/// either party but provable against neither (off-record mode), or invalid; is each
/// chain complete. Exit 0 only if every entry is valid and every chain complete, 4
/// otherwise (each failing entry is listed), 1 if the file is not a transcript.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel verify deploy/bravo/bravo.transcript --keys deploy/bravo/parties.pub\n  backchannel verify bravo.transcript --keys keys/        # a directory of NAME.pub files"
)]
pub struct Args {
    /// The transcript file.
    transcript: PathBuf,
    /// The public keys the judge trusts, and nothing else: a roster file (one
    /// `NAME.pub` line per party, as in every bundle's parties.pub), a single .pub
    /// file, or a directory of *.pub files.
    #[arg(long)]
    keys: PathBuf,
    /// A party's own private key, handed to the judge (the "leak" test): with it the
    /// judge can check off-record MACs, which still proves nothing, since that party
    /// could have made every one. Signed entries are judged the same with or without.
    #[arg(long, value_name = "NAME.key")]
    leaked_key: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let bytes = std::fs::read(&args.transcript)
        .with_context(|| format!("{}: cannot read", args.transcript.display()))?;
    let keys = keyfile::read_public_keys(&args.keys)?;
    let secrets = match &args.leaked_key {
        Some(path) => vec![leaked_identity(path)?],
        None => Vec::new(),
    };
    let report = judge_with_secrets(&bytes, &keys, &secrets)
        .with_context(|| format!("{}", args.transcript.display()))?;
    if args.json {
        println!("{}", report_json(&report));
    } else {
        print!("{}", report_text(&report, keys.len()));
    }
    Ok(if report.is_clean() {
        Outcome::Ok
    } else {
        Outcome::NotClean
    })
}

/// The party whose private key is in `path` (`NAME.key`, as `init` writes it).
fn leaked_identity(path: &std::path::Path) -> anyhow::Result<backchannel_proto::SigningIdentity> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let name = backchannel_proto::PartyName::new(stem).with_context(|| {
        format!(
            "{}: --leaked-key takes a party's NAME.key file, named after the party",
            path.display()
        )
    })?;
    Ok(keyfile::read_signing_key(path, name)?)
}

/// The report as text.
pub fn report_text(report: &JudgeReport, key_count: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "judge: transcript of {} ({} entries; {} public keys; the owner's own verdicts are not trusted)",
        report.owner,
        report.entries.len(),
        key_count
    );
    for e in &report.entries {
        let what = match &e.summary {
            Some(s) if matches!(s.kind, BodyKind::Receipt | BodyKind::Heartbeat) => {
                format!(
                    "{} -> {} {} ({} at #{})",
                    s.sender, s.recipient, s.kind, s.sender, s.seq
                )
            }
            Some(s) => format!("{} -> {} #{} {}", s.sender, s.recipient, s.seq, s.kind),
            None if matches!(e.finding, Finding::Omitted) => "(summary)".to_owned(),
            None => "(undecodable)".to_owned(),
        };
        let recorded = if e.recorded_reason.is_empty() {
            e.recorded.as_str().to_owned()
        } else {
            format!(
                "{} ({})",
                e.recorded.as_str(),
                backchannel_proto::text::plain(&e.recorded_reason)
            )
        };
        let mark = if matches!(e.finding, Finding::Invalid(_)) {
            "!!"
        } else {
            "  "
        };
        let _ = writeln!(
            out,
            "{mark} [{:>3}] {:<8} {what}: {}\n          owner recorded: {recorded}",
            e.index,
            e.direction.as_str(),
            e.finding
        );
    }
    for c in &report.chains {
        let refused: Vec<String> = c
            .refused
            .iter()
            .map(|(seq, why)| format!("#{seq} ({why})"))
            .collect();
        let ack = if c.acknowledged_up_to == 0 {
            "nothing acknowledged".to_owned()
        } else if !refused.is_empty() {
            format!(
                "{} acknowledged up to #{} ({}) but REFUSED {}: those were not delivered",
                c.recipient,
                c.acknowledged_up_to,
                if c.acknowledgement_provable {
                    "signed"
                } else {
                    "unsigned: proves nothing"
                },
                refused.join(", ")
            )
        } else if c.acknowledgement_provable {
            format!(
                "{} acknowledged up to #{} (signed: proof of delivery)",
                c.recipient, c.acknowledged_up_to
            )
        } else {
            format!(
                "{} acknowledged up to #{} (unsigned: proves nothing)",
                c.recipient, c.acknowledged_up_to
            )
        };
        let state = if c.complete {
            "complete".to_owned()
        } else {
            format!("INCOMPLETE: {}", c.problems.join("; "))
        };
        let span = if c.last_seq == 0 {
            "no messages,".to_owned()
        } else {
            format!("#1..#{}", c.last_seq)
        };
        let _ = writeln!(
            out,
            "chain {} -> {} ({}, channel {}): {span} {state}; {ack}",
            c.sender, c.recipient, c.mode, c.channel
        );
    }
    if report
        .chains
        .iter()
        .any(|c| c.mode == ChannelMode::Deniable)
    {
        let _ = writeln!(
            out,
            "note: in deniable mode nothing in this transcript proves who wrote what; the owner or the broker could have written any entry."
        );
    }
    if let Some(d) = &report.damage {
        let _ = writeln!(out, "!! the file is {d}");
    }
    if keys_do_not_fit(report) {
        let _ = writeln!(
            out,
            "!! no entry verifies under these keys: is --keys the right deployment (the roster of the deployment this transcript comes from)?"
        );
    }
    let _ = writeln!(
        out,
        "verdict: {}",
        if report.is_clean() {
            "clean: every entry valid, every chain complete"
        } else {
            "NOT CLEAN"
        }
    );
    out
}

/// Whether every signed entry fails for want of the right key (an unknown sender or a
/// bad signature) and none verifies: most likely the judge was given another
/// deployment's keys, not a transcript of forgeries.
fn keys_do_not_fit(report: &JudgeReport) -> bool {
    let key_failures = report
        .entries
        .iter()
        .filter(|e| {
            matches!(
                &e.finding,
                Finding::Invalid(Rejection::BadSignature | Rejection::UnknownSender { .. })
            )
        })
        .count();
    let verified = report
        .entries
        .iter()
        .any(|e| matches!(e.finding, Finding::ProvablyWrittenBy { .. }));
    key_failures > 0 && !verified
}

/// The report as JSON.
pub fn report_json(report: &JudgeReport) -> Value {
    let entries: Vec<Value> = report
        .entries
        .iter()
        .map(|e| {
            let (finding, detail, signer) = match &e.finding {
                Finding::ProvablyWrittenBy { name, fingerprint } => (
                    "provably-written",
                    Value::Null,
                    json!({"name": name, "fingerprint": fingerprint.to_string()}),
                ),
                Finding::Unattributable => ("unattributable", Value::Null, Value::Null),
                Finding::EitherPartyCouldHaveWritten { checked } => (
                    "either-party",
                    json!({ "tag_checked": checked }),
                    Value::Null,
                ),
                Finding::AnyoneCouldHaveWritten { revealed_in } => (
                    "anyone",
                    json!({ "key_published_in_entry": revealed_in }),
                    Value::Null,
                ),
                Finding::Invalid(why) => ("invalid", json!(why.to_string()), Value::Null),
                Finding::Omitted => ("omitted", Value::Null, Value::Null),
            };
            let mut entry = json!({
                "index": e.index,
                "direction": e.direction.as_str(),
                "recorded": e.recorded.as_str(),
                "recorded_reason": e.recorded_reason,
                "sender": e.summary.as_ref().map(|s| s.sender.clone()),
                "recipient": e.summary.as_ref().map(|s| s.recipient.clone()),
                "seq": e.summary.as_ref().map(|s| s.seq),
                "kind": e.summary.as_ref().map(|s| s.kind.as_str()),
                // Raw words, as `receive --json` gives them; the text report escapes.
                "body": e.summary.as_ref().map(|s| crate::print::raw_body(&s.decoded)),
                "finding": finding,
                "detail": detail,
                "signer": signer,
            });
            if let (Some(s), Some(map)) = (&e.summary, entry.as_object_mut()) {
                crate::print::body_details(&s.decoded, map);
            }
            entry
        })
        .collect();
    let chains: Vec<Value> = report
        .chains
        .iter()
        .map(|c| {
            json!({
                "sender": c.sender,
                "recipient": c.recipient,
                "mode": c.mode.to_string(),
                "last_seq": c.last_seq,
                "complete": c.complete,
                "problems": c.problems,
                "acknowledged_up_to": c.acknowledged_up_to,
                "acknowledgement_provable": c.acknowledgement_provable,
                "refused": c.refused.iter().map(|(seq, why)| json!({"seq": seq, "reason": why})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "owner": report.owner,
        "clean": report.is_clean(),
        "all_entries_valid": report.all_entries_valid(),
        "chains_complete": report.chains_complete(),
        "damage": report.damage,
        "entries": entries,
        "chains": chains,
    })
}
