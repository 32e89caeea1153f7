//! The rooms as groups in the overlay (PROTOCOL.md §8.11): what the service asks of the
//! index's node ([`RoomAction`]), and what the node tells the service (clients per room, a
//! member's chat to store).
//!
//! - join (kind 8) committed → [`RoomAction::Found`] (the node founds the room's group if it
//!   has not yet) and the reply carries the group's chat id and the node's port;
//! - a server message (kind 14) committed → [`RoomAction::Say`] (the founder posts it);
//! - [`Service::refresh_moderators`] → a read of the moderator table →
//!   [`RoomAction::Moderators`] (the node grants and revokes the role);
//! - the node's member list → [`Service::set_room_clients`] → the counts of kinds 7 and 8;
//! - a member's chat in a room → [`Service::handle_room_text`] → stored as the account whose
//!   member key (the X25519 form of its identity key, a column of `accounts`) sent it; text
//!   from a key no account has is not stored (a counted `room_unknown_author`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::{Service, Token};
use crate::crypto::x25519_of;
use crate::index::roomkey::room_chat_id;
use crate::index::store::{Op, Outcome};
use crate::index::wire::{RoomInfo, RoomJoin};
use crate::wire::PublicKey;

/// Longest stored room text, in bytes (the `room_messages.body` bound).
const MAX_TEXT: usize = 785;
/// Actions waiting for the node; more are dropped and counted (`room_actions_full`).
const MAX_ACTIONS: usize = 4096;

/// What the service asks of the index's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomAction {
    /// Found the room's group, unless it is founded already.
    Found(String),
    /// Post an admin's server message as the founder: into one room, or into every room.
    Say {
        /// The room; `None` for every founded room.
        room: Option<String>,
        /// The text.
        text: String,
    },
    /// The moderators each room's group should have now (member keys).
    Moderators(BTreeMap<String, BTreeSet<PublicKey>>),
}

/// An operation the service started itself (no client waits for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Internal {
    Chat,
    Moderators,
}

/// The service's room-group state.
pub(super) struct Rooms {
    /// The node's port; 0 when the index runs no node (counts then come from SQL).
    port: u16,
    clients: BTreeMap<String, u32>,
    internal: HashMap<Token, Internal>,
    actions: VecDeque<RoomAction>,
}

impl Rooms {
    pub(super) fn new(port: u16) -> Self {
        Self {
            port,
            clients: BTreeMap::new(),
            internal: HashMap::new(),
            actions: VecDeque::new(),
        }
    }
}

impl Service {
    /// The next thing for the index's node to do.
    pub fn poll_room_action(&mut self) -> Option<RoomAction> {
        self.rooms.actions.pop_front()
    }

    /// The node's member count of `room`'s group (itself not counted).
    pub fn set_room_clients(&mut self, room: &str, clients: u32) {
        self.rooms.clients.insert(room.to_owned(), clients);
    }

    /// A chat (or `/me` action) that the node received in `room`'s group from `author`:
    /// stored as the account with that member key; none is a counted drop.
    pub fn handle_room_text(&mut self, room: &str, author: PublicKey, text: &str, action: bool) {
        let mut text = if action {
            format!("/me {text}")
        } else {
            text.to_owned()
        };
        let mut end = text.len().min(MAX_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        if text.is_empty() {
            self.count("room_empty_text");
            return;
        }
        let op = Op::RoomChat {
            room: room.to_owned(),
            member_key: author.0,
            text,
        };
        self.internal(Internal::Chat, op);
    }

    /// Reads the moderator table; [`RoomAction::Moderators`] follows.
    pub fn refresh_moderators(&mut self) {
        if !self
            .rooms
            .internal
            .values()
            .any(|i| *i == Internal::Moderators)
        {
            self.internal(Internal::Moderators, Op::RoomModerators);
        }
    }

    /// Queues an operation of the service's own, within the in-flight bound.
    fn internal(&mut self, what: Internal, op: Op) {
        let busy = self.pending.len() + self.rooms.internal.len();
        if busy >= self.config.max_in_flight {
            self.count("room_busy");
            return;
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.rooms.internal.insert(token, what);
        self.storage.push_back((token, op));
    }

    /// The outcome of an operation started by [`Self::internal`]; false if `token` is not one.
    pub(super) fn on_internal(&mut self, token: Token, outcome: Outcome) -> bool {
        let Some(what) = self.rooms.internal.remove(&token) else {
            return false;
        };
        match (what, outcome) {
            (Internal::Moderators, Outcome::Moderators(list)) => {
                let mut want: BTreeMap<String, BTreeSet<PublicKey>> = BTreeMap::new();
                for (room, key) in list {
                    if let Some(key) = x25519_of(&key) {
                        want.entry(room).or_default().insert(key);
                    }
                }
                self.push_action(RoomAction::Moderators(want));
            }
            (Internal::Chat, Outcome::Posted(_)) => {}
            (Internal::Chat, Outcome::NoSuchUser) => self.count("room_unknown_author"),
            _ => self.count("room_store_failed"),
        }
        true
    }

    /// The answer to a join: the group's chat id, the node's port and the clients in it.
    pub(super) fn room_join(&self, room: &str, stored_members: u32) -> RoomJoin {
        let members = match self.rooms.port {
            0 => stored_members,
            _ => self.rooms.clients.get(room).copied().unwrap_or(0),
        };
        RoomJoin {
            members,
            chat_id: room_chat_id(&self.config.identity_seed, room),
            port: self.rooms.port,
        }
    }

    /// With a node, the counts are its members, not the accounts stored as joined.
    pub(super) fn live_counts(&self, rooms: &mut [RoomInfo]) {
        if self.rooms.port == 0 {
            return;
        }
        for r in rooms {
            r.members = self.rooms.clients.get(&r.name).copied().unwrap_or(0);
        }
    }

    /// The count of a leave: the node's when there is one.
    pub(super) fn live_members(&self, room: &str, stored: u32) -> u32 {
        match self.rooms.port {
            0 => stored,
            _ => self.rooms.clients.get(room).copied().unwrap_or(0),
        }
    }

    /// Queues an action for the node (after a committed join or server message).
    pub(super) fn room_action(&mut self, action: RoomAction) {
        if self.rooms.port != 0 {
            self.push_action(action);
        }
    }

    fn push_action(&mut self, action: RoomAction) {
        if self.rooms.actions.len() >= MAX_ACTIONS {
            self.count("room_actions_full");
            return;
        }
        self.rooms.actions.push_back(action);
    }

    fn count(&mut self, reason: &'static str) {
        *self.stats.drops.entry(reason).or_default() += 1;
    }
}
