//! What a [`super::Node`] hands back: datagrams to send, events for the application, and the
//! counters of everything it did or dropped.

use std::net::SocketAddr;

use crate::wire::{HistoryVisibility, PublicKey, Role, Status, VoiceLevel};

mod stats;

pub use stats::{HistoryStats, Stats};

/// A local handle of one group hosted by the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub u32);

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The whole datagram.
    pub payload: Vec<u8>,
}

/// Why a member left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveReason {
    /// It sent quit.
    Quit,
    /// Nothing was heard from it for the peer timeout.
    Timeout,
}

/// The kind of a delivered text message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextKind {
    /// A chat message (64).
    Chat,
    /// A /me action (63 or 65).
    Action,
}

/// A fact for the application, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// We are in the group: a first member answered us. The member that let us in sends its
    /// signed facts and every member's latest name and status first (PROTOCOL.md §6.5,
    /// §6.8), so PeerJoined, NameChanged, StatusChanged, RoleChanged and GroupNameChanged
    /// for the existing members may come just before this event, and the rest within a
    /// round trip after it.
    Joined {
        /// The group.
        group: GroupId,
    },
    /// A joiner holds the group's state (PROTOCOL.md §6.3): after [`Event::Joined`], once its
    /// facts match the summary the member that let it in sent (so its roles, bans, topic and
    /// name are that member's), and at once in a legacy group (no facts). That member's name
    /// sync precedes its answer, so every nick and status it held is here too unless a
    /// datagram was lost. Never raised when no summary comes (a member that does not send
    /// one, a summary lost, a rejoin that member does not see as fresh): a front end waits a
    /// bounded time after `Joined`.
    StateSynced {
        /// The group.
        group: GroupId,
    },
    /// No member answered our join within `Config::join_timeout` (a wrong key, a dead
    /// address, or a private group that did not invite us): the node has dropped the group,
    /// and its `GroupId` is no longer valid. `contact` is the join string's address.
    JoinFailed {
        /// The group (already dropped).
        group: GroupId,
        /// The join string's member address that never answered.
        contact: SocketAddr,
    },
    /// A member appeared (announced, first heard from, or a join contact that answered:
    /// contacts are not members until they do).
    PeerJoined {
        /// The group.
        group: GroupId,
        /// The member's key.
        peer: PublicKey,
    },
    /// A member left. A quit is announced twice: [`Event::PeerQuit`] (with the reason)
    /// comes first, immediately followed by this variant with `reason: LeaveReason::Quit`;
    /// a front end that shows the reason handles `PeerQuit` and skips `PeerLeft { Quit }`.
    PeerLeft {
        /// The group.
        group: GroupId,
        /// The member's key.
        peer: PublicKey,
        /// Why.
        reason: LeaveReason,
    },
    /// A member sent quit (PROTOCOL.md §5.2), with its reason: raw bytes, valid UTF-8 of at
    /// most 256 bytes, empty when it gave none (always empty in legacy groups). Emitted
    /// immediately before `PeerLeft { reason: LeaveReason::Quit }` for the same member.
    PeerQuit {
        /// The group.
        group: GroupId,
        /// The member's key.
        peer: PublicKey,
        /// Its part or quit message; empty if none.
        reason: Vec<u8>,
    },
    /// A chat message or action arrived.
    MessageReceived {
        /// The group.
        group: GroupId,
        /// Its author.
        origin: PublicKey,
        /// The author's message number.
        number: u32,
        /// Chat or action.
        kind: TextKind,
        /// The text (raw bytes; usually UTF-8).
        text: Vec<u8>,
    },
    /// A member changed its nick.
    NameChanged {
        /// The group.
        group: GroupId,
        /// The member.
        peer: PublicKey,
        /// The new nick.
        name: Vec<u8>,
    },
    /// A member changed its presence.
    StatusChanged {
        /// The group.
        group: GroupId,
        /// The member.
        peer: PublicKey,
        /// The new status.
        status: Status,
    },
    /// The topic changed.
    TopicChanged {
        /// The group.
        group: GroupId,
        /// Who set it.
        by: PublicKey,
        /// The new topic.
        topic: String,
    },
    /// A role fact was taken (secure groups).
    RoleChanged {
        /// The group.
        group: GroupId,
        /// The member.
        peer: PublicKey,
        /// Its new role.
        role: Role,
        /// Who signed it (X25519 key).
        by: PublicKey,
    },
    /// A ban fact was taken; `peer` is our own key when we were banned (the node has left).
    Banned {
        /// The group.
        group: GroupId,
        /// The banned key.
        peer: PublicKey,
        /// Who signed it.
        by: PublicKey,
    },
    /// An unban fact was taken.
    Unbanned {
        /// The group.
        group: GroupId,
        /// The key.
        peer: PublicKey,
        /// Who signed it.
        by: PublicKey,
    },
    /// A member was kicked; `peer` is our own key when we were (the node has left; we may
    /// join again).
    Kicked {
        /// The group.
        group: GroupId,
        /// The kicked key.
        peer: PublicKey,
        /// Who signed it.
        by: PublicKey,
    },
    /// The topic lock fact changed.
    TopicLocked {
        /// The group.
        group: GroupId,
        /// Whether only moderators may set the topic now.
        locked: bool,
        /// Who signed it.
        by: PublicKey,
    },
    /// The voice fact changed.
    VoiceChanged {
        /// The group.
        group: GroupId,
        /// Who may speak now.
        level: VoiceLevel,
        /// Who signed it.
        by: PublicKey,
    },
    /// The peer limit fact changed.
    PeerLimitChanged {
        /// The group.
        group: GroupId,
        /// Most members, 0 for no limit.
        limit: u32,
        /// Who signed it.
        by: PublicKey,
    },
    /// The founder named the group, or renamed it (a signed fact, secure groups; PROTOCOL.md
    /// §5.5). An empty name clears it. Also raised when a joiner learns the name by the fact
    /// sync; `Node::group_name` gives the current one.
    GroupNameChanged {
        /// The group.
        group: GroupId,
        /// The new name (valid UTF-8, at most 128 bytes).
        name: String,
    },
    /// The group's signed facts changed: persist `Node::facts(group)`.
    FactsChanged {
        /// The group.
        group: GroupId,
    },
    /// A private message to us arrived (secure groups; delivered once).
    DirectMessage {
        /// The group.
        group: GroupId,
        /// Its sender (authenticated by the envelope's box).
        from: PublicKey,
        /// Its direct-message number (the sender's counter separate from broadcasts): the
        /// front end journals it before showing the text (PROTOCOL.md §6.9).
        number: u32,
        /// The text (valid UTF-8, 1..=785 bytes).
        text: Vec<u8>,
    },
    /// The founder set who sees the group's history (PROTOCOL.md §6.13).
    HistoryVisibilityChanged {
        /// The group.
        group: GroupId,
        /// The new visibility.
        visibility: HistoryVisibility,
    },
    /// A message said before we joined or while we were away, fetched from a member and
    /// checked against its original signature (PROTOCOL.md §6.13). A fetch's messages come
    /// together, in display order, followed by one [`Event::HistoryDone`].
    HistoryMessage {
        /// The group.
        group: GroupId,
        /// Its author.
        origin: PublicKey,
        /// The author's message number.
        number: u32,
        /// Chat or action.
        kind: TextKind,
        /// The text (raw bytes; usually UTF-8).
        text: Vec<u8>,
        /// About how many seconds ago it was said (the server's word, clamped).
        age_secs: u32,
    },
    /// A history fetch finished: what follows is live ("new since you left").
    HistoryDone {
        /// The group.
        group: GroupId,
        /// Messages shown as history by this fetch.
        messages: u32,
        /// Gaps in an origin's numbers no member could fill.
        gaps: u32,
    },
}

