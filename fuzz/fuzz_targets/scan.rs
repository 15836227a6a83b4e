#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reprove_fuzz::scan(data));
