#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rollguard_fuzz::snapshot(data));
