//! dhtchat: a peer-to-peer group chat node speaking the Tox-style DHT group-chat protocol.
//!
//! PROTOCOL.md at the repository root is the contract for every byte and rule implemented here.
//!
//! # Layout
//!
//! - [`wire`]: byte codecs only (envelope, get_nodes, send_nodes, node entry, broadcast, peer
//!   messages); checked views over untrusted bytes, no state, no crypto.
//! - [`crypto`]: identities, the shared-key cache, nonces, seal/open, broadcast signatures.
//! - [`fuzzing`]: the bodies of the fuzz targets, shared by `fuzz/` and `cargo test`.
//! - [`cli`]: the command-line front end behind the `dhtchat` binary.
//!
//! The protocol layers (`wire`, `crypto`) do no IO, read no clock and use no thread RNG: time
//! and randomness are inputs. `tests/architecture.rs` enforces it.
#![warn(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod crypto;
pub mod fuzzing;
pub mod proto;
pub mod wire;
