//! The event stream of a run (`demo --events`, docs/events.md).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;

const KEYS: [&str; 16] = [
    "time",
    "run",
    "node",
    "event",
    "from",
    "to",
    "seq",
    "kind",
    "body",
    "id",
    "condition",
    "verdict",
    "reason",
    "attestation",
    "refused",
    "detail",
];

fn events(args: &[&str], tag: &str) -> Vec<serde_json::Value> {
    let file = scratch(tag).join("events.jsonl");
    let mut all = vec!["demo"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--events", file.to_str().unwrap()]);
    let out = run(&all);
    assert!(out.status.success(), "{}", text(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for e in &events {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        for k in KEYS {
            assert!(keys.contains(&k), "{k} missing in {e}");
        }
        assert_eq!(keys.len(), KEYS.len(), "{e}");
    }
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "not in time order");
    events
}

fn find(
    events: &[serde_json::Value],
    f: impl Fn(&serde_json::Value) -> bool,
) -> &serde_json::Value {
    events.iter().find(|e| f(e)).expect("no such event")
}

#[test]
fn the_honest_demo_shows_what_was_sent_read_and_received_with_raw_words() {
    let _serial = serial();
    let ev = events(&["--mode", "signed"], "events-demo");
    let sent = find(&ev, |e| e["event"] == "sent" && e["id"] == "A-1");
    assert_eq!(sent["node"], "alpha");
    assert_eq!(sent["body"], "No preemptive strike");
    assert_eq!(sent["condition"], "absent provocation");
    let read = find(&ev, |e| e["event"] == "read" && e["id"] == "A-1");
    assert_eq!(read["node"], "broker");
    assert_eq!(read["attestation"], "signature");
    let heard = find(&ev, |e| e["event"] == "received" && e["id"] == "A-1");
    assert_eq!(heard["node"], "bravo");
    assert_eq!(heard["verdict"], "accepted");
    assert_eq!(heard["body"], sent["body"]);
    assert!(heard["reason"].is_null());
    assert!(
        ev.iter()
            .any(|e| e["event"] == "acknowledged" && e["node"] == "alpha")
    );
}

#[test]
fn said_and_heard_differ_when_the_broker_alters_a_deniable_message() {
    let _serial = serial();
    let ev = events(
        &["--adversary", "alter", "--mode", "deniable"],
        "events-alter",
    );
    let said = find(&ev, |e| e["event"] == "sent" && e["id"] == "A-1");
    let heard = find(&ev, |e| {
        e["event"] == "received" && e["id"] == "A-1" && e["verdict"] == "accepted"
    });
    assert_eq!(said["condition"], "absent provocation");
    assert_eq!(heard["condition"], "for now");
    assert_eq!(heard["attestation"], "none");
    assert!(
        ev.iter()
            .any(|e| e["event"] == "move" && e["node"] == "broker")
    );
}

#[test]
fn a_signed_channel_shows_the_altered_words_rejected() {
    let _serial = serial();
    let ev = events(
        &["--adversary", "alter", "--mode", "signed"],
        "events-alter-signed",
    );
    let heard = find(&ev, |e| e["event"] == "received" && e["id"] == "A-1");
    assert_eq!(heard["verdict"], "rejected");
    assert_eq!(heard["reason"], "bad-signature");
    assert!(
        ev.iter()
            .all(|e| !(e["event"] == "received" && e["id"] == "A-1" && e["verdict"] == "accepted"))
    );
}

#[test]
fn every_lab_run_is_in_the_attacks_event_stream() {
    let _serial = serial();
    let dir = scratch("events-attacks");
    let file = dir.join("attacks.jsonl");
    let out = run(&[
        "attacks",
        "--only",
        "drop",
        "--events",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for mode in ["signed", "deniable", "off-record"] {
        let label = format!("drop {mode}");
        assert!(
            events
                .iter()
                .any(|e| e["run"] == label.as_str() && e["event"] == "sent"),
            "{label}"
        );
    }
    // Signed: bravo saw the gap the dropped message left.
    assert!(
        events
            .iter()
            .any(|e| e["run"] == "drop signed" && e["node"] == "bravo" && e["reason"] == "gap")
    );
}
