//! The eager tree of a secure group (PROTOCOL.md §6.12): Plumtree's epidemic broadcast tree
//! (Leitão, Pereira, Rodrigues 2007) over the group's relay targets: a shared tree and, over
//! it, one tree per origin.
//!
//! - **Eager push.** A broadcast (relayed or our own) goes in full to every relay target
//!   whose link is eager in its origin's tree (`links.rs`: a copy of the shared tree, then
//!   changed by the origin's own prunes and grafts). A duplicate prunes its link in the
//!   shared tree at once and in the origin's tree at the second in a row, and the hop is
//!   sent a prune (inner id 58) naming the origin, or the all-zero key for the shared tree,
//!   which turns it lazy on the hop's side too. A duplicate from the hop that delivered our
//!   first copy (the network duplicated it), or over a link grafted less than
//!   `prune_hold` ago, prunes nothing.
//! - **Lazy push** (`flow.rs`, `lazy.rs`). The ids of what we accepted or sent are batched
//!   for `ihave_interval` and announced in an IHAVE (inner id 59) to at most `lazy_fanout`
//!   relay targets drawn among those whose link is lazy for one of the ids; an id accepted
//!   after a silence, and the newest ids when the group falls silent, go to every lazy link. A node that sees an IHAVE for a
//!   broadcast it misses starts a `graft_timeout` timer; if the copy has not come when it
//!   fires, it sends the announcer a GRAFT (inner id 59), which answers with the copy and
//!   turns the link eager in that origin's tree and the shared one on both sides. While
//!   IHAVEs are on, only a GRAFT grafts.
//! - **Anti-entropy** (`repair.rs`, §6.11) stays under both as the backstop: it repairs
//!   whatever an IHAVE, a GRAFT or its answer lost.
//! - Legacy groups keep the 2014 behaviour (random fan-out, no prune, no IHAVE): see
//!   `broadcast.rs`.

mod flow;
mod lazy;
mod links;
mod names;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::group::Group;
use super::io::Io;
use super::{Dialect, DropReason};
use crate::crypto::Identity;
use crate::wire::{Broadcast, Payload, Prune, PublicKey};

pub(crate) use lazy::LazyState;
pub(crate) use links::Links;

/// Our own broadcasts go to at least this many relay targets (eager ones first): a tree
/// may give the origin a single eager link, and an origin that stops (or a copy lost) right
/// after sending would leave no one holding the broadcast to announce it.
pub(crate) const OWN_MIN: usize = 3;

/// An origin's tree copied from the shared tree relays to at least this many relay targets
/// (besides the hop and the origin): the shared tree prunes at the first duplicate of any
/// origin and can leave a node with no eager link at all, and every tree copied from it
/// would then reach no one from here until an IHAVE and a GRAFT repaired it. The closest
/// lazy targets (XOR) are kept eager in the copy (PROTOCOL.md §6.12, Appendix F.1).
pub(crate) const FRESH_MIN: usize = 1;

