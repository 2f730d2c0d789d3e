//! `broker --adversary`: the three-process set-up with a hostile broker. The broker is
//! a separate process started from its config file, alpha and bravo run the ordinary
//! `send` and `receive` commands, and what bravo sees changes with the mode.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;

const COMMITMENT: &str = "No preemptive strike";
const CONDITION: &str = "absent provocation";

/// alpha's first envelope to bravo is an assurance; the `alter` broker rewrites its
/// condition to "for now".
fn send_assurance(d: &Deployment, timeout: &str) -> std::process::Output {
    send_assurance_as(d, ("alpha", "bravo"), "A-1", timeout)
}

/// `from` gives `to` the assurance `id`.
fn send_assurance_as(
    d: &Deployment,
    (from, to): (&str, &str),
    id: &str,
    timeout: &str,
) -> std::process::Output {
    d.run_as(
        "send",
        from,
        &[
            "--to",
            to,
            "--assurance",
            id,
            "--valid-days",
            "30",
            "--condition",
            CONDITION,
            "--timeout",
            timeout,
            COMMITMENT,
        ],
    )
}

/// bravo's `receive --json` lines while the altered assurance is refused: the
/// refused copies of #1 and whether anything was accepted.
fn refused_alteration(d: &Deployment) -> Vec<serde_json::Value> {
    let receiver = d.spawn_as(
        "receive",
        "bravo",
        &["--count", "1", "--timeout", "6", "--json"],
    );
    let sent = send_assurance(d, "3");
    // No receipt can come back for words bravo refused.
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    let out = wait(receiver);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().all(|l| l["verdict"] != "accepted"),
        "{lines:?}"
    );
    let rejected: Vec<_> = lines.iter().filter(|l| l["seq"] == 1).cloned().collect();
    assert!(!rejected.is_empty(), "{lines:?}");
    rejected
}

#[test]
fn an_altering_broker_is_caught_in_signed_mode() {
    let _serial = serial();
    let d = Deployment::start_custom(
        "adversary-signed",
        "alpha,bravo",
        &[],
        &["--adversary", "alter"],
        |_| {},
    );
    for l in refused_alteration(&d) {
        assert_eq!(l["verdict"], "rejected", "{l}");
        assert_eq!(l["reason"], "bad-signature", "{l}");
    }
}

#[test]
fn an_altering_broker_is_caught_in_off_record_mode() {
    let _serial = serial();
    let d = Deployment::start_custom(
        "adversary-off-record",
        "alpha,bravo",
        &["--mode", "off-record"],
        &["--adversary", "alter"],
        |_| {},
    );
    for l in refused_alteration(&d) {
        assert_eq!(l["verdict"], "rejected", "{l}");
        assert_eq!(l["reason"], "bad-mac", "{l}");
        assert_eq!(l["attestation"], "none", "{l}");
    }
}

#[test]
fn an_altering_broker_goes_unnoticed_in_deniable_mode() {
    let _serial = serial();
    let d = Deployment::start_custom(
        "adversary-deniable",
        "alpha,bravo",
        &["--mode", "deniable"],
        &["--adversary", "alter"],
        |_| {},
    );
    let receiver = d.receive("bravo", 1);
    let sent = send_assurance(&d, "30");
    assert!(sent.status.success(), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    let accepted: Vec<_> = lines
        .iter()
        .filter(|l| l["verdict"] == "accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "{lines:?}");
    let a = &accepted[0]["assurance"];
    assert_eq!(a["commitment"], COMMITMENT);
    // bravo holds the broker's words, not alpha's, and nothing told it so.
    assert_eq!(a["condition"], "for now", "{lines:?}");
}

#[test]
fn an_unknown_adversary_is_refused_with_the_list() {
    let d = scratch("adversary-unknown");
    let out = run(&[
        "init",
        d.join("d").to_str().unwrap(),
        "--port",
        &free_port().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let config = d.join("d").join("broker").join("broker.toml");
    let out = run(&[
        "broker",
        "--config",
        config.to_str().unwrap(),
        "--adversary",
        "bogus",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = text(&out);
    for name in ["honest", "alter", "drop-receipt", "substitute-key"] {
        assert!(err.contains(name), "{err}");
    }
    let help = text(&run(&["broker", "--help"]));
    assert!(help.contains("forge-receipt"), "{help}");
}

#[test]
fn demo_hides_routine_lines_unless_verbose() {
    let _serial = serial();
    let quiet = run(&["demo", "--adversary", "alter", "--mode", "signed"]);
    assert!(quiet.status.success(), "{}", text(&quiet));
    let verbose = run(&[
        "demo",
        "--adversary",
        "alter",
        "--mode",
        "signed",
        "--verbose",
    ]);
    assert!(verbose.status.success(), "{}", text(&verbose));
    let (q, v) = (text(&quiet), text(&verbose));
    assert!(q.contains("line(s) hidden"), "{q}");
    assert!(!v.contains("line(s) hidden"), "{v}");
    assert!(v.lines().count() > q.lines().count(), "{q}\n----\n{v}");
    // What matters is in both: bravo's refusal of the altered words, and what each side
    // believes at the end (bravo never accepted A-1; alpha gave it and withdrew it).
    for t in [&q, &v] {
        assert!(t.contains("REJECTED #1 alpha -> bravo"), "{t}");
        assert!(t.contains("bad-signature"), "{t}");
        assert!(t.contains("what each side believes:"), "{t}");
        assert!(t.contains("[alpha] alpha -> bravo \"A-1\" (#1)"), "{t}");
        assert!(t.contains("[bravo] no assurances given or accepted"), "{t}");
        // alpha's own words, as it said them, beside what bravo heard.
        assert!(
            t.lines()
                .any(|l| l.starts_with("[alpha] says to bravo (#1): assurance")
                    && l.contains("\"absent provocation\"")),
            "{t}"
        );
    }
}

#[test]
fn a_move_fires_on_the_next_envelope_it_applies_to_whatever_the_names() {
    let _serial = serial();
    // Other names, and a conversation already going: north's first messages are texts,
    // and `alter` waits for the first assurance the broker sees.
    let d = Deployment::start_custom(
        "adversary-names",
        "north,south",
        &["--mode", "deniable"],
        &["--adversary", "alter"],
        |_| {},
    );
    for words in ["Talks can continue.", "Our aircraft will keep clear."] {
        let receiver = d.receive("south", 1);
        let sent = d.send("north", "south", words, 30);
        assert!(sent.status.success(), "{}", text(&sent));
        let (ok, lines, err) = finish(receiver);
        assert!(ok, "{err}");
        assert_eq!(lines[0]["body"], words, "{lines:?}");
    }
    let receiver = d.receive("south", 1);
    let sent = send_assurance_as(&d, ("north", "south"), "N-1", "30");
    assert!(sent.status.success(), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    let accepted: Vec<_> = lines
        .iter()
        .filter(|l| l["verdict"] == "accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "{lines:?}");
    assert_eq!(accepted[0]["seq"], 3, "{lines:?}");
    assert_eq!(
        accepted[0]["assurance"]["condition"], "for now",
        "{lines:?}"
    );
}
