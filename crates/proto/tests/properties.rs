//! Property tests of the protocol's claims (proptest, bounded case counts).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use backchannel_proto::frame::{FrameHeader, FrameKind};
use backchannel_proto::judge::Finding;
use backchannel_proto::{
    Attestation, Body, ChannelMode, EnvelopeIn, Rejection, authenticate_batch, judge, seal_signed,
};
use common::*;
use proptest::prelude::*;

/// How a broker disturbs a stream of n envelopes.
#[derive(Clone, Debug)]
enum Disturbance {
    /// Deliver envelope `i` again after position `after` (after >= i).
    Replay { i: usize, after: usize },
    /// Drop envelope `i`.
    Delete { i: usize },
    /// Deliver `j` in place of `i` and `i` in place of `j` (i < j).
    Swap { i: usize, j: usize },
}

fn disturbance(n: usize) -> impl Strategy<Value = Disturbance> {
    prop_oneof![
        (0..n)
            .prop_flat_map(move |i| (Just(i), i..n))
            .prop_map(|(i, after)| Disturbance::Replay { i, after }),
        (0..n).prop_map(|i| Disturbance::Delete { i }),
        (0..n - 1)
            .prop_flat_map(move |i| (Just(i), i + 1..n))
            .prop_map(|(i, j)| Disturbance::Swap { i, j }),
    ]
}

