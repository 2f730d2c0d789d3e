//! The channel as a sender sees it: receipts, timeouts, resending, heartbeats and
//! backpressure, driven through the sans-IO API with simulated time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use backchannel_proto::off_record::OffRecordAuth;
use backchannel_proto::sign_job::SignJob;
use backchannel_proto::{
    Attestation, Body, BodyKind, ChannelConfig, ChannelMode, Endpoint, EndpointSendError,
    EnvelopeIn, Event, Rejection, SendError,
};
use common::*;

fn pair(mode: ChannelMode) -> (Endpoint, Endpoint) {
    (
        endpoint(alpha(), &[bravo()], mode),
        endpoint(bravo(), &[alpha()], mode),
    )
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event().map(|(_, e)| e)).collect()
}

fn kind(frame: &[u8]) -> BodyKind {
    open(frame).body.kind()
}

#[test]
fn a_receipt_proves_delivery_of_the_whole_prefix() {
    for mode in [ChannelMode::Signed, ChannelMode::Deniable] {
        let (mut a, mut b) = pair(mode);
        for i in 0..10 {
            a.send(at(0), "bravo", Body::Text(format!("m{i}").into()), DAY)
                .unwrap();
        }
        for frame in drain(&mut a, at(0)) {
            b.handle_frame(at(1), &frame).unwrap();
        }
        // One receipt for the whole batch, not ten.
        let receipts = drain(&mut b, at(1));
        assert_eq!(receipts.len(), 1);
        assert_eq!(kind(&receipts[0]), BodyKind::Receipt);
        let ok = a.handle_frame(at(1), &receipts[0]).unwrap();
        assert_eq!(ok.envelope.ack.seq, 10);
        let expected = match mode {
            ChannelMode::Signed => Attestation::Signed(bravo().public().fingerprint()),
            _ => Attestation::Unattested,
        };
        assert_eq!(
            events(&mut a),
            vec![Event::Acknowledged {
                up_to: 10,
                attestation: expected,
                refused: vec![],
                unlisted: 0
            }]
        );
        assert!(a.channel("bravo").unwrap().state().unacked.is_empty());
        // Receipts are not acknowledged with receipts.
        assert!(drain(&mut a, at(1)).is_empty());
    }
}

#[test]
fn a_reply_carries_the_acknowledgement_instead_of_a_receipt() {
    let (mut a, mut b) = pair(ChannelMode::Signed);
    a.send(
        at(0),
        "bravo",
        Body::Text("No preemptive strike absent provocation.".into()),
        DAY,
    )
    .unwrap();
    let frame = drain(&mut a, at(0)).pop().unwrap();
    b.handle_frame(at(1), &frame).unwrap();
    b.send(
        at(1),
        "alpha",
        Body::Text("No initiation of military action absent provocation.".into()),
        DAY,
    )
    .unwrap();
    let out = drain(&mut b, at(1));
    assert_eq!(out.len(), 1, "the reply alone acknowledges");
    assert_eq!(kind(&out[0]), BodyKind::Text);
    a.handle_frame(at(2), &out[0]).unwrap();
    assert!(matches!(
        events(&mut a)[..],
        [Event::Acknowledged { up_to: 1, .. }]
    ));
}

#[test]
fn a_missing_receipt_is_reported_once_after_the_timeout() {
    let (mut a, _b) = pair(ChannelMode::Signed);
    a.send(at(0), "bravo", Body::Text("hello".into()), DAY)
        .unwrap();
    drain(&mut a, at(0));
    assert_eq!(a.poll_timeout(), Some(at(30)));
    a.handle_timeout(at(29));
    assert!(events(&mut a).is_empty());
    a.handle_timeout(at(30));
    assert_eq!(
        events(&mut a),
        vec![Event::Unacknowledged {
            seq: 1,
            sent_at: at(0)
        }]
    );
    a.handle_timeout(at(300));
    assert!(events(&mut a).is_empty(), "reported once");
    // It is still sent again until a receipt comes, less and less often: the timer
    // fired at 30 (next wait 60 s) and at 300 (next wait 120 s).
    assert_eq!(a.poll_timeout(), Some(at(420)));
}

