//! One verification rule for every verifier (`proto-spec/protocol.md` §8): the edge
//! cases of "Taming the many EdDSAs" (small-order and mixed-order R and A,
//! non-canonical R, A and S) as vectors with their verdicts, checked in every path,
//! and a property test that generates mixed-order signatures and checks that single
//! verification, batch verification, the recipient and the judge always agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use backchannel_proto::judge::Finding;
use backchannel_proto::signature_rule::{self, BatchItem};
use backchannel_proto::{
    ChannelMode, EnvelopeIn, PartyName, PeerPolicy, PublicIdentity, authenticate_batch, domain,
    judge, seal_with_foreign_authenticator,
};
use common::*;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use proptest::prelude::*;
use sha2::{Digest as _, Sha512};

fn k(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(m);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// A signature by secret `a` (public key `a_point`, which may carry torsion) with
/// nonce `r` and an `R` that may carry torsion `t_r`.
fn craft(a: Scalar, a_point: EdwardsPoint, r: Scalar, t_r: EdwardsPoint, m: &[u8]) -> Signature {
    let big_r = (r * B + t_r).compress().to_bytes();
    let s = r + k(&big_r, &a_point.compress().to_bytes(), m) * a;
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&big_r);
    bytes[32..].copy_from_slice(s.as_bytes());
    Signature::from_bytes(&bytes)
}

fn scalar(seed: u8) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&[seed; 64])
}

/// ℓ, the group order, little-endian: S = ℓ is the smallest non-canonical S.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// What the rule says of one crafted case, and what `verify_strict` says (they differ
/// on purpose on the mixed-order cases: every path here must follow the rule).
struct Case {
    name: &'static str,
    key: [u8; 32],
    sig: Signature,
    message: Vec<u8>,
    /// `None`: the key itself cannot be pinned.
    valid: Option<bool>,
}

fn cases() -> Vec<Case> {
    let m = b"backchannel edge case".to_vec();
    let a = scalar(7);
    let good_a = a * B;
    let mixed_a = good_a + EIGHT_TORSION[1];
    let r = scalar(9);
    let zero = EdwardsPoint::default();
    let honest = craft(a, good_a, r, zero, &m);
    let mut out = vec![
        Case {
            name: "honest signature",
            key: good_a.compress().to_bytes(),
            sig: honest,
            message: m.clone(),
            valid: Some(true),
        },
        Case {
            name: "honest signature, other message",
            key: good_a.compress().to_bytes(),
            sig: honest,
            message: b"another message".to_vec(),
            valid: Some(false),
        },
        Case {
            name: "mixed-order R (R = rB + T, T of order 8)",
            key: good_a.compress().to_bytes(),
            sig: craft(a, good_a, r, EIGHT_TORSION[1], &m),
            message: m.clone(),
            valid: Some(true),
        },
        Case {
            name: "mixed-order R (T of order 2)",
            key: good_a.compress().to_bytes(),
            sig: craft(a, good_a, r, EIGHT_TORSION[4], &m),
            message: m.clone(),
            valid: Some(true),
        },
        Case {
            name: "mixed-order A",
            key: mixed_a.compress().to_bytes(),
            sig: craft(a, mixed_a, r, zero, &m),
            message: m.clone(),
            valid: Some(true),
        },
        Case {
            name: "mixed-order A and R",
            key: mixed_a.compress().to_bytes(),
            sig: craft(a, mixed_a, r, EIGHT_TORSION[3], &m),
            message: m.clone(),
            valid: Some(true),
        },
        Case {
            name: "small-order A",
            key: EIGHT_TORSION[1].compress().to_bytes(),
            sig: honest,
            message: m.clone(),
            valid: None,
        },
    ];
    // Small-order R with S = 0 under a small-order key is the classic universal
    // forgery; with a real key, R small order and S = k·a ... is refused by rule 3.
    let small_r = {
        let big_r = EIGHT_TORSION[2].compress().to_bytes();
        let s = k(&big_r, &good_a.compress().to_bytes(), &m) * a;
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&big_r);
        bytes[32..].copy_from_slice(s.as_bytes());
        Signature::from_bytes(&bytes)
    };
    out.push(Case {
        name: "small-order R",
        key: good_a.compress().to_bytes(),
        sig: small_r,
        message: m.clone(),
        valid: Some(false),
    });
    // S + ℓ: the same point equation, a non-canonical scalar.
    let mut s_plus_l = honest.to_bytes();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s_plus_l[32 + i]) + u16::from(L[i]) + carry;
        s_plus_l[32 + i] = v as u8;
        carry = v >> 8;
    }
    out.push(Case {
        name: "non-canonical S (S + ℓ)",
        key: good_a.compress().to_bytes(),
        sig: Signature::from_bytes(&s_plus_l),
        message: m.clone(),
        valid: Some(false),
    });
    // A non-canonical encoding of R: the y of the order-1... use the identity's
    // non-canonical encoding y = p + 1 (decodes to y = 1).
    let mut noncanonical = [0xffu8; 32];
    noncanonical[0] = 0xee;
    noncanonical[31] = 0x7f;
    let mut r_nc = honest.to_bytes();
    r_nc[..32].copy_from_slice(&noncanonical);
    out.push(Case {
        name: "non-canonical R encoding",
        key: good_a.compress().to_bytes(),
        sig: Signature::from_bytes(&r_nc),
        message: m.clone(),
        valid: Some(false),
    });
    out.push(Case {
        name: "non-canonical A encoding",
        key: noncanonical,
        sig: honest,
        message: m,
        valid: None,
    });
    out
}

