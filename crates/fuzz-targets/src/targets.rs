//! The targets. Each asserts the protocol's claims about what it was given.

use std::path::Path;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use backchannel_broker::BrokerConfig;
use backchannel_lab::choices::FromBytes;
use backchannel_net::config_file::parse_toml;
use backchannel_party::PartyConfig;
use backchannel_proto::broker_session::{BrokerSession, LOGIN_REFUSED, SessionStep};
use backchannel_proto::frame::{FrameHeader, HEADER_LEN};
use backchannel_proto::judge::Finding;
use backchannel_proto::node::{LoginError, login_frame, mac_login_frame, parse_node_frame};
use backchannel_proto::transcript::parse_transcript;
use backchannel_proto::{
    Attestation, Body, ChannelMode, Endpoint, EnvelopeIn, PartyName, Rejection, judge, keyfile,
    persist, seal_with_foreign_authenticator,
};

use crate::fixtures::{T0, alpha, bravo, endpoint, genuine, keys, mode_from};

/// Arbitrary bytes into the frame, node-frame and envelope decoders.
pub fn frame_decode(data: &[u8]) {
    let _ = FrameHeader::parse(data);
    let _ = parse_node_frame(data);
    if let Ok(env) = EnvelopeIn::decode(data) {
        let mut again = Vec::new();
        let sealed =
            seal_with_foreign_authenticator(env.envelope(), env.authenticator(), &mut again);
        assert!(
            sealed.is_ok(),
            "a decoded envelope does not re-encode: {sealed:?}"
        );
        assert_eq!(
            again, data,
            "decode is not canonical: re-encoding gives other bytes"
        );
        assert_eq!(
            env.digest(),
            backchannel_proto::Digest::of_content(env.content())
        );
    }
}

/// Arbitrary bytes into bravo's full receive path, after 0 to 3 genuine envelopes from
/// alpha (chosen, with the mode, by the first byte).
pub fn envelope_verify(data: &[u8]) {
    let Some((&first, frame)) = data.split_first() else {
        return;
    };
    let mode = mode_from(first);
    let accepted_before = usize::from((first / 3) % 4);
    let genuine = genuine(mode);
    let now = T0.saturating_add(Duration::from_secs(10));
    let mut b = endpoint(bravo(), &alpha(), mode);
    for f in genuine.iter().take(accepted_before) {
        assert!(
            b.handle_frame(now, f).is_ok(),
            "a genuine frame was refused"
        );
    }
    let before = b.channel("alpha").map(|c| c.state().clone());
    match b.handle_frame(now, frame) {
        Ok(accepted) => {
            assert_eq!(accepted.envelope.mode, mode, "accepted in another mode");
            if mode.recipient_authenticates() {
                assert_eq!(
                    Some(frame),
                    genuine.get(accepted_before).map(Vec::as_slice),
                    "accepted, in {mode} mode, something alpha did not send next"
                );
            } else if !accepted.envelope.body.is_control() {
                assert_eq!(
                    accepted.envelope.seq,
                    accepted_before as u64 + 1,
                    "accepted out of order"
                );
            }
        }
        Err(Rejection::Expired { .. }) => {}
        Err(why) => {
            let after = b.channel("alpha").map(|c| c.state().clone());
            assert_eq!(
                after, before,
                "a rejection ({why}) changed the channel state"
            );
        }
    }
}

/// One event in a channel's life, chosen by the fuzzer.
#[derive(Arbitrary, Debug)]
enum Event {
    /// A party sends content (short validity or a day).
    Send { from_alpha: bool, short_ttl: bool },
    /// The broker delivers one of the frames a party produced, perhaps with a byte
    /// changed.
    Deliver {
        from_alpha: bool,
        pick: u8,
        flip: Option<(u16, u8)>,
    },
    /// Time passes.
    Tick { ms: u16 },
    /// A party reconnects (and sends again what has no receipt).
    Reconnect { alpha: bool },
}

