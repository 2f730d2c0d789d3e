//! Shared fixtures for the core's integration tests: fixed identities, endpoints, and
//! "frankenstein" builders that craft hostile envelopes (openmls's habit).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::time::Duration;

use backchannel_proto::{
    Body, ChannelConfig, ChannelMode, Endpoint, Envelope, EnvelopeIn, PartyName, PeerPolicy,
    SigningIdentity, Timestamp, seal_deniable, seal_signed,
};

/// The fixed start of simulated time: 2026-09-22T12:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_790_078_400_000);

/// A day, the default validity used in tests.
pub const DAY: Duration = Duration::from_secs(86_400);

pub fn at(secs_after_t0: u64) -> Timestamp {
    T0.saturating_add(Duration::from_secs(secs_after_t0))
}

fn identity(name: &str, seed: u8) -> SigningIdentity {
    SigningIdentity::from_secret_bytes(PartyName::new(name).unwrap(), &[seed; 32])
}

pub fn alpha() -> SigningIdentity {
    identity("alpha", 0xa1)
}

pub fn bravo() -> SigningIdentity {
    identity("bravo", 0xb2)
}

pub fn charlie() -> SigningIdentity {
    identity("charlie", 0xc3)
}

/// Not a party anyone pinned; claims to be others.
pub fn mallory_claiming(name: &str) -> SigningIdentity {
    identity(name, 0x66)
}

pub fn policy(me: &SigningIdentity, peer: &SigningIdentity, mode: ChannelMode) -> PeerPolicy {
    PeerPolicy::new(&me.public(), peer.public(), mode, "main")
}

/// Config without heartbeats, so tests see only the traffic they make.
pub fn quiet_config() -> ChannelConfig {
    ChannelConfig {
        heartbeat_interval: None,
        ..ChannelConfig::default()
    }
}

pub fn endpoint(me: SigningIdentity, peers: &[SigningIdentity], mode: ChannelMode) -> Endpoint {
    let policies = peers.iter().map(|p| policy(&me, p, mode)).collect();
    Endpoint::new(me, policies, quiet_config())
}

/// Every frame `ep` wants to transmit now.
pub fn drain(ep: &mut Endpoint, now: Timestamp) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    loop {
        let mut out = Vec::new();
        match ep.poll_transmit(now, &mut out).unwrap() {
            Some(_) => frames.push(out),
            None => return frames,
        }
    }
}

/// `n` text envelopes from alpha to bravo, sent one second apart, as frames.
pub fn alpha_stream(mode: ChannelMode, n: usize) -> Vec<Vec<u8>> {
    let mut a = endpoint(alpha(), &[bravo()], mode);
    (0..n)
        .map(|i| {
            let now = at(i as u64);
            a.send(now, "bravo", Body::Text(format!("message {i}").into()), DAY)
                .unwrap();
            let mut frames = drain(&mut a, now);
            assert_eq!(frames.len(), 1);
            frames.pop().unwrap()
        })
        .collect()
}

/// The decoded, owned envelope inside `frame`.
pub fn open(frame: &[u8]) -> Envelope<'static> {
    EnvelopeIn::decode(frame)
        .unwrap()
        .envelope()
        .clone()
        .into_owned()
}

/// Seals `env` signed by `signer` (whoever that is), or deniable when `signer` is
/// `None`. The envelope's mode is set to match.
pub fn reseal(mut env: Envelope<'_>, signer: Option<&SigningIdentity>) -> Vec<u8> {
    let mut out = Vec::new();
    match signer {
        Some(s) => {
            env.mode = ChannelMode::Signed;
            seal_signed(&env, s, &mut out).unwrap();
        }
        None => {
            env.mode = ChannelMode::Deniable;
            seal_deniable(&env, &mut out).unwrap();
        }
    }
    out
}

/// Seals `env` in its own mode with alpha's key when signed: a well-formed envelope
/// whose fields are whatever the test set.
pub fn reseal_as_alpha(env: Envelope<'_>) -> Vec<u8> {
    match env.mode {
        ChannelMode::Signed => reseal(env, Some(&alpha())),
        _ => reseal(env, None),
    }
}
