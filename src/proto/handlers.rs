//! get_nodes and send_nodes handling: answering, address validation, table admission and
//! discovery (PROTOCOL.md §6.1–§6.3).
//!
//! - get_nodes from a validated peer: answered with up to 6 table entries (send_nodes).
//! - get_nodes from a peer we are asking ourselves (a probe of us): answered.
//! - get_nodes from a peer we are asking ourselves (it is probing us): answered.
//! - get_nodes from a peer we may admit but have not validated: answered with one get_nodes
//!   of our own (a probe, same size as the request), which owes the peer its answer; while we
//!   join for the first time and no member has answered us, a stranger's is kept
//!   ([`Deferred`]) and probed once one has (two joiners never make a group of their own).
//! - every send_nodes answer lists only entries whose address scope includes the asker (IP
//!   privacy, `scope.rs`) and only as many as the asker's reply budget pays for.
//! - send_nodes: accepted only for a ping id we issued to that key and address; it validates
//!   the sender, admits it to the table, pays any owed answer, and each listed node that would
//!   fit our table gets a get_nodes.

use std::net::SocketAddr;

use super::group::Group;
use super::io::Io;
use super::pending::Purpose;
use super::{DropReason, Event};
use crate::wire::{
    GetNodes, MAX_NODES, NODE_INFO_LEN, NodeInfo, NodeList, PING_ID_LEN, Payload, PeerMessage,
    PublicKey, SendNodes,
};

/// Of the 6 nodes in a send_nodes, how many are the closest to the asker; the rest are drawn
/// at random from the table, so askers also learn far parts of the key space.
const CLOSEST_IN_ANSWER: usize = 4;

/// Bytes of a send_nodes datagram with no nodes (PROTOCOL.md §3.2), the size of a get_nodes.
const SEND_NODES_BASE: usize = 114;

impl Group {
    /// A get_nodes from `sender` at `from`.
    pub(crate) fn on_get_nodes(
        &mut self,
        io: &mut Io<'_>,
        sender: PublicKey,
        from: SocketAddr,
        g: GetNodes,
    ) -> Result<(), DropReason> {
        if self.is_banned(&sender) {
            return Err(DropReason::Banned);
        }
        if self.over_peer_limit(&sender) {
            return Err(DropReason::PeerLimit);
        }
        if self.is_validated(&sender, &from) {
            let close = g.ping_id[PING_ID_LEN - 1] & 1 == 1;
            let cap = io.config.max_in_links;
            self.in_links.note(sender, from, (io.now, close), cap);
            self.admit_link(sender);
            self.answer(io, sender, from, g.ping_id);
            self.consider(
                io,
                NodeInfo {
                    key: sender,
                    addr: from,
                },
            );
            return Ok(());
        }
        let asked = self.pending.to_key(&sender).is_some_and(|r| r.addr == from);
        if asked {
            // We contacted this address ourselves and it is probing us: answering is not
            // reflection towards a third party.
            self.answer(io, sender, from, g.ping_id);
            return Ok(());
        }
        if !self.authorized(&sender) {
            return Err(DropReason::NotInvited);
        }
        if self.still_joining() && !self.members.contains(&sender) {
            // Our answer would make a stranger joined through us, and its answer us through
            // it: two joiners, a group of their own (§6.3). It is asked once we are in.
            self.deferred.push(sender, from, g.ping_id);
            return Err(DropReason::NotJoinedYet);
        }
        // One probe per key at a time; a keep-alive still out to its old address does not
        // hold up a restarted member asking from a new one (PROTOCOL.md §6.9).
        let probing = self.pending.to_key(&sender);
        if probing.is_some_and(|r| matches!(r.purpose, Purpose::Probe { .. })) {
            return Ok(());
        }
        if self.pending.probes() >= io.config.max_probes || !io.limiter.allow(from.ip(), io.now) {
            return Err(DropReason::RateLimited);
        }
        let owed = g.ping_id;
        self.request(io, sender, from, Purpose::Probe { owed });
        Ok(())
    }

