//! Test vectors for off-record mode: `proto-spec/test-vectors/off-record.json`.
//!
//! One test rebuilds the file from fixed keys and checks it holds exactly those bytes
//! (`BACKCHANNEL_BLESS=1` rewrites it after an intended change). The other checks the
//! file along a second path: HKDF recomputed with a hand-written HMAC-SHA256 (RFC 2104
//! and 5869) over `sha2`, the pair secret from both sides and from the Edwards side,
//! and every tag through the one AEAD call that also passes RFC 8439's own vector.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::PathBuf;

use backchannel_proto::off_record::{self, Secret32};
use backchannel_proto::{Body, ChannelMode, EnvelopeIn, ProtocolVersion};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-spec/test-vectors/off-record.json")
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn arr32(v: &Value) -> [u8; 32] {
    hx(v).try_into().unwrap()
}

/// The vectors, built with the implementation from fixed keys.
fn build() -> Value {
    let (a, b) = (alpha(), bravo());
    let mode = ChannelMode::OffRecord;
    let channel = policy(&a, &b, mode).channel;
    let pair = off_record::pair_secret(a.signing_key(), b.public().key()).unwrap();
    let mut directions = Vec::new();
    for (from, to) in [("alpha", "bravo"), ("bravo", "alpha")] {
        let root = off_record::chain_root(&pair, ProtocolVersion::CURRENT, channel, from, to);
        let mut chain = root.clone();
        let mut epochs = Vec::new();
        for e in 0..3u64 {
            epochs.push(json!({
                "epoch": e,
                "chain_key": hex::encode(chain.as_bytes()),
                "mac_key": hex::encode(off_record::mac_key(&chain).as_bytes()),
            }));
            chain = off_record::next_chain(&chain);
        }
        directions.push(json!({ "sender": from, "recipient": to, "epochs": epochs }));
    }
    // A conversation: alpha #1, bravo's receipt, alpha #2 (which reveals epoch 0).
    let mut ea = endpoint(a.clone(), std::slice::from_ref(&b), mode);
    let mut eb = endpoint(b.clone(), std::slice::from_ref(&a), mode);
    let mut frames = Vec::new();
    for (i, words) in ["No preemptive strike.", "Talks can continue."]
        .iter()
        .enumerate()
    {
        let now = at(i as u64);
        ea.send(now, "bravo", Body::Text((*words).into()), DAY)
            .unwrap();
        for f in drain(&mut ea, now) {
            eb.handle_frame(now, &f).unwrap();
            frames.push(f);
        }
        for f in drain(&mut eb, now) {
            ea.handle_frame(now, &f).unwrap();
            frames.push(f);
        }
    }
    let envelopes: Vec<Value> = frames
        .iter()
        .map(|f| {
            let env = EnvelopeIn::decode(f).unwrap();
            let e = env.envelope();
            let auth = off_record::OffRecordAuth::parse(env.authenticator()).unwrap();
            json!({
                "sender": e.sender,
                "recipient": e.recipient,
                "kind": e.body.kind().as_str(),
                "seq": e.seq,
                "epoch": off_record::epoch_of(e),
                "nonce": hex::encode(off_record::nonce_for(e)),
                "content": hex::encode(env.content()),
                "reveal": hex::encode(auth.reveal_bytes),
                "aad": hex::encode(off_record::associated_data(env.content(), auth.reveal_bytes)),
                "tag": hex::encode(auth.tag),
                "frame": hex::encode(f),
            })
        })
        .collect();
    json!({
        "description": "Off-record mode (protocol.md §6.4): key schedule, nonces, tags and reveals from fixed identity keys (secret key = the byte repeated 32 times). All values hex.",
        "alpha": { "secret_key": hex::encode([0xa1u8; 32]), "public_key": hex::encode(a.public().key().as_bytes()) },
        "bravo": { "secret_key": hex::encode([0xb2u8; 32]), "public_key": hex::encode(b.public().key().as_bytes()) },
        "version": ProtocolVersion::CURRENT.to_u16(),
        "channel": hex::encode(channel.0),
        "pair_secret": hex::encode(pair.as_bytes()),
        "directions": directions,
        "envelopes": envelopes,
    })
}

