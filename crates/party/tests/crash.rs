//! Crash injection: alpha sends three messages to bravo through a real broker over
//! TLS on loopback, and one of them "dies" at the n-th write, sync or transmission
//! point of its files and socket, for every n the exchange reaches. After the dead
//! party is opened again from its files, the exchange must finish with every message
//! shown to bravo's user exactly once, in order, every one acknowledged to alpha,
//! the channel still working, and both transcripts judged clean.
//!
//! A crash here is a power loss: what was written but not synced is cut off
//! (`crash.rs`). A process kill leaves strictly more on disk.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;
use std::time::Duration;

use backchannel_party::crash::{CrashPoints, POINTS};
use backchannel_party::{Activity, Control, Party, PartyError};
use backchannel_proto::{Body, ChannelMode, PublicIdentity, judge};
use common::{World, accepted_text};
use tokio::time::Instant;

const MESSAGES: [&str; 3] = [
    "No preemptive strike absent provocation.",
    "Our aircraft will keep clear of the agreed corridor.",
    "Assurance A-1 is withdrawn as of now.",
];
const AFTER: &str = "No initiation of military action absent provocation.";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Victim {
    Alpha,
    Bravo,
}

fn is_crash(e: &PartyError) -> bool {
    e.to_string().contains("simulated crash")
}

/// What one exchange did.
struct Run {
    /// The crash points the victim reached, in order (the last is where it died, if
    /// it died).
    reached: Vec<&'static str>,
    crashed: bool,
}

/// The exchange, with the victim's crash points armed by `crash`.
async fn exchange(w: &World, victim: Victim, crash: CrashPoints) -> Run {
    let armed = |v| {
        if v == victim {
            crash.clone()
        } else {
            CrashPoints::default()
        }
    };
    let mut alpha = w.open(&w.alpha, &w.bravo, armed(Victim::Alpha));
    let mut bravo = w.open(&w.bravo, &w.alpha, armed(Victim::Bravo));
    let mut shown: Vec<String> = Vec::new();
    let mut delivered = 0u64;
    let mut crashed = false;
    let mut refused: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);

    let recover = |dead: Party, who: Victim, e: PartyError, crashed: &mut bool| -> Party {
        // Its lock goes with it, as with a dead process.
        drop(dead);
        assert!(
            is_crash(&e),
            "{who:?} failed for a reason other than the test's: {e}"
        );
        assert!(
            !*crashed,
            "a party crashed twice, but only one crash was armed"
        );
        *crashed = true;
        match who {
            Victim::Alpha => w.open(&w.alpha, &w.bravo, CrashPoints::default()),
            Victim::Bravo => w.open(&w.bravo, &w.alpha, CrashPoints::default()),
        }
    };

    while delivered < MESSAGES.len() as u64 || shown.len() < MESSAGES.len() {
        assert!(
            Instant::now() < deadline,
            "no progress: shown {shown:?}, delivered up to #{delivered}; last refusals: {:?}",
            &refused[refused.len().saturating_sub(6)..]
        );
        // The sender's user sends the next message it has not seen sent. After a
        // crash it asks the party what is on disk (as `pending` does) rather than
        // trusting that a send that returned an error did nothing.
        let sent = alpha.endpoint().channel("bravo").unwrap().state().sent.seq as usize;
        if sent < MESSAGES.len() {
            let body = Body::Text(MESSAGES[sent].into());
            if let Err(e) = alpha.send("bravo", body, Duration::from_secs(3600)) {
                alpha = recover(alpha, Victim::Alpha, e, &mut crashed);
            }
        }
        let until = Instant::now() + Duration::from_millis(60);
        let result = alpha
            .run_until(until, |a| {
                match a {
                    Activity::Acknowledged { up_to, .. } => delivered = delivered.max(*up_to),
                    Activity::Received(r) => {
                        if let Err(why) = &r.verdict {
                            refused.push(format!("alpha: {why}"));
                        }
                    }
                    _ => {}
                }
                Control::Continue
            })
            .await;
        if let Err(e) = result {
            alpha = recover(alpha, Victim::Alpha, e, &mut crashed);
        }
        let until = Instant::now() + Duration::from_millis(60);
        let result = bravo
            .run_until(until, |a| {
                shown.extend(accepted_text(a));
                if let Activity::Received(r) = a
                    && let Err(why) = &r.verdict
                {
                    refused.push(format!("bravo: {why}"));
                }
                Control::Continue
            })
            .await;
        if let Err(e) = result {
            bravo = recover(bravo, Victim::Bravo, e, &mut crashed);
        }
    }
    alpha.close().await;
    bravo.close().await;
    drop((alpha, bravo));
    assert_eq!(shown, MESSAGES, "each message shown exactly once, in order");

    // The channel goes on after the crash: a fresh pair of runs, the other way round.
    let mut alpha = w.open(&w.alpha, &w.bravo, CrashPoints::default());
    let mut bravo = w.open(&w.bravo, &w.alpha, CrashPoints::default());
    let seq = bravo
        .send("alpha", Body::Text(AFTER.into()), Duration::from_secs(3600))
        .unwrap();
    let mut heard = Vec::new();
    let mut acked = false;
    while !(acked && heard.len() == 1) {
        assert!(Instant::now() < deadline, "the channel did not continue");
        let until = Instant::now() + Duration::from_millis(60);
        bravo
            .run_until(until, |a| {
                if a.settles("alpha", seq).is_some_and(|s| s.is_ok()) {
                    acked = true;
                }
                Control::Continue
            })
            .await
            .unwrap();
        let until = Instant::now() + Duration::from_millis(60);
        alpha
            .run_until(until, |a| {
                heard.extend(accepted_text(a));
                Control::Continue
            })
            .await
            .unwrap();
    }
    assert_eq!(heard, [AFTER]);
    alpha.close().await;
    bravo.close().await;
    drop((alpha, bravo));
    for who in ["alpha", "bravo"] {
        assert_judged_clean(&w.dir.join(format!("{who}.transcript")), &w.keys());
    }
    Run {
        reached: crash.reached(),
        crashed,
    }
}