    /// A request that needs its sender validated (a history request, PROTOCOL.md §6.13) came
    /// from `from`, where `sender` is not: after we restarted (it is a stored contact) or
    /// forgot it (its quit), the asker may still hold us as a peer. Ask it, as a keep-alive
    /// would: its answer validates it, so its next try is served. Within the probe limits;
    /// one request per key and address at a time; a datagram no larger than the one received.
    pub(crate) fn validate_asker(&mut self, io: &mut Io<'_>, sender: PublicKey, from: SocketAddr) {
        let known = self.members.contains(&sender) && self.authorized(&sender);
        // A request out to the asker's old address (a keep-alive, 5 s) does not hold up a
        // restarted asker on a new one, as for a get_nodes.
        let asking_there = (self.pending.to_key(&sender)).is_some_and(|r| r.addr == from);
        if !known || asking_there {
            return;
        }
        if self.pending.probes() >= io.config.max_probes || !io.limiter.allow(from.ip(), io.now) {
            io.stats.count_drop(DropReason::RateLimited);
            return;
        }
        self.request(io, sender, from, Purpose::Refresh);
    }

    /// A send_nodes from `sender` at `from`.
    pub(crate) fn on_send_nodes(
        &mut self,
        io: &mut Io<'_>,
        sender: PublicKey,
        from: SocketAddr,
        s: SendNodes,
    ) -> Result<(), DropReason> {
        if self.is_banned(&sender) {
            return Err(DropReason::Banned);
        }
        let timeout = io.config.request_timeout;
        let Some(request) = self
            .pending
            .take(&s.ping_id, &sender, &from, io.now, timeout)
        else {
            return Err(DropReason::UnsolicitedSendNodes);
        };
        self.validate(io, sender, from, request.purpose);
        self.heal_from(io, sender, from);
        if let Purpose::Probe { owed } = request.purpose {
            self.answer(io, sender, from, owed);
        }
        for node in s.nodes.iter() {
            if node.key != sender {
                self.consider(io, *node);
            }
        }
        Ok(())
    }

    /// `key` proved `addr` by answering our request: remember it, admit it to the table, and
    /// announce it if it joined through us.
    fn validate(&mut self, io: &mut Io<'_>, key: PublicKey, addr: SocketAddr, why: Purpose) {
        let now = io.now;
        let (member, is_new) = match self.admit_member(io, key) {
            Ok(admitted) => admitted,
            Err(reason) => {
                io.stats.count_drop(reason);
                return;
            }
        };
        // Fresh: no broadcast of it yet, a joiner that has not heard the group either.
        let (fresh, newly_validated) = member.prove(addr);
        if member.list(is_new) {
            io.emit(Event::PeerJoined {
                group: self.id(),
                peer: key,
            });
        }
        let back = matches!(self.table.insert(key, addr, now), super::dht::Insert::Added);
        if back {
            self.admit_link(key);
        }
        if !self.joined {
            self.joined = true;
            self.schedule.joined(io.config.join_retry_min);
            // Our nick goes out before the application can say anything, so members never
            // see our first message under a bare key.
            self.announce_name(io);
            io.emit(Event::Joined { group: self.id() });
            self.fetch.restart_joined(now); // history: what was said before now (§6.13)
            self.check_state_synced(io);
            self.probe_deferred(io);
        }
        let joined_through_us = matches!(why, Purpose::Probe { .. });
        if newly_validated {
            self.send_fact_sync(io, key, addr);
            if fresh && joined_through_us {
                self.send_join_summary(io, key, addr);
                self.send_name_sync(io, key, addr);
            }
        } else if back {
            // Validated before, then out of our table (a healed partition): compare facts.
            self.resync_facts(io, key, addr);
        }
        if is_new && joined_through_us && io.config.announce_new_peers {
            let _ = self.broadcast(io, &PeerMessage::NewPeer(key));
            self.greet_new_peer(io);
        }
    }

