//! The index: an optional node role that keeps accounts, rooms and group-chat keys (ARCHITECTURE.md §7).

pub mod groupkey;
