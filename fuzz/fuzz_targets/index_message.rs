//! Fuzz target `index_message`: the body is `dhtchat::fuzzing::index_message`, which `cargo test`
//! also runs over the committed corpus (`tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhtchat::fuzzing::index_message(data));
