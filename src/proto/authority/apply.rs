//! Accepted facts become group state: bans and kicks remove members, roles and the
//! group-wide facts raise events, and the whole fact set goes to every newly validated peer
//! (message id 20, never relayed) so late joiners and restarted nodes learn it.

use std::net::SocketAddr;

use super::Refusal;
use crate::proto::group::Group;
use crate::proto::io::Io;
use crate::proto::{Dialect, DropReason, Event};
use crate::wire::{
    BanAction, Broadcast, Fact, FactList, FactValue, MAX_SIGNED_PAYLOAD, Payload, PeerMessage,
    PublicKey, Role,
};

impl Group {
    /// Takes each encoded fact in order. `live` is true for facts just issued (id 19): only
    /// those carry out a kick; a kick learned from a sync or a restore is only recorded, so a
    /// kicked member that rejoined is not removed again. Returns how many were taken.
    pub(crate) fn take_facts<'a>(
        &mut self,
        io: &mut Io<'_>,
        facts: impl IntoIterator<Item = &'a [u8]>,
        live: bool,
    ) -> usize {
        if self.dialect() != Dialect::Secure {
            return 0;
        }
        let mut taken = 0;
        for bytes in facts {
            match self.authority.take(bytes) {
                Ok((fact, by)) => {
                    taken += 1;
                    self.enforce(io, &fact, by, live);
                }
                Err(Refusal::Stale) => io.stats.count_drop(DropReason::StaleFact),
                Err(Refusal::Rejected) => io.stats.count_drop(DropReason::FactRejected),
            }
        }
        if taken > 0 {
            io.emit(Event::FactsChanged { group: self.id() });
            self.recheck_join_sync(io);
        }
        taken
    }

    /// Takes the facts of a received id 19 or 20 message.
    pub(crate) fn take_fact_list(&mut self, io: &mut Io<'_>, list: FactList<'_>, live: bool) {
        self.take_facts(io, list.iter().map(|(_, raw)| raw), live);
    }

    fn enforce(&mut self, io: &mut Io<'_>, fact: &Fact<'_>, by: PublicKey, live: bool) {
        let group = self.id();
        let peer = fact.subject;
        let event = match fact.value {
            FactValue::Role(role) => Event::RoleChanged {
                group,
                peer,
                role,
                by,
            },
            FactValue::Ban(BanAction::Ban) => {
                self.expel(peer);
                Event::Banned { group, peer, by }
            }
            FactValue::Ban(BanAction::Unban) => Event::Unbanned { group, peer, by },
            FactValue::Ban(BanAction::Kick) if live => {
                self.expel(peer);
                Event::Kicked { group, peer, by }
            }
            FactValue::Ban(BanAction::Kick) => return,
            FactValue::Topic(text) => {
                self.take_topic(fact.version, text);
                let topic = text.to_owned();
                Event::TopicChanged { group, by, topic }
            }
            FactValue::TopicLock(locked) => Event::TopicLocked { group, locked, by },
            FactValue::Voice(level) => Event::VoiceChanged { group, level, by },
            FactValue::PeerLimit(limit) => Event::PeerLimitChanged { group, limit, by },
            FactValue::GroupName(name) => Event::GroupNameChanged {
                group,
                name: name.to_owned(),
            },
            FactValue::History(visibility) => Event::HistoryVisibilityChanged { group, visibility },
        };
        io.emit(event);
    }

    /// Removes `key` from members, table and in-links; if it is us, marks the group for the
    /// node to leave.
    fn expel(&mut self, key: PublicKey) {
        if key == self.own() {
            self.evict();
            return;
        }
        if let Some(mark) = self.members.forget(&key) {
            // Its old broadcasts stay refused if it rejoins (PROTOCOL.md §6.9).
            self.marks.raise(mark);
        }
        self.table.remove(&key);
        self.in_links.remove(&key);
    }

    /// True if `key` is banned (secure groups; always false in legacy ones).
    pub(crate) fn is_banned(&self, key: &PublicKey) -> bool {
        self.dialect() == Dialect::Secure && self.authority.is_banned(key)
    }

    /// May the message of `origin` be delivered and relayed? Observers may not speak nor
    /// rename; the voice fact limits who speaks. An observer's name is still taken while we
    /// hold none for it: the nick it had when it was silenced, which a joiner receives from
    /// the name sync after the role (PROTOCOL.md §6.5, §6.8).
    pub(crate) fn may_deliver(&self, origin: &PublicKey, msg: &PeerMessage<'_>) -> bool {
        if self.dialect() != Dialect::Secure {
            return true;
        }
        match msg {
            PeerMessage::Chat(_) | PeerMessage::Action(_) | PeerMessage::SeedAction(_) => {
                self.authority.may_speak(origin)
            }
            PeerMessage::Name(_) => {
                let unnamed = (self.members.get(origin)).is_none_or(|m| m.name().is_empty());
                self.authority.role(origin) != Role::Observer || unnamed
            }
            _ => true,
        }
    }

    /// Would a join by the non-member `key` break the peer limit?
    pub(crate) fn over_peer_limit(&self, key: &PublicKey) -> bool {
        let limit = self.authority.peer_limit() as usize;
        if self.dialect() != Dialect::Secure || limit == 0 || self.members.contains(key) {
            return false;
        }
        self.members.live().count() + 1 >= limit
    }

    /// Sends our fact set to a newly validated peer: whole (id 20) if small, else a
    /// summary (id 21, `digest.rs`).
    pub(crate) fn send_fact_sync(&mut self, io: &mut Io<'_>, to: PublicKey, addr: SocketAddr) {
        if self.dialect() != Dialect::Secure {
            return;
        }
        if self.authority.len() > super::digest::FULL_SYNC_MAX {
            // The peer may hold most of them already: send what differs (digest.rs).
            self.send_fact_summary(io, to, addr);
            return;
        }
        for chunk in pack(self.authority.export()) {
            if let Ok(list) = FactList::new(&chunk) {
                self.send_one(io, to, addr, &PeerMessage::FactSync(list));
            }
        }
    }

    /// Signs and sends a broadcast of ours to one peer only (it is not relayed: ids 20, 21);
    /// see `digest.rs` for the pacing in front of it.
    pub(super) fn sign_and_send(
        &mut self,
        io: &mut Io<'_>,
        to: PublicKey,
        addr: SocketAddr,
        msg: &PeerMessage<'_>,
    ) {
        let Ok(body) = msg.to_vec() else { return };
        let mut b = Broadcast {
            origin: self.own(),
            number: self.next_number(),
            message_id: msg.id() as u8,
            body: &body,
            trailer: None,
        };
        let Ok(trailer) = self.identity().sign_broadcast(&self.chat_id(), &b) else {
            return;
        };
        b.trailer = Some(trailer);
        io.stats.originated += 1;
        io.send(self.identity(), &to, addr, &Payload::Broadcast(b));
    }
}

/// Packs encoded facts into bodies of at most 785 bytes (one signed broadcast each).
pub(crate) fn pack(facts: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for f in facts {
        match out.last_mut() {
            Some(last) if last.len() + f.len() <= MAX_SIGNED_PAYLOAD => last.extend(f),
            _ => out.push(f),
        }
    }
    out
}
