//! The lab's judge rows (`actor = "judge"` in proto-spec/attacks.toml): after an honest
//! run, the judge is handed more than a transcript. `leak`: bravo's own private key
//! too. `post-reveal-forgery`: a copy of bravo's transcript with an entry the broker
//! wrote, using whatever key the transcript itself published.

use std::mem::discriminant;
use std::path::Path;

use backchannel_lab::expected::Outcome;
use backchannel_proto::judge::{Finding, JudgeReport};
use backchannel_proto::off_record::{self, OffRecordAuth};
use backchannel_proto::transcript::{
    Direction, Entry, RecordedVerdict, encode_entry, parse_transcript,
};
use backchannel_proto::{
    Body, ChannelMode, EnvelopeIn, PublicIdentity, SigningIdentity, judge, judge_with_secrets,
    seal_deniable, seal_off_record, seal_with_foreign_authenticator,
};

use crate::lab_run::LiveRun;
use backchannel_show::judge::judge_summary;

/// The words the broker writes into the copy.
const FORGED_WORDS: &str = "We reserve the right to strike first.";

/// Runs the judge row `name` on the transcripts an honest run left in `dir`; `ids` are
/// alpha, bravo and charlie. The honest run's account stays as it was.
pub fn run(
    name: &str,
    mode: ChannelMode,
    dir: &Path,
    ids: &[SigningIdentity],
    mut honest: LiveRun,
) -> anyhow::Result<LiveRun> {
    let bytes = std::fs::read(dir.join("bravo.transcript"))?;
    let keys: Vec<PublicIdentity> = ids.iter().map(SigningIdentity::public).collect();
    let bravo = ids
        .get(1)
        .ok_or_else(|| anyhow::anyhow!("no bravo in the run"))?;
    let (outcome, reason, narrative, report) = match name {
        "leak" => leak(&bytes, &keys, bravo)?,
        "post-reveal-forgery" => forgery(&bytes, &keys, mode)?,
        other => anyhow::bail!("no judge test named {other:?}"),
    };
    honest.outcome = outcome;
    honest.reason = reason;
    honest.sender_noticed = false;
    honest.narrative = narrative;
    honest.judge = judge_summary(&report);
    Ok(honest)
}

type Verdict = (Outcome, String, String, JudgeReport);

fn leak(bytes: &[u8], keys: &[PublicIdentity], bravo: &SigningIdentity) -> anyhow::Result<Verdict> {
    let report = judge_with_secrets(bytes, keys, std::slice::from_ref(bravo))?;
    let proved = report
        .entries
        .iter()
        .filter(
            |e| matches!(&e.finding, Finding::ProvablyWrittenBy { name, .. } if name == "alpha"),
        )
        .count();
    let checked = report
        .entries
        .iter()
        .filter(|e| {
            matches!(
                e.finding,
                Finding::EitherPartyCouldHaveWritten { checked: true }
            )
        })
        .count();
    let (outcome, narrative) = if proved > 0 {
        (
            Outcome::ProvedToJudge,
            format!(
                "bravo handed the judge its transcript and its private key: the judge proves {proved} of alpha's envelopes by alpha's signature"
            ),
        )
    } else {
        (
            Outcome::NothingProved,
            format!(
                "bravo handed the judge its transcript and its private key: nothing about alpha is provable ({checked} MACs checked with bravo's key, each of which bravo could have made)"
            ),
        )
    };
    Ok((outcome, String::new(), narrative, report))
}

fn forgery(bytes: &[u8], keys: &[PublicIdentity], mode: ChannelMode) -> anyhow::Result<Verdict> {
    let parsed = parse_transcript(bytes)?;
    // alpha's first content envelope bravo accepted: the broker rewrites its words.
    let (genuine_index, genuine) = parsed
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.direction == Direction::Received && e.verdict == RecordedVerdict::Accepted
        })
        .find_map(|(i, e)| {
            let env = EnvelopeIn::decode(e.frame).ok()?;
            let f = env.envelope();
            (f.sender == "alpha" && !f.body.is_control()).then_some((i, env))
        })
        .ok_or_else(|| anyhow::anyhow!("bravo accepted nothing from alpha"))?;
    let mut doctored = genuine.envelope().clone().into_owned();
    doctored.body = Body::Text(FORGED_WORDS.into());
    let mut frame = Vec::new();
    let how = match mode {
        ChannelMode::Deniable => {
            seal_deniable(&doctored, &mut frame)?;
            "sealed without an authenticator, like every deniable entry".to_owned()
        }
        ChannelMode::OffRecord => match published_key(&parsed.entries, &doctored) {
            Some((entry, key)) => {
                seal_off_record(&doctored, &key, None, &mut frame)?;
                format!("tagged with the MAC key alpha published in entry {entry}")
            }
            None => {
                seal_with_foreign_authenticator(&doctored, genuine.authenticator(), &mut frame)?;
                "no key was published: it carries alpha's old tag".to_owned()
            }
        },
        _ => {
            seal_with_foreign_authenticator(&doctored, genuine.authenticator(), &mut frame)?;
            "it carries alpha's signature over the old words".to_owned()
        }
    };
    let mut copy = bytes.to_vec();
    encode_entry(
        &Entry {
            direction: Direction::Received,
            recorded_at: backchannel_party::now(),
            verdict: RecordedVerdict::Accepted,
            reason: "",
            frame: &frame,
        },
        &mut copy,
    )?;
    let report = judge(&copy, keys)?;
    let forged = report
        .entries
        .last()
        .map(|e| e.finding.clone())
        .ok_or_else(|| anyhow::anyhow!("the doctored copy holds no entry"))?;
    let real = report
        .entries
        .get(genuine_index)
        .map(|e| e.finding.clone())
        .ok_or_else(|| anyhow::anyhow!("the genuine entry is gone"))?;
    let said = format!(
        "the broker wrote {FORGED_WORDS:?} as alpha's #{} into a copy of bravo's transcript ({how}); the judge says of it: {forged}; of the real one: {real}",
        doctored.seq
    );
    let (outcome, reason) = match &forged {
        Finding::Invalid(why) => (Outcome::ForgeryDetected, why.code().to_owned()),
        f if discriminant(f) == discriminant(&real) => (Outcome::Indistinguishable, String::new()),
        _ => (Outcome::ForgeryDetected, "finding-differs".to_owned()),
    };
    Ok((outcome, reason, said, report))
}

/// A MAC key some entry of the transcript published for the epoch and direction of
/// `env`, with that entry's index.
fn published_key(
    entries: &[Entry<'_>],
    env: &backchannel_proto::Envelope<'_>,
) -> Option<(usize, off_record::Secret32)> {
    let epoch = off_record::epoch_of(env);
    entries.iter().enumerate().find_map(|(i, e)| {
        let other = EnvelopeIn::decode(e.frame).ok()?;
        let o = other.envelope();
        if o.channel != env.channel || o.sender != env.sender || o.recipient != env.recipient {
            return None;
        }
        match OffRecordAuth::parse(other.authenticator()).ok()?.reveal {
            Some((revealed, key)) if revealed == epoch => Some((i, key)),
            _ => None,
        }
    })
}
