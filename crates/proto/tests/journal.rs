//! The transcript is the party's journal: replaying it (from the start, or from any
//! snapshot) gives exactly the channel state the live channel has.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use backchannel_proto::journal::{ReplayError, replay};
use backchannel_proto::transcript::{header_len, parse_records};
use backchannel_proto::{Body, ChannelMode, ChannelState, Endpoint, Timestamp};
use common::*;
use proptest::prelude::*;

/// One step of a conversation between alpha and bravo over a lossy broker.
#[derive(Clone, Debug)]
enum Step {
    /// alpha (true) or bravo (false) sends a message valid for `ttl_s` seconds.
    Send { by_alpha: bool, ttl_s: u64 },
    /// Move what one side transmits to the other, dropping each frame whose bit in
    /// `drop_mask` is set and delivering each again whose bit in `dup_mask` is set.
    Deliver {
        from_alpha: bool,
        drop_mask: u8,
        dup_mask: u8,
    },
    /// Time passes (timers fire: retransmissions, unacknowledged reports).
    Wait { secs: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<bool>(), 1u64..40).prop_map(|(by_alpha, ttl_s)| Step::Send { by_alpha, ttl_s }),
        (any::<bool>(), any::<u8>(), any::<u8>()).prop_map(|(from_alpha, drop_mask, dup_mask)| {
            Step::Deliver {
                from_alpha,
                drop_mask,
                dup_mask,
            }
        }),
        (1u64..30).prop_map(|secs| Step::Wait { secs }),
    ]
}

/// What a party driver records: content when sealed, control when transmitted,
/// every received frame with its verdict.
struct Side {
    ep: Endpoint,
    log: Recorder,
}

fn drain_recorded(side: &mut Side, now: Timestamp) -> Vec<Vec<u8>> {
    let frames = drain(&mut side.ep, now);
    for f in &frames {
        if open(f).body.is_control() {
            side.log.sent(now, f);
        }
    }
    frames
}

fn states_of(ep: &Endpoint) -> Vec<(String, ChannelState)> {
    ep.channels()
        .iter()
        .map(|c| {
            let mut s = c.state().clone();
            // Whether an overdue receipt was already reported is not journalled.
            for o in &mut s.unacked {
                o.reported = false;
            }
            (c.peer().identity.name().to_string(), s)
        })
        .collect()
}

fn replayed(
    owner: &str,
    peer: &str,
    log: &[u8],
    from: usize,
    start: Vec<(String, ChannelState)>,
) -> Vec<(String, ChannelState)> {
    let mut states = if start.is_empty() {
        vec![(peer.to_owned(), ChannelState::default())]
    } else {
        start
    };
    let (entries, damage) = parse_records(&log[from..], from);
    assert_eq!(damage, None);
    replay(owner, &mut states, entries).unwrap();
    states
}

