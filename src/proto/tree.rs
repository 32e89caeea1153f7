//! The eager tree of a secure group (PROTOCOL.md §6.12): Plumtree's epidemic broadcast tree
//! (Leitão, Pereira, Rodrigues 2007) over the group's relay targets.
//!
//! - Every relay target is **eager** (gets full copies) until it is **pruned**: a link that
//!   delivers [`PRUNE_AFTER`] duplicates in a row (no first copy between them) is redundant,
//!   so the receiver turns it lazy on its side and sends the hop a prune (inner id 58),
//!   which turns it lazy on the hop's side. The eager links left form a spanning tree of
//!   the overlay (a cycle would deliver duplicates).
//! - A duplicate from the hop that delivered our first copy of that broadcast (the network
//!   duplicated a datagram) prunes nothing: that link is the tree.
//! - The lazy half is anti-entropy (§6.11): summaries go first to peers that no broadcast
//!   went to or came from, which the lazy links are. A graft needs no packet: a node that
//!   answers a summary with missing copies turns the asker's link eager again, and a node
//!   that gets a first copy from a pruned peer turns that link eager again.
//! - Legacy groups keep the 2014 behaviour (random fan-out, no prune): see `broadcast.rs`.
//!
//! Bounded: at most [`LAZY_MAX`] pruned keys (past it the set starts over, every link eager
//! again, and duplicates prune them anew) and the first hops of the last [`FIRST_MAX`]
//! broadcasts.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;

use super::group::Group;
use super::io::Io;
use super::{Dialect, DropReason};
use crate::crypto::Identity;
use crate::wire::{Broadcast, Payload, Prune, PublicKey};

/// Most pruned keys kept per group; past it every link turns eager again.
pub(crate) const LAZY_MAX: usize = 256;

/// First hops remembered (for telling a network duplicate from a redundant link).
pub(crate) const FIRST_MAX: usize = 64;

/// Duplicates in a row (no first copy between them) that prune a link. One is not enough:
/// two broadcasts from different origins in flight at once can each bring a duplicate over
/// the link that is the other's first-copy path, and pruning both would cut the node off.
pub(crate) const PRUNE_AFTER: u8 = 2;

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
    /// A have summary (the lazy announcement).
    Lazy,
    /// A copy re-sent in answer to a summary.
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

/// One group's eager tree: which links are pruned, and who delivered recent first copies.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    lazy: HashSet<PublicKey>,
    /// Duplicates in a row from each eager hop (at most [`LAZY_MAX`] hops; past it the
    /// counts start over).
    dups: HashMap<PublicKey, u8>,
    /// (origin, number, first hop), oldest first.
    first: VecDeque<(PublicKey, u32, PublicKey)>,
}

impl Tree {
    /// True unless `peer` was pruned.
    pub(crate) fn is_eager(&self, peer: &PublicKey) -> bool {
        !self.lazy.contains(peer)
    }

    /// Number of pruned keys.
    #[cfg(test)]
    fn lazy_len(&self) -> usize {
        self.lazy.len()
    }

    /// Turns the link to `peer` lazy.
    fn prune(&mut self, peer: PublicKey) {
        if self.lazy.len() >= LAZY_MAX && !self.lazy.contains(&peer) {
            self.lazy.clear();
        }
        self.lazy.insert(peer);
    }

    /// Turns the link to `peer` eager; true if it was lazy.
    fn graft(&mut self, peer: &PublicKey) -> bool {
        self.lazy.remove(peer)
    }

    /// Counts a duplicate from `hop`; true when it is the [`PRUNE_AFTER`]th in a row (the
    /// count starts over).
    fn duplicate(&mut self, hop: PublicKey) -> bool {
        if self.dups.len() >= LAZY_MAX && !self.dups.contains_key(&hop) {
            self.dups.clear();
        }
        let n = self.dups.entry(hop).or_insert(0);
        *n += 1;
        if *n < PRUNE_AFTER {
            return false;
        }
        self.dups.remove(&hop);
        true
    }

    /// Records that `hop` delivered our first copy of (origin, number): its duplicate count
    /// starts over.
    fn first_copy(&mut self, origin: PublicKey, number: u32, hop: PublicKey) {
        self.dups.remove(&hop);
        if self.first.len() >= FIRST_MAX {
            self.first.pop_front();
        }
        self.first.push_back((origin, number, hop));
    }

    /// The hop that delivered our first copy of (origin, number), if still remembered.
    fn first_hop(&self, origin: &PublicKey, number: u32) -> Option<PublicKey> {
        (self.first.iter().rev())
            .find(|(o, n, _)| o == origin && *n == number)
            .map(|f| f.2)
    }
}

impl Group {
    /// True if this group relays along the eager tree (secure dialect, `eager_tree` on).
    pub(crate) fn uses_tree(&self, io: &Io<'_>) -> bool {
        io.config.eager_tree && self.dialect() == Dialect::Secure
    }