#[test]
fn resends_after_reconnect_and_duplicates_are_dropped() {
    let (mut a, mut b) = pair(ChannelMode::Signed);
    for i in 0..3 {
        a.send(at(0), "bravo", Body::Text(format!("m{i}").into()), DAY)
            .unwrap();
    }
    let frames = drain(&mut a, at(0));
    // All three arrive, but bravo's receipt is lost with the connection.
    for f in &frames {
        b.handle_frame(at(1), f).unwrap();
    }
    let _lost = drain(&mut b, at(1));
    a.on_reconnect(at(2));
    // Not at once: the broker may hold them, and a receipt usually follows a login.
    assert!(drain(&mut a, at(2)).is_empty());
    a.handle_timeout(at(31));
    assert!(drain(&mut a, at(31)).is_empty());
    a.handle_timeout(at(32));
    let again = drain(&mut a, at(32));
    assert_eq!(again, frames, "the exact same bytes are sent again");
    for f in &again {
        assert!(matches!(
            b.handle_frame(at(32), f),
            Err(Rejection::Replay { .. })
        ));
    }
    // The duplicates tell bravo its receipt went missing: it sends a fresh one.
    let receipt = drain(&mut b, at(32));
    assert_eq!(receipt.len(), 1);
    a.handle_frame(at(32), &receipt[0]).unwrap();
    assert!(a.channel("bravo").unwrap().state().unacked.is_empty());
}

#[test]
fn resend_fills_a_gap_left_by_a_dropped_envelope() {
    let (mut a, mut b) = pair(ChannelMode::Signed);
    for i in 0..3 {
        a.send(at(0), "bravo", Body::Text(format!("m{i}").into()), DAY)
            .unwrap();
    }
    let frames = drain(&mut a, at(0));
    b.handle_frame(at(1), &frames[0]).unwrap();
    // frames[1] is dropped; frames[2] reveals the gap.
    assert_eq!(
        b.handle_frame(at(1), &frames[2]).unwrap_err(),
        Rejection::Gap {
            expected: 2,
            got: 3,
            announced: false
        }
    );
    let receipt = drain(&mut b, at(1));
    a.handle_frame(at(1), &receipt[0]).unwrap();
    a.on_reconnect(at(2));
    a.handle_timeout(at(32));
    let again = drain(&mut a, at(32));
    assert_eq!(again, frames[1..].to_vec(), "only what lacks a receipt");
    for f in &again {
        b.handle_frame(at(32), f).unwrap();
    }
}

#[test]
fn an_unanswered_resend_waits_twice_as_long_each_time_up_to_eight_timeouts() {
    let (mut a, _b) = pair(ChannelMode::Signed);
    a.send(at(0), "bravo", Body::Text("m".into()), DAY).unwrap();
    assert_eq!(drain(&mut a, at(0)).len(), 1);
    let mut t = 30;
    for wait in [60, 120, 240, 240, 240] {
        assert_eq!(a.poll_timeout(), Some(at(t)));
        a.handle_timeout(at(t));
        assert_eq!(drain(&mut a, at(t)).len(), 1, "resent at {t}");
        t += wait;
    }
}

#[test]
fn a_clock_that_jumped_ahead_and_back_is_reported() {
    let (mut a, _b) = pair(ChannelMode::Signed);
    // Sent with the clock a day ahead; the clock is then set right.
    a.send(at(86_400), "bravo", Body::Text("m".into()), DAY)
        .unwrap();
    assert!(a.clock_ahead(at(86_400)).is_empty());
    let ahead = a.clock_ahead(at(0));
    assert_eq!(ahead.len(), 1);
    assert_eq!(ahead[0].1, Duration::from_secs(86_400));
    // The chain never goes back: the next envelope is dated a day ahead too.
    a.send(at(1), "bravo", Body::Text("n".into()), DAY).unwrap();
    let frames = drain(&mut a, at(1));
    assert_eq!(open(&frames[1]).sent_at, at(86_400));
}

