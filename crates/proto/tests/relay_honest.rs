//! The honest strategy's promise that lets the broker skip decoding each envelope a
//! second time (`RelayStrategy::forwards_everything_unchanged`): asked about any
//! envelope, in any mode, it forwards the original and adds nothing.

#![allow(clippy::expect_used)]

mod common;

use backchannel_proto::ChannelMode;
use backchannel_proto::relay::{Forward, Honest, RelayStrategy, inspect_batch};
use common::*;

#[test]
fn the_honest_strategy_forwards_every_envelope_unchanged_as_it_says() {
    let mut honest = Honest;
    assert!(honest.forwards_everything_unchanged());
    let registered = [alpha().public(), bravo().public()];
    for mode in [
        ChannelMode::Signed,
        ChannelMode::Deniable,
        ChannelMode::OffRecord,
    ] {
        let frames = alpha_stream(mode, 5);
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        for verdict in inspect_batch(&alpha().public(), &refs, &registered) {
            let inspected = verdict.expect("alpha's own stream passes inspection");
            let mut extra = Vec::new();
            assert_eq!(
                honest.relay(at(1), &inspected, &mut extra),
                Forward::Original
            );
            assert!(extra.is_empty(), "{mode:?}: {extra:?}");
        }
    }
}
