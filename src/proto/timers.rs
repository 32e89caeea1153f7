//! Housekeeping of one group, run every `tick` (PROTOCOL.md §6.6):
//!
//! - expire get_nodes requests older than `request_timeout`;
//! - drop table entries with no send_nodes answer for `bad_node_timeout`, send a keep-alive
//!   get_nodes to the others every `node_ping_interval`;
//! - while the table is empty, (re)join through the join string's member or a known one, with
//!   a doubling back-off from `join_retry_min` to `join_retry_max`;
//! - broadcast a ping after `ping_interval` (± 50 %) without an own broadcast, and our nick
//!   every `name_interval`. The spread matters: members that joined together announced their
//!   names together, and without it their pings would all fall due in the same second, every
//!   interval (at 200 members, a burst of 190 broadcasts the loopback bench took seconds to
//!   absorb);
//! - forget members `quit_delay` after their quit, and time out those silent for
//!   `peer_timeout`;
//! - while the table has room, probe a few known members that are not in it (this is how two
//!   halves of a healed partition find each other again);
//! - every `explore_interval`, ask one random known member outside the table even if it would
//!   not fit, so parts of the overlay that lost touch merge again.

use std::net::SocketAddr;
use std::time::Instant;

use super::group::Group;
use super::io::Io;
use super::pending::Purpose;
use super::{Event, LeaveReason};
use crate::wire::{PeerMessage, PublicKey};

impl Group {
    /// Runs the housekeeping if its time has come.
    pub(crate) fn on_tick(&mut self, io: &mut Io<'_>) {
        if !self.schedule.tick_due(io.now, io.config.tick) {
            return;
        }
        if self.schedule.join_expired(io.now) {
            self.give_up_join(io);
            return;
        }
        self.pending.expire(io.now, io.config.request_timeout);
        self.upkeep_table(io);
        self.maybe_rejoin(io);
        self.periodic_broadcasts(io);
        self.drain_fact_queue(io);
        self.expire_members(io);
        self.refresh_from_members(io);
        self.explore(io);
        self.on_history_tick(io);
        self.tree_tick(io);
    }

    /// Asks one random known member outside the table, fit or not (see
    /// `Config::explore_interval`).
    fn explore(&mut self, io: &mut Io<'_>) {
        if !self
            .schedule
            .explore_due(io.now, io.config.explore_interval)
        {
            return;
        }
        let outside: Vec<(PublicKey, SocketAddr)> = self
            .known_addresses()
            .filter(|(k, _)| !self.table.contains(k) && self.pending.to_key(k).is_none())
            .collect();
        if outside.is_empty() {
            return;
        }
        let (key, addr) = outside[rand::Rng::random_range(io.rng, 0..outside.len())];
        self.request(io, key, addr, Purpose::Refresh);
    }

    fn upkeep_table(&mut self, io: &mut Io<'_>) {
        let now = io.now;
        let bad: Vec<(PublicKey, Instant)> = self
            .table
            .iter()
            .filter(|e| now.saturating_duration_since(e.last_pong) >= io.config.bad_node_timeout)
            .map(|e| (e.key, e.last_pong))
            .collect();
        for (key, heard) in bad {
            self.table.remove(&key);
            self.note_silent(key, heard);
        }
        let fresh = io.config.bad_node_timeout;
        self.in_links.expire(now, fresh);
        let due: Vec<(PublicKey, SocketAddr)> = self
            .table
            .iter_mut()
            .filter(|e| now.saturating_duration_since(e.last_ping) >= io.config.node_ping_interval)
            .map(|e| {
                e.last_ping = now;
                (e.key, e.addr)
            })
            .collect();
        for (key, addr) in due {
            if self.pending.to_key(&key).is_none() {
                self.request(io, key, addr, Purpose::Refresh);
            }
        }
    }

    fn maybe_rejoin(&mut self, io: &mut Io<'_>) {
        if !self.table.is_empty() || !self.schedule.rejoin_due(io.now) {
            return;
        }
        // The join string's member first, then any member with a known address (after a
        // restart: the peers remembered from last time), so one dead contact does not stall us.
        let mut known: Vec<_> = self.known_addresses().collect();
        if let Some(c) = self.contact() {
            known.retain(|(k, _)| *k != c.key);
            known.insert(0, (c.key, c.addr));
        }
        let i = if self.schedule.first_retry(io.config.join_retry_min) || known.len() <= 1 {
            0
        } else {
            rand::Rng::random_range(io.rng, 0..known.len())
        };
        let target = known.get(i).copied();
        if let Some((key, addr)) = target {
            // A join request still unanswered (lost, or dropped by a contact that was still
            // joining itself) does not hold the retry up for request_timeout: ask again with
            // a new ping id; an answer to either is taken. A probe out to the key is its own
            // exchange and is left alone.
            let probing = (self.pending.to_key(&key))
                .is_some_and(|r| matches!(r.purpose, Purpose::Probe { .. }));
            if !probing {
                self.request(io, key, addr, Purpose::Join);
            }
        }
        self.schedule.back_off(io.now, io.config.join_retry_max);
    }

    fn known_addresses(&self) -> impl Iterator<Item = (PublicKey, SocketAddr)> + '_ {
        self.members.addresses()
    }

    fn periodic_broadcasts(&mut self, io: &mut Io<'_>) {
        if self.table.is_empty() {
            return;
        }
        if self.schedule.ping_due(io.now) {
            let next = io.now + io.jittered(io.config.ping_interval);
            self.schedule.ping_at(next);
            let _ = self.broadcast(io, &PeerMessage::Ping);
        }
        if self.schedule.name_due(io.now) {
            self.announce_name(io);
            self.announce_status(io);
        }
    }

    fn expire_members(&mut self, io: &mut Io<'_>) {
        let delays = (io.config.quit_delay, io.config.peer_timeout);
        let mut gone = Vec::new();
        let timed_out = self.members.expire(io.now, delays, &mut gone);
        // Their numbers stay refused after they are forgotten (PROTOCOL.md §6.9).
        for mark in gone {
            self.marks.raise(mark);
        }
        for (peer, listed) in timed_out {
            self.table.remove(&peer);
            if !listed {
                // A contact that never answered was never announced: nothing left.
                continue;
            }
            io.emit(Event::PeerLeft {
                group: self.id(),
                peer,
                reason: LeaveReason::Timeout,
            });
        }
    }

    fn refresh_from_members(&mut self, io: &mut Io<'_>) {
        let candidates: Vec<(PublicKey, SocketAddr)> = self
            .known_addresses()
            .filter(|(k, a)| !self.table.contains(k) && self.table.would_accept(k, a))
            .filter(|(k, _)| self.pending.to_key(k).is_none())
            .collect();
        let n = io.config.refresh_per_tick.min(candidates.len());
        for i in rand::seq::index::sample(io.rng, candidates.len(), n) {
            let (key, addr) = candidates[i];
            self.request(io, key, addr, Purpose::Refresh);
        }
    }

    /// No member answered our join in time: tell the application and mark the group for the
    /// node to drop (PROTOCOL.md §6.3).
    fn give_up_join(&mut self, io: &mut Io<'_>) {
        self.evict();
        if let Some(c) = self.contact() {
            io.emit(Event::JoinFailed {
                group: self.id(),
                contact: c.addr,
            });
        }
    }
}
