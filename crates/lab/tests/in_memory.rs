//! Every move, in memory and deterministic: alpha, bravo and charlie endpoints talk
//! through an adversarial broker with no sockets and simulated time. In signed mode
//! every attack but the honest one is refused by someone or leaves alpha without a
//! receipt; in deniable mode the adaptive broker gets everything but a suppressed
//! receipt past every check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use backchannel_lab::moves::ALL;
use backchannel_proto::{Assurance, Body, ChannelMode, Revocation};

use common::World;

fn play(attack: &str, mode: ChannelMode) -> World {
    let mut w = World::new(attack, mode);
    w.step(0);
    w.parties[0]
        .send(
            w.now,
            "charlie",
            Body::Text("Talks can continue.".into()),
            Duration::from_secs(3600),
        )
        .unwrap();
    w.step(50);
    let valid_until = w.now.saturating_add(Duration::from_secs(86_400));
    let script = [
        (
            Body::Assurance(Assurance {
                id: "A-1".into(),
                commitment: "No preemptive strike".into(),
                condition: "absent provocation".into(),
                valid_until,
            }),
            3_600_000,
        ),
        (
            Body::Text("Our aircraft will keep clear of the agreed corridor.".into()),
            1500,
        ),
        (
            Body::Revocation(Revocation {
                assurance_id: "A-1".into(),
                reason: "withdrawn".into(),
            }),
            3_600_000,
        ),
    ];
    for (body, ttl) in script {
        w.parties[0]
            .send(w.now, "bravo", body, Duration::from_millis(ttl))
            .unwrap();
        w.step(50);
    }
    for _ in 0..40 {
        w.step(100);
    }
    w
}

#[test]
fn signed_mode_catches_every_broker_attack() {
    for attack in ALL.iter().filter(|a| **a != "honest") {
        let w = play(attack, ChannelMode::Signed);
        let caught = !w.rejections.is_empty() || w.delivered_to_bravo < 3;
        assert!(caught, "{attack} went unnoticed in signed mode");
    }
    let honest = play("honest", ChannelMode::Signed);
    assert!(honest.rejections.is_empty(), "{:?}", honest.rejections);
    assert_eq!(honest.delivered_to_bravo, 3);
}

#[test]
fn the_adaptive_broker_passes_every_check_in_deniable_mode() {
    for attack in ALL.iter().filter(|a| **a != "drop-receipt") {
        let w = play(attack, ChannelMode::Deniable);
        assert!(w.rejections.is_empty(), "{attack}: {:?}", w.rejections);
        assert_eq!(
            w.delivered_to_bravo, 3,
            "{attack}: alpha must believe all was delivered"
        );
    }
    let suppressed = play("drop-receipt", ChannelMode::Deniable);
    assert_eq!(
        suppressed.delivered_to_bravo, 0,
        "a suppressed receipt shows"
    );
}

// The broker's desk: a person's choices, applied when the broker polls.

use backchannel_lab::desk::{CardState, Choice, Desk, DeskError};
use backchannel_lab::scenario::Alteration;

/// A world whose broker is a desk, and the desk's handle.
fn at_the_desk(mode: ChannelMode) -> (World, Desk) {
    let mut desk = None;
    let w = World::with_broker(mode, |registered| {
        let names = registered.iter().map(|p| p.name().to_string()).collect();
        let (handle, mv) = Desk::new(names);
        desk = Some(handle);
        Box::new(backchannel_lab::Adversary::new(
            Box::new(mv),
            registered.to_vec(),
        ))
    });
    (w, desk.unwrap())
}

fn assurance(w: &World) -> Body<'static> {
    Body::Assurance(Assurance {
        id: "A-1".into(),
        commitment: "No preemptive strike".into(),
        condition: "absent provocation".into(),
        valid_until: w.now.saturating_add(Duration::from_secs(3600)),
    })
}

/// alpha sends `body` to bravo; returns the desk's card for it.
fn stopped_at_desk(w: &mut World, desk: &Desk, body: Body<'static>) -> u64 {
    w.parties[0]
        .send(w.now, "bravo", body, Duration::from_secs(3600))
        .unwrap();
    w.step(10);
    let view = desk.view();
    let card = view.cards.last().expect("the envelope stops at the desk");
    assert_eq!(card.state, CardState::Waiting);
    assert!(
        w.accepted.is_empty(),
        "nothing passes before the desk decides"
    );
    card.id
}

