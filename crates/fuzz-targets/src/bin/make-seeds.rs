//! Writes the seed corpus of every fuzz target to `fuzz/seeds/<target>/`, built from
//! the test vectors in `proto-spec/test-vectors/` and from genuine traffic between the
//! fixed identities. Deterministic: running it again writes the same files.
//!
//! Usage: cargo run -p backchannel-fuzz-targets --bin make-seeds [-- OUT_DIR]

// serde_json's read-only indexing yields Null for a missing key; it cannot panic.
#![allow(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use backchannel_fuzz_targets::fixtures::{T0, alpha, bravo, endpoint, genuine};
use backchannel_proto::transcript::{
    Direction, Entry, RecordedVerdict, encode_entry, transcript_header,
};
use backchannel_proto::{Body, ChannelMode, keyfile, node, persist};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| root.join("fuzz/seeds"), PathBuf::from);
    let vectors: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("proto-spec/test-vectors/envelopes.json"),
    )?)?;
    let mut vector_frames = Vec::new();
    for seq in vectors["sequences"].as_array().into_iter().flatten() {
        for case in seq["cases"].as_array().into_iter().flatten() {
            if let Some(h) = case["frame"].as_str() {
                vector_frames.push(hex::decode(h)?);
            }
        }
    }
    let signed = genuine(ChannelMode::Signed);
    let deniable = genuine(ChannelMode::Deniable);
    let off_record = genuine(ChannelMode::OffRecord);
    let login = node::login_frame(&alpha(), &[7u8; 32])?;

    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };

    for (i, f) in vector_frames.iter().enumerate() {
        write("frame_decode", &format!("vector-{i:02}"), f)?;
        write(
            "envelope_verify",
            &format!("vector-{i:02}"),
            &[&[0u8][..], f].concat(),
        )?;
    }
    write("frame_decode", "login", &login)?;
    // envelope_verify's first byte: mode = byte % 3 (signed, deniable, off-record),
    // genuine envelopes accepted before = (byte / 3) % 4.
    for (k, f) in signed.iter().enumerate() {
        let first = u8::try_from(k).unwrap_or(0) * 3;
        write(
            "envelope_verify",
            &format!("signed-next-{k}"),
            &[&[first][..], f].concat(),
        )?;
        write(
            "broker_session",
            &format!("after-login-{k}"),
            &[&[1u8][..], f].concat(),
        )?;
    }
    for (k, f) in deniable.iter().enumerate() {
        let first = u8::try_from(k).unwrap_or(0) * 3 + 1;
        write(
            "envelope_verify",
            &format!("deniable-next-{k}"),
            &[&[first][..], f].concat(),
        )?;
    }
    for (k, f) in off_record.iter().enumerate() {
        let first = u8::try_from(k).unwrap_or(0) * 3 + 2;
        write(
            "envelope_verify",
            &format!("off-record-next-{k}"),
            &[&[first][..], f].concat(),
        )?;
    }
    write(
        "broker_session",
        "login-then-envelope",
        &[
            &[0u8][..],
            &login,
            signed.first().map(Vec::as_slice).unwrap_or_default(),
        ]
        .concat(),
    )?;
    write(
        "broker_session",
        "garbage-before-login",
        b"\x00GET / HTTP/1.1\r\n\r\n",
    )?;

    for (name, mode) in [
        ("signed", ChannelMode::Signed),
        ("deniable", ChannelMode::Deniable),
        ("off-record", ChannelMode::OffRecord),
    ] {
        let t = conversation(mode);
        write("transcript_verify", name, &t)?;
        write("config_load", &format!("transcript-{name}"), &t)?;
    }

    let me = alpha();
    write(
        "config_load",
        "public-key",
        keyfile::encode_public_key(&bravo().public()).as_bytes(),
    )?;
    write("config_load", "party.toml", PARTY_TOML.as_bytes())?;
    write("config_load", "broker.toml", BROKER_TOML.as_bytes())?;
    let pem = keyfile::encode_signing_key(&me)?;
    write("config_load", "private-key.pem", pem.as_bytes())?;
    let mut ep = endpoint(alpha(), &bravo(), ChannelMode::Signed);
    let _ = ep.send(
        T0,
        "bravo",
        Body::Text("kept until acknowledged".into()),
        Duration::from_secs(60),
    );
    let states: Vec<(&str, &backchannel_proto::ChannelState)> =
        ep.channels().iter().map(|c| ("bravo", c.state())).collect();
    write(
        "config_load",
        "state",
        &persist::encode_party_state(0, &states)?,
    )?;

    for (i, seed) in [1u64, 2, 3, 42].iter().enumerate() {
        let mut bytes = vec![u8::try_from(i % 2).unwrap_or(0)];
        let mut x = *seed;
        for _ in 0..400 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            bytes.push((x >> 56) as u8);
        }
        write("adversarial_broker", &format!("seed-{seed}"), &bytes)?;
        write("channel_sequence", &format!("seed-{seed}"), &bytes)?;
    }
    println!("seeds written under {}", out.display());
    Ok(())
}

/// A short signed conversation as bravo records it.
fn conversation(mode: ChannelMode) -> Vec<u8> {
    let mut a = endpoint(alpha(), &bravo(), mode);
    let mut b = endpoint(bravo(), &alpha(), mode);
    let mut t = transcript_header(bravo().name());
    let record = |t: &mut Vec<u8>, direction, verdict, frame: &[u8]| {
        let _ = encode_entry(
            &Entry {
                direction,
                recorded_at: T0,
                verdict,
                reason: "",
                frame,
            },
            t,
        );
    };
    for i in 0..3u64 {
        let now = T0.saturating_add(Duration::from_secs(i));
        let _ = a.send(
            now,
            "bravo",
            Body::Text(format!("message {i}").into()),
            Duration::from_secs(86_400),
        );
        let mut out = Vec::new();
        while let Ok(Some(_)) = a.poll_transmit(now, &mut out) {
            let verdict = if b.handle_frame(now, &out).is_ok() {
                RecordedVerdict::Accepted
            } else {
                RecordedVerdict::Rejected
            };
            record(&mut t, Direction::Received, verdict, &out);
            out.clear();
        }
        while let Ok(Some(_)) = b.poll_transmit(now, &mut out) {
            record(&mut t, Direction::Sent, RecordedVerdict::Sent, &out);
            let _ = a.handle_frame(now, &out);
            out.clear();
        }
    }
    t
}

const PARTY_TOML: &str = r#"name = "alpha"
private_key = "alpha.key"
broker = "127.0.0.1:7878"
broker_certificate = "broker.crt"
transcript = "alpha.transcript"
state = "alpha.state"

[[peer]]
name = "bravo"
public_key = "bravo.pub"
mode = "signed"
"#;

const BROKER_TOML: &str = r#"listen = "127.0.0.1:7878"
certificate = "broker.crt"
private_key = "broker.key"
queue_limit = 10000

[[party]]
name = "alpha"
public_key = "alpha.pub"
"#;
