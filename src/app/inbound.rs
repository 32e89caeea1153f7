//! Node events turned into [`ChatEvent`]s that carry their data: a joiner with its nick,
//! role and presence; messages and nick, presence and topic changes with the peer named;
//! authority events through `moderation.rs`. Events of groups we are not in are dropped.

use super::event::{ChatEvent, MemberView, Peer, Presence, Role};
use super::moderation::view_role;
use super::runtime::Runtime;
use crate::net::NodeEvent;
use crate::proto::{Event, GroupId, LeaveReason, TextKind};
use crate::store::JournalCounter;
use crate::wire::PublicKey;

impl Runtime {
    /// Turns one node event into front-end events.
    pub async fn on_node_event(&mut self, ev: NodeEvent) {
        let group = ev.event.group();
        if !self.groups.contains_key(&group) {
            return;
        }
        let at = self.now();
        if matches!(ev.event, Event::Joined { .. } | Event::PeerJoined { .. }) {
            // A kill -9 soon after must still come back through the new peers (§6.9).
            self.persist_soon();
        }
        let out = match ev.event {
            Event::Joined { group } => return self.member_answered(group),
            Event::StateSynced { group } => return self.state_synced(group),
            Event::PeerJoined { group, peer } => self.member_joined(group, peer).await,
            Event::PeerQuit {
                group,
                peer,
                reason,
            } => {
                // Always just before `PeerLeft { reason: Quit }`, which is then not shown.
                let reason = String::from_utf8_lossy(&reason);
                let reason = if reason.is_empty() { "quit" } else { &reason };
                ChatEvent::Part {
                    at,
                    peer: self.peer(group, &peer),
                    reason: reason.to_owned(),
                }
            }
            Event::PeerLeft {
                group,
                peer,
                reason,
            } => {
                self.members_dirty.insert(group);
                if reason == LeaveReason::Quit {
                    return;
                }
                ChatEvent::Part {
                    at,
                    peer: self.peer(group, &peer),
                    reason: "timeout".to_owned(),
                }
            }
            Event::MessageReceived {
                group,
                origin,
                number,
                kind,
                text,
            } => {
                self.journal_shown(group, &origin, JournalCounter::Broadcast, number);
                let from = self.peer(group, &origin);
                let text = String::from_utf8_lossy(&text).into_owned();
                if let Some(server) = self.server_message(group, &origin, &text) {
                    return self.push(Some(group), server);
                }
                match kind {
                    TextKind::Chat => ChatEvent::Message { at, from, text },
                    TextKind::Action => ChatEvent::Action { at, from, text },
                }
            }
            Event::NameChanged { group, peer, name } => self.renamed(group, peer, &name),
            Event::StatusChanged {
                group,
                peer,
                status,
            } => {
                self.members_dirty.insert(group);
                ChatEvent::Status {
                    at,
                    peer: self.peer(group, &peer),
                    status: status.into(),
                }
            }
            Event::TopicChanged { group, by, topic } => ChatEvent::Topic {
                at,
                by: self.peer(group, &by),
                topic,
            },
            Event::DirectMessage {
                group,
                from,
                number,
                text,
            } => {
                self.journal_shown(group, &from, JournalCounter::Direct, number);
                ChatEvent::Private {
                    at,
                    from: self.peer(group, &from),
                    text: String::from_utf8_lossy(&text).into_owned(),
                }
            }
            Event::HistoryMessage {
                group,
                origin,
                number,
                kind,
                text,
                age_secs,
            } => {
                self.journal_shown(group, &origin, JournalCounter::Broadcast, number);
                ChatEvent::History {
                    at,
                    from: self.peer(group, &origin),
                    text: String::from_utf8_lossy(&text).into_owned(),
                    action: kind == TextKind::Action,
                    age_secs,
                }
            }
            Event::HistoryDone {
                group: _,
                messages,
                gaps,
            } => ChatEvent::HistoryEnd { at, messages, gaps },
            Event::GroupNameChanged { group, name } => return self.group_named(group, &name),
            Event::JoinFailed { group, .. } => return self.give_up_join(group).await,
            other => return self.on_authority_event(other),
        };
        self.push(Some(group), out);
    }

    /// A member joined: its nick, role and presence as the node knows them.
    async fn member_joined(&mut self, group: GroupId, peer: PublicKey) -> ChatEvent {
        self.members_dirty.insert(group);
        let at = self.now();
        let info = self.handle.member(group, peer).await.ok().flatten();
        let (role, status) = match &info {
            Some(m) => (view_role(m.role), Presence::from(m.status)),
            None => (Role::User, Presence::Online),
        };
        if let Some(name) = info.map(|m| m.name).filter(|n| !n.is_empty()) {
            let nick = String::from_utf8_lossy(&name).into_owned();
            if let Some(j) = self.groups.get_mut(&group) {
                j.nicks.insert(peer, nick);
            }
        }
        ChatEvent::Join {
            at,
            peer: self.peer(group, &peer),
            role,
            status,
        }
    }

    fn renamed(&mut self, group: GroupId, peer: PublicKey, name: &[u8]) -> ChatEvent {
        self.members_dirty.insert(group);
        let new = String::from_utf8_lossy(name).into_owned();
        let old = self.peer(group, &peer).nick;
        if let Some(j) = self.groups.get_mut(&group) {
            j.nicks.insert(peer, new.clone());
        }
        ChatEvent::Nick {
            at: self.now(),
            peer: Peer::new(peer.to_string(), new.clone()),
            old,
            new,
        }
    }

    /// A peer as the front ends show it.
    pub(super) fn peer(&self, group: GroupId, key: &PublicKey) -> Peer {
        let nick = self
            .groups
            .get(&group)
            .and_then(|j| j.nicks.get(key).cloned())
            .unwrap_or_default();
        Peer::new(key.to_string(), nick)
    }

    /// The member list of `group` (us first), for a window's sidebar.
    pub(super) async fn members_view(&mut self, group: GroupId) -> Option<ChatEvent> {
        let j = self.groups.get(&group)?;
        let own = j.own();
        // Until a member answered, the contact we asked is no member we know of (it may be
        // a dead address or a wrong key): the list is us alone.
        let members = match j.ready {
            true => self.handle.members(group).await.ok()?,
            false => Vec::new(),
        };
        let own_role = self.handle.role(group, own).await.ok()?;
        let j = self.groups.get_mut(&group)?;
        let mut view = vec![MemberView {
            peer: Peer::new(own.to_string(), j.nick.clone()),
            role: own_role.map_or(Role::User, view_role),
            status: j.status,
            is_self: true,
        }];
        for m in members {
            let mut nick = String::from_utf8_lossy(&m.name).into_owned();
            if !nick.is_empty() {
                j.nicks.insert(m.key, nick.clone());
            } else if let Some(known) = j.nicks.get(&m.key) {
                // Known from before a restart (stored), not heard again yet.
                nick = known.clone();
            }
            view.push(MemberView {
                peer: Peer::new(m.key.to_string(), nick),
                role: view_role(m.role),
                status: m.status.into(),
                is_self: false,
            });
        }
        Some(ChatEvent::Members(view))
    }
}