fn edit_commitment() -> Choice {
    Choice::Edit(Alteration {
        commitment: Some("No strike at all".into()),
        ..Alteration::default()
    })
}

#[test]
fn an_edit_at_the_desk_is_refused_where_the_mode_authenticates() {
    for mode in ChannelMode::ALL {
        let (mut w, desk) = at_the_desk(mode);
        let body = assurance(&w);
        let card = stopped_at_desk(&mut w, &desk, body);
        desk.decide(card, edit_commitment()).unwrap();
        w.step(10);
        let bravo_heard: Vec<_> = w.accepted.iter().filter(|(to, ..)| to == "bravo").collect();
        if mode.recipient_authenticates() {
            assert!(bravo_heard.is_empty(), "{mode}: {bravo_heard:?}");
            let (who, why) = w.rejections.first().expect("bravo refuses the edit");
            assert_eq!(who, "bravo");
            let expected = if mode == ChannelMode::Signed {
                "bad-signature"
            } else {
                "bad-mac"
            };
            assert_eq!(why.code(), expected, "{mode}");
        } else {
            assert!(w.rejections.is_empty(), "{:?}", w.rejections);
            let [(_, from, Body::Assurance(a))] = bravo_heard.as_slice() else {
                panic!("deniable: bravo accepts the edited assurance: {bravo_heard:?}");
            };
            assert_eq!(
                (from.as_str(), &*a.commitment),
                ("alpha", "No strike at all")
            );
        }
        assert_eq!(desk.view().cards[0].state, CardState::Edited);
        assert!(desk.view().moves.iter().any(|m| m.what == "edit"));
    }
}

#[test]
fn held_cards_wait_and_dropped_ones_never_arrive_even_when_resent() {
    for mode in ChannelMode::ALL {
        let (mut w, desk) = at_the_desk(mode);
        let held = stopped_at_desk(&mut w, &desk, Body::Text("first".into()));
        desk.decide(held, Choice::Hold).unwrap();
        for _ in 0..5 {
            w.step(100);
        }
        assert!(w.accepted.is_empty());
        assert_eq!(desk.view().cards[0].state, CardState::Held);
        desk.decide(held, Choice::Forward).unwrap();
        w.step(10);
        assert_eq!(w.accepted.len(), 1, "{mode}: released");
        let dropped = stopped_at_desk_after(&mut w, &desk, "second");
        desk.decide(dropped, Choice::Drop).unwrap();
        // Past the acknowledgement timeout alpha sends it again: the copy is dropped too.
        for _ in 0..30 {
            w.step(100);
        }
        assert_eq!(w.accepted.len(), 1, "{mode}: {:?}", w.accepted);
        let view = desk.view();
        assert_eq!(view.cards.len(), 2, "a copy is not a new card");
        assert_eq!(view.cards[1].state, CardState::Dropped);
        assert!(desk.decide(dropped, Choice::Forward).is_err());
        assert_eq!(
            desk.decide(dropped, Choice::Replay),
            Err(DeskError::NotDelivered(dropped))
        );
    }
}

/// Like [`stopped_at_desk`] when cards are already on the desk.
fn stopped_at_desk_after(w: &mut World, desk: &Desk, text: &str) -> u64 {
    w.parties[0]
        .send(
            w.now,
            "bravo",
            Body::Text(text.to_owned().into()),
            Duration::from_secs(3600),
        )
        .unwrap();
    w.step(10);
    desk.view().cards.last().unwrap().id
}

