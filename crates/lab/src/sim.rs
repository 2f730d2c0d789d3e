//! The random adversarial broker: alpha and bravo exchange messages through a broker
//! whose every step is chosen by a seeded generator or by a fuzzer, in memory and in
//! simulated time, driving the same sans-IO core the real nodes run.
//!
//! The protocol's claims are checked as the run goes ([`Violation`] names the one that
//! broke):
//!
//! * in signed mode a party accepts only envelopes its peer produced;
//! * a party accepts content only in order, each sequence number once, and only in the
//!   channel's mode;
//! * a rejected envelope leaves the channel state unchanged (expiry excepted, §7.2);
//! * an accepted frame is the canonical encoding of what it decodes to;
//! * the judge labels as "provably written by X" only what X produced;
//! * nothing is lost silently: after the broker turns honest and the parties have had
//!   time to resend, every message either reached its recipient intact, was refused
//!   there as expired, or is still reported by its sender as unacknowledged.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use backchannel_proto::judge::Finding;
use backchannel_proto::transcript::{
    Direction, Entry, RecordedVerdict, encode_entry, transcript_header,
};
use backchannel_proto::{
    Body, ChannelConfig, ChannelMode, Digest, Endpoint, EnvelopeIn, PartyName, PeerPolicy,
    Rejection, SigningIdentity, Timestamp, judge, seal_deniable, seal_with_foreign_authenticator,
};

use crate::choices::Choices;

/// A claim that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {step}: {claim}")]
pub struct Violation {
    /// When.
    pub step: u32,
    /// What went wrong.
    pub claim: String,
}

/// What a run did, for statistics and for showing a reproduced seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// Frames the broker handled.
    pub frames: u32,
    /// What it did to each, in order (`forward`, `drop`, `flip`, ...).
    pub actions: Vec<&'static str>,
    /// Envelopes the parties accepted.
    pub accepted: u32,
    /// Envelopes the parties rejected.
    pub rejected: u32,
}

const NAMES: [&str; 2] = ["alpha", "bravo"];
/// Steps in which the broker misbehaves, then steps in which it is honest.
const HOSTILE_STEPS: u32 = 60;
const HONEST_STEPS: u32 = 40;

struct Party {
    endpoint: Endpoint,
    /// Digests of every envelope this party produced.
    produced: HashSet<Digest>,
    /// (seq, digest) of the peer's content this party accepted, in order.
    accepted: Vec<(u64, Digest)>,
    /// The peer's content seqs this party refused as expired.
    expired: Vec<u64>,
    /// The digest of each content envelope this party sent, by seq.
    sent: Vec<Digest>,
    transcript: Vec<u8>,
    to_send: u32,
}

struct InFlight {
    to: usize,
    frame: Vec<u8>,
    due: u32,
}

