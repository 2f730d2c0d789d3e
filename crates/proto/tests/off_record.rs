//! Off-record mode: the recipient is convinced and the broker cannot forge, yet the
//! judge proves nothing, even holding the recipient's private key; after a reveal
//! anyone could have written the old envelopes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use backchannel_proto::judge::Finding;
use backchannel_proto::off_record::{self, OffRecordAuth};
use backchannel_proto::{
    Attestation, Body, ChannelMode, EnvelopeIn, Rejection, judge, judge_with_secrets,
    seal_off_record, seal_with_foreign_authenticator,
};
use common::*;

const MODE: ChannelMode = ChannelMode::OffRecord;

fn keys() -> Vec<backchannel_proto::PublicIdentity> {
    vec![alpha().public(), bravo().public()]
}

#[test]
fn the_recipient_accepts_macd_envelopes_as_attested_but_not_provable() {
    let mut a = endpoint(alpha(), &[bravo()], MODE);
    let mut b = endpoint(bravo(), &[alpha()], MODE);
    a.send(
        at(0),
        "bravo",
        Body::Text("we will not strike first".into()),
        DAY,
    )
    .unwrap();
    let frames = drain(&mut a, at(0));
    let accepted = b.handle_frame(at(0), &frames[0]).unwrap();
    assert_eq!(
        accepted.attestation,
        Attestation::Mac(alpha().public().fingerprint())
    );
    assert!(accepted.attestation.is_attested());
    assert!(!accepted.attestation.is_provable());
    assert_eq!(accepted.attestation.kind(), "mac");
    // The broker can only see that there is a MAC.
    let env = EnvelopeIn::decode(&frames[0]).unwrap();
    assert_eq!(
        env.authenticate(&alpha().public()),
        Ok(Attestation::MacUnchecked)
    );
}

#[test]
fn the_broker_cannot_alter_or_forge() {
    let mut a = endpoint(alpha(), &[bravo()], MODE);
    let mut b = endpoint(bravo(), &[alpha()], MODE);
    a.send(at(0), "bravo", Body::Text("no first strike".into()), DAY)
        .unwrap();
    let frame = drain(&mut a, at(0)).remove(0);
    let original = EnvelopeIn::decode(&frame).unwrap();
    let tag = original.authenticator().to_vec();
    // Altered words under alpha's tag.
    let mut altered = open(&frame);
    altered.body = Body::Text("no first strike, for now".into());
    let mut forged = Vec::new();
    seal_with_foreign_authenticator(&altered, &tag, &mut forged).unwrap();
    assert_eq!(
        b.handle_frame(at(0), &forged).unwrap_err(),
        Rejection::BadMac
    );
    // A fresh tag under a key the broker made up.
    let mut out = Vec::new();
    seal_off_record(
        &altered,
        &off_record::Secret32::from_bytes([0x42; 32]),
        None,
        &mut out,
    )
    .unwrap();
    assert_eq!(b.handle_frame(at(0), &out).unwrap_err(), Rejection::BadMac);
    // Signing it instead is a downgrade attempt: the mode is pinned.
    let resealed = reseal(altered, Some(&alpha()));
    assert!(matches!(
        b.handle_frame(at(0), &resealed),
        Err(Rejection::ModeMismatch { .. })
    ));
    // The genuine one still goes through.
    assert!(b.handle_frame(at(0), &frame).is_ok());
}

#[test]
fn a_tag_from_the_other_direction_does_not_verify() {
    // bravo's key chain for bravo -> alpha differs from alpha -> bravo: a reflected
    // envelope with the names swapped fails.
    let mut b = endpoint(bravo(), &[alpha()], MODE);
    let mut a = endpoint(alpha(), &[bravo()], MODE);
    b.send(at(0), "alpha", Body::Text("hello".into()), DAY)
        .unwrap();
    let frame = drain(&mut b, at(0)).remove(0);
    let tag = EnvelopeIn::decode(&frame).unwrap().authenticator().to_vec();
    let mut swapped = open(&frame);
    std::mem::swap(&mut swapped.sender, &mut swapped.recipient);
    let mut out = Vec::new();
    seal_with_foreign_authenticator(&swapped, &tag, &mut out).unwrap();
    let mut b2 = endpoint(bravo(), &[alpha()], MODE);
    assert_eq!(b2.handle_frame(at(0), &out).unwrap_err(), Rejection::BadMac);
    assert!(a.handle_frame(at(0), &frame).is_ok());
}

