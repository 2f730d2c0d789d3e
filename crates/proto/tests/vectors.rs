//! Test vectors: `proto-spec/test-vectors/envelopes.json`.
//!
//! Two tests. One rebuilds every vector from the fixed seeds and checks the file
//! holds exactly those bytes (set `BACKCHANNEL_BLESS=1` to rewrite the file after an
//! intended wire change). The other replays the file against fresh receivers, as a
//! second implementation would, without building anything itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::PathBuf;

use backchannel_proto::frame::{FrameHeader, FrameKind};
use backchannel_proto::{
    Assurance, Body, ChannelId, ChannelMode, Digest, Endpoint, Envelope, EnvelopeIn, Revocation,
    SigningIdentity, Timestamp, off_record, seal_off_record,
};
use common::*;
use serde_json::{Value, json};

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-spec/test-vectors/envelopes.json")
}

fn identity_json(who: &SigningIdentity, seed: u8, role: &str) -> Value {
    json!({
        "role": role,
        "name": who.name().as_str(),
        "secret_key": hex::encode([seed; 32]),
        "public_key": hex::encode(who.public().key().as_bytes()),
        "fingerprint": who.public().fingerprint().to_string(),
    })
}

fn case(name: &str, now: Timestamp, frame: &[u8], expect: &str) -> Value {
    let mut v = json!({
        "name": name,
        "now_ms": now.as_millis(),
        "frame": hex::encode(frame),
        "expect": expect,
    });
    if let Ok(env) = EnvelopeIn::decode(frame) {
        v["content"] = json!(hex::encode(env.content()));
        v["chain_digest"] = json!(env.digest().to_hex());
        if env.envelope().mode == ChannelMode::Signed {
            v["signature"] = json!(hex::encode(&frame[frame.len() - 64..]));
        }
    }
    v
}

/// Sends `body` from `from` at `now` and returns the frame.
fn send(
    ep: &mut Endpoint,
    now: Timestamp,
    to: &str,
    body: Body<'_>,
    ttl: std::time::Duration,
) -> Vec<u8> {
    ep.send(now, to, body, ttl).unwrap();
    let mut frames = drain(ep, now);
    assert_eq!(frames.len(), 1);
    frames.pop().unwrap()
}

