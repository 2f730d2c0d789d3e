//! One test per rejection reason: each hostile input gets its named reason and leaves
//! the receiving channel's state exactly as it was.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use backchannel_proto::frame::{FrameHeader, FrameKind, MAX_BODY_LEN};
use backchannel_proto::{
    Ack, Attestation, Body, ChainFault, ChannelId, ChannelMode, Digest, Endpoint, PeerPolicy,
    ProtocolVersion, Rejection, Timestamp,
};
use common::*;

/// Bravo, expecting alpha in `mode`.
fn bravo_for(mode: ChannelMode) -> Endpoint {
    endpoint(bravo(), &[alpha()], mode)
}

/// Feeds `frame` to bravo at `now` and checks the state did not move.
fn rejects(ep: &mut Endpoint, now: Timestamp, frame: &[u8]) -> Rejection {
    let before = ep.channel("alpha").unwrap().state().clone();
    let why = ep.handle_frame(now, frame).expect_err("must be rejected");
    assert_eq!(
        ep.channel("alpha").unwrap().state(),
        &before,
        "a rejection ({why}) changed channel state"
    );
    why
}

#[test]
fn accepts_a_signed_envelope_and_attests_it() {
    let frames = alpha_stream(ChannelMode::Signed, 1);
    let mut b = bravo_for(ChannelMode::Signed);
    let ok = b.handle_frame(at(1), &frames[0]).unwrap();
    assert_eq!(ok.envelope.seq, 1);
    assert_eq!(
        ok.attestation,
        Attestation::Signed(alpha().public().fingerprint())
    );
    assert_eq!(ok.envelope.body, Body::Text("message 0".into()));
}

#[test]
fn rejects_garbage_as_malformed() {
    let mut b = bravo_for(ChannelMode::Signed);
    for junk in [&b""[..], b"hello", &[0u8; 64]] {
        assert!(matches!(
            rejects(&mut b, at(0), junk),
            Rejection::Malformed(_)
        ));
    }
    let frame = &alpha_stream(ChannelMode::Signed, 1)[0];
    for cut in 0..frame.len() {
        assert!(matches!(
            rejects(&mut b, at(0), &frame[..cut]),
            Rejection::Malformed(_)
        ));
    }
    let mut other_kind = frame.clone();
    other_kind[6] = 7;
    assert!(matches!(
        rejects(&mut b, at(0), &other_kind),
        Rejection::Malformed(_)
    ));
}

#[test]
fn rejects_oversize_frames_from_the_header_alone() {
    let mut b = bravo_for(ChannelMode::Signed);
    let header = FrameHeader::encode(FrameKind::Envelope, MAX_BODY_LEN + 1);
    assert_eq!(
        rejects(&mut b, at(0), &header),
        Rejection::Oversize {
            len: (MAX_BODY_LEN + 1) as u64,
            limit: MAX_BODY_LEN as u64
        }
    );
}

#[test]
fn rejects_unsupported_versions_in_header_and_content() {
    let mut b = bravo_for(ChannelMode::Signed);
    let mut frame = alpha_stream(ChannelMode::Signed, 1)[0].clone();
    frame[5] = 9;
    assert_eq!(
        rejects(&mut b, at(0), &frame),
        Rejection::UnsupportedVersion { version: 9 }
    );
    let mut env = open(&alpha_stream(ChannelMode::Signed, 1)[0]);
    env.version = ProtocolVersion::Other(3);
    assert_eq!(
        rejects(&mut b, at(0), &reseal_as_alpha(env)),
        Rejection::UnsupportedVersion { version: 3 }
    );
}

#[test]
fn rejects_unknown_senders() {
    // charlie is a real party, but bravo has no channel with charlie.
    let mut c = endpoint(charlie(), &[bravo()], ChannelMode::Signed);
    c.send(at(0), "bravo", Body::Text("hello".into()), DAY)
        .unwrap();
    let frame = drain(&mut c, at(0)).pop().unwrap();
    let mut b = bravo_for(ChannelMode::Signed);
    assert_eq!(
        rejects(&mut b, at(0), &frame),
        Rejection::UnknownSender {
            sender: "charlie".into()
        }
    );
}