fn assert_judged_clean(path: &Path, keys: &[PublicIdentity]) {
    let bytes = std::fs::read(path).unwrap();
    let report = judge(&bytes, keys).unwrap();
    assert!(
        report.is_clean(),
        "{}: not clean: damage {:?}, chains {:?}",
        path.display(),
        report.damage,
        report.chains
    );
}

/// Runs the exchange once to count the victim's crash points, then once per point
/// with the crash there.
async fn crash_everywhere(victim: Victim, mode: ChannelMode) {
    let counted = {
        let w = World::start("count", mode).await;
        exchange(
            &w,
            victim,
            CrashPoints::crash_after_for_testing_only(u64::MAX),
        )
        .await
    };
    assert!(!counted.crashed);
    let n = counted.reached.len() as u64;
    assert!(
        n >= 10,
        "too few crash points reached: {:?}",
        counted.reached
    );
    let mut died_at = std::collections::BTreeSet::new();
    for k in 0..n {
        let w = World::start("at", mode).await;
        let run = exchange(&w, victim, CrashPoints::crash_after_for_testing_only(k)).await;
        if run.crashed {
            died_at.insert(*run.reached.last().unwrap());
        }
    }
    // Timing decides how many batches a run takes, so not every k lands on the same
    // point, but every kind of point must have been a place of death.
    for point in POINTS {
        assert!(
            died_at.contains(point),
            "{victim:?} never died at {point} (died at {died_at:?}, of {n} points: {:?})",
            counted.reached
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_dies_at_every_write_sync_and_transmit_point() {
    crash_everywhere(Victim::Alpha, ChannelMode::Signed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipient_dies_at_every_write_sync_and_transmit_point() {
    crash_everywhere(Victim::Bravo, ChannelMode::Signed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deniable_recipient_dies_at_every_point_too() {
    crash_everywhere(Victim::Bravo, ChannelMode::Deniable).await;
}