fn stream_and_disturbance() -> impl Strategy<Value = (usize, Disturbance, u8)> {
    (2usize..8).prop_flat_map(|n| (Just(n), disturbance(n), 0u8..3))
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Any single-byte change to a signed or off-record envelope is rejected, and the
    /// rejection leaves the channel as it was.
    #[test]
    fn any_single_byte_change_to_an_authenticated_envelope_is_rejected(
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        off_record in any::<bool>(),
    ) {
        let mode = if off_record { ChannelMode::OffRecord } else { ChannelMode::Signed };
        let frame = alpha_stream(mode, 1).pop().unwrap();
        let mut tampered = frame.clone();
        let i = index.index(tampered.len());
        tampered[i] ^= flip;
        let mut b = endpoint(bravo(), &[alpha()], mode);
        let before = b.channel("alpha").unwrap().state().clone();
        prop_assert!(b.handle_frame(at(1), &tampered).is_err());
        prop_assert_eq!(b.channel("alpha").unwrap().state(), &before);
        // The original still goes through afterwards.
        prop_assert!(b.handle_frame(at(1), &frame).is_ok());
    }

    /// Replays, deletions and reorderings of a stream are caught with the right
    /// reason, and what is accepted is always an in-order prefix 1, 2, 3, ...
    #[test]
    fn stream_disturbances_are_caught_with_the_right_reason(
        (n, d, which) in stream_and_disturbance()
    ) {
        let mode = mode_of(which);
        let frames = alpha_stream(mode, n);
        let mut order: Vec<usize> = (0..n).collect();
        match d {
            Disturbance::Replay { i, after } => order.insert(after + 1, i),
            Disturbance::Delete { i } => { order.remove(i); }
            Disturbance::Swap { i, j } => order.swap(i, j),
        }
        let mut b = endpoint(bravo(), &[alpha()], mode);
        let mut accepted = Vec::new();
        let mut rejections = Vec::new();
        for &k in &order {
            match b.handle_frame(at(10), &frames[k]) {
                Ok(ok) => accepted.push(ok.envelope.seq),
                Err(why) => rejections.push(why),
            }
        }
        let prefix: Vec<u64> = (1..=accepted.len() as u64).collect();
        prop_assert_eq!(&accepted, &prefix, "only an in-order prefix is accepted");
        let first = rejections.first().cloned();
        match d {
            Disturbance::Replay { i, .. } => {
                prop_assert_eq!(accepted.len(), n);
                let replayed = matches!(first, Some(Rejection::Replay { seq, .. }) if seq == i as u64 + 1);
                prop_assert!(replayed, "expected a replay of seq {}, got {:?}", i + 1, first);
            }
            Disturbance::Delete { i } if i + 1 == n => {
                // Withholding the last message: nothing later reveals it (the
                // heartbeat does; see channel_flow), and nothing is rejected.
                prop_assert_eq!(accepted.len(), n - 1);
                prop_assert!(first.is_none());
            }
            Disturbance::Delete { i } => {
                prop_assert_eq!(accepted.len(), i);
                prop_assert_eq!(first, Some(Rejection::Gap { expected: i as u64 + 1, got: i as u64 + 2, announced: false }));
            }
            Disturbance::Swap { i, j } => {
                prop_assert_eq!(accepted.len(), i + 1);
                prop_assert_eq!(first, Some(Rejection::Gap { expected: i as u64 + 1, got: j as u64 + 1, announced: false }));
            }
        }
    }

    /// In deniable mode the broker can put any words in alpha's mouth: they are
    /// accepted, and always marked unattested.
    #[test]
    fn a_deniable_forgery_is_accepted_but_unattested(text in "\\PC{0,200}") {
        let mut env = open(&alpha_stream(ChannelMode::Deniable, 1)[0]);
        env.body = Body::Text(text.clone().into());
        let frame = reseal(env, None);
        let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Deniable);
        let ok = b.handle_frame(at(1), &frame).unwrap();
        prop_assert_eq!(ok.attestation, Attestation::Unattested);
        prop_assert_eq!(ok.envelope.body, Body::Text(text.into()));
    }

    /// A transcript is clean for an outsider exactly when nothing was tampered with.
    #[test]
    fn a_transcript_verifies_exactly_when_it_should(
        n in 1usize..5,
        which in 0u8..3,
        tamper in 0u8..4,
        pick in any::<prop::sample::Index>(),
    ) {
        let mode = mode_of(which);
        let signed = mode == ChannelMode::Signed;
        let (_, tb) = recorded_conversation(mode, n);
        let keys = vec![alpha().public(), bravo().public()];
        let parsed = backchannel_proto::transcript::parse_transcript(&tb.bytes).unwrap();
        let victim = pick.index(parsed.entries.len());
        let mut out = backchannel_proto::transcript::transcript_header(bravo().name());
        for (k, e) in parsed.entries.iter().enumerate() {
            let mut frame = e.frame.to_vec();
            if k == victim {
                match tamper {
                    0 => {}
                    1 => continue, // drop a content envelope's record (see below)
                    2 => { let m = frame.len() / 2; frame[m] ^= 0x01; }
                    _ => frame.truncate(frame.len() - 1),
                }
            }
            let entry = backchannel_proto::transcript::Entry { frame: &frame, ..*e };
            backchannel_proto::transcript::encode_entry(&entry, &mut out).unwrap();
        }
        let report = judge(&out, &keys).unwrap();
        let victim_env = open(parsed.entries[victim].frame);
        let dropped_control = tamper == 1 && victim_env.body.is_control();
        if tamper == 2 && !signed {
            // A flipped byte in a deniable or off-record envelope is caught only if it
            // breaks the encoding or a later envelope binds the original digest: the
            // judge cannot check a deniable envelope, nor a MAC without a party's key.
            // No claim either way.
        } else {
            let should_be_clean = tamper == 0 || dropped_control;
            prop_assert_eq!(report.is_clean(), should_be_clean, "{:#?}", report);
        }
        // The judge never attributes to a party what that party did not sign.
        for e in &report.entries {
            if let Finding::ProvablyWrittenBy { name, .. } = &e.finding {
                prop_assert!(signed);
                prop_assert_eq!(Some(name), e.summary.as_ref().map(|s| &s.sender));
            }
        }
    }

    /// No input makes the core panic: arbitrary bytes, and arbitrary bodies behind a
    /// valid frame header.
    #[test]
    fn no_input_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), framed in any::<bool>()) {
        let input = if framed {
            let mut f = FrameHeader::encode(FrameKind::Envelope, bytes.len()).to_vec();
            f.extend_from_slice(&bytes);
            f
        } else {
            bytes
        };
        let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Signed);
        let before = b.channel("alpha").unwrap().state().clone();
        let _ = b.handle_frame(at(0), &input);
        prop_assert_eq!(b.channel("alpha").unwrap().state(), &before);
        let _ = EnvelopeIn::decode(&input);
        let mut t = b"BKTRANS1\x05bravo".to_vec();
        t.extend_from_slice(&input);
        let _ = judge(&t, &[alpha().public()]);
    }

    /// Every accepted frame is the canonical encoding of what it decodes to:
    /// sealing the decoded envelope again gives the same bytes.
    #[test]
    fn accepted_frames_are_canonical(n in 1usize..4, text in "\\PC{0,100}") {
        let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Signed);
        let mut b = endpoint(bravo(), &[alpha()], ChannelMode::Signed);
        for i in 0..n {
            a.send(at(i as u64), "bravo", Body::Text(text.clone().into()), DAY).unwrap();
        }
        for f in drain(&mut a, at(5)) {
            let ok = b.handle_frame(at(5), &f).unwrap();
            let mut again = Vec::new();
            seal_signed(&ok.envelope, &alpha(), &mut again).unwrap();
            prop_assert_eq!(again, f);
        }
    }

    /// Batch verification gives each envelope the verdict single verification gives it.
    #[test]
    fn batch_verification_agrees_with_strict(
        tamper in proptest::collection::vec(any::<Option<prop::sample::Index>>(), 1..12),
    ) {
        let frames = alpha_stream(ChannelMode::Signed, tamper.len());
        let frames: Vec<Vec<u8>> = frames
            .into_iter()
            .zip(&tamper)
            .map(|(mut f, t)| {
                if let Some(ix) = t {
                    // Flip a bit in the signature or the content.
                    let k = 16 + ix.index(f.len() - 16);
                    f[k] ^= 0x04;
                }
                f
            })
            .collect();
        let decoded: Vec<EnvelopeIn<'_>> = frames.iter().filter_map(|f| EnvelopeIn::decode(f).ok()).collect();
        let alpha_id = alpha().public();
        let items: Vec<_> = decoded.iter().map(|e| (e, &alpha_id)).collect();
        let batch = authenticate_batch(&items);
        let single: Vec<_> = decoded.iter().map(|e| e.authenticate(&alpha_id)).collect();
        prop_assert_eq!(batch, single);
    }
}

#[test]
fn batch_verification_of_all_valid_envelopes_attests_each() {
    let frames = alpha_stream(ChannelMode::Signed, 64);
    let decoded: Vec<EnvelopeIn<'_>> = frames
        .iter()
        .map(|f| EnvelopeIn::decode(f).unwrap())
        .collect();
    let alpha_id = alpha().public();
    let items: Vec<_> = decoded.iter().map(|e| (e, &alpha_id)).collect();
    let results = authenticate_batch(&items);
    assert!(
        results
            .iter()
            .all(|r| *r == Ok(Attestation::Signed(alpha_id.fingerprint())))
    );
    assert!(authenticate_batch(&[]).is_empty());
}
