//! The judge: what an outsider holding only public keys can establish from a transcript.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use backchannel_proto::judge::Finding;
use backchannel_proto::transcript::{encode_entry, parse_transcript, transcript_header};
use backchannel_proto::{Body, BodyKind, ChannelMode, Rejection, judge};
use common::*;

fn keys() -> Vec<backchannel_proto::PublicIdentity> {
    vec![alpha().public(), bravo().public()]
}

#[test]
fn a_signed_transcript_proves_authorship_and_delivery() {
    let (ta, tb) = recorded_conversation(ChannelMode::Signed, 3);
    for t in [&ta, &tb] {
        let report = judge(&t.bytes, &keys()).unwrap();
        assert!(report.is_clean(), "{report:#?}");
        for e in &report.entries {
            let s = e.summary.as_ref().unwrap();
            assert!(
                matches!(&e.finding, Finding::ProvablyWrittenBy { name, .. } if *name == s.sender),
                "{e:?}"
            );
        }
        let a_to_b = report.chains.iter().find(|c| c.sender == "alpha").unwrap();
        assert_eq!(a_to_b.last_seq, 3);
        assert!(a_to_b.complete);
        assert_eq!(a_to_b.acknowledged_up_to, 3);
        assert!(a_to_b.acknowledgement_provable, "bravo's signed receipt");
    }
}

#[test]
fn a_deniable_transcript_proves_nothing_about_authorship() {
    let (_, tb) = recorded_conversation(ChannelMode::Deniable, 3);
    let report = judge(&tb.bytes, &[]).unwrap();
    assert!(report.all_entries_valid());
    assert!(report.chains_complete());
    assert!(
        report
            .entries
            .iter()
            .all(|e| e.finding == Finding::Unattributable)
    );
    assert!(
        Finding::Unattributable
            .to_string()
            .contains("nothing proves")
    );
    let a_to_b = report.chains.iter().find(|c| c.sender == "alpha").unwrap();
    assert!(!a_to_b.acknowledgement_provable);
}

#[test]
fn missing_or_wrong_keys_make_entries_invalid() {
    let (_, tb) = recorded_conversation(ChannelMode::Signed, 1);
    let only_bravo = judge(&tb.bytes, &[bravo().public()]).unwrap();
    assert!(!only_bravo.is_clean());
    assert!(only_bravo.entries.iter().any(|e| matches!(
        &e.finding,
        Finding::Invalid(Rejection::UnknownSender { sender }) if sender == "alpha"
    )));
    let impostor = mallory_claiming("alpha").public();
    let wrong = judge(&tb.bytes, &[impostor, bravo().public()]).unwrap();
    assert!(
        wrong
            .entries
            .iter()
            .any(|e| e.finding == Finding::Invalid(Rejection::BadSignature))
    );
    assert!(wrong.entries.iter().all(
        |e| !matches!(&e.finding, Finding::ProvablyWrittenBy { name, .. } if name == "alpha")
    ));
}

/// Rebuilds a transcript keeping only the entries `keep` says yes to, each with its
/// frame passed through `edit`.
fn rewrite(
    bytes: &[u8],
    keep: impl Fn(usize) -> bool,
    edit: impl Fn(usize, &mut Vec<u8>),
) -> Vec<u8> {
    let parsed = parse_transcript(bytes).unwrap();
    let mut out = transcript_header(&backchannel_proto::PartyName::new(parsed.owner).unwrap());
    for (i, e) in parsed.entries.iter().enumerate() {
        if !keep(i) {
            continue;
        }
        let mut frame = e.frame.to_vec();
        edit(i, &mut frame);
        let entry = backchannel_proto::transcript::Entry {
            frame: &frame,
            ..*e
        };
        encode_entry(&entry, &mut out).unwrap();
    }
    out
}

#[test]
fn a_removed_entry_leaves_the_chain_incomplete() {
    let (_, tb) = recorded_conversation(ChannelMode::Signed, 3);
    let parsed = parse_transcript(&tb.bytes).unwrap();
    // Remove the entry holding alpha's seq 2.
    let victim = parsed
        .entries
        .iter()
        .position(|e| {
            let env = open(e.frame);
            env.sender == "alpha" && env.seq == 2 && env.body.kind() == BodyKind::Assurance
        })
        .unwrap();
    let cut = rewrite(&tb.bytes, |i| i != victim, |_, _| {});
    let report = judge(&cut, &keys()).unwrap();
    assert!(report.all_entries_valid());
    let a_to_b = report.chains.iter().find(|c| c.sender == "alpha").unwrap();
    assert!(!a_to_b.complete);
    assert!(
        a_to_b
            .problems
            .iter()
            .any(|p| p.contains("seq 2 is missing"))
    );
    assert!(!report.is_clean());
}

#[test]
fn an_altered_entry_is_invalid() {
    let (_, tb) = recorded_conversation(ChannelMode::Signed, 2);
    let altered = rewrite(
        &tb.bytes,
        |_| true,
        |i, frame| {
            if i == 0 {
                let n = frame.len();
                frame[n - 70] ^= 0x20;
            }
        },
    );
    let report = judge(&altered, &keys()).unwrap();
    assert!(matches!(report.entries[0].finding, Finding::Invalid(_)));
    assert!(!report.is_clean());
}

