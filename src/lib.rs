//! dhtchat: a peer-to-peer group chat node speaking the Tox-style DHT group-chat protocol.
//!
//! PROTOCOL.md at the repository root is the contract for every byte and rule implemented here.
//!
//! # Layout
//!
//! - [`wire`]: byte codecs only (envelope, get_nodes, send_nodes, node entry, broadcast, peer
//!   messages); checked views over untrusted bytes, no state, no crypto.
//! - [`crypto`]: identities, the shared-key cache, nonces, seal/open, broadcast signatures.
//! - [`proto`]: the sans-IO [`proto::Node`]: groups, DHT table, join handshake, relay with
//!   dedup windows, timers. No IO, no clock.
//! - [`fuzzing`]: the bodies of the fuzz targets, shared by `fuzz/` and `cargo test`.
//! - [`net`]: the tokio driver: one task owns one UDP socket and one node, bounded channels
//!   to the front ends; the one place that reads the clock.
//! - [`store`]: the redb database: node seed, groups, last known peers, moderation facts, kept
//!   across restarts.
//! - [`app`]: the application runtime every front end shares: typed commands in, events
//!   that carry their data out.
//! - [`index`]: the optional account/room index role: sans-IO request logic, SQL storage
//!   (SQLite or PostgreSQL) behind one writer with group commit, the client library.
//! - [`cli`]: the command-line front end behind the `dhtchat` binary.
//!
//! The protocol layers (`wire`, `crypto`, `proto`) do no IO, read no clock and use no thread
//! RNG: time and randomness are inputs. `tests/architecture.rs` enforces it.
//!
//! # Driving a Node
//!
//! A [`proto::Node`] is a state machine; its owner (the UDP driver, or the simulator in
//! `tests/sim`) feeds it inputs and drains its outputs, in this order:
//!
//! 1. Inputs, whenever they happen: `handle_datagram(now, from, bytes)` for each received
//!    datagram, `handle_timeout(now)` once `now` reaches `poll_timeout()`, and application
//!    commands (`create_group`, `join_group`, `send_chat`, `set_name`, `leave_group`, …).
//! 2. After every input, drain all outputs: `poll_transmit()` until `None` (send each datagram
//!    to its destination), `poll_event()` until `None` (hand each event to the application),
//!    then `poll_timeout()` for the next wake-up.
//!
//! Inbound problems never surface as errors: they are counted drops in `stats()`. Output
//! queues are bounded; drain them before reading more input.
//!
//! ```
//! use std::time::Instant;
//! use dhtchat::proto::{Config, GroupSpec, Node};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now(); // only a driver reads the clock
//! let mut node = Node::new(Config::new([7; 32])).unwrap();
//! let group = node.create_group(now, &GroupSpec::default()).unwrap();
//! let join = node.join_string(group, "127.0.0.1:33445".parse().unwrap()).unwrap();
//! assert!(join.to_string().starts_with("dhtchat:")); // the founder's invite: 63 characters
//! while let Some(t) = node.poll_transmit() {
//!     let _ = (t.destination, t.payload); // socket.send_to(&t.payload, t.destination)
//! }
//! assert!(node.poll_timeout().is_some());
//! ```
#![warn(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod cli;
pub mod crypto;
pub mod fuzzing;
pub mod index;
pub mod net;
pub mod proto;
pub mod store;
pub mod wire;

/// A fixed instant for unit tests of the sans-IO layers, which must not read the clock
/// themselves (ARCHITECTURE.md §2): only the driver and this test helper do.
#[cfg(test)]
pub(crate) fn test_epoch() -> std::time::Instant {
    #[allow(clippy::disallowed_methods)] // the test epoch; the protocol layers never call this
    std::time::Instant::now()
}
