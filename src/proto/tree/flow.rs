//! The lazy half's flows (PROTOCOL.md §6.12): sending IHAVEs, starting GRAFT timers on the
//! IHAVEs we get, sending GRAFTs when they fire, and answering GRAFTs with copies.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rand::Rng;

use super::lazy::{Queued, Want};
use super::{Kind, send_as};
use crate::proto::DropReason;
use crate::proto::group::Group;
use crate::proto::io::Io;
use crate::proto::marks::Counter;
use crate::wire::{Lazy, LazyKind, MAX_LAZY_IDS, Payload, PublicKey, lazy::write_id};

impl Group {
    /// Queues the id of a broadcast we accepted from `hop` (or sent, `None`) for the next
    /// IHAVE; a full queue goes out at once.
    pub(crate) fn announce(
        &mut self,
        io: &mut Io<'_>,
        b: (PublicKey, u32),
        hop: Option<PublicKey>,
    ) {
        if !self.uses_tree(io) || io.config.lazy_fanout == 0 {
            return;
        }
        let interval = io.config.ihave_interval;
        // After a silence (the group not active) the id goes to every lazy link too.
        let wide = !self.is_active(io);
        if self
            .tree
            .lazy
            .announce(((b.0, b.1, hop), wide), io.now, interval)
        {
            self.flush_ihave(io, true);
        }
    }

    /// The group falls silent (§6.11: no longer active): the ids of the newest kept copies
    /// (at most one IHAVE's worth) go at once to every relay target lazy for one of them,
    /// so a member the tree no longer reaches, that missed the last broadcasts before the
    /// silence, hears of them from every neighbour that holds them and grafts.
    pub(crate) fn announce_tail(&mut self, io: &mut Io<'_>) {
        if !self.uses_tree(io) || io.config.lazy_fanout == 0 {
            return;
        }
        let interval = io.config.ihave_interval;
        for (origin, number) in self.newest_kept(MAX_LAZY_IDS) {
            (self.tree.lazy).announce(((origin, number, None), true), io.now, interval);
        }
        self.flush_ihave(io, true);
    }

    /// The lazy half's timers: the IHAVE flush and the GRAFT timers that fired.
    pub(crate) fn on_lazy_timer(&mut self, io: &mut Io<'_>) {
        self.flush_ihave(io, false);
        self.send_grafts(io);
    }

    /// When the lazy half next needs the node.
    pub(crate) fn lazy_timeout(&self) -> Option<std::time::Instant> {
        self.tree.lazy.next_timeout()
    }

    /// Sends the queued ids, if due (or `force`), to at most `lazy_fanout` relay targets
    /// drawn among those whose link is lazy for one of them (to all of them for the ids of
    /// `announce_tail`); each gets the ids it is lazy for (never its own broadcasts, nor
    /// those it sent us first).
    fn flush_ihave(&mut self, io: &mut Io<'_>, force: bool) {
        let Some((queue, wide)) = self.tree.lazy.take_due(io.now, force) else {
            return;
        };
        let links = &self.tree.links;
        let lazy_for = |k: &PublicKey, (o, _, hop): &Queued| {
            k != o && Some(*k) != *hop && !links.is_eager(o, k)
        };
        let mut pool = self.relay_targets(io.now, io.config.bad_node_timeout);
        pool.retain(|(k, _)| queue.iter().any(|q| lazy_for(k, q)));
        let fanout = match wide {
            true => pool.len(),
            false => io.config.lazy_fanout.min(pool.len()),
        };
        for i in 0..fanout {
            let j = io.rng.random_range(i..pool.len());
            pool.swap(i, j);
        }
        let mut ids = Vec::with_capacity(MAX_LAZY_IDS * crate::wire::LAZY_ID_LEN);
        for &(key, addr) in &pool[..fanout] {
            ids.clear();
            for q in queue.iter().filter(|q| lazy_for(&key, q)) {
                write_id(&mut ids, &q.0, q.1);
            }
            let Ok(ihave) = Lazy::new(LazyKind::IHave, &ids) else {
                continue;
            };
            io.stats.ihaves += 1;
            let payload = Payload::Lazy(ihave);
            send_as(io, Kind::Lazy, self.identity(), (&key, addr), &payload);
        }
    }

