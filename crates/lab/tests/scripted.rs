//! A scenario's intermediary and the broker's desk, in memory: each message said is
//! heard at most once, a move holds across its sender's retransmissions, and no
//! receipt is invented for what the intermediary holds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use backchannel_lab::Adversary;
use backchannel_lab::desk::{Choice, Desk};
use backchannel_lab::moves::ScriptedMove;
use backchannel_lab::scenario::{Alteration, BrokerMove, Said, Scenario, Step};
use backchannel_proto::{Body, ChannelMode};
use proptest::prelude::*;

use common::{NAMES, World};

/// A world whose broker plays `steps` as a scenario between alpha and bravo.
fn scripted(mode: ChannelMode, steps: &[Step]) -> World {
    let scenario = Scenario {
        title: "t".into(),
        about: String::new(),
        parties: vec!["alpha".into(), "bravo".into()],
        broker: "broker".into(),
        steps: steps.to_vec(),
        expect: Vec::new(),
    };
    World::with_broker(mode, |registered| {
        Box::new(Adversary::new(
            Box::new(ScriptedMove::new(&scenario)),
            registered.to_vec(),
        ))
    })
}

fn step(from: &str, said: Said, valid_for: Duration, broker: BrokerMove) -> Step {
    let to = if from == "alpha" { "bravo" } else { "alpha" };
    Step {
        from: from.into(),
        to: to.into(),
        said,
        valid_for,
        after: None,
        broker,
    }
}

fn assurance(condition: &str) -> Said {
    Said::Assurance {
        id: "A-1".into(),
        commitment: "No strikes on energy infrastructure".into(),
        condition: condition.into(),
        holds_for: Duration::from_secs(7 * 86_400),
    }
}

fn withdrawal() -> Said {
    Said::Revoke {
        id: "A-1".into(),
        reason: "Withdrawn before the exercise begins.".into(),
    }
}

/// An assurance passed on, then its withdrawal (valid 3 s) held until it expired.
fn sat_on() -> [Step; 2] {
    [
        step(
            "alpha",
            assurance("while talks continue"),
            Duration::from_secs(86_400),
            BrokerMove::Forward,
        ),
        step(
            "alpha",
            withdrawal(),
            Duration::from_secs(3),
            BrokerMove::HoldPastExpiry,
        ),
    ]
}

/// Plays `steps` in order, 200 ms apart, then lets `settle_ms` pass.
fn play(w: &mut World, steps: &[Step], settle_ms: u64) {
    w.step(0);
    for s in steps {
        let from = NAMES.iter().position(|n| *n == s.from).unwrap();
        let body = s.said.body(w.now);
        w.parties[from]
            .send(w.now, &s.to, body, s.valid_for)
            .unwrap();
        w.step(200);
    }
    for _ in 0..settle_ms / 100 {
        w.step(100);
    }
}

/// What `to` accepted from `from`, in order.
fn heard<'a>(w: &'a World, from: &str, to: &str) -> Vec<&'a Body<'static>> {
    w.accepted
        .iter()
        .filter(|(t, f, _)| t == to && f == from)
        .map(|(_, _, b)| b)
        .collect()
}

#[test]
fn a_withdrawal_held_past_its_deadline_is_heard_at_most_once() {
    let steps = sat_on();
    for mode in ChannelMode::ALL {
        let mut w = scripted(mode, &steps);
        play(&mut w, &steps, 8_000);
        let withdrawals = heard(&w, "alpha", "bravo")
            .into_iter()
            .filter(|b| matches!(b, Body::Revocation(_)))
            .count();
        if mode.recipient_authenticates() {
            assert_eq!(withdrawals, 0, "{mode}: the late withdrawal is refused");
            assert!(
                w.rejections
                    .iter()
                    .any(|(to, why)| to == "bravo" && why.code() == "expired"),
                "{mode}: {:?}",
                w.rejections
            );
        } else {
            assert_eq!(
                withdrawals, 1,
                "deniable: heard once, as a fresh withdrawal"
            );
            assert!(w.rejections.is_empty(), "{:?}", w.rejections);
        }
        assert_eq!(heard(&w, "alpha", "bravo").len(), 1 + withdrawals, "{mode}");
    }
}

#[test]
fn an_altered_message_stays_altered_when_the_next_one_is_held() {
    let steps = [
        step(
            "alpha",
            assurance("absent provocation"),
            Duration::from_secs(86_400),
            BrokerMove::Alter(Alteration {
                condition: Some("for now".into()),
                ..Alteration::default()
            }),
        ),
        step(
            "alpha",
            withdrawal(),
            Duration::from_secs(3),
            BrokerMove::HoldPastExpiry,
        ),
    ];
    for mode in ChannelMode::ALL {
        let mut w = scripted(mode, &steps);
        play(&mut w, &steps, 8_000);
        let conditions: Vec<&str> = heard(&w, "alpha", "bravo")
            .into_iter()
            .filter_map(|b| match b {
                Body::Assurance(a) => Some(&*a.condition),
                _ => None,
            })
            .collect();
        if mode.recipient_authenticates() {
            assert!(conditions.is_empty(), "{mode}: {conditions:?}");
        } else {
            assert_eq!(conditions, ["for now"], "deniable: altered, heard once");
        }
    }
}

