//! The assurance ledger (`backchannel assurances`), `--valid-for`, and the sender's
//! refusal to give an id again with other words.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn each_side_sees_in_force_revoked_expired_and_the_flags() {
    let _serial = serial();
    let d = Deployment::start("ledger", "alpha,bravo");
    let receiver = d.receive("bravo", 4);
    let give = |id: &str, validity: &[&str], words: &str, condition: &str| {
        let mut args = vec!["--to", "bravo", "--assurance", id];
        args.extend_from_slice(validity);
        args.extend_from_slice(&["--condition", condition, "--timeout", "30", words]);
        d.run_as("send", "alpha", &args)
    };
    let o = give("A-1", &["--valid-for", "2s"], "Corridor kept clear", "");
    assert!(o.status.success(), "{}", text(&o));
    let o = give(
        "A-2",
        &["--valid-days", "30"],
        "No preemptive strike",
        "absent provocation",
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = d.run_as(
        "send",
        "alpha",
        &[
            "--to",
            "bravo",
            "--revoke",
            "A-2",
            "--timeout",
            "30",
            "Withdrawn.",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // A revocation of an id alpha never gave reaches bravo, which flags it.
    let o = d.run_as(
        "send",
        "alpha",
        &[
            "--to",
            "bravo",
            "--revoke",
            "A-9",
            "--timeout",
            "30",
            "Withdrawn too.",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let (ok, _, err) = finish(receiver);
    assert!(ok, "{err}");

    // alpha may not give A-2 again with other words; nothing is sent.
    let o = give(
        "A-2",
        &["--valid-days", "30"],
        "No preemptive strike",
        "for now",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("choose a new id"), "{}", text(&o));
    assert!(text(&o).contains("nothing was sent"), "{}", text(&o));

    std::thread::sleep(Duration::from_secs(2));
    for party in ["alpha", "bravo"] {
        let o = d.run_as("assurances", party, &["--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let status: Vec<(&str, &str)> = v["assurances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["id"].as_str().unwrap(), a["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            status,
            vec![("A-1", "expired"), ("A-2", "revoked")],
            "{party}: {v}"
        );
        assert_eq!(v["assurances"][1]["condition"], "absent provocation");
        assert_eq!(v["assurances"][1]["revocation_reason"], "Withdrawn.");
        assert_eq!(v["flags"][0]["flag"], "unknown-revocation", "{party}: {v}");
        assert_eq!(v["flags"][0]["id"], "A-9");
        assert_eq!(v["flags"].as_array().unwrap().len(), 1, "{party}: {v}");
    }
    let o = d.run_as("assurances", "bravo", &[]);
    let t = text(&o);
    assert!(t.contains("alpha -> bravo \"A-2\" (#2): \"No preemptive strike\" if \"absent provocation\"; REVOKED by #3"), "{t}");
    assert!(t.contains("EXPIRED"), "{t}");
    assert!(t.contains("FLAG: alpha -> bravo #4 revokes \"A-9\""), "{t}");
}

#[test]
fn valid_for_takes_a_unit_and_refuses_nonsense() {
    let d = scratch("valid-for").join("d");
    assert!(run(&["init", d.to_str().unwrap()]).status.success());
    let config = d.join("alpha").join("alpha.toml");
    for bad in ["90", "10x", "0s", "99999d"] {
        let o = run(&[
            "send",
            "--config",
            config.to_str().unwrap(),
            "--to",
            "bravo",
            "--assurance",
            "A-1",
            "--valid-for",
            bad,
            "words",
        ]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
    }
    // --valid-for and --valid-days are one or the other.
    let o = run(&[
        "send",
        "--config",
        config.to_str().unwrap(),
        "--to",
        "bravo",
        "--assurance",
        "A-1",
        "--valid-for",
        "90s",
        "--valid-days",
        "2",
        "words",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