/// A structured sequence of send / deliver / tick / reconnect events against alpha's
/// and bravo's state machines.
// Indices are 0 or 1 into two-element arrays, and `at` is reduced modulo the length.
#[allow(clippy::indexing_slicing)]
pub fn channel_sequence(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mode) = u8::arbitrary(&mut u).map(mode_from) else {
        return;
    };
    let mut parties = [
        endpoint(alpha(), &bravo(), mode),
        endpoint(bravo(), &alpha(), mode),
    ];
    let mut produced: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    let mut last_accepted = [0u64; 2];
    let mut now = T0;
    for _ in 0..64 {
        let Ok(event) = Event::arbitrary(&mut u) else {
            break;
        };
        match event {
            Event::Send {
                from_alpha,
                short_ttl,
            } => {
                let i = usize::from(!from_alpha);
                let peer = if from_alpha { "bravo" } else { "alpha" };
                let ttl = if short_ttl {
                    Duration::from_secs(1)
                } else {
                    Duration::from_secs(86_400)
                };
                let _ = parties[i].send(now, peer, Body::Text("words".into()), ttl);
            }
            Event::Deliver {
                from_alpha,
                pick,
                flip,
            } => {
                let from = usize::from(!from_alpha);
                let Some(original) = pick_frame(&produced[from], pick) else {
                    continue;
                };
                let mut frame = original.clone();
                if let Some((pos, mask)) = flip
                    && !frame.is_empty()
                {
                    let at = usize::from(pos) % frame.len();
                    frame[at] ^= mask;
                }
                deliver(
                    &mut parties[1 - from],
                    &frame,
                    &produced[from],
                    &mut last_accepted[1 - from],
                    now,
                    mode,
                );
            }
            Event::Tick { ms } => {
                now = now.saturating_add(Duration::from_millis(u64::from(ms)));
                for p in &mut parties {
                    p.handle_timeout(now);
                }
            }
            Event::Reconnect { alpha } => parties[usize::from(!alpha)].on_reconnect(now),
        }
        for (i, p) in parties.iter_mut().enumerate() {
            loop {
                let mut out = Vec::new();
                match p.poll_transmit(now, &mut out) {
                    Ok(Some(_)) => produced[i].push(out),
                    _ => break,
                }
            }
            while p.poll_event().is_some() {}
        }
    }
}

fn pick_frame(frames: &[Vec<u8>], pick: u8) -> Option<&Vec<u8>> {
    if frames.is_empty() {
        None
    } else {
        frames.get(usize::from(pick) % frames.len())
    }
}

#[allow(clippy::indexing_slicing)]
fn deliver(
    to: &mut Endpoint,
    frame: &[u8],
    produced_by_sender: &[Vec<u8>],
    last: &mut u64,
    now: backchannel_proto::Timestamp,
    mode: ChannelMode,
) {
    let peer = to
        .channels()
        .first()
        .map(|c| c.peer().identity.name().to_string())
        .unwrap_or_default();
    let before = to.channel(&peer).map(|c| c.state().clone());
    match to.handle_frame(now, frame) {
        Ok(accepted) => {
            assert_eq!(accepted.envelope.mode, mode, "accepted in another mode");
            if mode.recipient_authenticates() {
                assert!(
                    produced_by_sender.iter().any(|f| f == frame),
                    "accepted, in {mode} mode, a frame its sender never produced"
                );
            }
            if !accepted.envelope.body.is_control() {
                assert_eq!(
                    accepted.envelope.seq,
                    *last + 1,
                    "accepted out of order or twice"
                );
                *last = accepted.envelope.seq;
            }
        }
        Err(Rejection::Expired { .. }) => {
            *last = to.channel(&peer).map_or(*last, |c| c.state().received.seq);
        }
        Err(why) => {
            let after = to.channel(&peer).map(|c| c.state().clone());
            assert_eq!(
                after, before,
                "a rejection ({why}) changed the channel state"
            );
        }
    }
}