#[test]
fn the_desk_invents_no_receipt_for_a_card_it_holds() {
    let mut desk = None;
    let mut w = World::with_broker(ChannelMode::Deniable, |registered| {
        let names = registered.iter().map(|p| p.name().to_string()).collect();
        let (handle, mv) = Desk::new(names);
        desk = Some(handle);
        Box::new(Adversary::new(Box::new(mv), registered.to_vec()))
    });
    let desk = desk.unwrap();
    w.step(0);
    for (k, text) in ["first", "second"].into_iter().enumerate() {
        w.parties[0]
            .send(
                w.now,
                "bravo",
                Body::Text(text.into()),
                Duration::from_secs(3600),
            )
            .unwrap();
        w.step(10);
        let card = desk.view().cards[k].id;
        let choice = if k == 0 {
            Choice::Forward
        } else {
            Choice::Hold
        };
        desk.decide(card, choice).unwrap();
        w.step(10);
    }
    for _ in 0..30 {
        w.step(100);
    }
    assert_eq!(heard(&w, "alpha", "bravo").len(), 1);
    assert_eq!(
        w.delivered_to_bravo, 1,
        "alpha has a receipt for what bravo heard, not for the held card"
    );
    desk.decide(desk.view().cards[1].id, Choice::Forward)
        .unwrap();
    for _ in 0..20 {
        w.step(100);
    }
    assert_eq!(heard(&w, "alpha", "bravo").len(), 2);
    assert_eq!(w.delivered_to_bravo, 2, "released, heard, acknowledged");
}

// Random scripts: whatever the moves, a recipient accepts no more messages than its
// sender said plus what the intermediary forged, and a moved message keeps its move
// however often its sender resends it.

/// A move the script can make, with what the recipient may then hear.
#[derive(Clone, Debug)]
enum Pick {
    Forward,
    Drop,
    HoldPastExpiry,
    Delay(u64),
    Alter,
    Forge,
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        Just(Pick::Forward),
        Just(Pick::Drop),
        Just(Pick::HoldPastExpiry),
        (200u64..2_500).prop_map(Pick::Delay),
        Just(Pick::Alter),
        Just(Pick::Forge),
    ]
}

/// The k-th message: words that name it, so each message's fate can be told apart.
fn said(k: usize, assurance_kind: bool) -> Said {
    if assurance_kind {
        Said::Assurance {
            id: format!("X-{k}"),
            commitment: format!("commitment {k}"),
            condition: format!("condition {k}"),
            holds_for: Duration::from_secs(86_400),
        }
    } else {
        Said::Text(format!("message {k}"))
    }
}

fn altered_words(k: usize) -> String {
    format!("altered {k}")
}

fn to_step(k: usize, from_alpha: bool, assurance_kind: bool, p: &Pick) -> Step {
    let from = if from_alpha { "alpha" } else { "bravo" };
    let (valid_for, broker) = match p {
        Pick::Forward => (Duration::from_secs(3600), BrokerMove::Forward),
        Pick::Drop => (Duration::from_secs(3600), BrokerMove::Drop),
        Pick::HoldPastExpiry => (Duration::from_secs(2), BrokerMove::HoldPastExpiry),
        Pick::Delay(ms) => (
            Duration::from_secs(3600),
            BrokerMove::Delay(Duration::from_millis(*ms)),
        ),
        Pick::Alter => (
            Duration::from_secs(3600),
            BrokerMove::Alter(if assurance_kind {
                Alteration {
                    condition: Some(altered_words(k)),
                    ..Alteration::default()
                }
            } else {
                Alteration {
                    text: Some(altered_words(k)),
                    ..Alteration::default()
                }
            }),
        ),
        Pick::Forge => (
            Duration::from_secs(3600),
            BrokerMove::Forge(format!("forged {k}")),
        ),
    };
    step(from, said(k, assurance_kind), valid_for, broker)
}

