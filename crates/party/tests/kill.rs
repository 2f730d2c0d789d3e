//! A killed `send` (kill -9, an OOM kill, a panic: what was written stays on disk,
//! synced or not), at every crash point its first message reaches, then a second
//! `send`: the message the first left in the journal goes out at once, before the
//! second, so bravo never sees a `gap` and alpha has the second receipt within 5 s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use backchannel_party::crash::CrashPoints;
use backchannel_party::{Activity, Control, Party};
use backchannel_proto::{Body, ChannelMode, judge};
use common::{World, accepted_text};
use tokio::time::Instant;

const FIRST: &str = "No preemptive strike absent provocation.";
const SECOND: &str = "Our aircraft will keep clear of the agreed corridor.";

/// alpha's first `send`, killed at crash point `pass` (or not at all if it has fewer).
/// True if it was killed.
async fn first_send(w: &World, pass: u64) -> bool {
    let crash = CrashPoints::kill_after_for_testing_only(pass);
    let mut alpha = w.open(&w.alpha, &w.bravo, crash.clone());
    let sent = alpha.send("bravo", Body::Text(FIRST.into()), Duration::from_secs(60));
    if sent.is_err() {
        return true;
    }
    // Runs until it has transmitted (or died trying).
    let deadline = Instant::now() + Duration::from_millis(300);
    let ran = alpha.run_until(deadline, |_| Control::Continue).await;
    if ran.is_err() {
        return true;
    }
    alpha.close().await;
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_send_leaves_nothing_waiting_for_a_timer() {
    for pass in 0u64.. {
        let w = World::start(&format!("kill-{pass}"), ChannelMode::Signed).await;
        if !first_send(&w, pass).await {
            // Every crash point of the first send has been tried.
            assert!(pass > 2, "the first send reached only {pass} crash points");
            break;
        }
        let mut bravo = w.open(&w.bravo, &w.alpha, CrashPoints::default());
        let mut alpha: Party = w.open(&w.alpha, &w.bravo, CrashPoints::default());
        let seq = alpha
            .send("bravo", Body::Text(SECOND.into()), Duration::from_secs(60))
            .unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        let mut acked_at = None;
        let mut heard = Vec::new();
        let mut rejected = Vec::new();
        let (a, b) = tokio::join!(
            alpha.run_until(deadline, |act| match act {
                Activity::Acknowledged { up_to, .. } if *up_to >= seq => {
                    acked_at = Some(started.elapsed());
                    Control::Stop
                }
                _ => Control::Continue,
            }),
            bravo.run_until(deadline, |act| {
                if let Activity::Received(r) = act
                    && let Err(why) = &r.verdict
                {
                    rejected.push(why.code());
                }
                if let Some(t) = accepted_text(act) {
                    heard.push(t);
                }
                if heard.iter().any(|t| t == SECOND) {
                    Control::Stop
                } else {
                    Control::Continue
                }
            })
        );
        a.unwrap();
        b.unwrap();
        assert!(
            acked_at.is_some(),
            "pass {pass}: no receipt for the second send within 5 s; bravo heard {heard:?}, refused {rejected:?}"
        );
        assert!(
            !rejected.contains(&"gap"),
            "pass {pass}: bravo saw a gap: {rejected:?}, heard {heard:?}"
        );
        // Whatever of the first message reached the journal is heard, and first.
        assert_eq!(
            heard.last().map(String::as_str),
            Some(SECOND),
            "pass {pass}"
        );
        assert!(heard.len() <= 2, "pass {pass}: {heard:?}");
        if heard.len() == 2 {
            assert_eq!(heard[0], FIRST, "pass {pass}");
        }
        alpha.close().await;
        bravo.close().await;
        for owner in ["alpha", "bravo"] {
            let bytes = std::fs::read(w.dir.join(format!("{owner}.transcript"))).unwrap();
            let report = judge(&bytes, &w.keys()).unwrap();
            assert!(
                report.is_clean(),
                "pass {pass}: {owner}'s transcript: {report:?}"
            );
        }
    }
}
