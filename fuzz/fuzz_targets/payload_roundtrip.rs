//! Fuzz target `payload_roundtrip`: the body is `dhtchat::fuzzing::payload_roundtrip`, which `cargo test` also runs
//! over the committed corpus (`tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhtchat::fuzzing::payload_roundtrip(data));
