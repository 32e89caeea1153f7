//! The command-line front end: the library side of the `dhtchat` binary's subcommands.
//!
//! Each subcommand is a module with a `clap::Args` struct and a `run` function; `src/main.rs`
//! only parses the command line and dispatches. Keeping the logic here makes it testable
//! without spawning the binary.
//!
//! - [`inspect`]: `dhtchat inspect`, the operator's datagram dissector (`docs/inspect.md`).
//! - [`demo`]: `dhtchat demo`, N nodes on loopback UDP in one process, with a summary.
//! - [`bench`]: `dhtchat bench`, the same nodes under an open-loop chat load, with one
//!   machine-readable result line.

pub mod bench;
pub mod demo;
pub mod inspect;