    /// An IHAVE or a GRAFT from `hop` at `from`.
    pub(crate) fn on_lazy(
        &mut self,
        io: &mut Io<'_>,
        (hop, from): (PublicKey, SocketAddr),
        lazy: &Lazy<'_>,
    ) -> Result<(), DropReason> {
        self.check_lazy_peer(hop, from)?;
        match lazy.kind {
            LazyKind::IHave => {
                self.on_ihave(io, (hop, from), lazy);
                Ok(())
            }
            LazyKind::Graft => self.on_graft(io, (hop, from), lazy),
        }
    }

    /// Starts a GRAFT timer for every announced id we miss: an origin we know, a number
    /// its window and mark would still accept. Bounded (`lazy.rs`); the rest is counted.
    fn on_ihave(&mut self, io: &mut Io<'_>, (hop, from): (PublicKey, SocketAddr), l: &Lazy<'_>) {
        self.exchanged(hop, io.now);
        let due = io.now + io.config.graft_timeout;
        for (origin, number) in l.ids() {
            if origin == self.own() || !self.misses(io, &origin, number) {
                continue;
            }
            if self.tree.lazy.want((origin, number), (hop, from), due) == Want::Full {
                io.stats.lazy_ignored += 1;
            }
        }
    }

    /// True if we would accept (origin, number) as new: we know the origin and neither its
    /// window nor its mark has it.
    fn misses(&self, io: &Io<'_>, origin: &PublicKey, number: u32) -> bool {
        let Some(m) = self.members.get(origin) else {
            return false;
        };
        m.check(number, io.config.forward_cap).is_ok()
            && self.marks.check(origin, Counter::Broadcast, number).is_ok()
    }

    /// Sends a GRAFT to the announcer of every id whose timer fired and that we still
    /// miss, and turns those links eager for those origins; within `graft_rate`.
    fn send_grafts(&mut self, io: &mut Io<'_>) {
        // Ordered by key: the order of sends must not depend on a hash map's.
        let mut by_peer: BTreeMap<PublicKey, (SocketAddr, Vec<(PublicKey, u32)>)> = BTreeMap::new();
        for ((origin, number), w) in self.tree.lazy.fired(io.now) {
            if self.misses(io, &origin, number) && self.is_validated(&w.from, &w.addr) {
                let e = by_peer.entry(w.from).or_insert((w.addr, Vec::new()));
                e.1.push((origin, number));
            }
        }
        let mut raw = Vec::new();
        for (peer, (addr, wanted)) in by_peer {
            for chunk in wanted.chunks(MAX_LAZY_IDS) {
                if !self.tree.graft_budget.take(io.now, io.config.graft_rate) {
                    io.stats.lazy_ignored += chunk.len() as u64;
                    continue;
                }
                raw.clear();
                for (origin, number) in chunk {
                    write_id(&mut raw, origin, *number);
                    if self.tree.links.graft(*origin, &peer, io.now) {
                        io.stats.grafts += 1;
                    }
                }
                if let Ok(graft) = Lazy::new(LazyKind::Graft, &raw) {
                    io.stats.grafts_sent += 1;
                    io.send(self.identity(), &peer, addr, &Payload::Lazy(graft));
                }
            }
        }
    }

    /// Answers a GRAFT with the kept copies it names, within the asker's reply budget and
    /// the repair budget, and turns the link eager for their origins. An id we keep no copy
    /// of is counted (`graft_unknown_ids`); a GRAFT naming none we keep is dropped
    /// (`graft_unknown`).
    fn on_graft(
        &mut self,
        io: &mut Io<'_>,
        (hop, from): (PublicKey, SocketAddr),
        l: &Lazy<'_>,
    ) -> Result<(), DropReason> {
        let mut known = 0;
        let mut budget = true;
        for (origin, number) in l.ids() {
            let Some(i) = self.recent.find(&origin, number) else {
                io.stats.graft_unknown_ids += 1;
                continue;
            };
            known += 1;
            if self.uses_tree(io) && self.tree.links.graft(origin, &hop, io.now) {
                io.stats.grafts += 1;
            }
            budget = budget && self.resend_kept(io, (hop, from), i);
        }
        if known == 0 {
            return Err(DropReason::GraftUnknown);
        }
        self.exchanged(hop, io.now);
        Ok(())
    }
}