#[test]
fn a_heartbeat_reveals_a_withheld_last_message() {
    let config = ChannelConfig {
        heartbeat_interval: Some(Duration::from_secs(60)),
        ..quiet_config()
    };
    let mut a = Endpoint::new(
        alpha(),
        vec![policy(&alpha(), &bravo(), ChannelMode::Signed)],
        config,
    );
    let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Signed);
    a.send(at(0), "bravo", Body::Text("first".into()), DAY)
        .unwrap();
    a.send(at(0), "bravo", Body::Text("last".into()), DAY)
        .unwrap();
    let frames = drain(&mut a, at(0));
    b.handle_frame(at(1), &frames[0]).unwrap();
    // The broker withholds "last": nothing later would reveal it, but the heartbeat does.
    assert_eq!(a.poll_timeout(), Some(at(30)));
    a.handle_timeout(at(60));
    // Both envelopes go out again (no receipt yet), then the heartbeat; the broker
    // withholds "last" again.
    let beat: Vec<_> = drain(&mut a, at(60))
        .into_iter()
        .filter(|f| kind(f) == BodyKind::Heartbeat)
        .collect();
    assert_eq!(beat.len(), 1);
    // The heartbeat announces alpha's head at seq 2; bravo has only seq 1.
    assert_eq!(
        b.handle_frame(at(60), &beat[0]).unwrap_err(),
        Rejection::Gap {
            expected: 2,
            got: 2,
            announced: true
        }
    );
    // And alpha itself reports both envelopes as unacknowledged.
    assert!(events(&mut a).contains(&Event::Unacknowledged {
        seq: 2,
        sent_at: at(0)
    }));
}

#[test]
fn refuses_to_send_beyond_the_unacknowledged_limit() {
    let config = ChannelConfig {
        max_unacked: 2,
        ..quiet_config()
    };
    let mut a = Endpoint::new(
        alpha(),
        vec![policy(&alpha(), &bravo(), ChannelMode::Signed)],
        config,
    );
    a.send(at(0), "bravo", Body::Text("1".into()), DAY).unwrap();
    a.send(at(0), "bravo", Body::Text("2".into()), DAY).unwrap();
    let before = a.channel("bravo").unwrap().state().clone();
    assert_eq!(
        a.send(at(0), "bravo", Body::Text("3".into()), DAY),
        Err(EndpointSendError::Send(SendError::Backpressure {
            unacked: 2,
            limit: 2
        }))
    );
    assert_eq!(a.channel("bravo").unwrap().state(), &before);
    assert_eq!(
        a.send(at(0), "delta", Body::Text("?".into()), DAY),
        Err(EndpointSendError::UnknownPeer(
            backchannel_proto::UnknownPeer("delta".into())
        ))
    );
}

#[test]
fn sent_at_never_goes_backwards_even_if_the_clock_does() {
    let (mut a, mut b) = pair(ChannelMode::Signed);
    a.send(at(100), "bravo", Body::Text("later".into()), DAY)
        .unwrap();
    a.send(
        at(50),
        "bravo",
        Body::Text("clock stepped back".into()),
        DAY,
    )
    .unwrap();
    let frames = drain(&mut a, at(100));
    assert_eq!(open(&frames[1]).sent_at, at(100));
    for f in &frames {
        b.handle_frame(at(100), f).unwrap();
    }
}

#[test]
fn a_long_conversation_in_both_directions_stays_in_step() {
    for mode in [ChannelMode::Signed, ChannelMode::Deniable] {
        let (mut a, mut b) = pair(mode);
        for round in 0..50u64 {
            let now = at(round);
            if round % 3 != 0 {
                a.send(now, "bravo", Body::Text(format!("a{round}").into()), DAY)
                    .unwrap();
            }
            if round % 2 == 0 {
                b.send(now, "alpha", Body::Text(format!("b{round}").into()), DAY)
                    .unwrap();
            }
            for f in drain(&mut a, now) {
                b.handle_frame(now, &f).unwrap();
            }
            for f in drain(&mut b, now) {
                a.handle_frame(now, &f).unwrap();
            }
        }
        // A final exchange of receipts settles everything.
        for f in drain(&mut a, at(60)) {
            b.handle_frame(at(60), &f).unwrap();
        }
        let ab = a.channel("bravo").unwrap().state();
        let ba = b.channel("alpha").unwrap().state();
        assert_eq!(ab.sent, ba.received);
        assert_eq!(ba.sent.seq, ab.received.seq + ba.unacked.len() as u64);
    }
}