fn run(mode: ChannelMode, steps: &[Step], snapshot_at: usize) {
    let mut a = Side {
        ep: endpoint(alpha(), &[bravo()], mode),
        log: Recorder::new(&alpha()),
    };
    let mut b = Side {
        ep: endpoint(bravo(), &[alpha()], mode),
        log: Recorder::new(&bravo()),
    };
    let mut now = at(0);
    let mut snapshot = None;
    for (i, s) in steps.iter().enumerate() {
        if i == snapshot_at {
            snapshot = Some((
                a.log.bytes.len(),
                states_of(&a.ep),
                b.log.bytes.len(),
                states_of(&b.ep),
            ));
        }
        match *s {
            Step::Send { by_alpha, ttl_s } => {
                let side = if by_alpha { &mut a } else { &mut b };
                let peer = if by_alpha { "bravo" } else { "alpha" };
                if let Ok(seq) = side.ep.send(
                    now,
                    peer,
                    Body::Text(format!("m{i}").into()),
                    Duration::from_secs(ttl_s),
                ) {
                    let frame = side
                        .ep
                        .channel(peer)
                        .unwrap()
                        .state()
                        .outstanding(seq)
                        .unwrap()
                        .frame
                        .clone();
                    side.log.sent(now, &frame);
                }
            }
            Step::Deliver {
                from_alpha,
                drop_mask,
                dup_mask,
            } => {
                let (from, to) = if from_alpha {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                let frames = drain_recorded(from, now);
                for (k, f) in frames.iter().enumerate() {
                    let bit = 1u8 << (k % 8);
                    if drop_mask & bit != 0 {
                        continue;
                    }
                    let copies = if dup_mask & bit != 0 { 2 } else { 1 };
                    for _ in 0..copies {
                        let verdict = to.ep.handle_frame(now, f);
                        to.log.received(now, f, &verdict);
                    }
                }
            }
            Step::Wait { secs } => {
                now = now.saturating_add(Duration::from_secs(secs));
                a.ep.handle_timeout(now);
                b.ep.handle_timeout(now);
                while a.ep.poll_event().is_some() {}
                while b.ep.poll_event().is_some() {}
            }
        }
    }
    let ha = header_len(alpha().name());
    let hb = header_len(bravo().name());
    assert_eq!(
        replayed("alpha", "bravo", &a.log.bytes, ha, Vec::new()),
        states_of(&a.ep)
    );
    assert_eq!(
        replayed("bravo", "alpha", &b.log.bytes, hb, Vec::new()),
        states_of(&b.ep)
    );
    if let Some((la, sa, lb, sb)) = snapshot {
        assert_eq!(
            replayed("alpha", "bravo", &a.log.bytes, la.max(ha), sa),
            states_of(&a.ep)
        );
        assert_eq!(
            replayed("bravo", "alpha", &b.log.bytes, lb.max(hb), sb),
            states_of(&b.ep)
        );
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn replaying_the_transcript_gives_the_live_state(
        signed in any::<bool>(),
        steps in proptest::collection::vec(step(), 1..40),
        snapshot_at in 0usize..40,
    ) {
        let mode = if signed { ChannelMode::Signed } else { ChannelMode::Deniable };
        run(mode, &steps, snapshot_at);
    }
}

#[test]
fn an_expired_envelope_moves_the_replayed_chain_as_it_moved_the_live_one() {
    // Sent with a 1 s validity, delivered 5 s later: rejected as expired, chain moved.
    let expire_first = [
        Step::Send {
            by_alpha: true,
            ttl_s: 1,
        },
        Step::Wait { secs: 5 },
        Step::Deliver {
            from_alpha: true,
            drop_mask: 0,
            dup_mask: 0,
        },
    ];
    // The transcript ends with the expiry: only replaying it can move the chain.
    run(ChannelMode::Signed, &expire_first, 0);
    let mut then_more = expire_first.to_vec();
    then_more.extend([
        Step::Send {
            by_alpha: true,
            ttl_s: 30,
        },
        Step::Deliver {
            from_alpha: true,
            drop_mask: 0,
            dup_mask: 0,
        },
        Step::Deliver {
            from_alpha: false,
            drop_mask: 0,
            dup_mask: 0,
        },
    ]);
    run(ChannelMode::Signed, &then_more, 3);
}

#[test]
fn a_journal_that_skips_a_sent_envelope_is_refused() {
    let mut a = endpoint(alpha(), &[bravo()], ChannelMode::Signed);
    let mut log = Recorder::new(&alpha());
    for i in 0..3 {
        let seq = a.send(at(i), "bravo", Body::Text("x".into()), DAY).unwrap();
        if seq != 2 {
            let f = a
                .channel("bravo")
                .unwrap()
                .state()
                .outstanding(seq)
                .unwrap()
                .frame
                .clone();
            log.sent(at(i), &f);
        }
    }
    let from = header_len(alpha().name());
    let (entries, _) = parse_records(&log.bytes[from..], from);
    let mut states = vec![("bravo".to_owned(), ChannelState::default())];
    assert_eq!(
        replay("alpha", &mut states, entries),
        Err(ReplayError::Discontinuous {
            index: 1,
            seq: 3,
            last: 1
        })
    );
}
