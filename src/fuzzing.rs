//! Bodies of the fuzz targets, shared by the cargo-fuzz crate in `fuzz/` and by `cargo test`,
//! which replays the committed corpus through them on stable Rust.
