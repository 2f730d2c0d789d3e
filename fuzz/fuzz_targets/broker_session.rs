//! cargo-fuzz entry for `broker_session`; the body and its assertions are
//! `backchannel_fuzz_targets::broker_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backchannel_fuzz_targets::broker_session(data));
