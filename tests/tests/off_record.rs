//! Off-record mode end to end: `init --mode off-record`, a broker and two parties as
//! separate processes over TLS. bravo knows alpha wrote it and the broker cannot alter
//! it, yet a judge holding bravo's transcript and bravo's own private key proves
//! nothing; the same leak in signed mode proves alpha's words.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;

const WORDS: &str = "We will not strike first absent provocation.";

/// alpha sends one text; bravo's `receive --json` lines.
fn exchange(d: &Deployment) -> Vec<serde_json::Value> {
    let receiver = d.receive("bravo", 1);
    let sent = d.send("alpha", "bravo", WORDS, 30);
    assert!(sent.status.success(), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    lines
}

/// The judge's JSON report on bravo's transcript, with bravo's private key if `leak`.
fn judge_bravo(d: &Deployment, leak: bool) -> (Option<i32>, serde_json::Value) {
    let transcript = d.file("bravo", "bravo.transcript");
    let roster = d.file("bravo", "parties.pub");
    let key = d.file("bravo", "bravo.key");
    let mut args = vec![
        "verify",
        transcript.to_str().unwrap(),
        "--keys",
        roster.to_str().unwrap(),
        "--json",
    ];
    if leak {
        args.extend(["--leaked-key", key.to_str().unwrap()]);
    }
    let out = run(&args);
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out.status.code(), report)
}

fn findings_on_alphas_words(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sender"] == "alpha" && e["kind"] == "text")
        .cloned()
        .collect()
}

#[test]
fn off_record_convinces_bravo_and_proves_nothing_even_with_bravos_key() {
    let _serial = serial();
    let d = Deployment::start_custom(
        "off-record-e2e",
        "alpha,bravo",
        &["--mode", "off-record"],
        &[],
        |_| {},
    );
    let lines = exchange(&d);
    let accepted: Vec<_> = lines
        .iter()
        .filter(|l| l["verdict"] == "accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "{lines:?}");
    assert_eq!(accepted[0]["body"], WORDS);
    assert_eq!(accepted[0]["attested"], true);
    assert_eq!(accepted[0]["attestation"], "mac");
    assert_eq!(accepted[0]["provable"], false);

    let (code, blind) = judge_bravo(&d, false);
    assert_eq!(code, Some(0), "{blind}");
    let (code, leaked) = judge_bravo(&d, true);
    assert_eq!(code, Some(0), "{leaked}");
    for e in findings_on_alphas_words(&leaked) {
        assert_eq!(e["finding"], "either-party", "{e}");
        assert_eq!(e["detail"]["tag_checked"], true, "{e}");
    }
    assert!(
        leaked["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["finding"] != "provably-written"),
        "{leaked}"
    );
}

#[test]
fn the_same_leak_in_signed_mode_proves_alphas_words() {
    let _serial = serial();
    let d = Deployment::start("off-record-leak-signed", "alpha,bravo");
    let lines = exchange(&d);
    let accepted: Vec<_> = lines
        .iter()
        .filter(|l| l["verdict"] == "accepted")
        .collect();
    assert_eq!(accepted[0]["attestation"], "signature");
    assert_eq!(accepted[0]["provable"], true);
    let (code, leaked) = judge_bravo(&d, true);
    assert_eq!(code, Some(0), "{leaked}");
    let words = findings_on_alphas_words(&leaked);
    assert!(!words.is_empty(), "{leaked}");
    for e in words {
        assert_eq!(e["finding"], "provably-written", "{e}");
        assert_eq!(e["signer"]["name"], "alpha", "{e}");
    }
}

#[test]
fn a_leaked_key_file_must_be_named_after_its_party() {
    let _serial = serial();
    let d = Deployment::start("off-record-leak-name", "alpha,bravo");
    let _ = exchange(&d);
    let copy = d.file("bravo", "someone.key");
    std::fs::copy(d.file("bravo", "bravo.key"), &copy).unwrap();
    let out = run(&[
        "verify",
        d.file("bravo", "bravo.transcript").to_str().unwrap(),
        "--keys",
        d.file("bravo", "parties.pub").to_str().unwrap(),
        "--leaked-key",
        copy.to_str().unwrap(),
    ]);
    // "someone" is a valid name but not a party of this transcript: nothing changes,
    // and the signed entries stay provable.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bad = d.file("bravo", "Not A Name.key");
    std::fs::copy(d.file("bravo", "bravo.key"), &bad).unwrap();
    let out = run(&[
        "verify",
        d.file("bravo", "bravo.transcript").to_str().unwrap(),
        "--keys",
        d.file("bravo", "parties.pub").to_str().unwrap(),
        "--leaked-key",
        bad.to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("named after the party"),
        "{}",
        text(&out)
    );
}
