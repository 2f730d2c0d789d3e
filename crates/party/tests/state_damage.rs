//! A damaged state snapshot is never trusted: one bit flipped at each of 15 offsets of
//! bravo's state file (between runs), and every time bravo opens, rebuilds its state
//! from its transcript where the snapshot fails its checks, and accepts alpha's next
//! genuine message; both transcripts are judged clean at the end.

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

/// alpha says `words` to bravo; both run until bravo accepted them and alpha has the
/// receipt. Panics with what happened otherwise.
async fn deliver(alpha: &mut Party, bravo: &mut Party, words: &str) {
    let seq = alpha
        .send(
            "bravo",
            Body::Text(words.to_owned().into()),
            Duration::from_secs(60),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut heard = Vec::new();
    let mut acked = false;
    let (a, b) = tokio::join!(
        alpha.run_until(deadline, |act| match act {
            Activity::Acknowledged { up_to, .. } if *up_to >= seq => {
                acked = true;
                Control::Stop
            }
            _ => Control::Continue,
        }),
        bravo.run_until(deadline, |act| {
            if let Activity::Received(r) = act
                && let Err(why) = &r.verdict
            {
                panic!("bravo rejected an envelope: {why}");
            }
            match accepted_text(act) {
                Some(t) => {
                    let done = t == words;
                    heard.push(t);
                    if done {
                        Control::Stop
                    } else {
                        Control::Continue
                    }
                }
                None => Control::Continue,
            }
        })
    );
    a.unwrap();
    b.unwrap();
    assert!(
        heard.iter().any(|t| t == words),
        "bravo heard {heard:?}, not {words:?}"
    );
    assert!(acked, "no receipt for {words:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_anywhere_in_the_state_file_is_caught_or_harmless() {
    let w = World::start("state-damage", ChannelMode::Signed).await;
    let mut alpha = w.open(&w.alpha, &w.bravo, CrashPoints::default());
    let mut bravo = w.open(&w.bravo, &w.alpha, CrashPoints::default());
    deliver(&mut alpha, &mut bravo, "message 0").await;
    bravo.close().await;
    drop(bravo);
    let state = w.dir.join("bravo.state");
    for k in 1..=15usize {
        let mut bytes = std::fs::read(&state).unwrap();
        let at = (k - 1) * bytes.len() / 15;
        bytes[at] ^= 1 << (k % 8);
        std::fs::write(&state, &bytes).unwrap();
        let mut bravo = w.open(&w.bravo, &w.alpha, CrashPoints::default());
        deliver(&mut alpha, &mut bravo, &format!("message {k}")).await;
        bravo.close().await;
    }
    alpha.close().await;
    for owner in ["alpha", "bravo"] {
        let bytes = std::fs::read(w.dir.join(format!("{owner}.transcript"))).unwrap();
        let report = judge(&bytes, &w.keys()).unwrap();
        assert!(report.is_clean(), "{owner}'s transcript: {report:?}");
    }
}