#[test]
fn rejects_redirected_and_reflected_envelopes_as_wrong_recipient() {
    // alpha -> charlie, delivered to bravo (redirect).
    let mut a = endpoint(alpha(), &[charlie()], ChannelMode::Signed);
    a.send(at(0), "charlie", Body::Text("for charlie".into()), DAY)
        .unwrap();
    let frame = drain(&mut a, at(0)).pop().unwrap();
    let mut b = bravo_for(ChannelMode::Signed);
    assert_eq!(
        rejects(&mut b, at(0), &frame),
        Rejection::WrongRecipient {
            recipient: "charlie".into()
        }
    );
    // alpha -> bravo, sent back to alpha (reflection).
    let frame = &alpha_stream(ChannelMode::Signed, 1)[0];
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Signed);
    assert_eq!(
        a.handle_frame(at(0), frame).unwrap_err(),
        Rejection::WrongRecipient {
            recipient: "bravo".into()
        }
    );
}

#[test]
fn rejects_envelopes_spliced_from_another_channel() {
    let mut env = open(&alpha_stream(ChannelMode::Signed, 1)[0]);
    let other = ChannelId::derive(
        alpha().public().key(),
        bravo().public().key(),
        ChannelMode::Signed,
        "other",
    );
    env.channel = other;
    let mut b = bravo_for(ChannelMode::Signed);
    let expected = b.channel("alpha").unwrap().peer().channel;
    assert_eq!(
        rejects(&mut b, at(0), &reseal_as_alpha(env)),
        Rejection::WrongChannel {
            expected,
            got: other
        }
    );
}

#[test]
fn rejects_altered_forged_and_stripped_signatures() {
    let frame = alpha_stream(ChannelMode::Signed, 1)[0].clone();
    let mut b = bravo_for(ChannelMode::Signed);
    // Altered text: the last content byte is inside "message 0".
    let mut altered = frame.clone();
    let last_content = altered.len() - 64 - 1;
    altered[last_content] ^= 0x01;
    assert_eq!(rejects(&mut b, at(0), &altered), Rejection::BadSignature);
    // Forged: signed by a key that is not alpha's pinned key.
    let forged = reseal(open(&frame), Some(&mallory_claiming("alpha")));
    assert_eq!(rejects(&mut b, at(0), &forged), Rejection::BadSignature);
    // Stripped: the signature removed but the mode still says signed.
    let mut stripped = frame[..frame.len() - 64].to_vec();
    let body_len = (stripped.len() - 12) as u32;
    stripped[8..12].copy_from_slice(&body_len.to_be_bytes());
    assert_eq!(rejects(&mut b, at(0), &stripped), Rejection::BadSignature);
}

#[test]
fn rejects_downgrades_and_upgrades_as_mode_mismatch() {
    let mut b = bravo_for(ChannelMode::Signed);
    // The broker strips the signature and relabels the envelope deniable.
    let downgraded = reseal(open(&alpha_stream(ChannelMode::Signed, 1)[0]), None);
    assert_eq!(
        rejects(&mut b, at(0), &downgraded),
        Rejection::ModeMismatch {
            expected: ChannelMode::Signed,
            got: ChannelMode::Deniable
        }
    );
    // A channel pinned as deniable refuses signed envelopes too: the mode is policy.
    let mut b = bravo_for(ChannelMode::Deniable);
    assert_eq!(
        rejects(&mut b, at(0), &alpha_stream(ChannelMode::Signed, 1)[0]),
        Rejection::ModeMismatch {
            expected: ChannelMode::Deniable,
            got: ChannelMode::Signed
        }
    );
    // Unknown modes decode, and are refused by policy.
    let mut env = open(&alpha_stream(ChannelMode::Signed, 1)[0]);
    env.mode = ChannelMode::Other(9);
    let mut frame = Vec::new();
    frame.extend_from_slice(&reseal(env.clone(), None));
    frame[12 + 4 + 2] = 9; // the mode byte of the content
    assert_eq!(
        rejects(&mut b, at(0), &frame),
        Rejection::ModeMismatch {
            expected: ChannelMode::Deniable,
            got: ChannelMode::Other(9)
        }
    );
    // Off-record is neither: a deniable channel refuses it, and an off-record channel
    // refuses both others.
    assert_eq!(
        rejects(&mut b, at(0), &alpha_stream(ChannelMode::OffRecord, 1)[0]),
        Rejection::ModeMismatch {
            expected: ChannelMode::Deniable,
            got: ChannelMode::OffRecord
        }
    );
    for other in [ChannelMode::Signed, ChannelMode::Deniable] {
        let mut b = bravo_for(ChannelMode::OffRecord);
        assert_eq!(
            rejects(&mut b, at(0), &alpha_stream(other, 1)[0]),
            Rejection::ModeMismatch {
                expected: ChannelMode::OffRecord,
                got: other
            }
        );
    }
}