#[test]
fn redirect_replay_and_words_written_at_the_desk_per_mode() {
    for mode in ChannelMode::ALL {
        let (mut w, desk) = at_the_desk(mode);
        let first = stopped_at_desk(&mut w, &desk, Body::Text("Talks can continue.".into()));
        assert_eq!(
            desk.decide(first, Choice::Redirect("bravo".into())),
            Err(DeskError::SameRecipient(first, "bravo".into()))
        );
        assert!(matches!(
            desk.decide(first, Choice::Redirect("zulu".into())),
            Err(DeskError::UnknownParty(_))
        ));
        desk.decide(first, Choice::Redirect("charlie".into()))
            .unwrap();
        w.step(10);
        let charlie: Vec<_> = w
            .rejections
            .iter()
            .filter(|(to, _)| to == "charlie")
            .collect();
        if mode == ChannelMode::Deniable {
            assert!(charlie.is_empty(), "{charlie:?}");
            assert!(
                w.accepted
                    .iter()
                    .any(|(to, from, _)| to == "charlie" && from == "alpha")
            );
        } else {
            assert_eq!(charlie.len(), 1, "{mode}");
            assert_eq!(charlie[0].1.code(), "wrong-recipient");
        }

        let second = stopped_at_desk_after(&mut w, &desk, "second");
        desk.decide(second, Choice::Forward).unwrap();
        w.step(10);
        let before = w.accepted.len();
        let rejections = w.rejections.len();
        desk.decide(second, Choice::Replay).unwrap();
        w.step(10);
        if mode == ChannelMode::Deniable {
            assert_eq!(
                w.accepted.len(),
                before + 1,
                "deniable: the replay is heard again"
            );
        } else {
            assert_eq!(w.accepted.len(), before, "{mode}");
            assert_eq!(
                w.rejections.len(),
                rejections + 1,
                "{mode}: the replay is refused"
            );
        }

        let rejections = w.rejections.len();
        let before = w.accepted.len();
        desk.write(
            "alpha",
            "bravo",
            backchannel_lab::scenario::Said::Text("We will strike first.".into()),
        )
        .unwrap();
        w.step(10);
        if mode == ChannelMode::Deniable {
            assert_eq!(w.rejections.len(), rejections);
            let (_, from, body) = w.accepted.last().unwrap();
            assert_eq!(
                (from.as_str(), body),
                ("alpha", &Body::Text("We will strike first.".into()))
            );
        } else {
            assert_eq!(w.accepted.len(), before, "{mode}");
            assert!(
                w.rejections.len() > rejections,
                "{mode}: the written words are refused"
            );
        }
        assert_eq!(
            desk.write(
                "bravo",
                "charlie",
                backchannel_lab::scenario::Said::Text("x".into())
            ),
            Err(DeskError::NothingToWriteInto(
                "bravo".into(),
                "charlie".into()
            ))
        );
        assert!(matches!(
            desk.write(
                "alpha",
                "bravo",
                backchannel_lab::scenario::Said::Text("x".repeat(501))
            ),
            Err(DeskError::TooLong(501))
        ));
    }
}

#[test]
fn withheld_acknowledgements_leave_the_sender_without_a_receipt() {
    for mode in ChannelMode::ALL {
        let (mut w, desk) = at_the_desk(mode);
        desk.withhold_acks("bravo", "alpha", true).unwrap();
        let card = stopped_at_desk(&mut w, &desk, Body::Text("Talks can continue.".into()));
        desk.decide(card, Choice::Forward).unwrap();
        for _ in 0..10 {
            w.step(100);
        }
        assert_eq!(w.accepted.len(), 1, "{mode}: bravo heard it");
        assert_eq!(w.delivered_to_bravo, 0, "{mode}: alpha does not know");
        assert!(desk.view().moves.iter().any(|m| m.what == "withhold-acks"));
        desk.withhold_acks("bravo", "alpha", false).unwrap();
        for _ in 0..10 {
            w.step(100);
        }
        assert_eq!(
            w.delivered_to_bravo, 1,
            "{mode}: the next acknowledgement passes"
        );
    }
}

#[test]
fn a_copy_for_a_third_power_reaches_it_while_the_recipient_notices_nothing() {
    for mode in ChannelMode::ALL {
        let (mut w, desk) = at_the_desk(mode);
        let card = stopped_at_desk(&mut w, &desk, Body::Text("Talks can continue.".into()));
        desk.decide(card, Choice::Copy("charlie".into())).unwrap();
        w.step(10);
        let heard_by = |who: &str| w.accepted.iter().filter(|(to, ..)| to == who).count();
        assert_eq!(heard_by("bravo"), 1, "{mode}: bravo gets it as it came");
        assert!(w.rejections.iter().all(|(to, _)| to != "bravo"), "{mode}");
        if mode == ChannelMode::Deniable {
            assert_eq!(
                heard_by("charlie"),
                1,
                "deniable: charlie accepts it as addressed to it"
            );
        } else {
            let charlie: Vec<_> = w
                .rejections
                .iter()
                .filter(|(to, _)| to == "charlie")
                .collect();
            assert_eq!(charlie.len(), 1, "{mode}");
            assert_eq!(
                charlie[0].1.code(),
                "wrong-recipient",
                "{mode}: but it was shown"
            );
        }
        let view = desk.view();
        assert_eq!(view.cards[0].state, CardState::Forwarded);
        let made = view.moves.last().unwrap();
        assert_eq!((made.what, made.to.as_str()), ("copy", "charlie"));
    }
}