fn pinned(key: &[u8; 32]) -> Option<PublicIdentity> {
    PublicIdentity::from_bytes(PartyName::new("alpha").unwrap(), key).ok()
}

#[test]
fn every_edge_case_gets_the_same_verdict_single_and_batched() {
    for case in cases() {
        let id = pinned(&case.key);
        match (case.valid, id) {
            (None, None) => continue,
            (None, Some(_)) => panic!("{}: the key should not be pinnable", case.name),
            (Some(_), None) => panic!("{}: the key should be pinnable", case.name),
            (Some(valid), Some(id)) => {
                let single = signature_rule::verify(id.key(), &[&case.message], &case.sig);
                assert_eq!(single, valid, "{}: single", case.name);
                let batched = signature_rule::verify_batch(&[BatchItem {
                    key: id.key(),
                    message: [&case.message, &[]],
                    signature: &case.sig,
                }]);
                assert_eq!(batched, valid, "{}: batch of one", case.name);
                // In a batch with honest signatures too.
                let honest = cases().remove(0);
                let honest_id = pinned(&honest.key).unwrap();
                let pair = signature_rule::verify_batch(&[
                    BatchItem {
                        key: honest_id.key(),
                        message: [&honest.message, &[]],
                        signature: &honest.sig,
                    },
                    BatchItem {
                        key: id.key(),
                        message: [&case.message, &[]],
                        signature: &case.sig,
                    },
                ]);
                assert_eq!(pair, valid, "{}: batch of two", case.name);
            }
        }
    }
}

#[test]
fn the_mixed_order_case_is_where_verify_strict_disagrees() {
    // The reason for the rule: ed25519-dalek's verify_strict refuses what its batch
    // may accept. Our rule takes one side, everywhere.
    let case = cases()
        .into_iter()
        .find(|c| c.name.starts_with("mixed-order R (R"))
        .unwrap();
    let key = VerifyingKey::from_bytes(&case.key).unwrap();
    assert!(key.verify_strict(&case.message, &case.sig).is_err());
    assert!(signature_rule::verify(&key, &[&case.message], &case.sig));
}

/// An envelope from "alpha" (a key made here, so its nonce can be chosen) to bravo,
/// signed with a nonce whose R carries torsion point `t`; `tamper` signs something
/// else, so the signature must fail. `key` picks one of three keys for alpha: two
/// honest ones and one with a torsion component (mixed order, pinnable), so a batch
/// mixes keys, repeats them, and gathers their terms.
fn envelope_with_torsion(t: usize, tamper: bool, key: usize) -> (Vec<u8>, PublicIdentity) {
    let a = scalar(42 + (key % 3) as u8);
    let a_point = match key % 3 {
        2 => a * B + EIGHT_TORSION[4],
        _ => a * B,
    };
    let id = PublicIdentity::from_bytes(
        PartyName::new("alpha").unwrap(),
        &a_point.compress().to_bytes(),
    )
    .unwrap();
    let policy = PeerPolicy::new(&bravo().public(), id.clone(), ChannelMode::Signed, "main");
    let mut env = open(&alpha_stream(ChannelMode::Signed, 1)[0]);
    env.channel = policy.channel;
    let mut frame = Vec::new();
    seal_with_foreign_authenticator(&env, &[0; 64], &mut frame).unwrap();
    let content = EnvelopeIn::decode(&frame).unwrap().content().to_vec();
    let mut m = domain::ENVELOPE_SIGNATURE.to_vec();
    m.extend_from_slice(&content);
    if tamper {
        m.push(0);
    }
    let sig = craft(a, a_point, scalar(5), EIGHT_TORSION[t % 8], &m);
    let body = frame.len() - 64;
    frame[body..].copy_from_slice(&sig.to_bytes());
    (frame, id)
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn single_batch_recipient_and_judge_agree_on_mixed_order_signatures(
        picks in proptest::collection::vec((0usize..8, any::<bool>(), 0usize..3), 1..12),
    ) {
        let made: Vec<(Vec<u8>, PublicIdentity)> = picks
            .iter()
            .map(|(t, bad, key)| envelope_with_torsion(*t, *bad, *key))
            .collect();
        let decoded: Vec<EnvelopeIn<'_>> =
            made.iter().map(|(f, _)| EnvelopeIn::decode(f).unwrap()).collect();
        let single: Vec<bool> = decoded
            .iter()
            .zip(&made)
            .map(|(e, (_, id))| e.authenticate(id).is_ok())
            .collect();
        let items: Vec<(&EnvelopeIn<'_>, &PublicIdentity)> =
            decoded.iter().zip(made.iter().map(|(_, id)| id)).collect();
        let batch: Vec<bool> = authenticate_batch(&items).iter().map(Result::is_ok).collect();
        prop_assert_eq!(&single, &batch);
        for ((frame, id), (_, bad, _)) in made.iter().zip(&picks) {
            // The verdict is the signature's, not the torsion's.
            let ok = EnvelopeIn::decode(frame).unwrap().authenticate(id).is_ok();
            prop_assert_eq!(ok, !bad);
            // The recipient (a fresh bravo that pinned this key) and the judge agree.
            let mut recipient_ep = backchannel_proto::Endpoint::new(
                bravo(),
                vec![PeerPolicy::new(&bravo().public(), id.clone(), ChannelMode::Signed, "main")],
                quiet_config(),
            );
            let recipient = recipient_ep.handle_frame(at(10), frame).is_ok();
            let mut t = Recorder::new(&bravo());
            t.sent(at(0), frame);
            let report = judge(&t.bytes, &[id.clone(), bravo().public()]).unwrap();
            let provable = matches!(report.entries[0].finding, Finding::ProvablyWrittenBy { .. });
            prop_assert_eq!(recipient, ok);
            prop_assert_eq!(provable, ok);
        }
    }
}

fn vectors_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto-spec/test-vectors/signatures.json")
}

