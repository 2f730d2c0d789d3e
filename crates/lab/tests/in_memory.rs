//! Every move, in memory and deterministic: alpha, bravo and charlie endpoints talk
//! through an adversarial broker with no sockets and simulated time. In signed mode
//! every attack but the honest one is refused by someone or leaves alpha without a
//! receipt; in deniable mode the adaptive broker gets everything but a suppressed
//! receipt past every check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::VecDeque;
use std::time::Duration;

use backchannel_lab::moves::ALL;
use backchannel_proto::relay::{Delivery, Forward, RelayStrategy, inspect_batch};
use backchannel_proto::{
    Assurance, Body, ChannelConfig, ChannelMode, Endpoint, Event, PartyName, PeerPolicy, Rejection,
    Revocation, SigningIdentity, Timestamp,
};

const NAMES: [&str; 3] = ["alpha", "bravo", "charlie"];

struct World {
    parties: Vec<Endpoint>,
    broker: Box<dyn RelayStrategy>,
    now: Timestamp,
    rejections: Vec<(String, Rejection)>,
    delivered_to_bravo: u64,
}

impl World {
    fn new(attack: &str, mode: ChannelMode) -> Self {
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
            broker: backchannel_lab::strategy(attack, &registered).unwrap(),
            now: Timestamp::from_millis(1_790_000_000_000),
            rejections: Vec::new(),
            delivered_to_bravo: 0,
        }
    }

    /// Advances time by `ms`, running every party's timers and moving every frame
    /// through the broker until nothing is left to move.
    fn step(&mut self, ms: u64) {
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
                        Some(_) => queue.push_back((i, out)),
                        None => break,
                    }
                }
            }
            if queue.is_empty() {
                break;
            }
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
                for d in extra {
                    let to = NAMES.iter().position(|n| *n == d.to).unwrap();
                    if let Err(why) = self.parties[to].handle_frame(self.now, &d.frame) {
                        self.rejections.push((d.to.clone(), why));
                    }
                }
            }
        }
        while let Some((peer, event)) = self.parties[0].poll_event() {
            if let (true, Event::Acknowledged { up_to, .. }) = (peer.as_str() == "bravo", event) {
                self.delivered_to_bravo = self.delivered_to_bravo.max(up_to);
            }
        }
    }
}

fn play(attack: &str, mode: ChannelMode) -> World {
    let mut w = World::new(attack, mode);
    w.step(0);
    w.parties[0]
        .send(
            w.now,
            "charlie",
            Body::Text("Talks can continue.".into()),
            Duration::from_secs(3600),
        )
        .unwrap();
    w.step(50);
    let valid_until = w.now.saturating_add(Duration::from_secs(86_400));
    let script = [
        (
            Body::Assurance(Assurance {
                id: "A-1".into(),
                commitment: "No preemptive strike".into(),
                condition: "absent provocation".into(),
                valid_until,
            }),
            3_600_000,
        ),
        (
            Body::Text("Our aircraft will keep clear of the agreed corridor.".into()),
            1500,
        ),
        (
            Body::Revocation(Revocation {
                assurance_id: "A-1".into(),
                reason: "withdrawn".into(),
            }),
            3_600_000,
        ),
    ];
    for (body, ttl) in script {
        w.parties[0]
            .send(w.now, "bravo", body, Duration::from_millis(ttl))
            .unwrap();
        w.step(50);
    }
    for _ in 0..40 {
        w.step(100);
    }
    w
}

#[test]
fn signed_mode_catches_every_broker_attack() {
    for attack in ALL.iter().filter(|a| **a != "honest") {
        let w = play(attack, ChannelMode::Signed);
        let caught = !w.rejections.is_empty() || w.delivered_to_bravo < 3;
        assert!(caught, "{attack} went unnoticed in signed mode");
    }
    let honest = play("honest", ChannelMode::Signed);
    assert!(honest.rejections.is_empty(), "{:?}", honest.rejections);
    assert_eq!(honest.delivered_to_bravo, 3);
}

#[test]
fn the_adaptive_broker_passes_every_check_in_deniable_mode() {
    for attack in ALL.iter().filter(|a| **a != "drop-receipt") {
        let w = play(attack, ChannelMode::Deniable);
        assert!(w.rejections.is_empty(), "{attack}: {:?}", w.rejections);
        assert_eq!(
            w.delivered_to_bravo, 3,
            "{attack}: alpha must believe all was delivered"
        );
    }
    let suppressed = play("drop-receipt", ChannelMode::Deniable);
    assert_eq!(
        suppressed.delivered_to_bravo, 0,
        "a suppressed receipt shows"
    );
}