#[test]
fn rejects_replays_and_gaps_by_sequence_number() {
    let frames = alpha_stream(ChannelMode::Signed, 3);
    let mut b = bravo_for(ChannelMode::Signed);
    assert_eq!(
        rejects(&mut b, at(5), &frames[1]),
        Rejection::Gap {
            expected: 1,
            got: 2,
            announced: false
        }
    );
    b.handle_frame(at(5), &frames[0]).unwrap();
    assert_eq!(
        rejects(&mut b, at(5), &frames[0]),
        Rejection::Replay {
            seq: 1,
            accepted: 1
        }
    );
    assert_eq!(
        rejects(&mut b, at(5), &frames[2]),
        Rejection::Gap {
            expected: 2,
            got: 3,
            announced: false
        }
    );
    b.handle_frame(at(5), &frames[1]).unwrap();
    b.handle_frame(at(5), &frames[2]).unwrap();
}

#[test]
fn rejects_renumbered_reorders_as_out_of_order() {
    // In deniable mode the broker can rewrite sequence numbers and links; it swapped
    // two messages and renumbered them, but their send times give it away.
    let frames = alpha_stream(ChannelMode::Deniable, 2);
    let (first, second) = (open(&frames[0]), open(&frames[1]));
    let mut swapped_first = second.clone();
    swapped_first.seq = 1;
    swapped_first.prev = Digest::ZERO;
    let swapped_first = reseal(swapped_first, None);
    let digest = backchannel_proto::EnvelopeIn::decode(&swapped_first)
        .unwrap()
        .digest();
    let mut swapped_second = first.clone();
    swapped_second.seq = 2;
    swapped_second.prev = digest;
    let mut b = bravo_for(ChannelMode::Deniable);
    b.handle_frame(at(5), &swapped_first).unwrap();
    assert_eq!(
        rejects(&mut b, at(5), &reseal(swapped_second, None)),
        Rejection::OutOfOrder {
            sent_at: first.sent_at,
            previous: second.sent_at
        }
    );
}

#[test]
fn rejects_forks_and_false_acknowledgements_as_chain_mismatch() {
    let frames = alpha_stream(ChannelMode::Signed, 2);
    let mut b = bravo_for(ChannelMode::Signed);
    b.handle_frame(at(5), &frames[0]).unwrap();
    // A second envelope whose prev is not the first one: a forked history.
    let mut fork = open(&frames[1]);
    fork.prev = Digest([7; 32]);
    assert_eq!(
        rejects(&mut b, at(5), &reseal_as_alpha(fork)),
        Rejection::ChainMismatch {
            seq: 2,
            fault: ChainFault::PrevMismatch
        }
    );
    // Acknowledging an envelope bravo never sent (a forged receipt).
    let mut beyond = open(&frames[1]);
    beyond.ack = Ack {
        seq: 4,
        head: Digest([1; 32]),
    };
    assert_eq!(
        rejects(&mut b, at(5), &reseal_as_alpha(beyond)),
        Rejection::ChainMismatch {
            seq: 2,
            fault: ChainFault::AckBeyondSent { acked: 4, sent: 0 }
        }
    );
    // bravo sends one envelope; alpha acknowledges a different one (alpha was shown
    // a different history: equivocation).
    b.send(at(6), "alpha", Body::Text("reply".into()), DAY)
        .unwrap();
    let mut wrong_head = open(&frames[1]);
    wrong_head.ack = Ack {
        seq: 1,
        head: Digest([9; 32]),
    };
    assert_eq!(
        rejects(&mut b, at(6), &reseal_as_alpha(wrong_head)),
        Rejection::ChainMismatch {
            seq: 2,
            fault: ChainFault::AckHeadMismatch { acked: 1 }
        }
    );
}