#[test]
fn the_retransmission_timer_heals_a_dropped_envelope() {
    let (mut a, mut b) = pair(ChannelMode::Signed);
    a.send(at(0), "bravo", Body::Text("dropped".into()), DAY)
        .unwrap();
    a.send(at(0), "bravo", Body::Text("after it".into()), DAY)
        .unwrap();
    let frames = drain(&mut a, at(0));
    // The broker drops the first; the second reveals the gap.
    assert!(matches!(
        b.handle_frame(at(0), &frames[1]),
        Err(Rejection::Gap { .. })
    ));
    assert_eq!(a.poll_timeout(), Some(at(30)));
    a.handle_timeout(at(30));
    let again = drain(&mut a, at(30));
    assert_eq!(again, frames);
    for f in &again {
        b.handle_frame(at(30), f).unwrap();
    }
    let receipt = drain(&mut b, at(30));
    a.handle_frame(at(30), &receipt[0]).unwrap();
    assert!(a.channel("bravo").unwrap().state().unacked.is_empty());
    assert_eq!(a.poll_timeout(), None, "nothing left to time");
}

#[test]
fn a_lost_receipt_is_superseded_by_the_next() {
    let (mut a, mut b) = pair(ChannelMode::Signed);
    a.send(at(0), "bravo", Body::Text("one".into()), DAY)
        .unwrap();
    for f in drain(&mut a, at(0)) {
        b.handle_frame(at(0), &f).unwrap();
    }
    let _lost = drain(&mut b, at(0));
    a.send(at(1), "bravo", Body::Text("two".into()), DAY)
        .unwrap();
    for f in drain(&mut a, at(1)) {
        b.handle_frame(at(1), &f).unwrap();
    }
    let receipt = drain(&mut b, at(1));
    a.handle_frame(at(1), &receipt[0]).unwrap();
    assert!(matches!(
        events(&mut a)[..],
        [Event::Acknowledged { up_to: 2, .. }]
    ));
}

/// Endpoints for alpha and bravo that heartbeat every minute.
fn beating_pair(mode: ChannelMode) -> (Endpoint, Endpoint) {
    let config = ChannelConfig {
        heartbeat_interval: Some(Duration::from_secs(60)),
        ..quiet_config()
    };
    (
        Endpoint::new(
            alpha(),
            vec![policy(&alpha(), &bravo(), mode)],
            config.clone(),
        ),
        Endpoint::new(bravo(), vec![policy(&bravo(), &alpha(), mode)], config),
    )
}

fn heartbeats(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| kind(f) == BodyKind::Heartbeat)
        .collect()
}

#[test]
fn a_replayed_heartbeat_is_not_a_sign_of_life() {
    let (mut a, mut b) = beating_pair(ChannelMode::Signed);
    a.send(at(0), "bravo", Body::Text("hello".into()), DAY)
        .unwrap();
    let sent = drain(&mut a, at(0));
    b.handle_frame(at(0), &sent[0]).unwrap();
    // Bravo's receipt is lost: alpha's head is unacknowledged, so it heartbeats.
    a.handle_timeout(at(60));
    let beat = heartbeats(drain(&mut a, at(60)));
    assert_eq!(beat.len(), 1);
    assert_eq!(open(&beat[0]).seq, 1, "a heartbeat announces the head");
    b.handle_frame(at(60), &beat[0]).unwrap();
    assert!(matches!(
        b.handle_frame(at(120), &beat[0]).unwrap_err(),
        Rejection::Replay { seq: 1, .. }
    ));
    a.handle_timeout(at(120));
    let fresh = heartbeats(drain(&mut a, at(120)));
    b.handle_frame(at(120), &fresh[0]).unwrap();
}

