//! The broker's durable store: mailboxes survive `kill -9` of the broker.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;

#[test]
fn a_message_queued_for_an_offline_recipient_survives_kill_9_of_the_broker() {
    let _serial = serial();
    let mut d = Deployment::start("store-crash", "alpha,bravo");
    // bravo is offline: the broker queues alpha's assurance (send waits 2 s for a
    // receipt that cannot come, so the broker has long committed it).
    let sent = d.send(
        "alpha",
        "bravo",
        "Our aircraft will keep clear of the corridor.",
        2,
    );
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    d.crash_and_restart_broker();
    // alpha does not run again; bravo still gets it, from the restarted broker.
    let (ok, lines, err) = finish(d.receive("bravo", 1));
    assert!(ok, "{err}");
    assert_eq!(lines[0]["verdict"], "accepted");
    assert_eq!(
        lines[0]["body"],
        "Our aircraft will keep clear of the corridor."
    );
    assert!(d.verify("bravo").status.success());

    // Delivered, then the broker dies again: whatever it had not yet forgotten is
    // delivered again and dropped by bravo as a replay, never shown twice.
    d.crash_and_restart_broker();
    let again = d.spawn_as(
        "receive",
        "bravo",
        &["--count", "1", "--timeout", "3", "--json"],
    );
    let out = wait(again);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().all(|l| l["verdict"] != "accepted"),
        "shown twice: {lines:?}"
    );
    // And alpha's next run finds bravo's receipt for #1 and goes on at #2.
    let receiver = d.receive("bravo", 1);
    let sent = d.send(
        "alpha",
        "bravo",
        "Talks can continue through this channel.",
        30,
    );
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(text(&sent).contains("sent #2"), "{}", text(&sent));
    let (ok, _, err) = finish(receiver);
    assert!(ok, "{err}");
    assert!(d.verify("bravo").status.success());
    assert!(d.verify("alpha").status.success());
}

#[test]
fn the_store_on_disk_shows_no_traffic() {
    let _serial = serial();
    let mut d = Deployment::start("store-sealed", "alpha,bravo");
    let words = "No preemptive strike absent provocation";
    let sent = d.send("alpha", "bravo", words, 1);
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    d.crash_and_restart_broker();
    let raw = std::fs::read(d.file("broker", "broker.store")).unwrap();
    assert!(raw.len() > 1_000);
    for needle in [words.as_bytes(), b"preemptive", b"alpha"] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "{:?} is readable in the store",
            String::from_utf8_lossy(needle)
        );
    }
}
