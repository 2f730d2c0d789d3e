//! The random adversarial broker as property tests: many seeds, every claim checked.
//!
//! Reproduce one seed exactly (for example one a fuzzer or CI reported):
//!
//! ```sh
//! BACKCHANNEL_SIM_SEED=1234 BACKCHANNEL_SIM_MODE=signed cargo test -p backchannel-lab --test sim replay_one_seed -- --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use backchannel_lab::choices::Seeded;
use backchannel_lab::sim::simulate;
use backchannel_proto::ChannelMode;
use proptest::prelude::*;

/// Fixed seeds, each mode, run on every test run: the random test above draws new
/// seeds each time, these keep the same schedules so a change that breaks one is seen
/// at once. A seed that once broke a claim is added here with its mode.
const FIXED: &[(u64, &str)] = &[
    (1, "signed"),
    (2, "signed"),
    (3, "deniable"),
    (4, "deniable"),
    (5, "off-record"),
    (6, "off-record"),
];

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn mode(which: u8) -> ChannelMode {
    match which % 3 {
        0 => ChannelMode::Signed,
        1 => ChannelMode::Deniable,
        _ => ChannelMode::OffRecord,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_claim_holds_against_a_random_broker(seed in any::<u64>(), which in any::<u8>()) {
        let result = simulate(mode(which), &mut Seeded::new(seed));
        prop_assert!(result.is_ok(), "seed {seed} ({}): {}", mode(which), result.unwrap_err());
    }
}

#[test]
fn fixed_seeds_hold_and_the_broker_misbehaves_in_each() {
    assert!(!FIXED.is_empty());
    for (seed, m) in FIXED {
        let m: ChannelMode = m.parse().unwrap();
        match simulate(m, &mut Seeded::new(*seed)) {
            // Not a quiet run: the broker's moves made the recipient refuse something.
            Ok(report) => assert!(
                report.rejected > 0 && report.accepted > 0,
                "seed {seed} ({m}): {report:?}"
            ),
            Err(v) => panic!("seed {seed} ({m}): {v}"),
        }
    }
}

#[test]
fn the_broker_actually_misbehaves() {
    // A few seeds, not one: how many frames a run has (and so which moves a seed
    // draws) changes whenever the parties' traffic does.
    let mut chosen = Vec::new();
    for seed in 1..=8 {
        let report = simulate(ChannelMode::Signed, &mut Seeded::new(seed)).unwrap();
        assert!(report.rejected > 0 && report.accepted > 0, "seed {seed}");
        chosen.extend(report.actions);
    }
    for action in ["drop", "flip", "forge", "strip"] {
        assert!(
            chosen.contains(&action),
            "{action} never chosen: {chosen:?}"
        );
    }
}

/// Replays one seed a failure printed: `BACKCHANNEL_SIM_SEED=N [BACKCHANNEL_SIM_MODE=M]
/// cargo test -p backchannel-lab --test sim replay_one_seed -- --ignored`.
#[test]
#[ignore = "a tool, not a test: replays BACKCHANNEL_SIM_SEED (run with --ignored)"]
fn replay_one_seed() {
    let seed: u64 = std::env::var("BACKCHANNEL_SIM_SEED")
        .expect("set BACKCHANNEL_SIM_SEED to the seed to replay")
        .parse()
        .expect("BACKCHANNEL_SIM_SEED must be a number");
    let m: ChannelMode = std::env::var("BACKCHANNEL_SIM_MODE")
        .unwrap_or_else(|_| "signed".into())
        .parse()
        .unwrap();
    match simulate(m, &mut Seeded::new(seed)) {
        Ok(report) => println!("seed {seed} ({m}) holds: {report:?}"),
        Err(v) => panic!("seed {seed} ({m}): {v}"),
    }
}
