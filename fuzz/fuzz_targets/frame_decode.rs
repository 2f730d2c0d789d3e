//! cargo-fuzz entry for `frame_decode`; the body and its assertions are
//! `backchannel_fuzz_targets::frame_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backchannel_fuzz_targets::frame_decode(data));