impl Event {
    /// The group the event is about (every variant has one), so front ends need no match of
    /// their own that each new variant would break.
    pub fn group(&self) -> GroupId {
        match self {
            Self::Joined { group }
            | Self::StateSynced { group }
            | Self::JoinFailed { group, .. }
            | Self::PeerJoined { group, .. }
            | Self::PeerLeft { group, .. }
            | Self::PeerQuit { group, .. }
            | Self::MessageReceived { group, .. }
            | Self::NameChanged { group, .. }
            | Self::StatusChanged { group, .. }
            | Self::TopicChanged { group, .. }
            | Self::RoleChanged { group, .. }
            | Self::Banned { group, .. }
            | Self::Unbanned { group, .. }
            | Self::Kicked { group, .. }
            | Self::TopicLocked { group, .. }
            | Self::VoiceChanged { group, .. }
            | Self::PeerLimitChanged { group, .. }
            | Self::GroupNameChanged { group, .. }
            | Self::FactsChanged { group }
            | Self::DirectMessage { group, .. }
            | Self::HistoryVisibilityChanged { group, .. }
            | Self::HistoryMessage { group, .. }
            | Self::HistoryDone { group, .. } => *group,
        }
    }
}

/// Why an inbound datagram or an outbound item was dropped. Counted in [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(usize)]
pub enum DropReason {
    /// The envelope is malformed (length, outer id).
    Malformed,
    /// No hosted group has the receiver key.
    UnknownGroup,
    /// The sender key is of small order or not canonical.
    BadKey,
    /// The box did not open.
    Decrypt,
    /// The plaintext does not decode.
    BadPayload,
    /// A packet from a sender we do not know (besides a join request).
    UnknownSender,
    /// A join request to a private group from a key nobody invited.
    NotInvited,
    /// A send_nodes whose ping id is unknown, expired, used, or not from the asked peer.
    UnsolicitedSendNodes,
    /// A broadcast number already seen.
    Duplicate,
    /// A broadcast number older than the dedup window.
    TooOld,
    /// A broadcast number beyond the forward cap.
    TooFarAhead,
    /// A signed broadcast in a legacy group or an unsigned one in a secure group.
    WrongDialect,
    /// A broadcast whose signature does not verify.
    BadSignature,
    /// Our own broadcast, echoed back by a relay.
    OwnEcho,
    /// A broadcast body that does not decode; not delivered, not relayed.
    BadBody,
    /// A broadcast from a member that has quit.
    Departed,
    /// The member list is full.
    MemberLimit,
    /// The pending-request table is full; a get_nodes was not sent.
    PendingFull,
    /// The transmit queue was full.
    TransmitQueueFull,
    /// The event queue was full.
    EventQueueFull,
    /// A probe was not sent: the sender's IP or the whole node is over its probe rate, or
    /// too many probes are outstanding.
    RateLimited,
    /// A broadcast whose origin is over its token bucket (PROTOCOL.md §6.7); not delivered,
    /// not relayed, its number spent. Never held against the hop.
    OverLimit,
    /// A broadcast from a hop that forwards this origin faster than an honest relay can.
    RelayOverLimit,
    /// A datagram from a graylisted hop, dropped before any crypto work.
    Graylisted,
    /// A packet from, or announcing, a banned key.
    Banned,
    /// A fact with a bad signature, from a signer without the role, or beyond the fact cap.
    FactRejected,
    /// A fact whose version (or tie-break) is not newer than the one we hold.
    StaleFact,
    /// A message an observer may not send, or that the voice setting forbids.
    Silenced,
    /// A join refused because the group is at its peer limit.
    PeerLimit,
    /// A broadcast from an origin that is not a member (secure groups): it never joined
    /// through the handshake, no member announced it, and its hop may not introduce it.
    NotMember,
    /// An announcement (new_peer) over its origin's announcement bucket, or relayed faster
    /// than an honest relay can; never held against the hop nor the origin's own messages.
    AnnounceOverLimit,
    /// A secure-dialect datagram whose mac1 is wrong: dropped before any X25519.
    BadMac,
    /// A datagram whose sender's shared key is not cached, over the X25519 budget of its
    /// source IP or of the node (`Config::dh_rate`) and (secure groups) without a mac2 that
    /// proves its address: dropped before the X25519; a secure one gets a cookie reply.
    DhOverLimit,
    /// A GRAFT naming no broadcast we keep a copy of (PROTOCOL.md §6.12).
    GraftUnknown,
    /// A stranger's join request while we first join ourselves (kept, PROTOCOL.md §6.3).
    NotJoinedYet,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [Self; 35] = [
        Self::Malformed,
        Self::UnknownGroup,
        Self::BadKey,
        Self::Decrypt,
        Self::BadPayload,
        Self::UnknownSender,
        Self::NotInvited,
        Self::UnsolicitedSendNodes,
        Self::Duplicate,
        Self::TooOld,
        Self::TooFarAhead,
        Self::WrongDialect,
        Self::BadSignature,
        Self::OwnEcho,
        Self::BadBody,
        Self::Departed,
        Self::MemberLimit,
        Self::PendingFull,
        Self::TransmitQueueFull,
        Self::EventQueueFull,
        Self::RateLimited,
        Self::OverLimit,
        Self::RelayOverLimit,
        Self::Graylisted,
        Self::Banned,
        Self::FactRejected,
        Self::StaleFact,
        Self::Silenced,
        Self::PeerLimit,
        Self::NotMember,
        Self::AnnounceOverLimit,
        Self::BadMac,
        Self::DhOverLimit,
        Self::GraftUnknown,
        Self::NotJoinedYet,
    ];

    /// A short snake_case name for logs and metrics.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 35] = [
            "malformed",
            "unknown_group",
            "bad_key",
            "decrypt",
            "bad_payload",
            "unknown_sender",
            "not_invited",
            "unsolicited_send_nodes",
            "duplicate",
            "too_old",
            "too_far_ahead",
            "wrong_dialect",
            "bad_signature",
            "own_echo",
            "bad_body",
            "departed",
            "member_limit",
            "pending_full",
            "transmit_queue_full",
            "event_queue_full",
            "rate_limited",
            "over_limit",
            "relay_over_limit",
            "graylisted",
            "banned",
            "fact_rejected",
            "stale_fact",
            "silenced",
            "peer_limit",
            "not_member",
            "announce_over_limit",
            "bad_mac",
            "dh_over_limit",
            "graft_unknown",
            "not_joined_yet",
        ];
        NAMES[self as usize]
    }
}
