//! The command-line front end: the library side of the `dhtchat` binary's subcommands.
//!
//! Each subcommand is a module with a `clap::Args` struct and a `run` function; `src/main.rs`
//! only parses the command line and dispatches. Keeping the logic here makes it testable
//! without spawning the binary.
//!
//! - [`inspect`]: `dhtchat inspect`, the operator's datagram dissector (`docs/inspect.md`).
//! - [`chat`]: `dhtchat chat`, the interactive chat and its `--plain` mode; the runtime that
//!   connects the driver, the store and a front end.
//! - [`node`]: `dhtchat node`, the headless bootstrap/relay node that logs periodic stats.
//! - [`id`]: `dhtchat id`, this node's key and join string in each stored group.
//! - [`demo`]: `dhtchat demo`, N nodes on loopback UDP in one process, with a summary.
//! - [`bench`]: `dhtchat bench`, the same nodes under an open-loop chat load, with one
//!   machine-readable result line.
//! - [`plain`]: `--plain` mode's one-line-per-event output format (`docs/plain-mode.md`).
//! - [`index`]: `dhtchat index`, the account/room index server (PROTOCOL.md §8).
//! - [`admin`]: `dhtchat admin promote|demote NAME`, the index's local-only privilege change.
//! - [`tui`]: the interactive terminal chat as a pure model, renderer and key handler.

pub mod admin;
pub mod bench;
pub mod chat;
pub mod demo;
pub mod id;
pub mod index;
pub mod inspect;
pub mod node;
pub mod plain;
pub mod tui;
