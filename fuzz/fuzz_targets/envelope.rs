//! Fuzz target `envelope`: the body is `dhtchat::fuzzing::envelope`, which `cargo test` also runs
//! over the committed corpus (`tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhtchat::fuzzing::envelope(data));