fn signed_sequence() -> Value {
    let mut a = endpoint(alpha(), &[bravo(), charlie()], ChannelMode::Signed);
    let assurance = Body::Assurance(Assurance {
        id: "A-1".into(),
        commitment: "No preemptive strike".into(),
        condition: "absent provocation".into(),
        valid_until: at(30 * 86_400),
    });
    let s1 = send(&mut a, at(0), "bravo", assurance, DAY);
    let s2 = send(
        &mut a,
        at(1),
        "bravo",
        Body::Text("Our aircraft will keep clear of the agreed corridor.".into()),
        DAY,
    );
    let s3 = send(
        &mut a,
        at(2),
        "bravo",
        Body::Text(
            "Any strike on energy infrastructure will be treated as an attack on the state.".into(),
        ),
        DAY,
    );
    let mut altered = s2.clone();
    let i = altered.len() - 64 - 10;
    altered[i] ^= 0x20;
    let to_charlie = send(
        &mut a,
        at(2),
        "charlie",
        Body::Text("for charlie only".into()),
        DAY,
    );
    let s4 = send(
        &mut a,
        at(3),
        "bravo",
        Body::Revocation(Revocation {
            assurance_id: "A-1".into(),
            reason: "Assurance A-1 is withdrawn as of now.".into(),
        }),
        DAY,
    );
    let mut downgrade = open(&s4);
    downgrade.body = Body::Text("(stripped and relabelled by the broker)".into());
    let downgraded = reseal(downgrade, None);
    let mut forged = open(&s4);
    forged.body = Body::Text("We will strike first.".into());
    let forged = reseal(forged, Some(&mallory_claiming("alpha")));
    let mut from_charlie = endpoint(charlie(), &[bravo()], ChannelMode::Signed);
    let charlie_frame = send(
        &mut from_charlie,
        at(3),
        "bravo",
        Body::Text("hello from charlie".into()),
        DAY,
    );
    let mut spliced = open(&s4);
    spliced.channel = ChannelId::derive(
        alpha().public().key(),
        bravo().public().key(),
        ChannelMode::Signed,
        "other",
    );
    let spliced = reseal_as_alpha(spliced);
    let mut bad_magic = s1.clone();
    bad_magic[0] = b'X';
    let oversize = FrameHeader::encode(FrameKind::Envelope, 70_000).to_vec();
    let mut v3 = s1.clone();
    v3[5] = 3;
    let bad_refusal = {
        let mut e = open(&s1);
        e.refused.count = 1;
        e.refused.recent[0] = backchannel_proto::Refusal {
            seq: 5,
            code: backchannel_proto::RefusalCode::Expired,
        };
        reseal_as_alpha(e)
    };
    // Alpha's state after s4: build the later envelopes from it.
    let s5_short = {
        let mut e = open(&s4);
        e.seq = 5;
        e.prev = EnvelopeIn::decode(&s4).unwrap().digest();
        e.sent_at = at(4);
        e.expires_at = at(5);
        e.body = Body::Text("valid for one second".into());
        reseal_as_alpha(e)
    };
    let s6_future = {
        let mut e = open(&s4);
        e.seq = 6;
        e.prev = EnvelopeIn::decode(&s5_short).unwrap().digest();
        e.sent_at = at(3600);
        e.expires_at = at(3600 + 86_400);
        e.body = Body::Text("sent an hour from now".into());
        reseal_as_alpha(e)
    };
    let s6_fork = {
        let mut e = open(&s4);
        e.seq = 6;
        e.prev = Digest([0x42; 32]);
        e.sent_at = at(5);
        e.expires_at = at(5 + 86_400);
        e.body = Body::Text("a different history".into());
        reseal_as_alpha(e)
    };
    json!({
        "receiver": "bravo",
        "mode": "signed",
        "peers": ["alpha"],
        "cases": [
            case("assurance, seq 1", at(10), &s1, "accepted"),
            case("the same frame again", at(10), &s1, "rejected:replay"),
            case("seq 2 with one bit of its text flipped", at(10), &altered, "rejected:bad-signature"),
            case("seq 3 before seq 2", at(10), &s3, "rejected:gap"),
            case("seq 2", at(10), &s2, "accepted"),
            case("seq 3", at(10), &s3, "accepted"),
            case("alpha's message for charlie, redirected to bravo", at(10), &to_charlie, "rejected:wrong-recipient"),
            case("seq 4 stripped of its signature and relabelled deniable", at(10), &downgraded, "rejected:mode-mismatch"),
            case("seq 4 rewritten and signed by a key that is not alpha's", at(10), &forged, "rejected:bad-signature"),
            case("an envelope from charlie, whom bravo does not know", at(10), &charlie_frame, "rejected:unknown-sender"),
            case("seq 4 moved to another channel", at(10), &spliced, "rejected:wrong-channel"),
            case("bad magic", at(10), &bad_magic, "rejected:malformed"),
            case("a header announcing 70000 bytes", at(10), &oversize, "rejected:oversize"),
            case("protocol version 3", at(10), &v3, "rejected:unsupported-version"),
            case(
                "a refusal list naming an envelope beyond its acknowledgement",
                at(10),
                &bad_refusal,
                "rejected:malformed",
            ),
            case("revocation, seq 4", at(10), &s4, "accepted"),
            case("seq 5 after its expiry (the chain moves past it)", at(10), &s5_short, "rejected:expired"),
            case("seq 6 sent an hour ahead of the receiver's clock", at(10), &s6_future, "rejected:from-the-future"),
            case("seq 6 that does not link to seq 5", at(10), &s6_fork, "rejected:chain-mismatch"),
        ],
    })
}

fn deniable_sequence() -> Value {
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Deniable);
    let d1 = send(
        &mut a,
        at(0),
        "bravo",
        Body::Text("No preemptive strike absent provocation.".into()),
        DAY,
    );
    let d2 = send(
        &mut a,
        at(5),
        "bravo",
        Body::Text("Our aircraft will keep clear of the agreed corridor.".into()),
        DAY,
    );
    let d3 = send(
        &mut a,
        at(9),
        "bravo",
        Body::Text("Assurance A-1 is withdrawn as of now.".into()),
        DAY,
    );
    // The broker invents seq 2 "from alpha".
    let mut forged = open(&d2);
    forged.body = Body::Text("We will strike first.".into());
    let forged = reseal(forged, None);
    // ... and renumbers alpha's real seq 2 as seq 3, though it was sent before the forgery's time.
    let mut renumbered = open(&d2);
    renumbered.seq = 3;
    renumbered.prev = EnvelopeIn::decode(&forged).unwrap().digest();
    renumbered.sent_at = at(1);
    let renumbered = reseal(renumbered, None);
    let signed = alpha_stream(ChannelMode::Signed, 1).pop().unwrap();
    json!({
        "receiver": "bravo",
        "mode": "deniable",
        "peers": ["alpha"],
        "cases": [
            case("seq 1, unattested", at(10), &d1, "accepted"),
            case("a signed envelope on a deniable channel", at(10), &signed, "rejected:mode-mismatch"),
            case("seq 2 invented by the broker: accepted, because nothing can tell", at(10), &forged, "accepted"),
            case("alpha's real seq 2, renumbered 3, sent before the forgery's time", at(10), &renumbered, "rejected:out-of-order"),
            case("alpha's real seq 3 no longer links: the forgery forked the history", at(10), &d3, "rejected:chain-mismatch"),
        ],
    })
}

