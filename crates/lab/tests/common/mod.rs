//! An in-memory world for the lab's tests: alpha, bravo and charlie endpoints (the
//! real core) talk through a broker strategy with no sockets and simulated time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use std::collections::VecDeque;
use std::time::Duration;

use backchannel_proto::knowledge::Knowledge;
use backchannel_proto::relay::{Delivery, Forward, RelayStrategy, inspect_batch};
use backchannel_proto::transcript::{
    Direction, Entry, RecordedVerdict, encode_entry, parse_transcript,
};
use backchannel_proto::{
    Body, ChannelConfig, ChannelMode, Endpoint, Event, PartyName, PeerPolicy, Rejection,
    SigningIdentity, Timestamp,
};

pub const NAMES: [&str; 3] = ["alpha", "bravo", "charlie"];

pub struct World {
    pub parties: Vec<Endpoint>,
    pub broker: Box<dyn RelayStrategy>,
    pub now: Timestamp,
    pub rejections: Vec<(String, Rejection)>,
    /// (recipient, sender, body) of every content envelope a party accepted.
    pub accepted: Vec<(String, String, Body<'static>)>,
    pub delivered_to_bravo: u64,
    /// Each party's transcript, recorded as the party node records it (what it sent,
    /// what it accepted, what it refused and why), in the order of `parties`.
    pub transcripts: Vec<Vec<u8>>,
}

impl World {
    pub fn new(attack: &str, mode: ChannelMode) -> Self {
        World::with_broker(mode, |registered| {
            backchannel_lab::strategy(attack, registered).unwrap()
        })
    }

    /// A world whose broker runs the strategy `broker` builds for the registered parties.
    pub fn with_broker(
        mode: ChannelMode,
        broker: impl FnOnce(&[backchannel_proto::PublicIdentity]) -> Box<dyn RelayStrategy>,
    ) -> Self {
        let ids: Vec<SigningIdentity> = NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| {
                SigningIdentity::from_secret_bytes(PartyName::new(n).unwrap(), &[i as u8 + 1; 32])
            })
            .collect();
        let registered: Vec<_> = ids.iter().map(SigningIdentity::public).collect();
        let config = ChannelConfig {
            ack_timeout: Duration::from_secs(1),
            heartbeat_interval: Some(Duration::from_millis(300)),
            ..ChannelConfig::default()
        };
        let parties = ids
            .iter()
            .map(|me| {
                let peers = ids
                    .iter()
                    .filter(|p| p.name() != me.name())
                    .map(|p| PeerPolicy::new(&me.public(), p.public(), mode, "main"))
                    .collect();
                Endpoint::new(me.clone(), peers, config.clone())
            })
            .collect();
        World {
            parties,
            broker: broker(&registered),
            now: Timestamp::from_millis(1_790_000_000_000),
            rejections: Vec::new(),
            accepted: Vec::new(),
            delivered_to_bravo: 0,
            transcripts: ids
                .iter()
                .map(|id| backchannel_proto::transcript::transcript_header(id.name()))
                .collect(),
        }
    }

    /// Delivers frames to their parties, recording each verdict.
    pub fn hand_over(&mut self, deliveries: Vec<Delivery>) {
        for d in deliveries {
            let to = NAMES.iter().position(|n| *n == d.to).unwrap();
            let verdict = self.parties[to].handle_frame(self.now, &d.frame);
            let reason = match &verdict {
                Ok(_) => String::new(),
                Err(why) => format!("{}: {why}", why.code()),
            };
            self.record(to, Direction::Received, &reason, &d.frame);
            match verdict {
                Ok(a) if !a.envelope.body.is_control() => self.accepted.push((
                    d.to.clone(),
                    a.envelope.sender.to_string(),
                    a.envelope.body.clone().into_owned(),
                )),
                Ok(_) => {}
                Err(why) => self.rejections.push((d.to.clone(), why)),
            }
        }
    }

    /// Records what party `i` received, with its verdict (`reason` empty: accepted).
    fn record(&mut self, i: usize, direction: Direction, reason: &str, frame: &[u8]) {
        let verdict = if reason.is_empty() {
            RecordedVerdict::Accepted
        } else {
            RecordedVerdict::Rejected
        };
        let entry = Entry {
            direction,
            recorded_at: self.now,
            verdict,
            reason,
            frame,
        };
        encode_entry(&entry, &mut self.transcripts[i]).unwrap();
    }

    /// What party `name` knows now, from its transcript.
    pub fn knowledge(&self, name: &str) -> Knowledge {
        let i = NAMES.iter().position(|n| *n == name).unwrap();
        let parsed = parse_transcript(&self.transcripts[i]).unwrap();
        Knowledge::build(name, parsed.entries, self.now)
    }

    /// Advances time by `ms`, running every party's timers and moving every frame
    /// through the broker until nothing is left to move.
    pub fn step(&mut self, ms: u64) {
        self.now = self.now.saturating_add(Duration::from_millis(ms));
        for p in &mut self.parties {
            p.handle_timeout(self.now);
        }
        let mut queue: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
        for _round in 0..50 {
            for (i, p) in self.parties.iter_mut().enumerate() {
                loop {
                    let mut out = Vec::new();
                    match p.poll_transmit(self.now, &mut out).unwrap() {
                        Some(_) => {
                            let entry = Entry {
                                direction: Direction::Sent,
                                recorded_at: self.now,
                                verdict: RecordedVerdict::Sent,
                                reason: "",
                                frame: &out,
                            };
                            encode_entry(&entry, &mut self.transcripts[i]).unwrap();
                            queue.push_back((i, out));
                        }
                        None => break,
                    }
                }
            }
            // What a strategy decided later (the desk) is delivered in this round too.
            let mut later: Vec<Delivery> = Vec::new();
            self.broker.poll(self.now, &mut later);
            if queue.is_empty() && later.is_empty() {
                break;
            }
            self.hand_over(later);
            while let Some((from, frame)) = queue.pop_front() {
                let me = self.parties[from].me().public();
                let registered: Vec<_> = self.parties.iter().map(|p| p.me().public()).collect();
                let inspected = inspect_batch(&me, &[&frame], &registered).pop().unwrap();
                let Ok(inspected) = inspected else { continue };
                let mut extra: Vec<Delivery> = Vec::new();
                let forward = self.broker.relay(self.now, &inspected, &mut extra);
                if forward == Forward::Original {
                    extra.insert(
                        0,
                        Delivery {
                            to: inspected.envelope.envelope().recipient.to_string(),
                            frame: frame.clone(),
                        },
                    );
                }
                self.hand_over(extra);
            }
        }
        while let Some((peer, event)) = self.parties[0].poll_event() {
            if let (true, Event::Acknowledged { up_to, .. }) = (peer.as_str() == "bravo", event) {
                self.delivered_to_bravo = self.delivered_to_bravo.max(up_to);
            }
        }
    }
}

/// 128 proptest cases by default, as the project's other property tests; set
/// `PROPTEST_CASES` for a longer run.
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