/// alpha sends `n` texts one at a time, bravo acknowledges each: returns bravo's
/// transcript and alpha's frames.
fn conversation(n: usize) -> (Recorder, Vec<Vec<u8>>) {
    let mut a = endpoint(alpha(), &[bravo()], MODE);
    let mut b = endpoint(bravo(), &[alpha()], MODE);
    let (mut ta, mut tb) = (Recorder::new(&alpha()), Recorder::new(&bravo()));
    let mut sent = Vec::new();
    for i in 0..n {
        let now = at(i as u64);
        a.send(now, "bravo", Body::Text(format!("message {i}").into()), DAY)
            .unwrap();
        for f in drain(&mut a, now) {
            ta.sent(now, &f);
            let v = b.handle_frame(now, &f);
            assert!(v.is_ok(), "{v:?}");
            tb.received(now, &f, &v);
            sent.push(f);
        }
        exchange(&mut b, &mut tb, &mut a, &mut ta, now);
    }
    (tb, sent)
}

#[test]
fn acknowledged_epochs_are_revealed_and_then_refused() {
    let (_, sent) = conversation(6);
    // Each envelope is an epoch; once #1 is acknowledged, #2 reveals its key, and so on.
    let reveals: Vec<Option<u64>> = sent
        .iter()
        .map(|f| {
            let env = EnvelopeIn::decode(f).unwrap();
            OffRecordAuth::parse(env.authenticator())
                .unwrap()
                .reveal
                .map(|(e, _)| e)
        })
        .collect();
    assert_eq!(
        reveals,
        vec![None, Some(0), Some(1), Some(2), Some(3), Some(4)]
    );
    // The revealed key really is epoch 0's: with it anyone makes a valid tag, which
    // bravo refuses by name once the key is out.
    let env2 = EnvelopeIn::decode(&sent[1]).unwrap();
    let (_, key0) = OffRecordAuth::parse(env2.authenticator())
        .unwrap()
        .reveal
        .unwrap();
    let mut b = endpoint(bravo(), &[alpha()], MODE);
    for f in &sent {
        b.handle_frame(at(10), f).unwrap();
    }
    // A copy of #1 rewritten under the published key: a replay, whoever made it.
    let mut forged = open(&sent[0]);
    forged.body = Body::Text("a forgery under a published key".into());
    let mut out = Vec::new();
    seal_off_record(&forged, &key0, None, &mut out).unwrap();
    assert_eq!(
        b.handle_frame(at(10), &out).unwrap_err(),
        Rejection::Replay {
            seq: 1,
            accepted: 6
        }
    );
    // A receipt "from alpha" made with the published key of epoch 0: refused by name.
    let mut receipt = open(&sent[0]);
    receipt.seq = 0;
    receipt.prev = backchannel_proto::Digest::ZERO;
    receipt.body = Body::Receipt;
    let mut out = Vec::new();
    seal_off_record(&receipt, &key0, None, &mut out).unwrap();
    assert_eq!(
        b.handle_frame(at(10), &out).unwrap_err(),
        Rejection::RevealedKey { epoch: 0 }
    );
}

#[test]
fn a_reveal_of_the_wrong_key_is_refused() {
    let (_, sent) = conversation(2);
    // Rebuild envelope 2 as alpha would, but publishing a made-up key for epoch 0.
    let env = open(&sent[1]);
    let secret = off_record::pair_secret(alpha().signing_key(), bravo().public().key()).unwrap();
    let root = off_record::chain_root(&secret, env.version, env.channel, "alpha", "bravo");
    let key1 = off_record::mac_key(&off_record::next_chain(&root));
    let mut out = Vec::new();
    seal_off_record(
        &env,
        &key1,
        Some((0, &off_record::Secret32::from_bytes([7; 32]))),
        &mut out,
    )
    .unwrap();
    let mut b = endpoint(bravo(), &[alpha()], MODE);
    b.handle_frame(at(0), &sent[0]).unwrap();
    assert_eq!(
        b.handle_frame(at(0), &out).unwrap_err(),
        Rejection::BadReveal { epoch: 0 }
    );
    assert!(b.handle_frame(at(0), &sent[1]).is_ok());
}