    /// The relay targets that get full copies: the eager ones.
    pub(crate) fn eager_targets(
        &self,
        now: std::time::Instant,
        fresh: std::time::Duration,
    ) -> Vec<(PublicKey, SocketAddr)> {
        let mut targets = self.relay_targets(now, fresh);
        targets.retain(|(k, _)| self.tree.is_eager(k));
        targets
    }

    /// A first copy of `b` arrived from `hop`: remember it, and a pruned hop that delivers
    /// one is a useful link again (the graft of a repair).
    pub(crate) fn tree_first_copy(&mut self, io: &mut Io<'_>, hop: PublicKey, b: &Broadcast<'_>) {
        if !self.uses_tree(io) {
            return;
        }
        self.tree.first_copy(b.origin, b.number, hop);
        if self.tree.graft(&hop) {
            io.stats.grafts += 1;
        }
    }

    /// We re-sent `peer` broadcasts it lacked: it hears eagerly from us again.
    pub(crate) fn tree_repaired(&mut self, io: &mut Io<'_>, peer: &PublicKey) {
        if self.uses_tree(io) && self.tree.graft(peer) {
            io.stats.grafts += 1;
        }
    }

    /// A duplicate of `b` from `hop` at `from`: unless `hop` delivered our first copy (the
    /// network duplicated it), it counts against the link; at [`PRUNE_AFTER`] in a row the
    /// link is redundant: prune it here and ask `hop` to prune it too (only at the address
    /// it proved).
    pub(crate) fn tree_duplicate(
        &mut self,
        io: &mut Io<'_>,
        (hop, from): (PublicKey, SocketAddr),
        b: &Broadcast<'_>,
    ) {
        if !self.uses_tree(io) || self.tree.first_hop(&b.origin, b.number) == Some(hop) {
            return;
        }
        if !self.tree.duplicate(hop) {
            return;
        }
        self.tree.prune(hop);
        if self.is_validated(&hop, &from) {
            io.stats.prunes += 1;
            let prune = Payload::Prune(Prune { flags: 0 });
            io.send(self.identity(), &hop, from, &prune);
        }
    }

    /// A prune from `hop` at `from`: send it no more full copies.
    pub(crate) fn on_prune(&mut self, hop: PublicKey, from: SocketAddr) -> Result<(), DropReason> {
        if self.dialect() != Dialect::Secure {
            return Err(DropReason::WrongDialect);
        }
        if self.is_banned(&hop) {
            return Err(DropReason::Banned);
        }
        if !self.is_validated(&hop, &from) {
            return Err(DropReason::UnknownSender);
        }
        self.tree.prune(hop);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> PublicKey {
        PublicKey([i; 32])
    }

    fn numbered(i: usize) -> PublicKey {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(i as u64).to_be_bytes());
        PublicKey(k)
    }

    #[test]
    fn prune_and_graft_flip_one_link() {
        let mut t = Tree::default();
        assert!(t.is_eager(&key(1)));
        t.prune(key(1));
        assert!(!t.is_eager(&key(1)) && t.is_eager(&key(2)));
        assert!(t.graft(&key(1)));
        assert!(!t.graft(&key(1)), "already eager");
        assert!(t.is_eager(&key(1)));
    }

    #[test]
    fn only_duplicates_in_a_row_prune() {
        let mut t = Tree::default();
        assert!(!t.duplicate(key(1)));
        t.first_copy(key(9), 1, key(1));
        assert!(
            !t.duplicate(key(1)),
            "a first copy between them starts over"
        );
        assert!(!t.duplicate(key(2)), "counted per hop");
        assert!(t.duplicate(key(1)));
        assert!(!t.duplicate(key(1)), "the count starts over once it fires");
    }

    #[test]
    fn the_pruned_set_starts_over_at_its_cap() {
        let mut t = Tree::default();
        for i in 0..LAZY_MAX {
            t.prune(numbered(i));
        }
        assert_eq!(t.lazy_len(), LAZY_MAX);
        t.prune(numbered(LAZY_MAX - 1));
        assert_eq!(t.lazy_len(), LAZY_MAX, "a known key does not clear");
        t.prune(key(0xEE));
        assert_eq!(t.lazy_len(), 1, "a new key past the cap starts over");
    }

    #[test]
    fn first_hops_are_bounded_and_newest_wins() {
        let mut t = Tree::default();
        t.first_copy(key(9), 1, key(1));
        assert_eq!(t.first_hop(&key(9), 1), Some(key(1)));
        assert_eq!(t.first_hop(&key(9), 2), None);
        for n in 2..=FIRST_MAX as u32 {
            t.first_copy(key(9), n, key(2));
        }
        assert_eq!(
            t.first_hop(&key(9), 1),
            Some(key(1)),
            "still within the cap"
        );
        t.first_copy(key(9), 1000, key(3));
        assert_eq!(t.first_hop(&key(9), 1), None, "the oldest gave way");
        assert_eq!(t.first.len(), FIRST_MAX);
    }
}
