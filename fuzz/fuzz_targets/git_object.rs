#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reprove_fuzz::git_object(data));
