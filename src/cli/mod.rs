//! The command-line front end: the library side of the `dhtchat` binary's subcommands.
//!
//! Each subcommand is a module with a `clap::Args` struct and a `run` function; `src/main.rs`
//! only parses the command line and dispatches. Keeping the logic here makes it testable
//! without spawning the binary.
//!
//! - [`inspect`]: `dhtchat inspect`, the operator's datagram dissector (`docs/inspect.md`).
//! - [`args`]: the command-line options `chat` and `node` share (clap's view of
//!   [`crate::app::Options`]).
//! - [`chat`]: `dhtchat chat`, the interactive chat and its `--plain` mode: two thin views
//!   over the application runtime ([`crate::app`]).
//! - [`node`]: `dhtchat node`, the headless bootstrap/relay node that logs periodic stats.
//! - [`id`]: `dhtchat id`, this node's key and join string in each stored group.
//! - [`demo`]: `dhtchat demo`, N nodes on loopback UDP in one process, with a summary.
//! - [`bench`]: `dhtchat bench`, the same nodes under an open-loop chat load, with one
//!   machine-readable result line.
//! - [`index`]: `dhtchat index`, the account/room index server (PROTOCOL.md §8).
//! - [`admin`]: `dhtchat admin promote|demote NAME`, the index's local-only privilege change.
//! - [`tui`]: the interactive terminal chat as a pure model, renderer and key handler.
//! - [`config`]: the optional `dhtchat.toml` (`docs/config.md`), merged under the flags.
//! - [`clipboard`]: the OSC 52 escape sequence that copies text to the terminal's clipboard.

pub mod admin;
pub mod args;
pub mod bench;
pub mod chat;
pub mod clipboard;
pub mod config;
pub mod demo;
pub mod id;
pub mod index;
pub mod inspect;
pub mod node;
pub mod tui;