#[test]
fn rejects_acknowledgements_that_go_backwards() {
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Signed);
    let mut b = bravo_for(ChannelMode::Signed);
    b.send(at(0), "alpha", Body::Text("first".into()), DAY)
        .unwrap();
    let from_b = drain(&mut b, at(0)).pop().unwrap();
    a.handle_frame(at(0), &from_b).unwrap();
    // alpha's two envelopes: the first acknowledges bravo's seq 1.
    a.send(at(1), "bravo", Body::Text("one".into()), DAY)
        .unwrap();
    a.send(at(2), "bravo", Body::Text("two".into()), DAY)
        .unwrap();
    let frames = drain(&mut a, at(2));
    b.handle_frame(at(2), &frames[0]).unwrap();
    let mut regressed = open(&frames[1]);
    regressed.ack = Ack::default();
    assert_eq!(
        rejects(&mut b, at(2), &reseal_as_alpha(regressed)),
        Rejection::ChainMismatch {
            seq: 2,
            fault: ChainFault::AckRegressed { acked: 0, known: 1 }
        }
    );
}

#[test]
fn expired_envelopes_are_rejected_but_do_not_stall_the_channel() {
    let frames = alpha_stream(ChannelMode::Signed, 2);
    let mut b = bravo_for(ChannelMode::Signed);
    let late = at(2 * 86_400);
    let why = b.handle_frame(late, &frames[0]).unwrap_err();
    assert_eq!(
        why,
        Rejection::Expired {
            expires_at: at(86_400),
            now: late
        }
    );
    assert_eq!(b.channel("alpha").unwrap().state().received.seq, 1);
    // The second one expired too; a fresh one after them is accepted.
    assert!(matches!(
        b.handle_frame(late, &frames[1]).unwrap_err(),
        Rejection::Expired { .. }
    ));
}

#[test]
fn rejects_envelopes_from_the_future() {
    let frames = alpha_stream(ChannelMode::Signed, 1);
    let mut b = bravo_for(ChannelMode::Signed);
    // Bravo's clock is an hour behind alpha's: beyond the two-minute skew bound.
    let behind = Timestamp::from_millis(at(0).as_millis() - 3_600_000);
    assert_eq!(
        rejects(&mut b, behind, &frames[0]),
        Rejection::FromTheFuture {
            sent_at: at(0),
            now: behind
        }
    );
    // Within the bound it is fine.
    let slightly = Timestamp::from_millis(at(0).as_millis() - 60_000);
    b.handle_frame(slightly, &frames[0]).unwrap();
}

#[test]
fn deniable_forgery_by_the_broker_is_accepted_but_unattested() {
    // The broker writes "from alpha" something alpha never said.
    let mut forged = open(&alpha_stream(ChannelMode::Deniable, 1)[0]);
    forged.body = Body::Text("We will strike first.".into());
    let mut b = bravo_for(ChannelMode::Deniable);
    let frame = reseal(forged, None);
    let ok = b.handle_frame(at(0), &frame).unwrap();
    assert_eq!(ok.attestation, Attestation::Unattested);
    assert!(!ok.attestation.is_attested());
    assert!(ok.attestation.to_string().contains("broker's word"));
}

#[test]
fn a_policy_for_the_wrong_peer_is_refused_by_verify() {
    let frame = &alpha_stream(ChannelMode::Signed, 1)[0];
    let env = backchannel_proto::EnvelopeIn::decode(frame).unwrap();
    let charlie_policy: PeerPolicy = policy(&bravo(), &charlie(), ChannelMode::Signed);
    let err = env.verify(bravo().name(), &charlie_policy).unwrap_err();
    assert_eq!(
        err,
        Rejection::UnknownSender {
            sender: "alpha".into()
        }
    );
}

#[test]
fn rejects_an_assurance_id_outside_the_safe_characters() {
    let mut env = open(&alpha_stream(ChannelMode::Signed, 1)[0]);
    env.body = Body::Assurance(backchannel_proto::Assurance {
        id: "A-1\n[bravo] accepted".into(),
        commitment: "No preemptive strike".into(),
        condition: "".into(),
        valid_until: at(86_400),
    });
    let mut b = bravo_for(ChannelMode::Signed);
    assert!(matches!(
        rejects(&mut b, at(0), &reseal_as_alpha(env)),
        Rejection::Malformed(_)
    ));
    // And the sender's own channel refuses to seal one.
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Signed);
    let refused = a.send(
        at(0),
        "bravo",
        Body::Revocation(backchannel_proto::Revocation {
            assurance_id: "A\u{202e}1".into(),
            reason: "withdrawn".into(),
        }),
        DAY,
    );
    assert!(refused.is_err());
    assert!(a.channel("bravo").unwrap().state().unacked.is_empty());
}