#[test]
fn a_settled_channel_is_silent() {
    for mode in [ChannelMode::Signed, ChannelMode::Deniable] {
        let (mut a, mut b) = beating_pair(mode);
        // A fresh channel owes nothing: no timer, no heartbeat however long it waits.
        assert_eq!(a.poll_timeout(), None, "{mode}");
        a.handle_timeout(at(3_600));
        assert!(drain(&mut a, at(3_600)).is_empty(), "{mode}");

        a.send(at(0), "bravo", Body::Text("hello".into()), DAY)
            .unwrap();
        let sent = drain(&mut a, at(0));
        b.handle_frame(at(1), &sent[0]).unwrap();
        let receipt = drain(&mut b, at(1));
        assert_eq!(receipt.len(), 1, "{mode}");
        // Bravo acknowledged everything it accepted, and has sent nothing itself.
        assert!(!b.channel("alpha").unwrap().heartbeat_owed(), "{mode}");
        // Until the receipt arrives, alpha's head is unacknowledged: it owes one.
        assert!(a.channel("bravo").unwrap().heartbeat_owed(), "{mode}");
        a.handle_frame(at(2), &receipt[0]).unwrap();
        assert!(!a.channel("bravo").unwrap().heartbeat_owed(), "{mode}");
        // Both sides now stay silent: only the receipt timer is gone too.
        assert_eq!(a.poll_timeout(), None, "{mode}");
        assert_eq!(b.poll_timeout(), None, "{mode}");
        for ep in [&mut a, &mut b] {
            ep.handle_timeout(at(86_400));
            assert!(drain(ep, at(86_400)).is_empty(), "{mode}");
        }
        // Sending again starts the cycle over.
        a.send(at(90_000), "bravo", Body::Text("again".into()), DAY)
            .unwrap();
        drain(&mut a, at(90_000));
        assert_eq!(a.poll_timeout(), Some(at(90_030)), "{mode}");
    }
}

#[test]
fn off_record_publishes_the_last_acknowledged_key_once_then_falls_silent() {
    let (mut a, mut b) = beating_pair(ChannelMode::OffRecord);
    a.send(at(0), "bravo", Body::Text("hello".into()), DAY)
        .unwrap();
    let sent = drain(&mut a, at(0));
    b.handle_frame(at(1), &sent[0]).unwrap();
    let receipt = drain(&mut b, at(1));
    a.handle_frame(at(2), &receipt[0]).unwrap();
    // The key of #1's epoch may now be published, and no envelope has done it yet.
    assert!(a.channel("bravo").unwrap().heartbeat_owed());
    assert_eq!(a.poll_timeout(), Some(at(60)));
    a.handle_timeout(at(60));
    let beat = heartbeats(drain(&mut a, at(60)));
    assert_eq!(beat.len(), 1);
    let auth = EnvelopeIn::decode(&beat[0]).unwrap();
    let reveal = OffRecordAuth::parse(auth.authenticator()).unwrap().reveal;
    assert_eq!(
        reveal.map(|(epoch, _)| epoch),
        Some(0),
        "it publishes epoch 0"
    );
    b.handle_frame(at(61), &beat[0]).unwrap();
    assert!(!a.channel("bravo").unwrap().heartbeat_owed());
    assert_eq!(a.poll_timeout(), None);
    a.handle_timeout(at(86_400));
    assert!(drain(&mut a, at(86_400)).is_empty());
}

#[test]
fn control_bodies_cannot_be_sent_by_the_caller() {
    let (mut a, _) = pair(ChannelMode::Signed);
    assert_eq!(
        a.send(at(0), "bravo", Body::Receipt, DAY),
        Err(EndpointSendError::Send(SendError::ControlBody))
    );
}

#[test]
fn a_receipt_says_which_envelopes_arrived_expired_and_were_not_delivered() {
    for mode in [ChannelMode::Signed, ChannelMode::Deniable] {
        let (mut a, mut b) = pair(mode);
        a.send(at(0), "bravo", Body::Text("on time".into()), DAY)
            .unwrap();
        a.send(
            at(0),
            "bravo",
            Body::Text("too late".into()),
            Duration::from_secs(5),
        )
        .unwrap();
        a.send(at(0), "bravo", Body::Text("on time too".into()), DAY)
            .unwrap();
        let frames = drain(&mut a, at(0));
        // The broker sits on them for a minute: #2 is past its validity.
        b.handle_frame(at(60), &frames[0]).unwrap();
        assert!(matches!(
            b.handle_frame(at(60), &frames[1]),
            Err(Rejection::Expired { .. })
        ));
        b.handle_frame(at(60), &frames[2]).unwrap();
        let receipt = drain(&mut b, at(60));
        assert_eq!(receipt.len(), 1);
        let listed: Vec<u64> = open(&receipt[0]).refused.listed().map(|r| r.seq).collect();
        assert_eq!(listed, [2], "the receipt itself says #2 was refused");
        a.handle_frame(at(60), &receipt[0]).unwrap();
        let acks: Vec<Event> = events(&mut a)
            .into_iter()
            .filter(|e| matches!(e, Event::Acknowledged { .. }))
            .collect();
        match &acks[..] {
            [
                Event::Acknowledged {
                    up_to: 3,
                    refused,
                    unlisted: 0,
                    ..
                },
            ] => {
                assert_eq!(refused.len(), 1);
                assert_eq!(refused[0].seq, 2);
                assert_eq!(refused[0].code, backchannel_proto::RefusalCode::Expired);
            }
            other => panic!("{other:?}"),
        }
        // A later acknowledgement does not report the old refusal again.
        a.send(at(61), "bravo", Body::Text("later".into()), DAY)
            .unwrap();
        for f in drain(&mut a, at(61)) {
            b.handle_frame(at(61), &f).unwrap();
        }
        for f in drain(&mut b, at(61)) {
            a.handle_frame(at(61), &f).unwrap();
        }
        assert!(events(&mut a).iter().any(|e| matches!(
            e,
            Event::Acknowledged { up_to: 4, refused, unlisted: 0, .. } if refused.is_empty()
        )));
    }
}