    /// We are in: the strangers who asked while we were joining are probed now, as a
    /// get_nodes from them would be (their requests are still pending at them).
    fn probe_deferred(&mut self, io: &mut Io<'_>) {
        for (key, addr, owed) in self.deferred.take() {
            let busy = self.pending.to_key(&key).is_some();
            if busy || self.is_validated(&key, &addr) || !self.authorized(&key) {
                continue;
            }
            if self.pending.probes() >= io.config.max_probes || !io.limiter.allow(addr.ip(), io.now)
            {
                io.stats.count_drop(DropReason::RateLimited);
                continue;
            }
            self.request(io, key, addr, Purpose::Probe { owed });
        }
    }

    /// Sends `to` a send_nodes echoing `ping_id`, with as many nodes as its reply budget
    /// pays for (PROTOCOL.md §6.2): an empty list (114 bytes, the request's size) always goes.
    fn answer(
        &mut self,
        io: &mut Io<'_>,
        to: PublicKey,
        addr: SocketAddr,
        ping_id: [u8; PING_ID_LEN],
    ) {
        let burst = io.config.reply_burst;
        let room = self
            .members
            .reply_room(&to, burst)
            .map_or(usize::MAX, |r| r as usize);
        let fits = room.saturating_sub(SEND_NODES_BASE) / NODE_INFO_LEN;
        let nodes = self.pick_nodes(io, (&to, addr), fits.min(MAX_NODES));
        let bytes = SEND_NODES_BASE + nodes.len() * NODE_INFO_LEN;
        self.members.spend_reply(&to, bytes, burst);
        let payload = Payload::SendNodes(SendNodes { ping_id, nodes });
        io.send(self.identity(), &to, addr, &payload);
    }

    /// Up to 6 table entries for `asker` at `at`: the closest to it, then random others;
    /// only entries whose address scope includes the asker (IP privacy, `scope.rs`).
    /// At most `max` entries.
    fn pick_nodes(
        &self,
        io: &mut Io<'_>,
        (asker, at): (&PublicKey, SocketAddr),
        max: usize,
    ) -> NodeList {
        let mut all = self.table.closest_to(asker, usize::MAX);
        all.retain(|n| super::scope::may_tell(n.addr.ip(), at.ip()));
        let (close, rest) = all.split_at(all.len().min(CLOSEST_IN_ANSWER.min(max)));
        let mut list: NodeList = close.iter().copied().collect();
        let extra = max.saturating_sub(list.len());
        let picked = rand::seq::index::sample(io.rng, rest.len(), extra.min(rest.len()));
        for i in picked {
            let _ = list.push(rest[i]);
        }
        list
    }

    /// A node we heard of: ask it for nodes if it would fit our table and is not being asked.
    pub(crate) fn consider(&mut self, io: &mut Io<'_>, node: NodeInfo) {
        if node.key == self.own() || self.table.contains(&node.key) || self.is_banned(&node.key) {
            return;
        }
        self.members.heard_of(&node.key, node.addr);
        let fits = self.table.would_accept(&node.key, &node.addr);
        if fits && self.pending.to_key(&node.key).is_none() {
            self.request(io, node.key, node.addr, Purpose::Refresh);
        }
    }
}

/// Most strangers remembered while we are still joining.
const DEFERRED_MAX: usize = 16;

/// Strangers whose get_nodes came while we were still joining (at most [`DEFERRED_MAX`],
/// the latest request of each): probed once a member answered us.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    asked: Vec<(PublicKey, SocketAddr, [u8; PING_ID_LEN])>,
}

impl Deferred {
    /// Remembers `key`'s request; its earlier one, or the oldest when full, is forgotten.
    pub(crate) fn push(&mut self, key: PublicKey, addr: SocketAddr, ping_id: [u8; PING_ID_LEN]) {
        self.asked.retain(|(k, _, _)| *k != key);
        if self.asked.len() >= DEFERRED_MAX {
            self.asked.remove(0);
        }
        self.asked.push((key, addr, ping_id));
    }

    /// Every request remembered, oldest first; none is left.
    pub(crate) fn take(&mut self) -> Vec<(PublicKey, SocketAddr, [u8; PING_ID_LEN])> {
        std::mem::take(&mut self.asked)
    }
}
