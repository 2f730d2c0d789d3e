//! `backchannel verify`: the judge's view of a transcript.

use std::path::PathBuf;

use anyhow::Context as _;
use backchannel_proto::judge_with_secrets;
use backchannel_show::Outcome;
use backchannel_show::judge::{report_json, report_text};
use clap::Parser;

/// Check a transcript as an outsider holding only public keys: for each entry, is it
/// provably written by its sender, unattributable (deniable mode), attributable to
/// either party but provable against neither (off-record mode), or invalid; is each
/// chain complete. Exit 0 only if every entry is valid and every chain complete, 4
/// otherwise (each failing entry is listed), 5 if the transcript has no entries
/// (nothing to judge), 1 if the file is not a transcript or no keys were found.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel verify deploy/bravo/bravo.transcript --keys deploy/bravo/parties.pub\n  backchannel verify bravo.transcript --keys keys/        # a directory of NAME.pub files"
)]
pub struct Args {
    /// The transcript file.
    transcript: PathBuf,
    /// The public keys the judge trusts, and nothing else: a roster file (one
    /// `NAME.pub` line per party, as in every bundle's parties.pub), a single .pub
    /// file, a directory of *.pub files, or a deployment directory (its bundles'
    /// roster).
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
    let parsed = backchannel_proto::transcript::parse_transcript(&bytes)
        .with_context(|| format!("{}", args.transcript.display()))?;
    // Only a clean header: a damaged file is the judge's to report (not clean).
    if parsed.entries.is_empty() && parsed.damage.is_none() {
        println!(
            "{}: a transcript with no entries: nothing to judge",
            args.transcript.display()
        );
        return Ok(Outcome::NothingToJudge);
    }
    let keys = judge_keys(&args.keys)?;
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

/// The keys the judge is given: what `read_public_keys` finds at `path` (a roster, a
/// `.pub` file, a directory of them) or, for a deployment directory (which holds
/// bundles, not keys), the roster its bundles carry. Never an empty set: a judge
/// with no keys finds every honest entry invalid.
fn judge_keys(path: &std::path::Path) -> anyhow::Result<Vec<backchannel_proto::PublicIdentity>> {
    // A deployment written with `init --shared` keeps its one roster at the top.
    let shared = path.join("parties.pub");
    if path.is_dir() && shared.is_file() {
        return Ok(backchannel_net::key_files::read_roster(&shared)?);
    }
    let keys = backchannel_net::key_files::read_public_keys(path)?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    if path.is_dir() {
        let mut rosters: Vec<std::path::PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("{}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path().join("parties.pub")))
            .filter(|p| p.is_file())
            .collect();
        rosters.sort();
        // The broker's bundle carries the roster add-party keeps current.
        let chosen = rosters
            .iter()
            .find(|p| p.parent().is_some_and(|d| d.ends_with("broker")))
            .or_else(|| rosters.first());
        if let Some(roster) = chosen {
            let keys = backchannel_net::key_files::read_roster(roster)?;
            if !keys.is_empty() {
                eprintln!(
                    "verify: {} holds no .pub files; judging with the roster {}",
                    path.display(),
                    roster.display()
                );
                return Ok(keys);
            }
        }
    }
    anyhow::bail!(
        "{}: no public keys there (no .pub file, no roster, no bundle with parties.pub): a judge with no keys can prove nothing; give --keys a roster such as DIR/bravo/parties.pub",
        path.display()
    )
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
    Ok(backchannel_net::key_files::read_signing_key(path, name)?)
}
