//! What a front end asks of a [`Driver`](super::Driver): typed [`Command`]s over a bounded
//! channel, each with a oneshot reply. [`Handle`](super::Handle) wraps them in async methods.
//!
//! There is one variant per node operation the application uses, and no closure escape
//! hatch: everything the driver does for a front end is listed here.

use std::io;

use tokio::sync::oneshot;

use super::DriverStats;
use crate::proto::{
    GroupError, GroupId, GroupInfo, GroupSpec, HistoryLimits, JoinString, Mark, MemberInfo,
    Moderation, ModerationError, SendError,
};
use crate::wire::{NodeInfo, PublicKey, Role, Status};

/// Where a command's answer goes. A front end that does not care drops the receiver.
pub(super) type Reply<T> = oneshot::Sender<T>;

/// An own broadcast that carries text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A chat message (id 64).
    Chat(Vec<u8>),
    /// A /me action (id 63).
    Action(Vec<u8>),
    /// A new nick for us (id 48), remembered by the node and re-broadcast periodically.
    Name(Vec<u8>),
}

/// One request to the driver task. Each becomes one `Node` call (or a query of its state),
/// run with the current time inside the driver task, the node's one owner.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Found a new group.
    CreateGroup {
        /// How to set it up.
        spec: GroupSpec,
        /// The new group's id.
        reply: Reply<Result<GroupId, GroupError>>,
    },
    /// Join a group through one of its members.
    JoinGroup {
        /// The group and the member to ask.
        join: JoinString,
        /// Our identity and nick in it.
        spec: GroupSpec,
        /// The group's local id (joining goes on in the background; watch for `Joined`).
        reply: Reply<Result<GroupId, GroupError>>,
    },
    /// Ask members we knew before (stored peers) to let us in, and continue our message
    /// numbers after `resume_after` (PROTOCOL.md §6.9).
    Rejoin {
        /// The group.
        group: GroupId,
        /// The stored peers, numbers and marks.
        resume: Resume,
        /// Done.
        reply: Reply<Result<(), SendError>>,
    },
    /// Broadcast a chat message, an action or a nick change.
    Send {
        /// The group.
        group: GroupId,
        /// What to send.
        message: Outgoing,
        /// The message number spent.
        reply: Reply<Result<u32, SendError>>,
    },
    /// Send a private message to one member (secure groups).
    SendDirect {
        /// The group.
        group: GroupId,
        /// The member.
        to: PublicKey,
        /// The text.
        text: Vec<u8>,
        /// The private message's number.
        reply: Reply<Result<u32, SendError>>,
    },
    /// Set our presence and broadcast it.
    SetStatus {
        /// The group.
        group: GroupId,
        /// The new presence.
        status: Status,
        /// The message number spent.
        reply: Reply<Result<u32, SendError>>,
    },
    /// Set the group's topic (a signed fact in secure groups).
    SetTopic {
        /// The group.
        group: GroupId,
        /// The topic; empty clears it.
        topic: String,
        /// The message number spent.
        reply: Reply<Result<u32, SendError>>,
    },
    /// Set the group's signed name (founder of a secure group only).
    SetGroupName {
        /// The group.
        group: GroupId,
        /// The name; empty clears it.
        name: String,
        /// The message number spent.
        reply: Reply<Result<u32, SendError>>,
    },
    /// Set how much history the group keeps (PROTOCOL.md §6.13).
    SetHistoryLimits {
        /// The group.
        group: GroupId,
        /// The new limits (the oldest entries beyond them go at once).
        limits: HistoryLimits,
        /// Done, or the group is unknown.
        reply: Reply<Result<(), SendError>>,
    },
    /// Let a key into a private group and announce it.
    Invite {
        /// The group.
        group: GroupId,
        /// The key let in.
        key: PublicKey,
        /// The message number spent.
        reply: Reply<Result<u32, SendError>>,
    },
    /// Sign, apply and broadcast a moderation fact.
    Moderate {
        /// The group.
        group: GroupId,
        /// What to do.
        action: Moderation,
        /// The message number spent.
        reply: Reply<Result<u32, ModerationError>>,
    },
    /// Hand a group the signed facts stored for it (bans survive restarts).
    RestoreFacts {
        /// The group.
        group: GroupId,
        /// The encoded facts (PROTOCOL.md §5.5).
        facts: Vec<Vec<u8>>,
        /// How many were taken.
        reply: Reply<usize>,
    },
    /// Broadcast quit (with a reason where the dialect carries one) and forget the group.
    LeaveGroup {
        /// The group.
        group: GroupId,
        /// The part message; may be empty.
        reason: Vec<u8>,
        /// Done (the quit datagrams are sent before the next input is read).
        reply: Reply<Result<(), SendError>>,
    },
    /// A summary of one group and the join string that points at this node.
    GroupInfo {
        /// The group.
        group: GroupId,
        /// `None` if there is no such group.
        reply: Reply<Option<GroupSnapshot>>,
    },
    /// Every hosted group's summary, in creation order.
    Groups {
        /// The summaries.
        reply: Reply<Vec<(GroupId, GroupInfo)>>,
    },
    /// The members of a group (empty if there is no such group).
    Members {
        /// The group.
        group: GroupId,
        /// The members, by key.
        reply: Reply<Vec<MemberInfo>>,
    },
    /// One member of a group, if known.
    Member {
        /// The group.
        group: GroupId,
        /// The member's key.
        key: PublicKey,
        /// The member.
        reply: Reply<Option<MemberInfo>>,
    },
    /// The role of a key in a group.
    Role {
        /// The group.
        group: GroupId,
        /// The key.
        key: PublicKey,
        /// `None` if there is no such group.
        reply: Reply<Option<Role>>,
    },
    /// The banned keys of a group.
    Bans {
        /// The group.
        group: GroupId,
        /// The keys.
        reply: Reply<Vec<PublicKey>>,
    },
    /// The current signed facts of a group, encoded, to be stored.
    Facts {
        /// The group.
        group: GroupId,
        /// The chat id and the facts.
        reply: Reply<FactSet>,
    },
    /// What a restart needs, of several groups at one instant: each group's table, numbers,
    /// marks and history changes.
    Persisted {
        /// The groups, each with the history cursor of its last store
        /// ([`crate::proto::HistoryChanges::cursor`]).
        groups: Vec<(GroupId, (u32, u64))>,
        /// The states, in the order asked.
        reply: Reply<PersistSnapshot>,
    },
    /// The counters so far.
    Stats {
        /// The counters.
        reply: Reply<DriverStats>,
    },
    /// Leave every group (quit broadcasts are sent) and stop the driver.
    Quit {
        /// The final counters, sent once the quit datagrams are out.
        reply: Reply<DriverStats>,
    },
}