#[test]
fn a_truncated_file_is_reported_not_panicked_on() {
    let (_, tb) = recorded_conversation(ChannelMode::Signed, 2);
    let header = transcript_header(bravo().name()).len();
    for cut in header..tb.bytes.len() {
        let report = judge(&tb.bytes[..cut], &keys()).unwrap();
        if report.damage.is_some() {
            assert!(!report.is_clean());
        }
    }
    assert!(judge(b"not a transcript", &keys()).is_err());
}

#[test]
fn a_forgery_rejected_by_the_owner_stays_unattributed_to_the_victim() {
    // The broker tries to pass off its own text as alpha's in signed mode.
    let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Signed);
    let mut tb = Recorder::new(&bravo());
    let mut env = open(&alpha_stream(ChannelMode::Signed, 1)[0]);
    env.body = Body::Text("We will strike first.".into());
    let forged = reseal(env, Some(&mallory_claiming("alpha")));
    let verdict = b.handle_frame(at(1), &forged);
    assert_eq!(verdict.as_ref().unwrap_err(), &Rejection::BadSignature);
    tb.received(at(1), &forged, &verdict);
    let report = judge(&tb.bytes, &keys()).unwrap();
    assert_eq!(
        report.entries[0].finding,
        Finding::Invalid(Rejection::BadSignature)
    );
    assert!(
        report.entries[0]
            .recorded_reason
            .starts_with("bad-signature")
    );
}

#[test]
fn a_hostile_head_near_2_pow_64_does_not_stall_the_judge() {
    // Found by the random adversarial broker: a deniable heartbeat whose seq a broker
    // rewrote to nearly 2^64. The judge walks what is present, not the numbers between.
    let mut env = open(&alpha_stream(ChannelMode::Deniable, 1)[0]);
    env.body = Body::Heartbeat;
    env.seq = u64::MAX - 1;
    env.prev = backchannel_proto::Digest([5; 32]);
    let frame = reseal(env, None);
    let mut tb = Recorder::new(&bravo());
    let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Deniable);
    let verdict = b.handle_frame(at(1), &frame);
    assert!(matches!(verdict, Err(Rejection::Gap { .. })));
    tb.received(at(1), &frame, &verdict);
    let report = judge(&tb.bytes, &keys()).unwrap();
    let chain = report.chains.iter().find(|c| c.sender == "alpha").unwrap();
    assert_eq!(chain.last_seq, u64::MAX - 1);
    assert_eq!(
        chain.problems,
        vec![format!("seqs 1 to {} are missing", u64::MAX - 1)]
    );
}

#[test]
fn the_judge_shows_what_the_recipient_refused_although_it_acknowledged_past_it() {
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Signed);
    let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Signed);
    let (mut ta, mut tb) = (Recorder::new(&alpha()), Recorder::new(&bravo()));
    a.send(at(0), "bravo", Body::Text("on time".into()), DAY)
        .unwrap();
    a.send(
        at(0),
        "bravo",
        Body::Text("too late".into()),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let frames = drain(&mut a, at(0));
    for f in &frames {
        ta.sent(at(0), f);
        let verdict = b.handle_frame(at(60), f);
        tb.received(at(60), f, &verdict);
    }
    exchange(&mut b, &mut tb, &mut a, &mut ta, at(60));
    let report = judge(&ta.bytes, &[alpha().public(), bravo().public()]).unwrap();
    let chain = report.chains.iter().find(|c| c.sender == "alpha").unwrap();
    assert_eq!(chain.acknowledged_up_to, 2);
    assert!(chain.acknowledgement_provable);
    assert_eq!(chain.refused, vec![(2, "expired")]);
    assert!(
        report.is_clean(),
        "a refusal is not a fault of the transcript"
    );
}

#[test]
fn an_omission_summary_is_a_count_not_an_invalid_entry_and_only_when_it_says_so() {
    use backchannel_proto::Timestamp;
    use backchannel_proto::transcript::{Direction, Entry, RecordedVerdict};
    let (_, tb) = recorded_conversation(ChannelMode::Signed, 2);
    let with = |reason: &str| {
        let mut bytes = tb.bytes.clone();
        encode_entry(
            &Entry {
                direction: Direction::Received,
                recorded_at: Timestamp::from_millis(1),
                verdict: RecordedVerdict::Rejected,
                reason,
                frame: &[],
            },
            &mut bytes,
        )
        .unwrap();
        judge(&bytes, &keys()).unwrap()
    };
    let summary = with(
        "omitted: 9 more rejected envelope(s) from charlie (replay) were counted, not kept (the first 64 are kept above)",
    );
    assert_eq!(summary.entries.last().unwrap().finding, Finding::Omitted);
    assert!(summary.is_clean(), "{summary:#?}");
    // The same empty frame recorded as an ordinary rejection is an invalid entry.
    let plain = with("replay: replay of seq 1");
    assert!(matches!(
        plain.entries.last().unwrap().finding,
        Finding::Invalid(_)
    ));
    assert!(!plain.is_clean());
}