/// The words by which message `k` is recognised in what a party heard.
fn words(b: &Body<'_>) -> String {
    match b {
        Body::Text(t) => t.to_string(),
        Body::Assurance(a) => format!("{} / {}", a.commitment, a.condition),
        other => other.to_string(),
    }
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn every_message_is_heard_at_most_once_and_keeps_its_move(
        script in proptest::collection::vec((any::<bool>(), any::<bool>(), pick()), 1..6),
        mode_index in 0usize..3,
    ) {
        let mode = ChannelMode::ALL[mode_index];
        let steps: Vec<Step> = script
            .iter()
            .enumerate()
            .map(|(k, (from_alpha, kind, p))| to_step(k, *from_alpha, *kind, p))
            .collect();
        let mut w = scripted(mode, &steps);
        play(&mut w, &steps, 6_000);
        for (from, to) in [("alpha", "bravo"), ("bravo", "alpha")] {
            let mine: Vec<(usize, &(bool, bool, Pick))> = script
                .iter()
                .enumerate()
                .filter(|(_, (a, ..))| *a == (from == "alpha"))
                .collect();
            let forged = mine.iter().filter(|(_, (_, _, p))| matches!(p, Pick::Forge)).count();
            let heard: Vec<String> = heard(&w, from, to).into_iter().map(words).collect();
            prop_assert!(
                heard.len() <= mine.len() + forged,
                "{mode} {from}->{to}: heard {heard:?} of {} said and {forged} forged",
                mine.len()
            );
            for (k, (_, kind, p)) in &mine {
                let original = words(&said(*k, *kind).body(w.now));
                let times = heard.iter().filter(|h| **h == original).count();
                let altered = heard.iter().filter(|h| h.contains(&altered_words(*k))).count();
                prop_assert!(times <= 1, "{mode}: message {k} heard {times} times: {heard:?}");
                prop_assert!(altered <= 1, "{mode}: message {k} altered heard {altered} times");
                match p {
                    Pick::Drop => prop_assert_eq!(times, 0, "{} dropped {} heard", mode, k),
                    Pick::Alter => prop_assert_eq!(times, 0, "{} altered {} heard as said", mode, k),
                    Pick::HoldPastExpiry if mode.recipient_authenticates() => {
                        prop_assert_eq!(times, 0, "{} expired {} accepted", mode, k)
                    }
                    _ => {}
                }
                if mode.recipient_authenticates() {
                    prop_assert_eq!(altered, 0, "{}: an alteration passed", mode);
                }
            }
        }
    }
}

// What each side knows, from its own transcript.

use backchannel_proto::knowledge::{Fate, Standing};

#[test]
fn each_side_knows_the_late_withdrawal_for_what_it_is() {
    let steps = sat_on();
    for mode in ChannelMode::ALL {
        let mut w = scripted(mode, &steps);
        play(&mut w, &steps, 8_000);
        let alpha = w.knowledge("alpha");
        let bravo = w.knowledge("bravo");
        let [given] = alpha.assurances.as_slice() else {
            panic!("{mode}: {:?}", alpha.assurances);
        };
        let [held] = bravo.assurances.as_slice() else {
            panic!("{mode}: {:?}", bravo.assurances);
        };
        assert_eq!(given.for_owner, Standing::Withdrawn { seq: 2 }, "{mode}");
        let sent_withdrawal = alpha.sent.iter().find(|m| m.seq == 2).unwrap();
        if mode.recipient_authenticates() {
            assert!(
                matches!(sent_withdrawal.fate, Fate::Refused { .. }),
                "{mode}"
            );
            assert_eq!(
                given.for_other,
                Standing::WithdrawalRefused {
                    seq: 2,
                    code: "expired".into()
                },
                "{mode}: alpha knows A-1 still stands for bravo"
            );
            assert!(given.for_other.in_force());
            assert_eq!(held.for_owner, Standing::InForce, "{mode}");
            assert_eq!(
                held.for_other,
                Standing::WithdrawnTooLate {
                    seq: 2,
                    code: "expired".into()
                },
                "{mode}: bravo knows alpha believes it withdrawn"
            );
            let late: Vec<_> = bravo
                .received
                .iter()
                .filter(|m| m.refused.is_some())
                .collect();
            assert_eq!(
                late.len(),
                1,
                "{mode}: one refused message, however many copies"
            );
        } else {
            assert!(
                matches!(sent_withdrawal.fate, Fate::Acknowledged(a) if a.on_the_brokers_word),
                "deniable: {:?}",
                sent_withdrawal.fate
            );
            assert_eq!(given.for_other, Standing::Withdrawn { seq: 2 });
            assert_eq!(held.for_owner, Standing::Withdrawn { seq: 2 });
            assert_eq!(held.for_other, Standing::Withdrawn { seq: 2 });
        }
    }
}

#[test]
fn an_altered_assurance_is_unknown_to_its_giver_where_the_mode_catches_it() {
    let steps = [step(
        "alpha",
        assurance("absent provocation"),
        Duration::from_secs(86_400),
        BrokerMove::Alter(Alteration {
            condition: Some("for now".into()),
            ..Alteration::default()
        }),
    )];
    for mode in ChannelMode::ALL {
        let mut w = scripted(mode, &steps);
        play(&mut w, &steps, 3_000);
        let alpha = w.knowledge("alpha");
        let [given] = alpha.assurances.as_slice() else {
            panic!("{mode}");
        };
        let bravo = w.knowledge("bravo");
        if mode.recipient_authenticates() {
            assert_eq!(given.for_other, Standing::Unknown, "{mode}");
            assert!(bravo.assurances.is_empty(), "{mode}");
            assert_eq!(bravo.received.len(), 1, "{mode}: {:?}", bravo.received);
        } else {
            assert_eq!(given.for_other, Standing::InForce);
            assert_eq!(bravo.assurances[0].given.condition, "for now");
        }
    }
}
