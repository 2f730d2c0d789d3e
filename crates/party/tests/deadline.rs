//! `Party::run_until` with a deadline that has already passed still takes what has
//! arrived: a caller that keeps a schedule with short deadlines (the benchmark's
//! open-loop sender, whose own fsync outlasts the gap to the next send) must not
//! starve its reads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use backchannel_party::{Activity, Control, Outgoing, Party};
use backchannel_proto::{Body, ChannelMode};
use common::{World, accepted_text};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_still_takes_what_already_arrived() {
    let w = World::start("deadline", ChannelMode::Signed).await;
    let mut alpha = Party::open(w.settings(&w.alpha, &w.bravo)).unwrap();
    let mut bravo = Party::open(w.settings(&w.bravo, &w.alpha)).unwrap();
    let soon = || Instant::now() + Duration::from_secs(5);
    for party in [&mut bravo, &mut alpha] {
        let mut connected = false;
        party
            .run_until(Instant::now() + Duration::from_millis(500), |a| {
                connected |= matches!(a, Activity::Connected { .. });
                Control::Continue
            })
            .await
            .unwrap();
        assert!(connected);
    }

    alpha
        .send_many(vec![Outgoing {
            to: "bravo".into(),
            body: Body::Text("Talks can continue through this channel.".into()),
            ttl: Duration::from_secs(600),
        }])
        .unwrap();
    // Written out; nothing acknowledges it while bravo is not running.
    alpha
        .run_until(Instant::now() + Duration::from_millis(300), |_| {
            Control::Continue
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The deadline is already behind us: bravo still reads the one batch waiting.
    let mut heard = Vec::new();
    let stopped = bravo
        .run_until(Instant::now(), |a| {
            heard.extend(accepted_text(a));
            Control::Continue
        })
        .await
        .unwrap();
    assert!(!stopped, "it returned at its deadline");
    assert_eq!(heard, vec!["Talks can continue through this channel."]);

    // And the receipt bravo owed went out before it returned: alpha hears of it.
    let mut acknowledged = false;
    alpha
        .run_until(soon(), |a| match a {
            Activity::Acknowledged { up_to: 1, .. } => {
                acknowledged = true;
                Control::Stop
            }
            _ => Control::Continue,
        })
        .await
        .unwrap();
    assert!(acknowledged);
    alpha.close().await;
    bravo.close().await;
}