/// Runs one simulation in `mode`, every decision drawn from `choices`.
pub fn simulate(mode: ChannelMode, choices: &mut impl Choices) -> Result<SimReport, Violation> {
    let ids: Vec<SigningIdentity> = NAMES
        .iter()
        .zip([0xa1u8, 0xb2])
        .filter_map(|(n, seed)| {
            PartyName::new(n)
                .ok()
                .map(|n| SigningIdentity::from_secret_bytes(n, &[seed; 32]))
        })
        .collect();
    let keys: Vec<_> = ids.iter().map(SigningIdentity::public).collect();
    let config = ChannelConfig {
        ack_timeout: Duration::from_secs(1),
        heartbeat_interval: Some(Duration::from_millis(500)),
        ..ChannelConfig::default()
    };
    let mut parties: Vec<Party> = ids
        .iter()
        .enumerate()
        .map(|(i, me)| {
            let peer = ids.get(1 - i).map(SigningIdentity::public);
            let peers = peer
                .into_iter()
                .map(|p| PeerPolicy::new(&me.public(), p, mode, "main"))
                .collect();
            Party {
                endpoint: Endpoint::new(me.clone(), peers, config.clone()),
                produced: HashSet::new(),
                accepted: Vec::new(),
                expired: Vec::new(),
                sent: Vec::new(),
                transcript: transcript_header(me.name()),
                to_send: if i == 0 {
                    3 + choices.below(4)
                } else {
                    choices.below(4)
                },
            }
        })
        .collect();
    let mut now = Timestamp::from_millis(1_790_000_000_000);
    let mut flight: VecDeque<InFlight> = VecDeque::new();
    let mut report = SimReport::default();
    let mut seen: Vec<(usize, Vec<u8>)> = Vec::new();

    for step in 0..HOSTILE_STEPS + HONEST_STEPS {
        let hostile = step < HOSTILE_STEPS;
        now = now.saturating_add(Duration::from_millis(if hostile {
            u64::from(10 + choices.below(290))
        } else {
            300
        }));
        for (i, p) in parties.iter_mut().enumerate() {
            if p.to_send > 0 && (!hostile || choices.below(3) == 0) {
                p.to_send -= 1;
                let ttl = if choices.below(4) == 0 {
                    Duration::from_secs(2)
                } else {
                    Duration::from_secs(86_400)
                };
                let body = Body::Text(
                    format!(
                        "{} message {}",
                        NAMES.get(i).copied().unwrap_or("?"),
                        p.sent.len() + 1
                    )
                    .into(),
                );
                let peer = NAMES.get(1 - i).copied().unwrap_or("?");
                p.endpoint
                    .send(now, peer, body, ttl)
                    .map_err(|e| Violation {
                        step,
                        claim: format!("honest send refused: {e}"),
                    })?;
            }
            p.endpoint.handle_timeout(now);
            loop {
                let mut out = Vec::new();
                match p.endpoint.poll_transmit(now, &mut out) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        return Err(Violation {
                            step,
                            claim: format!("poll_transmit failed: {e}"),
                        });
                    }
                }
                let Ok(env) = EnvelopeIn::decode(&out) else {
                    return Err(Violation {
                        step,
                        claim: "a party produced an undecodable frame".into(),
                    });
                };
                p.produced.insert(env.digest());
                let e = env.envelope();
                if !e.body.is_control() && e.seq as usize > p.sent.len() {
                    p.sent.push(env.digest());
                }
                record(
                    &mut p.transcript,
                    Direction::Sent,
                    now,
                    RecordedVerdict::Sent,
                    "",
                    &out,
                );
                let action = if hostile { choices.below(14) } else { 0 };
                report.frames += 1;
                report.actions.push(broker_move(
                    action,
                    i,
                    out,
                    step,
                    mode,
                    choices,
                    &mut flight,
                    &mut seen,
                ));
            }
        }
        // Deliver what is due, in order.
        let mut later = VecDeque::new();
        while let Some(f) = flight.pop_front() {
            if f.due > step {
                later.push_back(f);
                continue;
            }
            deliver(&mut parties, f.to, &f.frame, now, mode, step, &mut report)?;
        }
        flight = later;
        for p in &mut parties {
            while p.endpoint.poll_event().is_some() {}
        }
    }
    final_checks(&parties, &keys, mode)?;
    Ok(report)
}

