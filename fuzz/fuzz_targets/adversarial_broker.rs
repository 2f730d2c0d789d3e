//! cargo-fuzz entry for `adversarial_broker`; the body and its assertions are
//! `backchannel_fuzz_targets::adversarial_broker`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backchannel_fuzz_targets::adversarial_broker(data));