#[test]
fn refusals_beyond_the_list_are_counted_so_none_passes_for_delivered() {
    let (mut a, mut b) = pair(ChannelMode::Signed);
    for i in 0..7 {
        a.send(
            at(0),
            "bravo",
            Body::Text(format!("m{i}").into()),
            Duration::from_secs(5),
        )
        .unwrap();
    }
    for f in drain(&mut a, at(0)) {
        let _ = b.handle_frame(at(60), &f);
    }
    for f in drain(&mut b, at(60)) {
        a.handle_frame(at(60), &f).unwrap();
    }
    let acks: Vec<Event> = events(&mut a)
        .into_iter()
        .filter(|e| matches!(e, Event::Acknowledged { .. }))
        .collect();
    match &acks[..] {
        [
            Event::Acknowledged {
                up_to: 7,
                refused,
                unlisted: 3,
                ..
            },
        ] => assert_eq!(
            refused.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [4, 5, 6, 7]
        ),
        other => panic!("{other:?}"),
    }
}

/// One driver's way of running a batch's signature jobs.
type Schedule = fn(&mut [SignJob<'_>]);

#[test]
fn a_batch_send_makes_exactly_the_frames_of_one_send_at_a_time() {
    let alpha_endpoint = || {
        Endpoint::new(
            alpha(),
            vec![
                policy(&alpha(), &bravo(), ChannelMode::Signed),
                policy(&alpha(), &charlie(), ChannelMode::Deniable),
            ],
            quiet_config(),
        )
    };
    // Signed and deniable channels interleaved, and a peer nobody configured.
    let items = || {
        (0..40).map(|i| {
            let to = match i % 7 {
                0 => "mallory",
                1 | 4 => "charlie",
                _ => "bravo",
            };
            (to, Body::Text(format!("message {i}").into()), DAY)
        })
    };
    let mut one_by_one = alpha_endpoint();
    let expected_results: Vec<_> = items()
        .map(|(to, body, ttl)| one_by_one.send(at(5), to, body, ttl))
        .collect();
    let expected = drain(&mut one_by_one, at(5));
    assert!(expected_results.iter().any(Result::is_err));

    let schedules: [(&str, Schedule); 3] = [
        ("left to the core", |_| {}),
        ("in reverse, on another thread", |jobs| {
            std::thread::scope(|s| {
                s.spawn(|| jobs.iter_mut().rev().for_each(SignJob::run));
            });
        }),
        ("half of them, twice", |jobs| {
            let half = jobs.len() / 2;
            for job in jobs.iter_mut().take(half) {
                job.run();
                job.run();
            }
        }),
    ];
    for (name, schedule) in schedules {
        let mut batched = alpha_endpoint();
        let results = batched.send_batch(at(5), items(), schedule);
        assert_eq!(results, expected_results, "{name}");
        assert_eq!(drain(&mut batched, at(5)), expected, "{name}");
    }
    // And bravo accepts every signed one.
    let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Signed);
    for frame in expected.iter().filter(|f| open(f).recipient == "bravo") {
        b.handle_frame(at(6), frame).unwrap();
    }
}