fn vectors() -> serde_json::Value {
    let cases: Vec<serde_json::Value> = cases()
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "public_key": hex::encode(c.key),
                "message": hex::encode(&c.message),
                "signature": hex::encode(c.sig.to_bytes()),
                "expect": match c.valid {
                    None => "key-refused",
                    Some(true) => "valid",
                    Some(false) => "invalid",
                },
            })
        })
        .collect();
    serde_json::json!({
        "description": "Ed25519 edge cases under backchannel's one verification rule (proto-spec/protocol.md §8): key-refused = the key cannot be pinned (rule 2); valid / invalid = the verdict of single and batch verification alike. The message is signed as is (no domain label). Hex is lower-case; keys and signatures are RFC 8032 encodings.",
        "cases": cases,
    })
}

#[test]
fn the_signature_vectors_file_matches_and_replays() {
    let built = vectors();
    let path = vectors_path();
    if std::env::var_os("BACKCHANNEL_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&built).unwrap() + "\n").unwrap();
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        stored, built,
        "proto-spec/test-vectors/signatures.json is stale: run BACKCHANNEL_BLESS=1 cargo test -p backchannel-proto --test signature_rule"
    );
    // Replayed from the file alone, as a second implementation would.
    for case in stored["cases"].as_array().unwrap() {
        let key: [u8; 32] = hex::decode(case["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let message = hex::decode(case["message"].as_str().unwrap()).unwrap();
        let sig: [u8; 64] = hex::decode(case["signature"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let sig = Signature::from_bytes(&sig);
        let verdict = match pinned(&key) {
            None => "key-refused",
            Some(id) => {
                let single = signature_rule::verify(id.key(), &[&message], &sig);
                let batch = signature_rule::verify_batch(&[BatchItem {
                    key: id.key(),
                    message: [&message, &[]],
                    signature: &sig,
                }]);
                assert_eq!(single, batch, "{}", case["name"]);
                if single { "valid" } else { "invalid" }
            }
        };
        assert_eq!(verdict, case["expect"], "{}", case["name"]);
    }
}

#[test]
fn rfc_8032_vectors_pass_the_rule() {
    // RFC 8032 §7.1, TEST 1 and TEST 2: any honest Ed25519 signature is valid here.
    for (public, message, signature) in [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ] {
        let key: [u8; 32] = hex::decode(public).unwrap().try_into().unwrap();
        let sig: [u8; 64] = hex::decode(signature).unwrap().try_into().unwrap();
        let message = hex::decode(message).unwrap();
        let id = pinned(&key).unwrap();
        let sig = Signature::from_bytes(&sig);
        assert!(signature_rule::verify(id.key(), &[&message], &sig));
        assert!(id.key().verify_strict(&message, &sig).is_ok());
        let mut wrong = message.clone();
        wrong.push(1);
        assert!(!signature_rule::verify(id.key(), &[&wrong], &sig));
    }
}
