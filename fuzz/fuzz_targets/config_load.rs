//! cargo-fuzz entry for `config_load`; the body and its assertions are
//! `backchannel_fuzz_targets::config_load`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backchannel_fuzz_targets::config_load(data));
