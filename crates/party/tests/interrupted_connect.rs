//! A node's request that arrives while the party is connecting must not abandon the
//! attempt: the broker may already have read its login, and a session nobody uses
//! would then displace the one the party goes on with ("logged in again elsewhere",
//! and a 5 s wait before it logs in again). Under load, a scenario run lost a message
//! that way.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use backchannel_party::{Activity, Control, Party, RunEnd};
use backchannel_proto::ChannelMode;
use common::World;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_arriving_while_connecting_never_cost_the_party_its_session() {
    let (events, mut reported) = tokio::sync::mpsc::channel(100_000);
    let w = World::start_reporting("interrupted-connect", ChannelMode::Signed, Some(events)).await;
    let mut alpha = Party::open(w.settings(&w.alpha, &w.bravo)).unwrap();
    let mut seen: Vec<Activity> = Vec::new();
    // Interrupt every few hundred microseconds, so most interruptions land while a
    // connection attempt (TCP, TLS, login) is in flight.
    let mut connected = 0;
    for k in 0..400u64 {
        let pause = Duration::from_micros(100 + (k * 37) % 900);
        let end = alpha
            .run_until_interrupted(
                Instant::now() + Duration::from_secs(5),
                tokio::time::sleep(pause),
                |a| {
                    seen.push(a.clone());
                    Control::Continue
                },
            )
            .await
            .unwrap();
        assert!(matches!(end, RunEnd::Interrupted(())), "{k}");
        connected = seen
            .iter()
            .filter(|a| matches!(a, Activity::Connected { .. }))
            .count();
    }
    assert!(connected > 0, "never connected: {seen:?}");
    // Then it runs on its own for a while: no other session of alpha's at the broker
    // displaces it.
    alpha
        .run_until(Instant::now() + Duration::from_secs(2), |a| {
            seen.push(a.clone());
            Control::Continue
        })
        .await
        .unwrap();
    let displaced: Vec<&Activity> = seen
        .iter()
        .filter(|a| matches!(a, Activity::Disconnected { reason } if reason.contains("logged in again elsewhere")))
        .collect();
    assert!(displaced.is_empty(), "{displaced:?}");
    assert_eq!(
        seen.iter()
            .filter(|a| matches!(a, Activity::Connected { .. }))
            .count(),
        1,
        "one session, kept: {seen:?}"
    );
    // Every login the broker took is the session the party uses: none was abandoned
    // half-way (each of those is a session that can displace the live one).
    let mut logins = 0;
    while let Ok(e) = reported.try_recv() {
        if matches!(e, backchannel_broker::BrokerEvent::LoggedIn { .. }) {
            logins += 1;
        }
    }
    assert_eq!(logins, 1, "logins at the broker for one session: {logins}");
}
