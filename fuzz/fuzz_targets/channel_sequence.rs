//! cargo-fuzz entry for `channel_sequence`; the body and its assertions are
//! `backchannel_fuzz_targets::channel_sequence`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backchannel_fuzz_targets::channel_sequence(data));