/// The MAC key alpha uses for `epoch` on its chain to bravo (`protocol.md` §6.4),
/// derived as a second implementation would, from the identities.
fn alpha_mac_key(env: &Envelope<'_>, epoch: u64) -> off_record::Secret32 {
    let secret = off_record::pair_secret(alpha().signing_key(), bravo().public().key()).unwrap();
    let mut chain = off_record::chain_root(&secret, env.version, env.channel, "alpha", "bravo");
    for _ in 0..epoch {
        chain = off_record::next_chain(&chain);
    }
    off_record::mac_key(&chain)
}

/// Off-record rejections a careful second implementation must give the same codes
/// for: a replay, a gap (which still moves the key cursor), a bad tag, a wrong reveal
/// (checked after the tag), a key used after it was revealed, a copy under a revealed
/// key, and an epoch too far ahead to derive.
fn off_record_sequence() -> Value {
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::OffRecord);
    let mut b = endpoint(bravo(), &[alpha()], ChannelMode::OffRecord);
    let text = |t: &str| Body::Text(t.to_owned().into());
    let o1 = send(
        &mut a,
        at(0),
        "bravo",
        text("No preemptive strike absent provocation."),
        DAY,
    );
    // A heartbeat alpha could have sent after seq 1: announcing head 1, so in epoch 1,
    // tagged with mac[1].
    let mut heartbeat = open(&o1);
    heartbeat.body = Body::Heartbeat;
    heartbeat.prev = EnvelopeIn::decode(&o1).unwrap().digest();
    heartbeat.sent_at = at(1);
    heartbeat.expires_at = at(1).saturating_add(DAY);
    assert_eq!(off_record::epoch_of(&heartbeat), 1);
    let mut old_heartbeat = Vec::new();
    seal_off_record(
        &heartbeat,
        &alpha_mac_key(&heartbeat, 1),
        None,
        &mut old_heartbeat,
    )
    .unwrap();
    let o2 = send(
        &mut a,
        at(2),
        "bravo",
        text("Our aircraft will keep clear of the agreed corridor."),
        DAY,
    );
    let o3 = send(
        &mut a,
        at(4),
        "bravo",
        text("Talks can continue through this channel."),
        DAY,
    );
    for f in [&o1, &o2, &o3] {
        b.handle_frame(at(5), f).unwrap();
    }
    for f in drain(&mut b, at(6)) {
        a.handle_frame(at(6), &f).unwrap();
    }
    // Acknowledged up to 3: alpha's next envelope reveals epoch 2.
    let o4 = send(
        &mut a,
        at(8),
        "bravo",
        text("Assurance A-1 is withdrawn as of now."),
        DAY,
    );
    let e4 = open(&o4);
    assert_eq!(off_record::epoch_of(&e4), 3);
    // o4 with a reveal of epoch 2 that is not mac[2] (it is mac[1]), correctly tagged.
    let mut bad_reveal = Vec::new();
    seal_off_record(
        &e4,
        &alpha_mac_key(&e4, 3),
        Some((2, &alpha_mac_key(&e4, 1))),
        &mut bad_reveal,
    )
    .unwrap();
    // o3 with one bit of its tag flipped.
    let mut bad_mac = o3.clone();
    let last = bad_mac.len() - 1;
    bad_mac[last] ^= 1;
    // Content numbered 5,000: epoch 4,999, more than 4,096 epochs past the cursor.
    let mut far = e4.clone();
    far.seq = 5_000;
    let mut far_ahead = Vec::new();
    seal_off_record(&far, &alpha_mac_key(&e4, 3), None, &mut far_ahead).unwrap();
    json!({
        "receiver": "bravo",
        "mode": "off-record",
        "peers": ["alpha"],
        "cases": [
            case("seq 1, MAC'd under mac[0]", at(10), &o1, "accepted"),
            case("seq 1 again: a copy of an accepted number", at(10), &o1, "rejected:replay"),
            case("seq 3 before seq 2: authentic, so the key cursor moves to epoch 2, but the chain has a gap", at(10), &o3, "rejected:gap"),
            case("seq 2: epoch 1 is behind the cursor and its key is kept", at(10), &o2, "accepted"),
            case("seq 3 with one bit of its tag flipped", at(10), &bad_mac, "rejected:bad-mac"),
            case("seq 3", at(10), &o3, "accepted"),
            case("seq 4, correctly tagged, revealing epoch 2 with the wrong key (the tag is checked first, then the reveal)", at(10), &bad_reveal, "rejected:bad-reveal"),
            case("seq 4, revealing mac[2]: epochs 0 to 2 are published", at(10), &o4, "accepted"),
            case("a heartbeat of alpha's announcing head 1 (epoch 1, now revealed)", at(10), &old_heartbeat, "rejected:revealed-key"),
            case("seq 2 again, under a revealed key: a copy of an accepted number is a replay", at(10), &o2, "rejected:replay"),
            case("seq 5000: epoch 4999, beyond the 4,096 epochs derived ahead of the cursor", at(10), &far_ahead, "rejected:stale-epoch"),
        ],
    })
}