/// The broker's decision about one frame from party `from`.
#[allow(clippy::too_many_arguments)]
fn broker_move(
    action: u32,
    from: usize,
    frame: Vec<u8>,
    step: u32,
    mode: ChannelMode,
    choices: &mut impl Choices,
    flight: &mut VecDeque<InFlight>,
    seen: &mut Vec<(usize, Vec<u8>)>,
) -> &'static str {
    let to = 1 - from;
    let send = |flight: &mut VecDeque<InFlight>, to: usize, frame: Vec<u8>, due: u32| {
        flight.push_back(InFlight { to, frame, due });
    };
    seen.push((from, frame.clone()));
    match action {
        0..=5 => {
            send(flight, to, frame, step);
            "forward"
        }
        6 => "drop",
        7 => {
            send(flight, to, frame.clone(), step);
            send(flight, to, frame, step);
            "duplicate"
        }
        8 => {
            let due = step + 1 + choices.below(6);
            send(flight, to, frame, due);
            "delay"
        }
        9 => {
            // Reorder: deliver it before the last frame still in flight.
            let at = flight.len().saturating_sub(1);
            flight.insert(
                at,
                InFlight {
                    to,
                    frame,
                    due: step,
                },
            );
            "reorder"
        }
        10 => {
            let mut bad = frame;
            let len = u32::try_from(bad.len()).unwrap_or(u32::MAX);
            let pos = choices.below(len) as usize;
            let mask = choices.byte() | 1;
            if let Some(b) = bad.get_mut(pos) {
                *b ^= mask;
            }
            send(flight, to, bad, step);
            "flip"
        }
        11 => {
            send(flight, to, frame.clone(), step);
            if let Some(forged) = forge_after(&frame, mode) {
                send(flight, to, forged, step);
            }
            "forge"
        }
        12 => {
            send(flight, to, frame, step);
            // Splice: an old frame, delivered again, possibly to the wrong party.
            let pick = choices.below(u32::try_from(seen.len()).unwrap_or(u32::MAX)) as usize;
            if let Some((origin, old)) = seen.get(pick).cloned() {
                let target = if choices.below(2) == 0 {
                    origin
                } else {
                    1 - origin
                };
                send(flight, target, old, step);
            }
            "splice"
        }
        _ => {
            send(flight, to, strip(&frame).unwrap_or(frame), step);
            "strip"
        }
    }
}

/// What the broker can make of "the sender's next message": the same fields one
/// further, new words, and the old authenticator (signed) or none (deniable).
fn forge_after(frame: &[u8], mode: ChannelMode) -> Option<Vec<u8>> {
    let env = EnvelopeIn::decode(frame).ok()?;
    let mut e = env.envelope().clone().into_owned();
    if e.body.is_control() {
        return None;
    }
    e.seq = e.seq.checked_add(1)?;
    e.prev = env.digest();
    e.body = Body::Text("We will strike first.".into());
    let mut out = Vec::new();
    match mode {
        ChannelMode::Deniable => seal_deniable(&e, &mut out).ok()?,
        _ => seal_with_foreign_authenticator(&e, env.authenticator(), &mut out).ok()?,
    };
    Some(out)
}

/// The same envelope with its signature removed and relabelled deniable.
fn strip(frame: &[u8]) -> Option<Vec<u8>> {
    let env = EnvelopeIn::decode(frame).ok()?;
    let mut e = env.envelope().clone().into_owned();
    e.mode = ChannelMode::Deniable;
    let mut out = Vec::new();
    seal_deniable(&e, &mut out).ok()?;
    Some(out)
}