#[test]
fn the_judge_proves_nothing_even_with_the_recipients_private_key() {
    // One message, acknowledged, and nothing after it: no key is revealed yet.
    let (tb, _) = conversation(1);
    let blind = judge(&tb.bytes, &keys()).unwrap();
    assert!(blind.is_clean(), "{blind:#?}");
    assert!(blind.entries.iter().all(|e| matches!(
        e.finding,
        Finding::EitherPartyCouldHaveWritten { checked: false }
    )));
    let leaked = judge_with_secrets(&tb.bytes, &keys(), &[bravo()]).unwrap();
    assert!(leaked.is_clean());
    assert!(leaked.entries.iter().all(|e| matches!(
        e.finding,
        Finding::EitherPartyCouldHaveWritten { checked: true }
    )));
    assert!(
        !leaked
            .entries
            .iter()
            .any(|e| matches!(e.finding, Finding::ProvablyWrittenBy { .. }))
    );
    assert!(!leaked.chains.iter().any(|c| c.acknowledgement_provable));
    // The same leak in signed mode proves alpha's words.
    let (_, signed) = recorded_conversation(ChannelMode::Signed, 1);
    let proven = judge_with_secrets(&signed.bytes, &keys(), &[bravo()]).unwrap();
    assert!(proven.entries.iter().any(|e| matches!(
        &e.finding,
        Finding::ProvablyWrittenBy { name, .. } if name == "alpha"
    )));
}

#[test]
fn with_the_leaked_key_the_judge_spots_a_bad_tag_but_it_still_proves_nothing() {
    let (tb, sent) = conversation(1);
    let mut altered = open(&sent[0]);
    altered.body = Body::Text("altered".into());
    let tag = EnvelopeIn::decode(&sent[0])
        .unwrap()
        .authenticator()
        .to_vec();
    let mut bad = Vec::new();
    seal_with_foreign_authenticator(&altered, &tag, &mut bad).unwrap();
    let mut t = Recorder::new(&bravo());
    t.bytes = tb.bytes.clone();
    t.sent(at(0), &bad);
    let report = judge_with_secrets(&t.bytes, &keys(), &[bravo()]).unwrap();
    assert!(
        report
            .entries
            .iter()
            .any(|e| e.finding == Finding::Invalid(Rejection::BadMac))
    );
    // Without a key the judge cannot tell.
    let blind = judge(&t.bytes, &keys()).unwrap();
    assert!(
        !blind
            .entries
            .iter()
            .any(|e| matches!(e.finding, Finding::Invalid(_)))
    );
}

#[test]
fn after_a_reveal_a_forgery_is_indistinguishable_from_the_real_entries() {
    let (tb, sent) = conversation(4);
    let report = judge(&tb.bytes, &keys()).unwrap();
    let anyone = |r: &backchannel_proto::judge::JudgeReport, seq: u64| {
        r.entries.iter().any(|e| {
            e.summary
                .as_ref()
                .is_some_and(|s| s.seq == seq && s.kind.as_str() == "text")
                && matches!(e.finding, Finding::AnyoneCouldHaveWritten { .. })
        })
    };
    assert!(anyone(&report, 1) && anyone(&report, 2), "{report:#?}");
    // The broker takes the published key and writes its own #1 into a copy.
    let env2 = EnvelopeIn::decode(&sent[1]).unwrap();
    let (_, key0) = OffRecordAuth::parse(env2.authenticator())
        .unwrap()
        .reveal
        .unwrap();
    let mut forged = open(&sent[0]);
    forged.body = Body::Text("we reserve the right to strike first".into());
    let mut out = Vec::new();
    seal_off_record(&forged, &key0, None, &mut out).unwrap();
    let mut copy = Recorder::new(&bravo());
    copy.bytes = tb.bytes.clone();
    copy.accepted(at(1), &out);
    let forged_report = judge(&copy.bytes, &keys()).unwrap();
    let last = forged_report.entries.last().unwrap();
    assert!(matches!(
        last.finding,
        Finding::AnyoneCouldHaveWritten { .. }
    ));
    assert!(
        last.finding
            .to_string()
            .contains("anyone could have written it")
    );
}