/// Datagrams and bytes of one kind of traffic (PROTOCOL.md §6.12, `dhtchat bench`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams queued for sending.
    pub datagrams: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What a datagram is, for the per-kind counters of [`super::Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A full copy pushed along the tree (relayed or our own).
    Eager,
    /// A lazy announcement: an IHAVE or a have summary.
    Lazy,
    /// A copy re-sent in answer to a summary or a GRAFT.
    Repair,
}

/// Seals and queues `payload` like [`Io::send`], and counts it under `kind`.
pub(crate) fn send_as(
    io: &mut Io<'_>,
    kind: Kind,
    from: &Identity,
    (to, addr): (&PublicKey, SocketAddr),
    payload: &Payload<'_>,
) {
    let before = (io.stats.datagrams_out, io.stats.bytes_out);
    io.send(from, to, addr, payload);
    let (datagrams, bytes) = (io.stats.datagrams_out, io.stats.bytes_out);
    let t = match kind {
        Kind::Eager => &mut io.stats.eager,
        Kind::Lazy => &mut io.stats.lazy,
        Kind::Repair => &mut io.stats.repair_traffic,
    };
    t.datagrams += datagrams - before.0;
    t.bytes += bytes - before.1;
}

/// One group's eager trees and lazy half.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub(crate) links: Links,
    pub(crate) lazy: LazyState,
    /// Budget of the GRAFTs we send (`Config::graft_rate`).
    pub(crate) graft_budget: super::spam::Bucket,
}

impl Group {
    /// True if this group relays along the eager tree (secure dialect, `eager_tree` on).
    pub(crate) fn uses_tree(&self, io: &Io<'_>) -> bool {
        io.config.eager_tree && self.dialect() == Dialect::Secure
    }

    /// The relay targets that get full copies of our own broadcast: the eager ones in our
    /// tree, and up to [`OWN_MIN`] in all with the first lazy ones in the relay targets'
    /// order (table, then in-links). The same peers each time: random extra copies would
    /// win races against the tree and prune its links, message after message.
    pub(crate) fn own_targets(&self, io: &Io<'_>) -> Vec<(PublicKey, SocketAddr)> {
        let all = self.relay_targets(io.now, io.config.bad_node_timeout);
        let own = self.own();
        let eager = |k: &PublicKey| self.tree.links.is_eager(&own, k);
        let mut out: Vec<_> = all.iter().filter(|(k, _)| eager(k)).copied().collect();
        let extra = OWN_MIN.saturating_sub(out.len());
        out.extend(all.iter().filter(|(k, _)| !eager(k)).take(extra));
        out
    }

    /// The relay targets that get full copies of `origin`'s broadcasts: the eager ones.
    pub(crate) fn eager_targets(
        &self,
        origin: &PublicKey,
        now: Instant,
        fresh: Duration,
    ) -> Vec<(PublicKey, SocketAddr)> {
        let mut targets = self.relay_targets(now, fresh);
        targets.retain(|(k, _)| self.tree.links.is_eager(origin, k));
        targets
    }

    /// A first copy of `b` arrived from `hop`: remember it, stop its GRAFT timer, and a
    /// hop whose link was lazy in that origin's tree delivered: it is eager again.
    pub(crate) fn tree_first_copy(&mut self, io: &mut Io<'_>, hop: PublicKey, b: &Broadcast<'_>) {
        if !self.uses_tree(io) {
            return;
        }
        if self.tree.links.touch(b.origin, io.now) {
            self.keep_fresh(io, b.origin, hop);
        }
        let links = &mut self.tree.links;
        links.first_copy(b.origin, b.number, hop);
        if b.message_id == crate::wire::MessageId::Name as u8 {
            links.named(&b.origin, hop);
        }
        // Without IHAVEs a first copy over a lazy link (a repair) is what grafts. With them
        // only a GRAFT grafts: a summary's answer races the slower eager copy, and grafting
        // on it would add a link the next broadcast prunes again.
        if io.config.lazy_fanout == 0 && links.graft_own(b.origin, &hop, io.now) {
            io.stats.grafts += 1;
        }
        self.tree.lazy.arrived(b.origin, b.number);
    }

    /// `origin`'s tree was just copied from the shared tree: if it relays to fewer than
    /// [`FRESH_MIN`] relay targets (never `hop` or the origin), the closest lazy ones are
    /// kept eager in it.
    fn keep_fresh(&mut self, io: &Io<'_>, origin: PublicKey, hop: PublicKey) {
        let mut targets = self.relay_targets(io.now, io.config.bad_node_timeout);
        targets.retain(|(k, _)| *k != hop && *k != origin);
        let links = &self.tree.links;
        let eager = targets.iter().filter(|(k, _)| links.is_eager(&origin, k));
        let missing = FRESH_MIN.saturating_sub(eager.count());
        if missing == 0 {
            return;
        }
        let own = self.own();
        targets.retain(|(k, _)| !links.is_eager(&origin, k));
        targets.sort_unstable_by_key(|(k, _)| crate::proto::dht::distance(&own, k));
        for (k, _) in targets.iter().take(missing) {
            self.tree.links.keep(origin, k, io.now);
        }
    }

    /// We re-sent `peer` a broadcast of `origin` it lacked: without IHAVEs it hears eagerly
    /// from us again in that origin's tree (with them, only a GRAFT grafts).
    pub(crate) fn tree_repaired(&mut self, io: &mut Io<'_>, peer: &PublicKey, origin: PublicKey) {
        let lazy_off = io.config.lazy_fanout == 0;
        if lazy_off && self.uses_tree(io) && self.tree.links.graft(origin, peer, io.now) {
            io.stats.grafts += 1;
        }
    }

    /// A duplicate of `b` from `hop` at `from`: unless `hop` delivered our first copy (the
    /// network duplicated it), it counts against the link in the origin's tree; at the
    /// second in a row the link is redundant there: prune it here and ask `hop` to prune it
    /// too (only at the address it proved).
    pub(crate) fn tree_duplicate(
        &mut self,
        io: &mut Io<'_>,
        (hop, from): (PublicKey, SocketAddr),
        b: &Broadcast<'_>,
    ) {
        if !self.uses_tree(io) {
            return;
        }
        let links = &mut self.tree.links;
        if names::is_intro(b) {
            // Names and statuses also go outside the tree (name sync, names first): their
            // duplicates say nothing about a link, but the hop holds the name.
            if b.message_id == crate::wire::MessageId::Name as u8 {
                links.named(&b.origin, hop);
            }
            return;
        }
        if links.first_hop(&b.origin, b.number) == Some(hop) {
            return;
        }
        let (own, shared) = links.duplicate((b.origin, hop), io.now, io.config.prune_hold);
        // The origin's own copies beyond its tree (`OWN_MIN`) are deliberate: a duplicate
        // from the origin asks it again only if the link was still eager here.
        let quiet = |links: &Links, o: &PublicKey| hop == b.origin && !links.is_eager(o, &hop);
        let trees = [(own, b.origin), (shared, links::SHARED)];
        for (_, origin) in trees.into_iter().filter(|t| t.0) {
            let quiet = quiet(&self.tree.links, &origin);
            let pruned = self.tree.links.prune(origin, hop, io.now);
            if pruned && !quiet && self.is_validated(&hop, &from) {
                io.stats.prunes += 1;
                let prune = Payload::Prune(Prune { flags: 0, origin });
                io.send(self.identity(), &hop, from, &prune);
            }
        }
    }

    /// A prune from `hop` at `from`: send it no more full copies of that origin's
    /// broadcasts (the all-zero origin: in the shared tree). An origin that is neither a
    /// member nor us changes nothing (a tree is made only for a real origin).
    pub(crate) fn on_prune(
        &mut self,
        io: &Io<'_>,
        (hop, from): (PublicKey, SocketAddr),
        prune: &Prune,
    ) -> Result<(), DropReason> {
        self.check_lazy_peer(hop, from)?;
        let o = &prune.origin;
        if *o == links::SHARED || *o == self.own() || self.members.contains(o) {
            self.tree.links.prune(prune.origin, hop, io.now);
        }
        Ok(())
    }

    /// Prunes, IHAVEs and GRAFTs are secure-dialect packets from a validated member at its
    /// proven address (PROTOCOL.md §6.12).
    pub(crate) fn check_lazy_peer(
        &self,
        hop: PublicKey,
        from: SocketAddr,
    ) -> Result<(), DropReason> {
        if self.dialect() != Dialect::Secure {
            return Err(DropReason::WrongDialect);
        }
        if self.is_banned(&hop) {
            return Err(DropReason::Banned);
        }
        if !self.is_validated(&hop, &from) {
            return Err(DropReason::UnknownSender);
        }
        Ok(())
    }

    /// `peer` has just become a relay target (it entered our table, or its keep-alive made
    /// it a fresh in-link): a new link (§6.12: lazy in the origins' trees that exist, eager
    /// in the shared tree) unless it is one already.
    pub(crate) fn admit_link(&mut self, peer: PublicKey) {
        self.tree.links.admit(peer);
    }

    /// Housekeeping: relay targets that became so by another way (a restored table) are
    /// admitted as links, and links to peers that are no longer relay targets give up
    /// their slots.
    pub(crate) fn tree_tick(&mut self, io: &Io<'_>) {
        let targets = self.relay_targets(io.now, io.config.bad_node_timeout);
        for &(k, _) in &targets {
            self.tree.links.admit(k);
        }
        (self.tree.links).retain(|k| targets.iter().any(|(t, _)| t == k));
    }
}