#[test]
fn the_file_holds_exactly_what_the_implementation_builds() {
    let built = serde_json::to_string_pretty(&build()).unwrap() + "\n";
    if std::env::var_os("BACKCHANNEL_BLESS").is_some() {
        std::fs::write(path(), &built).unwrap();
    }
    let on_disk = std::fs::read_to_string(path()).unwrap();
    assert_eq!(
        on_disk, built,
        "off-record.json is stale: rerun with BACKCHANNEL_BLESS=1 after an intended change"
    );
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// HKDF-Expand for one 32-byte block: T(1) = HMAC(PRK, info || 0x01).
fn expand32(prk: &[u8], info: &[u8]) -> [u8; 32] {
    hmac_sha256(prk, &[info, &[1u8]].concat())
}

#[test]
fn a_second_path_agrees_with_every_vector() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let a_secret = ed25519_dalek::SigningKey::from_bytes(&arr32(&v["alpha"]["secret_key"]));
    let b_secret = ed25519_dalek::SigningKey::from_bytes(&arr32(&v["bravo"]["secret_key"]));
    // The pair secret: both sides, and the Edwards side (a * B, mapped to Montgomery).
    let pair = arr32(&v["pair_secret"]);
    let ab = off_record::pair_secret(&a_secret, &b_secret.verifying_key()).unwrap();
    let ba = off_record::pair_secret(&b_secret, &a_secret.verifying_key()).unwrap();
    assert_eq!(ab.as_bytes(), &pair);
    assert_eq!(ba.as_bytes(), &pair);
    let edwards = b_secret.verifying_key().to_edwards() * a_secret.to_scalar();
    assert_eq!(edwards.to_montgomery().to_bytes(), pair);

    // The key schedule, with a hand-written HKDF.
    let channel = hx(&v["channel"]);
    let version = u16::try_from(v["version"].as_u64().unwrap()).unwrap();
    for d in v["directions"].as_array().unwrap() {
        let (from, to) = (
            d["sender"].as_str().unwrap(),
            d["recipient"].as_str().unwrap(),
        );
        let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
        let mut info = version.to_be_bytes().to_vec();
        info.extend_from_slice(&channel);
        for n in [lo, hi] {
            info.push(n.len() as u8);
            info.extend_from_slice(n.as_bytes());
        }
        info.push(u8::from(from > to));
        let prk = hmac_sha256(b"backchannel/v1/off-record/root\0", &pair);
        let mut chain = expand32(&prk, &info);
        for e in d["epochs"].as_array().unwrap() {
            assert_eq!(chain, arr32(&e["chain_key"]), "{from}->{to} {e}");
            let mac = expand32(&chain, b"backchannel/v1/off-record/mac\0");
            assert_eq!(mac, arr32(&e["mac_key"]), "{from}->{to} {e}");
            chain = expand32(&chain, b"backchannel/v1/off-record/next\0");
        }
    }

    // Every tag, through the AEAD call, from the file's own key, nonce and aad; and the
    // aad as the spec lays it out.
    for e in v["envelopes"].as_array().unwrap() {
        let dir = v["directions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["sender"] == e["sender"])
            .unwrap();
        let epoch = e["epoch"].as_u64().unwrap() as usize;
        let key = arr32(&dir["epochs"][epoch]["mac_key"]);
        let content = hx(&e["content"]);
        let reveal = hx(&e["reveal"]);
        let mut aad = b"backchannel/v1/off-record/tag\0".to_vec();
        aad.extend_from_slice(&(content.len() as u32).to_be_bytes());
        aad.extend_from_slice(&content);
        aad.extend_from_slice(&reveal);
        assert_eq!(aad, hx(&e["aad"]));
        let nonce: [u8; 12] = hx(&e["nonce"]).try_into().unwrap();
        assert_eq!(
            off_record::aead_seal_detached(&key, &nonce, &aad, &mut []).to_vec(),
            hx(&e["tag"]),
            "{e}"
        );
        if !reveal.is_empty() {
            // A reveal publishes the MAC key of its epoch, exactly.
            let revealed = u64::from_be_bytes(reveal[..8].try_into().unwrap()) as usize;
            assert_eq!(
                reveal[8..],
                dir["epochs"][revealed]["mac_key"]
                    .as_str()
                    .map(|k| hex::decode(k).unwrap())
                    .unwrap()[..]
            );
        }
        // The whole frame is header || u32 len || content || reveal || tag.
        let frame = hx(&e["frame"]);
        assert!(frame.ends_with(&[reveal.clone(), hx(&e["tag"])].concat()));
    }
    // At least one envelope in the file reveals a key.
    assert!(
        v["envelopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| !e["reveal"].as_str().unwrap().is_empty())
    );
}

#[test]
fn rfc_8439_section_2_8_2_passes_through_the_same_aead_call() {
    let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let nonce = [
        0x07, 0x00, 0x00, 0x00, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
    ];
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let mut text = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
    let tag = off_record::aead_seal_detached(&key, &nonce, &aad, &mut text);
    assert_eq!(hex::encode(tag), "1ae10b594f09e26a7e902ecbd0600691");
    assert_eq!(
        hex::encode(&text),
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
    );
    // And a tag made by `tag` is what the AEAD gives for an empty plaintext.
    let k = Secret32::from_bytes(key);
    assert_eq!(
        off_record::tag(&k, &nonce, b"content", b""),
        off_record::aead_seal_detached(
            &key,
            &nonce,
            &off_record::associated_data(b"content", b""),
            &mut []
        )
    );
}
