//! cargo-fuzz entry for `envelope_verify`; the body and its assertions are
//! `backchannel_fuzz_targets::envelope_verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backchannel_fuzz_targets::envelope_verify(data));
