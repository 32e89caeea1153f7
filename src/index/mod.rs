//! The index: an optional server role that keeps accounts and public rooms (PROTOCOL.md §8,
//! ARCHITECTURE.md §7).
//!
//! Any node can run one (`dhtchat index`); clients point at it by key and address; the
//! peer-to-peer groups keep working without it. The index never learns a password nor any key
//! that decrypts what it stores: the client derives everything with Argon2id and HKDF
//! ([`account`]) and the index only checks a signature at login.
//!
//! # Layout
//!
//! - [`names`]: the username normalisation rule and the room-name rule.
//! - [`roomkey`]: the founder seed and chat id of each room's group (derived, not stored).
//! - [`devices`]: device keys certified by an account (one member key per device, §8.13).
//! - [`wire`]: byte codecs of the index packets (inner ids 96/97) and their fragments.
//! - [`account`]: client-side key derivation, wrapping and the blobs' plaintext formats
//!   (sans-IO: randomness is an argument).
//! - [`service`]: the sans-IO request logic ([`Service`]): datagrams and storage results
//!   in, datagrams and storage operations out; sessions, challenges, limits, retries.
//! - [`store`]: the storage operations and their results, the one query layer over
//!   [`sql::Sql`], and the versioned schema.
//! - [`sql`]: the [`sql::Sql`] trait with its SQLite and PostgreSQL connections.
//! - [`writer`]: the writer thread: group commit, acknowledgement after the commit.
//! - [`driver`]: the tokio task that owns the UDP socket and the [`Service`], and the
//!   index's overlay node, founder of one public group per room.
//! - [`client`]: the client library (register, login, change password, lists, rooms).
//! - [`groupkey`]: group-chat keys in epochs behind the [`groupkey::GroupKeySchedule`] seam
//!   (issue #14; PROTOCOL.md appendix B): rotation records, their ordering, message sealing.
//!
//! # One request, datagram to reply
//!
//! ```text
//! driver: recv_from ──► Service::handle_datagram(now, from, bytes)
//!            open the envelope, reassemble fragments, decode, check limits and session
//!            ├─ answerable at once (bad login, rate limited, forbidden) ─► poll_transmit
//!            └─ needs the database ─► poll_storage() ─► writer thread (one transaction
//!                 for every queued operation, COMMIT) ─► Service::handle_storage(now, token,
//!                 outcome) ─► reply queued ─► poll_transmit
//! ```
//!
//! A write is acknowledged only after the transaction holding it committed.

pub mod account;
pub mod client;
pub mod devices;
pub mod driver;
pub mod groupkey;
pub mod names;
pub mod presence;
pub mod roomkey;
pub mod service;
pub mod sql;
pub mod store;
pub mod wire;
pub mod writer;

mod limits;

pub use service::{Service, ServiceConfig, ServiceStats};