fn build() -> Value {
    json!({
        "description": "backchannel v2 envelope test vectors. Each sequence starts a fresh receiver with the given peers pinned in the given mode (channel label \"main\", default timing of proto-spec/protocol.md §7.4) and feeds the frames in order at now_ms; expect is the verdict: accepted, or rejected:<code>. Hex is lower-case. Secret keys are the 32-byte Ed25519 seeds.",
        "spec": "proto-spec/protocol.md",
        "identities": [
            identity_json(&alpha(), 0xa1, "party"),
            identity_json(&bravo(), 0xb2, "party"),
            identity_json(&charlie(), 0xc3, "party"),
            identity_json(&mallory_claiming("alpha"), 0x66, "impostor: pinned by nobody, signs as alpha"),
        ],
        "sequences": [signed_sequence(), deniable_sequence(), off_record_sequence()],
    })
}

#[test]
fn vectors_file_matches_the_implementation() {
    let built = build();
    let path = vectors_path();
    if std::env::var_os("BACKCHANNEL_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&built).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        stored, built,
        "proto-spec/test-vectors/envelopes.json is stale: if the wire format changed on purpose, \
         update the spec and run BACKCHANNEL_BLESS=1 cargo test -p backchannel-proto --test vectors -- --test-threads 1"
    );
}

#[test]
fn vectors_replay_against_fresh_receivers() {
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    let ids: Vec<SigningIdentity> = stored["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(i["secret_key"].as_str().unwrap(), &mut seed).unwrap();
            let id = SigningIdentity::from_secret_bytes(
                backchannel_proto::PartyName::new(i["name"].as_str().unwrap()).unwrap(),
                &seed,
            );
            assert_eq!(
                hex::encode(id.public().key().as_bytes()),
                i["public_key"].as_str().unwrap()
            );
            assert_eq!(
                id.public().fingerprint().to_string(),
                i["fingerprint"].as_str().unwrap()
            );
            id
        })
        .collect();
    // The impostor (last) also calls itself alpha; parties come first.
    let find = |name: &str| {
        ids.iter()
            .find(|i| i.name().as_str() == name)
            .unwrap()
            .clone()
    };
    let mut checked = 0;
    for seq in stored["sequences"].as_array().unwrap() {
        let mode: ChannelMode = seq["mode"].as_str().unwrap().parse().unwrap();
        let peers: Vec<SigningIdentity> = seq["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| find(p.as_str().unwrap()))
            .collect();
        let mut receiver = endpoint(find(seq["receiver"].as_str().unwrap()), &peers, mode);
        for c in seq["cases"].as_array().unwrap() {
            let frame = hex::decode(c["frame"].as_str().unwrap()).unwrap();
            let now = Timestamp::from_millis(c["now_ms"].as_u64().unwrap());
            if let Some(d) = c["chain_digest"].as_str() {
                assert_eq!(EnvelopeIn::decode(&frame).unwrap().digest().to_hex(), d);
            }
            let got = match receiver.handle_frame(now, &frame) {
                Ok(_) => "accepted".to_owned(),
                Err(why) => format!("rejected:{}", why.code()),
            };
            assert_eq!(got, c["expect"].as_str().unwrap(), "case {:?}", c["name"]);
            checked += 1;
        }
    }
    assert!(checked >= 20);
}