fn deliver(
    parties: &mut [Party],
    to: usize,
    frame: &[u8],
    now: Timestamp,
    mode: ChannelMode,
    step: u32,
    report: &mut SimReport,
) -> Result<(), Violation> {
    let fail = |claim: String| Violation { step, claim };
    let peer_produced: HashSet<Digest> = parties
        .get(1 - to)
        .map(|p| p.produced.clone())
        .unwrap_or_default();
    let Some(p) = parties.get_mut(to) else {
        return Ok(());
    };
    let peer = NAMES.get(1 - to).copied().unwrap_or("?");
    let before = p.endpoint.channel(peer).map(|c| c.state().clone());
    let verdict = p.endpoint.handle_frame(now, frame);
    let (recorded, reason) = match &verdict {
        Ok(_) => (RecordedVerdict::Accepted, String::new()),
        Err(why) => (RecordedVerdict::Rejected, why.code().to_owned()),
    };
    record(
        &mut p.transcript,
        Direction::Received,
        now,
        recorded,
        &reason,
        frame,
    );
    match verdict {
        Ok(accepted) => {
            report.accepted += 1;
            if accepted.envelope.mode != mode {
                return Err(fail(format!(
                    "accepted an envelope in {} on a {mode} channel",
                    accepted.envelope.mode
                )));
            }
            if mode.recipient_authenticates() && !peer_produced.contains(&accepted.digest) {
                return Err(fail(format!(
                    "accepted, in {mode} mode, an envelope its sender never produced"
                )));
            }
            let env = EnvelopeIn::decode(frame)
                .map_err(|e| fail(format!("accepted but undecodable: {e}")))?;
            let mut again = Vec::new();
            seal_with_foreign_authenticator(&accepted.envelope, env.authenticator(), &mut again)
                .map_err(|e| fail(format!("cannot re-encode an accepted envelope: {e}")))?;
            if again != frame {
                return Err(fail(
                    "an accepted frame is not the canonical encoding of its fields".into(),
                ));
            }
            if !accepted.envelope.body.is_control() {
                let last = p.accepted.last().map_or(0, |(s, _)| *s);
                let last = last.max(p.expired.last().copied().unwrap_or(0));
                if accepted.envelope.seq != last + 1 {
                    return Err(fail(format!(
                        "accepted seq {} after {last}",
                        accepted.envelope.seq
                    )));
                }
                p.accepted.push((accepted.envelope.seq, accepted.digest));
            }
        }
        Err(why) => {
            report.rejected += 1;
            if let Rejection::Expired { .. } = why {
                if let Ok(env) = EnvelopeIn::decode(frame)
                    && !env.envelope().body.is_control()
                {
                    p.expired.push(env.envelope().seq);
                }
            } else {
                let after = p.endpoint.channel(peer).map(|c| c.state().clone());
                if after != before {
                    return Err(fail(format!(
                        "a rejection ({}) changed the channel state",
                        why.code()
                    )));
                }
            }
        }
    }
    Ok(())
}

fn record(
    t: &mut Vec<u8>,
    direction: Direction,
    at: Timestamp,
    verdict: RecordedVerdict,
    reason: &str,
    frame: &[u8],
) {
    let _ = encode_entry(
        &Entry {
            direction,
            recorded_at: at,
            verdict,
            reason,
            frame,
        },
        t,
    );
}

fn final_checks(
    parties: &[Party],
    keys: &[backchannel_proto::PublicIdentity],
    mode: ChannelMode,
) -> Result<(), Violation> {
    let fail = |claim: String| Violation {
        step: HOSTILE_STEPS + HONEST_STEPS,
        claim,
    };
    for (i, p) in parties.iter().enumerate() {
        let Some(peer) = parties.get(1 - i) else {
            continue;
        };
        let peer_name = NAMES.get(1 - i).copied().unwrap_or("?");
        let channel = p
            .endpoint
            .channel(peer_name)
            .ok_or_else(|| fail("a channel disappeared".into()))?;
        for (k, digest) in p.sent.iter().enumerate() {
            let seq = k as u64 + 1;
            let delivered = peer.accepted.iter().any(|(s, d)| *s == seq && d == digest);
            let expired = peer.expired.contains(&seq);
            let reported = channel
                .state()
                .unacked
                .iter()
                .any(|o| o.seq == seq && o.reported);
            if !(delivered || expired || reported) {
                return Err(fail(format!(
                    "{}'s #{seq} was lost silently: not delivered, not refused as expired, not reported unacknowledged",
                    NAMES.get(i).copied().unwrap_or("?")
                )));
            }
        }
        let report = judge(&p.transcript, keys).map_err(|e| fail(format!("judge: {e}")))?;
        for (entry, e) in report.entries.iter().zip(
            backchannel_proto::transcript::parse_transcript(&p.transcript)
                .map(|t| t.entries)
                .unwrap_or_default(),
        ) {
            if let Finding::ProvablyWrittenBy { name, .. } = &entry.finding {
                let author = NAMES.iter().position(|n| n == name);
                let digest = EnvelopeIn::decode(e.frame).map(|x| x.digest()).ok();
                let produced = author
                    .and_then(|a| parties.get(a))
                    .zip(digest)
                    .is_some_and(|(a, d)| a.produced.contains(&d));
                if !produced || mode != ChannelMode::Signed {
                    return Err(fail(format!(
                        "the judge attributes to {name} an envelope {name} did not sign"
                    )));
                }
            }
        }
    }
    Ok(())
}
