//! The index's node: a [`crate::net::Driver`] on a UDP port of its own that founds one
//! public, secure group per room (PROTOCOL.md §8.11) with the seed
//! [`room_seed`](crate::index::roomkey::room_seed) derives, and stays a member of each.
//!
//! - [`RoomAction`]s from the service: found a room's group, post a server message as the
//!   founder, grant and revoke moderator roles (signed role facts of the founder).
//! - The node's events: a member joined or left (the count goes to the service), a member's
//!   chat or action (the service stores it as room history).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};
use zeroize::Zeroizing;

use crate::index::roomkey::room_seed;
use crate::index::service::{RoomAction, Service};
use crate::net::{Driver, DriverError, DriverOptions, DriverStats, Handle, NodeEvent, os_seed};
use crate::proto::{Config, Dialect, Event, GroupId, GroupSpec, Moderation, Privacy, TextKind};
use crate::wire::{PublicKey, Role};

/// The founder's nick in every room.
const FOUNDER_NICK: &str = "index";

/// The index's node and the rooms' groups on it.
pub(super) struct RoomNode {
    handle: Handle,
    events: mpsc::Receiver<NodeEvent>,
    task: JoinHandle<DriverStats>,
    /// The index's identity seed (the rooms' seeds derive from it).
    seed: Zeroizing<[u8; 32]>,
    groups: BTreeMap<String, GroupId>,
    rooms: BTreeMap<GroupId, String>,
    /// Moderator roles granted so far, per room.
    moderators: BTreeMap<String, BTreeSet<PublicKey>>,
    max_rooms: usize,
}

impl std::fmt::Debug for RoomNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomNode")
            .field("addr", &self.handle.local_addr())
            .field("rooms", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl RoomNode {
    /// Binds the node's socket at `bind` and starts its driver.
    pub(super) async fn start(
        bind: SocketAddr,
        seed: [u8; 32],
        max_rooms: usize,
    ) -> Result<Self, DriverError> {
        let mut config = Config::new(os_seed()?);
        // One group per room: the node hosts as many groups as the index keeps rooms.
        config.max_groups = config.max_groups.max(max_rooms);
        let (driver, handle, events) =
            Driver::bind(bind, config, &DriverOptions::default()).await?;
        let task = tokio::spawn(driver.run());
        Ok(Self {
            handle,
            events,
            task,
            seed: Zeroizing::new(seed),
            groups: BTreeMap::new(),
            rooms: BTreeMap::new(),
            moderators: BTreeMap::new(),
            max_rooms,
        })
    }

    /// The node's bound address.
    pub(super) fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The next node event (never, without a node); cancel-safe.
    pub(super) async fn recv(node: Option<&mut Self>) -> Option<NodeEvent> {
        match node {
            Some(n) => n.events.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Founds `room`'s group unless it exists; its id.
    pub(super) async fn found(&mut self, service: &mut Service, room: &str) -> Option<GroupId> {
        if let Some(g) = self.groups.get(room) {
            return Some(*g);
        }
        if self.groups.len() >= self.max_rooms {
            warn!(room, "too many room groups");
            return None;
        }
        let spec = GroupSpec {
            dialect: Dialect::Secure,
            privacy: Privacy::Public,
            identity_seed: Some(*room_seed(&self.seed, room)),
            nick: FOUNDER_NICK.as_bytes().to_vec(),
        };
        let group = match self.handle.create_group(spec).await {
            Ok(g) => g,
            Err(e) => {
                warn!(room, error = %e, "cannot found the room's group");
                return None;
            }
        };
        if let Err(e) = self.handle.set_group_name(group, room.to_owned()).await {
            debug!(room, error = %e, "group name not set");
        }
        self.groups.insert(room.to_owned(), group);
        self.rooms.insert(group, room.to_owned());
        service.set_room_clients(room, 0);
        debug!(room, ?group, "room group founded");
        Some(group)
    }

    /// Carries out one action of the service.
    pub(super) async fn act(&mut self, service: &mut Service, action: RoomAction) {
        match action {
            RoomAction::Found(room) => {
                self.found(service, &room).await;
            }
            RoomAction::Say { room, text } => {
                let targets: Vec<GroupId> = match room {
                    Some(room) => self.found(service, &room).await.into_iter().collect(),
                    None => self.groups.values().copied().collect(),
                };
                for g in targets {
                    if let Err(e) = self.handle.send_chat(g, text.as_bytes()).await {
                        warn!(error = %e, "server message not sent");
                    }
                }
            }
            RoomAction::Moderators(want) => self.moderate(service, want).await,
        }
    }

    /// Grants the moderator role to every key in `want` that does not hold it in the group
    /// now, and takes it from every key that had it from us and is no longer listed. The
    /// role is read from the node each time, so a grant that members refused as stale (an
    /// index restarted without its facts, PROTOCOL.md §8.11) is signed again once the node
    /// has learnt the higher version from them.
    async fn moderate(
        &mut self,
        service: &mut Service,
        want: BTreeMap<String, BTreeSet<PublicKey>>,
    ) {
        let rooms: BTreeSet<String> = want.keys().chain(self.moderators.keys()).cloned().collect();
        let empty = BTreeSet::new();
        for room in rooms {
            let wanted = want.get(&room).unwrap_or(&empty);
            let had = self.moderators.get(&room).cloned().unwrap_or_default();
            let Some(group) = self.found(service, &room).await else {
                continue;
            };
            for key in wanted {
                if self.role(group, *key).await != Some(Role::Moderator) {
                    self.set_role(group, *key, Role::Moderator).await;
                }
            }
            for key in had.difference(wanted) {
                if self.role(group, *key).await == Some(Role::Moderator) {
                    self.set_role(group, *key, Role::User).await;
                }
            }
            if wanted.is_empty() {
                self.moderators.remove(&room);
            } else {
                self.moderators.insert(room, wanted.clone());
            }
        }
    }

    async fn role(&self, group: GroupId, key: PublicKey) -> Option<Role> {
        self.handle.role(group, key).await.ok().flatten()
    }

    async fn set_role(&self, group: GroupId, key: PublicKey, role: Role) {
        let fact = Moderation::SetRole(key, role);
        if let Err(e) = self.handle.moderate(group, fact).await {
            warn!(key = %key.fmt_short(), ?role, error = %e, "role not set");
        }
    }

    /// One node event: member counts and room chat go to the service.
    pub(super) async fn on_event(&mut self, service: &mut Service, ev: NodeEvent) {
        let group = ev.event.group();
        let Some(room) = self.rooms.get(&group).cloned() else {
            return;
        };
        match ev.event {
            Event::PeerJoined { .. }
            | Event::PeerLeft { .. }
            | Event::Kicked { .. }
            | Event::Banned { .. } => {
                let n = self.handle.members(group).await.map_or(0, |m| m.len());
                service.set_room_clients(&room, u32::try_from(n).unwrap_or(u32::MAX));
            }
            Event::MessageReceived {
                origin, kind, text, ..
            } => {
                let text = String::from_utf8_lossy(&text);
                service.handle_room_text(&room, origin, &text, kind == TextKind::Action);
            }
            _ => {}
        }
    }

    /// Stops the node **without** leaving the rooms' groups: the members keep the founder
    /// at its address and re-find it when the index starts again (§8.11 "Restart"); a quit
    /// would make every member forget it, and a restarted founder knows no member to ask.
    pub(super) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
