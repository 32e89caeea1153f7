//! The command-line front end: argument parsing and the subcommands of the `dhtchat` binary.

pub mod inspect;