/// Frames before and after a login into the broker's per-connection state machine.
/// The first byte says whether a genuine login comes first (bit 0) and which (bit 1:
/// signed or MAC).
pub fn broker_session(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let exporter = [7u8; 32];
    let registered = keys();
    // The broker accepts signed and MAC logins; the genuine ones are each party's of
    // both kinds, on this session, to this broker.
    let broker_key = ed25519_dalek::SigningKey::from_bytes(&[0x0b; 32]);
    let genuine_logins: Vec<Vec<u8>> = [alpha(), bravo()]
        .iter()
        .flat_map(|id| {
            [
                login_frame(id, &exporter).ok(),
                mac_login_frame(id, &broker_key.verifying_key(), &exporter).ok(),
            ]
        })
        .flatten()
        .collect();
    let mut session = BrokerSession::new(exporter).accepting_mac_logins(Some(broker_key));
    if first & 1 == 1 {
        let login = genuine_logins
            .get(usize::from((first >> 1) & 1))
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(
            matches!(
                session.handle_frames(&[login], &registered),
                SessionStep::LoggedIn(_)
            ),
            "a genuine login was refused"
        );
    }
    let frames = split_frames(rest);
    let logged_in_before = session.party().is_some();
    match session.handle_frames(&frames, &registered) {
        SessionStep::LoggedIn(party) => {
            assert!(!logged_in_before, "logged in twice");
            let used = frames.first().copied().unwrap_or_default();
            assert!(
                genuine_logins.iter().any(|g| g == used),
                "a login that is not genuine logged in as {:?}",
                party.name()
            );
        }
        SessionStep::Envelopes(verdicts) => {
            assert!(logged_in_before, "envelopes handled before a login");
            let party = session.party().cloned();
            for ins in verdicts.into_iter().flatten() {
                let Some(p) = &party else { panic!("no party") };
                assert_eq!(
                    ins.envelope.envelope().sender,
                    p.name().as_str(),
                    "relayed in another party's name"
                );
                if let Attestation::Signed(_) = ins.attestation {
                    assert!(
                        ins.envelope.authenticate(p).is_ok(),
                        "batch accepted what strict verification refuses"
                    );
                }
            }
        }
        SessionStep::Close(_) => {}
        SessionStep::LoginRefused { notice, why } => {
            // Nothing about which names are registered leaks into the notice.
            if matches!(
                why,
                LoginError::UnknownParty(_) | LoginError::BadSignature(_)
            ) {
                assert_eq!(
                    notice.code, LOGIN_REFUSED,
                    "a login refusal tells {why:?} apart"
                );
            }
        }
    }
}

/// Splits bytes into frames by their headers; whatever cannot be split is one frame.
fn split_frames(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while !rest.is_empty() && frames.len() < 64 {
        let len = FrameHeader::parse(rest)
            .map_or(rest.len(), |h| HEADER_LEN + h.body_len)
            .min(rest.len());
        let (frame, tail) = rest.split_at(len);
        frames.push(frame);
        rest = tail;
    }
    frames
}

/// Arbitrary bytes as a transcript, judged with alpha's and bravo's keys.
pub fn transcript_verify(data: &[u8]) {
    let keys = keys();
    let Ok(report) = judge(data, &keys) else {
        return;
    };
    let parsed = parse_transcript(data);
    assert!(parsed.is_ok(), "judged a transcript that does not parse");
    let entries = parsed.map(|p| p.entries).unwrap_or_default();
    assert_eq!(report.entries.len(), entries.len());
    for (finding, entry) in report.entries.iter().zip(entries) {
        if let Finding::ProvablyWrittenBy { name, .. } = &finding.finding {
            let env = EnvelopeIn::decode(entry.frame);
            let key = keys.iter().find(|k| k.name().as_str() == name);
            let verified = match (env, key) {
                (Ok(env), Some(key)) => {
                    env.envelope().sender == name.as_str()
                        && matches!(env.authenticate(key), Ok(Attestation::Signed(_)))
                }
                _ => false,
            };
            assert!(
                verified,
                "the judge attributes to {name} what {name}'s key does not verify"
            );
        }
    }
}

/// Arbitrary text into the configuration, key, state and transcript parsers.
pub fn config_load(data: &[u8]) {
    let path = Path::new("fuzz-input");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_toml::<PartyConfig>(text, path);
        let _ = parse_toml::<BrokerConfig>(text, path);
        let _ = keyfile::parse_public_key(text, path);
        if let Ok(name) = PartyName::new("alpha") {
            let _ = keyfile::parse_signing_key(text, name, path);
        }
    }
    let _ = persist::decode_party_state(data);
    let _ = parse_transcript(data);
}

/// The random adversarial broker with the fuzzer choosing every move (the first byte
/// chooses the mode).
pub fn adversarial_broker(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if let Err(v) = backchannel_lab::sim::simulate(mode_from(first), &mut FromBytes::new(rest)) {
        panic!("{v}");
    }
}