/// One group as seen from outside the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The node's summary of the group.
    pub info: GroupInfo,
    /// The join string through this node, with the socket's local address (which is only
    /// useful to others if the socket is bound to a specific IP, not `0.0.0.0` or `[::]`).
    pub join: JoinString,
}

/// A group's signed facts, as they are stored (PROTOCOL.md §6.8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactSet {
    /// The chat id the facts are stored under (`None` for legacy groups: no facts).
    pub chat_id: Option<[u8; 32]>,
    /// The encoded facts (PROTOCOL.md §5.5).
    pub facts: Vec<Vec<u8>>,
}

/// The state of a group that is written to the store (PROTOCOL.md §6.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistState {
    /// The group's DHT table: the peers a restart rejoins through.
    pub table: Vec<NodeInfo>,
    /// The last message number we spent (0: none yet).
    pub last_number: u32,
    /// The last direct-message number we spent (0: none yet).
    pub last_direct: u32,
    /// The highest numbers accepted from each origin (replays stay refused after a restart).
    pub marks: Vec<Mark>,
    /// What changed in the signed history since the last store (PROTOCOL.md §6.13).
    pub history: crate::proto::HistoryChanges,
}

/// The state of several groups at one instant, and how many events the driver had made
/// before it: those with a lower `seq` are the ones the state may already hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistSnapshot {
    /// One per group asked, in order; `None` for an unknown group.
    pub states: Vec<Option<PersistState>>,
    /// The `seq` of the first event made after the snapshot.
    pub events_before: u64,
}

/// What a restarted group is given back from the store (PROTOCOL.md §6.9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The stored peers, asked to let us in.
    pub contacts: Vec<NodeInfo>,
    /// Our broadcast numbers continue after this one (the stored number plus the gap).
    pub broadcast_after: u32,
    /// Our direct-message numbers continue after this one.
    pub direct_after: u32,
    /// The stored high-water marks of every origin.
    pub marks: Vec<Mark>,
    /// The stored history, checked again by the node (PROTOCOL.md §6.13).
    pub history: Vec<crate::proto::HistoryRecord>,
    /// The stored admissions (visibility `joined`).
    pub admissions: Vec<crate::proto::Admission>,
    /// The numbers shown since the last store (the marks journal).
    pub shown: Vec<(PublicKey, u32)>,
}

/// Why a driver could not be started or a command not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Binding the socket (or reading the OS random source) failed. Shown as the OS error
    /// alone, so a context added on top does not repeat it.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The node's configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::proto::ConfigError),
    /// The driver task has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The node refused to create or join the group.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// The node refused to send.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The node refused a moderation command.
    #[error(transparent)]
    Moderation(#[from] ModerationError),
}
