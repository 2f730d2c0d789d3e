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
    SigningIdentity, Timestamp, Transmitted, seal_deniable, seal_signed,
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

/// Signed, deniable or off-record, from a proptest draw.
pub fn mode_of(which: u8) -> ChannelMode {
    match which % 3 {
        0 => ChannelMode::Signed,
        1 => ChannelMode::Deniable,
        _ => ChannelMode::OffRecord,
    }
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

/// Every frame `ep` wants to transmit now, each checked against what `poll_transmit`
/// said it is (a driver records control envelopes on that word alone).
pub fn drain(ep: &mut Endpoint, now: Timestamp) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    loop {
        let mut out = Vec::new();
        let Some((_, what)) = ep.poll_transmit(now, &mut out).unwrap() else {
            return frames;
        };
        let decoded = EnvelopeIn::decode(&out).unwrap();
        let e = decoded.envelope();
        match what {
            Transmitted::Control => assert!(e.body.is_control(), "{e:?}"),
            Transmitted::Content { seq } => {
                assert!(!e.body.is_control() && e.seq == seq, "{what:?}: {e:?}");
            }
        }
        frames.push(out);
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

/// A party's transcript being written as a driver would: header, then one record per
/// envelope sent or received.
pub struct Recorder {
    pub bytes: Vec<u8>,
}

impl Recorder {
    pub fn new(owner: &SigningIdentity) -> Self {
        Recorder {
            bytes: backchannel_proto::transcript::transcript_header(owner.name()),
        }
    }

    pub fn sent(&mut self, now: Timestamp, frame: &[u8]) {
        self.push(
            backchannel_proto::transcript::Direction::Sent,
            backchannel_proto::transcript::RecordedVerdict::Sent,
            "",
            now,
            frame,
        );
    }

    /// Records `frame` as received and accepted, whatever it is (a doctored copy).
    pub fn accepted(&mut self, now: Timestamp, frame: &[u8]) {
        use backchannel_proto::transcript::{Direction, RecordedVerdict};
        self.push(
            Direction::Received,
            RecordedVerdict::Accepted,
            "",
            now,
            frame,
        );
    }

    pub fn received(
        &mut self,
        now: Timestamp,
        frame: &[u8],
        verdict: &Result<backchannel_proto::Accepted<'_>, backchannel_proto::Rejection>,
    ) {
        use backchannel_proto::transcript::{Direction, RecordedVerdict};
        match verdict {
            Ok(_) => self.push(
                Direction::Received,
                RecordedVerdict::Accepted,
                "",
                now,
                frame,
            ),
            Err(why) => {
                let reason = format!("{}: {why}", why.code());
                self.push(
                    Direction::Received,
                    RecordedVerdict::Rejected,
                    &reason,
                    now,
                    frame,
                );
            }
        }
    }

    fn push(
        &mut self,
        direction: backchannel_proto::transcript::Direction,
        verdict: backchannel_proto::transcript::RecordedVerdict,
        reason: &str,
        now: Timestamp,
        frame: &[u8],
    ) {
        let entry = backchannel_proto::transcript::Entry {
            direction,
            recorded_at: now,
            verdict,
            reason,
            frame,
        };
        backchannel_proto::transcript::encode_entry(&entry, &mut self.bytes).unwrap();
    }
}

/// alpha sends `n` assurances to bravo, bravo acknowledges each batch and replies once;
/// returns both transcripts (alpha's, bravo's).
pub fn recorded_conversation(mode: ChannelMode, n: usize) -> (Recorder, Recorder) {
    let mut a = endpoint(alpha(), &[bravo()], mode);
    let mut b = endpoint(bravo(), &[alpha()], mode);
    let (mut ta, mut tb) = (Recorder::new(&alpha()), Recorder::new(&bravo()));
    for i in 0..n {
        let now = at(i as u64);
        let body = Body::Assurance(backchannel_proto::Assurance {
            id: format!("A-{i}").into(),
            commitment: "No preemptive strike".into(),
            condition: "absent provocation".into(),
            valid_until: at(30 * 86_400),
        });
        a.send(now, "bravo", body, DAY).unwrap();
        exchange(&mut a, &mut ta, &mut b, &mut tb, now);
        if i == 0 {
            b.send(
                now,
                "alpha",
                Body::Text("No initiation of military action absent provocation.".into()),
                DAY,
            )
            .unwrap();
        }
        exchange(&mut b, &mut tb, &mut a, &mut ta, now);
        exchange(&mut a, &mut ta, &mut b, &mut tb, now);
    }
    (ta, tb)
}

/// Moves everything `from` wants to send to `to`, recording both sides.
pub fn exchange(
    from: &mut Endpoint,
    t_from: &mut Recorder,
    to: &mut Endpoint,
    t_to: &mut Recorder,
    now: Timestamp,
) {
    for f in drain(from, now) {
        t_from.sent(now, &f);
        let verdict = to.handle_frame(now, &f);
        t_to.received(now, &f, &verdict);
    }
}

/// 128 proptest cases by default, so the suite stays fast in CI; set `PROPTEST_CASES`
/// for a longer run.
pub fn proptest_config() -> proptest::prelude::ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    proptest::prelude::ProptestConfig {
        cases,
        ..proptest::prelude::ProptestConfig::default()
    }
}
