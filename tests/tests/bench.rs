//! `backchannel bench` end to end: every option changes what is measured, and the JSON
//! carries the figures the performance docs rely on. (Figures are not asserted against
//! targets here: tests check behaviour, benchmarks check speed.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;

fn bench(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["bench", "--json"];
    all.extend_from_slice(args);
    let o = run(&all);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bench: plain TLS relay"),
        "progress goes to stderr"
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bench_reports_each_mode_with_its_baselines_and_honours_its_options() {
    let _serial = serial();
    let files = scratch("bench-files");
    let out = bench(&[
        "--mode",
        "deniable",
        "--seconds",
        "1",
        "--size",
        "64",
        "--window",
        "4",
        "--files",
        files.to_str().unwrap(),
    ]);
    assert_eq!(out.len(), 1, "one mode, one object");
    let r = &out[0];
    assert_eq!(r["mode"], "deniable");
    assert_eq!(r["size"], 64);
    assert_eq!(r["window"], 4);
    assert_eq!(r["files"], files.to_str().unwrap());
    assert!(r["delivered"].as_u64().unwrap() > 0, "{r}");
    for key in [
        "msgs_per_s",
        "p50_us",
        "p99_us",
        "tls_relay_msgs_per_s",
        "crypto_limit_msgs_per_s",
        "ratio_tls_relay",
        "ratio_crypto_limit",
        "broker_peak_rss_kib",
    ] {
        assert!(r[key].as_f64().unwrap() > 0.0, "{key}: {r}");
    }
    for node in ["alpha", "broker", "bravo"] {
        assert!(
            r["cpu_us_per_msg"][node].as_f64().unwrap() > 0.0,
            "{node}: {r}"
        );
    }
    // The cores' share the nodes used: their CPU per message times the rate, over the
    // cores (the same figures, so it agrees with them to rounding).
    let cpu_per_msg: f64 = ["alpha", "broker", "bravo"]
        .iter()
        .map(|node| r["cpu_us_per_msg"][node].as_f64().unwrap())
        .sum();
    let busy = r["cores_busy"].as_f64().unwrap();
    let expected =
        cpu_per_msg * r["msgs_per_s"].as_f64().unwrap() / 1e6 / r["cores"].as_f64().unwrap();
    assert!(
        busy > 0.0 && (busy - expected).abs() < 1e-6 * expected.max(1.0),
        "{busy} vs {expected}: {r}"
    );
    // The crypto limit comes from costs measured right before and right after the
    // run: the figure used is their mean.
    for op in ["sign", "verify", "batch_verify", "verify_strict"] {
        let before = r["crypto_us_before"][op].as_f64().unwrap();
        let after = r["crypto_us_after"][op].as_f64().unwrap();
        let used = r["crypto_us"][op].as_f64().unwrap();
        assert!(before > 0.0 && after > 0.0, "{op}: {r}");
        assert!((used - (before + after) / 2.0).abs() < 1e-6, "{op}: {r}");
    }
    // ... and how far the limit moved between the two is reported with it:
    // |limit(after) - limit(before)| / mean, with limit = cores / (sign + 2 x batch).
    let cores = r["cores"].as_f64().unwrap();
    let limit = |which: &str| {
        let c = &r[which];
        cores * 1e6 / (c["sign"].as_f64().unwrap() + 2.0 * c["batch_verify"].as_f64().unwrap())
    };
    let (b, a) = (limit("crypto_us_before"), limit("crypto_us_after"));
    let drift = r["crypto_limit_drift"].as_f64().unwrap();
    assert!(
        (drift - (a - b).abs() / ((a + b) / 2.0)).abs() < 1e-9,
        "{drift}: {r}"
    );
    // The deployment lived in --files and was removed afterwards.
    assert!(std::fs::read_dir(&files).unwrap().next().is_none());

    // Open loop: about --rate messages per second are scheduled and delivered.
    let out = bench(&["--mode", "signed", "--seconds", "2", "--rate", "100"]);
    let r = &out[0];
    assert_eq!(r["mode"], "signed");
    assert_eq!(r["rate"], 100.0);
    let delivered = r["delivered"].as_u64().unwrap();
    assert!(
        (120..=260).contains(&delivered),
        "{delivered} at 100/s for 2 s: {r}"
    );
}

#[test]
fn bench_refuses_options_out_of_range() {
    for args in [
        ["bench", "--window", "0"],
        ["bench", "--size", "0"],
        ["bench", "--seconds=-1", ""],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
    }
    let o = run(&["bench", "--mode", "loud"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn idle_parties_connect_and_a_settled_deployment_sends_nothing() {
    let _serial = serial();
    let files = scratch("bench-idle");
    let o = run(&[
        "bench",
        "--json",
        "--mode",
        "signed",
        "--idle-parties",
        "20",
        "--seconds",
        "2",
        "--files",
        files.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("20/20 connected"),
        "progress goes to stderr: {}",
        text(&o)
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["mode"], "signed");
    assert_eq!(r["idle_parties"], 20);
    assert_eq!(r["channels_per_party"], 19);
    assert_eq!(r["connected"], 20, "{r}");
    assert_eq!(r["hold_s"], 2.0);
    // Every channel is new: nothing is owed on any, so none heartbeats
    // (protocol.md §5.3). Before that rule, each party heartbeat all 19 at once.
    assert_eq!(r["envelopes_received_per_s"], 0.0, "{r}");
    for key in [
        "broker_rss_before_kib",
        "broker_rss_kib",
        "broker_peak_rss_kib",
    ] {
        assert!(r[key].as_u64().unwrap() > 0, "{key}: {r}");
    }
    assert!(std::fs::read_dir(&files).unwrap().next().is_none());

    let refused = run(&["bench", "--idle-parties", "1"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("--idle-parties"),
        "{}",
        text(&refused)
    );
}
