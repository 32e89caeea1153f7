//! The sans-IO protocol state machine: groups, the DHT table, relay and dedup, timers.
//!
//! A [`Node`] hosts one or more groups (demultiplexed by the envelope's receiver key). It reads
//! no clock and does no IO: time arrives as `now` on every call and randomness comes from the
//! seed in [`Config`], so a simulator can run thousands of nodes in one process with a virtual
//! clock.
//!
//! - `dht`: the table (close set + Kademlia buckets, per-IP cap).
//! - `pending`: one-shot get_nodes ping ids.
//! - `members`: who is in a group, with their windows, keys and addresses.
//! - `window`: per-origin dedup window; `numbers`: our own message counters; `marks`: the
//!   highest numbers of origins whose windows are gone, kept across restarts.
//! - `handlers`: get_nodes / send_nodes; `broadcast`: relayed messages; `timers`: upkeep,
//!   on the instants `schedule` keeps; `commands`: the group side of the node's commands.
//! - `direct`: private messages to one member (inner id 52), never relayed.
//! - `intro`: the name sync that shows a joiner every member's nick and status at once.
//! - `repair`: anti-entropy; recent broadcasts, have summaries (id 53) and their answers.
//! - `tree`: the eager trees of secure groups, one per origin (prune, id 58), and their lazy
//!   half (IHAVE and GRAFT, id 59).
//! - `cookie`: mac2 cookies and cookie replies of the secure dialect (PROTOCOL.md §2.1).
//! - `scope`: IP privacy, which node entries an asker may be told of.
//! - `verify`: batch signature verification of the signed broadcasts of one receive batch.
//! - `spam`: per-origin token buckets and the graylist of misbehaving hops.
//! - `history`: the signed history every member keeps, served to joiners and fetched on
//!   return (inner ids 56, 57).
//! - `authority`: signed facts (roles, bans, kicks, topic lock, voice, peer limit) and
//!   moderation commands, secure groups only.

mod authority;
mod broadcast;
mod commands;
mod config;
mod cookie;
pub mod dht;
mod direct;
mod event;
mod group;
mod handlers;
mod history;
mod in_links;
mod intro;
mod io;
mod join;
mod limiter;
mod marks;
mod members;
mod node;
mod numbers;
mod pending;
mod repair;
mod schedule;
mod scope;
mod spam;
mod timers;
mod tree;
mod verify;
pub mod window;

pub use authority::{Moderation, ModerationError};
pub use broadcast::SendError;
pub use config::{Config, ConfigError};
pub use event::{DropReason, Event, GroupId, HistoryStats, LeaveReason, Stats, TextKind, Transmit};
pub use history::{Admission, HistoryLimits, HistoryRecord};
pub use join::{Dialect, JoinString, JoinStringError, Privacy};
pub use marks::Mark;
pub use node::{
    BatchCounts, BatchScratch, GroupError, GroupInfo, GroupSpec, HistoryChanges, MemberInfo, Node,
};
pub use spam::StateSizes;
pub use tree::Traffic;
