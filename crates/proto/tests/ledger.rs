//! The assurance ledger: what each side believes is in force, from its transcript.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use backchannel_proto::ledger::{Flag, Ledger, Status};
use backchannel_proto::transcript::parse_transcript;
use backchannel_proto::{Assurance, Body, ChannelMode, Revocation};
use common::*;

fn assurance(id: &str, words: &str, condition: &str, days: u64) -> Body<'static> {
    Body::Assurance(Assurance {
        id: id.to_owned().into(),
        commitment: words.to_owned().into(),
        condition: condition.to_owned().into(),
        valid_until: at(days * 86_400),
    })
}

fn revocation(id: &str) -> Body<'static> {
    Body::Revocation(Revocation {
        assurance_id: id.to_owned().into(),
        reason: "withdrawn".into(),
    })
}

/// alpha sends `bodies` to bravo, one exchange each; returns both transcripts' ledgers
/// at time `now_secs`.
fn ledgers(bodies: Vec<Body<'static>>, now_secs: u64) -> (Ledger, Ledger) {
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Signed);
    let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Signed);
    let (mut ta, mut tb) = (Recorder::new(&alpha()), Recorder::new(&bravo()));
    for (i, body) in bodies.into_iter().enumerate() {
        let now = at(i as u64);
        a.send(now, "bravo", body, DAY).unwrap();
        exchange(&mut a, &mut ta, &mut b, &mut tb, now);
        exchange(&mut b, &mut tb, &mut a, &mut ta, now);
    }
    let build =
        |t: &Recorder| Ledger::build(parse_transcript(&t.bytes).unwrap().entries, at(now_secs));
    (build(&ta), build(&tb))
}

#[test]
fn both_sides_see_the_same_statuses_in_force_revoked_and_expired() {
    let (sender, recipient) = ledgers(
        vec![
            assurance("A-1", "No preemptive strike", "absent provocation", 30),
            assurance("A-2", "Corridor kept clear", "", 1),
            assurance("A-3", "No strike on energy sites", "", 30),
            revocation("A-3"),
        ],
        2 * 86_400,
    );
    for l in [&sender, &recipient] {
        let status: Vec<(&str, &str)> = l
            .entries
            .iter()
            .map(|e| (e.id.as_str(), e.status.as_str()))
            .collect();
        assert_eq!(
            status,
            vec![("A-1", "in force"), ("A-2", "expired"), ("A-3", "revoked")]
        );
        assert!(l.flags.is_empty(), "{:?}", l.flags);
        assert_eq!(l.entries[0].giver, "alpha");
        assert_eq!(l.entries[0].condition, "absent provocation");
        assert!(matches!(
            l.entries[2].status,
            Status::Revoked { seq: 4, .. }
        ));
    }
}

#[test]
fn an_unknown_revocation_and_an_id_reused_with_other_words_are_flagged() {
    let (_, recipient) = ledgers(
        vec![
            revocation("A-9"),
            assurance("A-1", "No preemptive strike", "absent provocation", 30),
            assurance("A-1", "No preemptive strike", "for now", 30),
            // The same words again are a renewal: not flagged.
            assurance("A-1", "No preemptive strike", "absent provocation", 60),
        ],
        0,
    );
    assert_eq!(recipient.entries.len(), 1);
    assert_eq!(recipient.entries[0].condition, "absent provocation");
    assert_eq!(recipient.flags.len(), 2, "{:?}", recipient.flags);
    assert!(
        matches!(&recipient.flags[0], Flag::UnknownRevocation { id, seq: 1, .. } if id == "A-9")
    );
    assert!(
        matches!(&recipient.flags[1], Flag::Reused { id, condition, seq: 3, .. } if id == "A-1" && condition == "for now")
    );
}

#[test]
fn the_sender_may_renew_an_id_but_not_give_it_other_words() {
    let (sender, _) = ledgers(
        vec![assurance(
            "A-1",
            "No preemptive strike",
            "absent provocation",
            30,
        )],
        0,
    );
    let same = Assurance {
        id: "A-1".into(),
        commitment: "No preemptive strike".into(),
        condition: "absent provocation".into(),
        valid_until: at(90 * 86_400),
    };
    assert!(sender.check_new("alpha", "bravo", &same).is_ok());
    let softened = Assurance {
        condition: "for now".into(),
        ..same.clone()
    };
    let err = sender.check_new("alpha", "bravo", &softened).unwrap_err();
    assert_eq!(err.seq, 1);
    assert!(err.to_string().contains("choose a new id"), "{err}");
    // Another recipient, or another id, is free.
    assert!(sender.check_new("alpha", "charlie", &softened).is_ok());
}
