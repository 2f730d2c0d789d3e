//! A recipient that verifies a whole read in one batch reaches exactly the verdicts,
//! and the state, of one that verifies frame by frame.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn batch_and_one_by_one_agree(
        which in 0u8..3,
        picks in proptest::collection::vec((0usize..8, proptest::option::of((0usize..400, 0u8..8))), 1..24),
        split in 1usize..8,
    ) {
        let mode = mode_of(which);
        let stream = alpha_stream(mode, 8);
        // Frames in any order, repeated, some with one bit flipped.
        let frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|(i, flip)| {
                let mut f = stream[*i].clone();
                if let Some((at, bit)) = flip {
                    let at = at % f.len();
                    f[at] ^= 1 << bit;
                }
                f
            })
            .collect();
        let mut one = endpoint(bravo(), &[alpha()], mode);
        let mut many = endpoint(bravo(), &[alpha()], mode);
        let single: Vec<String> = frames
            .iter()
            .map(|f| match one.handle_frame(at(10), f) {
                Ok(a) => format!("ok {}", a.envelope.seq),
                Err(e) => e.to_string(),
            })
            .collect();
        let mut batched = Vec::new();
        for chunk in frames.chunks(split) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            for v in many.handle_frames(at(10), &refs) {
                batched.push(match v {
                    Ok(a) => format!("ok {}", a.envelope.seq),
                    Err(e) => e.to_string(),
                });
            }
        }
        prop_assert_eq!(single, batched);
        prop_assert_eq!(one.channels()[0].state(), many.channels()[0].state());
    }
}
