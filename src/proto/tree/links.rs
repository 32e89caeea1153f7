//! Which links are eager for which origin (PROTOCOL.md §6.12): one tree per origin, so
//! duplicates of one origin's broadcasts never prune a link another origin's tree needs.
//!
//! - Each peer we link to gets a **slot** (at most [`SLOTS`]); a tree is bit masks over the
//!   slots: `lazy` (links pruned in it) and `strike` (links that brought one duplicate of
//!   its broadcasts since their last first copy). A peer without a slot is always eager.
//! - A **new link** (a relay target without a slot, [`Links::admit`]) is eager in the
//!   shared tree and lazy in every origin's tree that exists already: those trees reach
//!   their members without it, and under load each new link would otherwise cost every
//!   active origin's tree duplicates and prunes. Slots of peers that are no longer relay
//!   targets are freed on the tick ([`Links::retain`]), clearing their bits in every tree
//!   (a link that comes back is new again).
//! - The **shared tree** ([`SHARED`], the all-zero key, which is never an origin: it is not
//!   an acceptable X25519 key) is Plumtree's single tree: a duplicate of any origin's
//!   broadcast prunes its link there at once, and every graft grafts it there too, so it
//!   converges to a spanning tree that the lazy half repairs. (Counting duplicates in a
//!   row there, as the origins' trees do, kept every link that alternately brings first
//!   copies and duplicates of different origins: about 3.8 eager links a node.)
//! - An **origin's tree** starts as a copy of the shared tree when its first broadcast is
//!   seen here, and from then on changes only by that origin's own prunes and grafts: a
//!   duplicate of origin A never strips a link origin B's tree relies on.
//! - A link grafted (in any tree) is not pruned again for `hold` (the caller's
//!   `Config::prune_hold`): a graft answers a miss, and the duplicates that follow while
//!   the trees settle would otherwise prune it at once (prune/graft churn under loss).
//! - An origin's tree unused for [`ORIGIN_IDLE`] starts again as a copy of the shared tree.
//! - At most [`ORIGINS`] trees; a new origin past the cap takes the place of the least
//!   recently used one.
//! - The first hops of the last [`FIRST_MAX`] broadcasts tell a network duplicate (from the
//!   hop that delivered our first copy) from a redundant link.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::PublicKey;

/// Most peers with a slot (a bit in every origin's masks).
pub(crate) const SLOTS: usize = 128;

/// Most origins with a tree.
pub(crate) const ORIGINS: usize = 1024;

/// An origin's tree not used for this long starts again as a copy of the shared tree: it
/// was copied when the shared tree was younger and denser (a member's first broadcasts
/// come as it joins), and an origin that sends rarely never brings the duplicates in a row
/// that would prune it.
pub(crate) const ORIGIN_IDLE: Duration = Duration::from_secs(2);

/// First hops remembered (for telling a network duplicate from a redundant link).
pub(crate) const FIRST_MAX: usize = 64;

/// The shared tree's name in prunes: the all-zero key, never an origin.
pub(crate) const SHARED: PublicKey = PublicKey([0; 32]);

/// One tree at this node (the shared tree uses only `lazy`).
#[derive(Debug, Clone, Copy, Default)]
struct Masks {
    lazy: u128,
    strike: u128,
}

/// One origin's tree: its masks (a copy of the shared tree's lazy links at first), when it
/// was last used, and the links known to hold the origin's name (kept across copies).
#[derive(Debug, Clone, Copy)]
struct OriginTree {
    masks: Masks,
    used: Instant,
    named: u128,
}

/// The per-origin eager trees of one group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    slots: Vec<Option<PublicKey>>,
    index: HashMap<PublicKey, u8>,
    origins: HashMap<PublicKey, OriginTree>,
    /// The shared tree: a new origin's tree starts as a copy of it.
    shared: Masks,
    /// (origin, number, first hop), oldest first.
    first: VecDeque<(PublicKey, u32, PublicKey)>,
    /// When each slot's link was last grafted, in any tree (indexed by slot).
    grafted_at: Vec<Option<Instant>>,
}

impl Links {
    fn bit(&self, peer: &PublicKey) -> Option<u128> {
        self.index.get(peer).map(|&s| 1u128 << s)
    }

    /// The slot bit of `peer`, given one if there is room.
    fn slot(&mut self, peer: PublicKey) -> Option<u128> {
        if let Some(b) = self.bit(&peer) {
            return Some(b);
        }
        let free = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < SLOTS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return None,
        };
        self.slots[free] = Some(peer);
        // Cannot truncate: at most SLOTS = 128 slots.
        self.index.insert(peer, free as u8);
        Some(1u128 << free)
    }

    /// Gives `peer`, a relay target, its slot if it has none: a new link joins the shared
    /// tree eager and every origin's tree that exists already lazy (those origins' copies
    /// reach their members without it; a member it alone reaches learns of their
    /// broadcasts from IHAVEs and grafts it). Trees copied later copy the shared tree.
    pub(crate) fn admit(&mut self, peer: PublicKey) {
        if self.index.contains_key(&peer) {
            return;
        }
        let Some(b) = self.slot(peer) else {
            return;
        };
        for t in self.origins.values_mut() {
            t.masks.lazy |= b;
        }
    }

    /// The tree of `origin` (new: a copy of the shared tree's lazy links).
    fn tree(&mut self, origin: PublicKey, now: Instant) -> &mut OriginTree {
        self.tree_fresh(origin, now).0
    }

    /// The tree of `origin`, and true if it was copied from the shared tree just now (new,
    /// or idle for [`ORIGIN_IDLE`]).
    fn tree_fresh(&mut self, origin: PublicKey, now: Instant) -> (&mut OriginTree, bool) {
        if !self.origins.contains_key(&origin) && self.origins.len() >= ORIGINS {
            let oldest = (self.origins.iter())
                .min_by_key(|(k, t)| (t.used, **k))
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.origins.remove(&k);
            }
        }
        let lazy = self.shared.lazy;
        let mut fresh = !self.origins.contains_key(&origin);
        let t = self.origins.entry(origin).or_insert(OriginTree {
            masks: Masks { lazy, strike: 0 },
            used: now,
            named: 0,
        });
        if now.saturating_duration_since(t.used) >= ORIGIN_IDLE {
            t.masks = Masks { lazy, strike: 0 };
            fresh = true;
        }
        t.used = now;
        (t, fresh)
    }

    /// True unless the link to `peer` is lazy in `origin`'s tree (or, for an origin
    /// without a tree yet, in the shared tree).
    pub(crate) fn is_eager(&self, origin: &PublicKey, peer: &PublicKey) -> bool {
        let Some(b) = self.bit(peer) else {
            return true;
        };
        let lazy = (self.origins.get(origin)).map_or(self.shared.lazy, |t| t.masks.lazy);
        lazy & b == 0
    }

    /// Makes sure `origin` has a tree (its first broadcast seen here), marked used at `now`;
    /// true if the tree was copied from the shared tree just now.
    pub(crate) fn touch(&mut self, origin: PublicKey, now: Instant) -> bool {
        self.tree_fresh(origin, now).1
    }

    /// Turns `peer`'s link eager in `origin`'s tree without a graft (no prune hold: a
    /// fresh copy's kept link, PROTOCOL.md §6.12, is pruned by its duplicates as usual).
    pub(crate) fn keep(&mut self, origin: PublicKey, peer: &PublicKey, now: Instant) {
        if let Some(b) = self.bit(peer) {
            self.tree(origin, now).masks.lazy &= !b;
        }
    }

    /// True if `peer` is known to hold `origin`'s name (PROTOCOL.md §6.12, names first): it
    /// sent us one or we sent it one. A peer that cannot get a slot (all taken) counts as
    /// holding it (nothing could be recorded for it), an origin without a tree as not.
    pub(crate) fn has_name(&self, origin: &PublicKey, peer: &PublicKey) -> bool {
        let Some(b) = self.bit(peer) else {
            return self.slots.len() >= SLOTS && self.slots.iter().all(Option::is_some);
        };
        self.origins.get(origin).is_some_and(|t| t.named & b != 0)
    }

    /// Records that `peer` holds `origin`'s name. Neither marks the tree used nor makes one:
    /// an origin without a tree (never seen, or given way) records nothing.
    pub(crate) fn named(&mut self, origin: &PublicKey, peer: PublicKey) {
        if !self.origins.contains_key(origin) {
            return;
        }
        let Some(b) = self.slot(peer) else {
            return;
        };
        if let Some(t) = self.origins.get_mut(origin) {
            t.named |= b;
        }
    }

    /// Turns `peer`'s link lazy in `origin`'s tree ([`SHARED`]: the shared tree); false if
    /// `peer` has no slot to spare.
    pub(crate) fn prune(&mut self, origin: PublicKey, peer: PublicKey, now: Instant) -> bool {
        let Some(b) = self.slot(peer) else {
            return false;
        };
        let masks = match origin {
            SHARED => &mut self.shared,
            _ => &mut self.tree(origin, now).masks,
        };
        masks.lazy |= b;
        masks.strike &= !b;
        true
    }

    /// Turns `peer`'s link eager in `origin`'s tree and in the shared tree (a GRAFT, sent or
    /// answered); true if it was lazy in `origin`'s.
    pub(crate) fn graft(&mut self, origin: PublicKey, peer: &PublicKey, now: Instant) -> bool {
        if let Some(b) = self.bit(peer) {
            self.shared.lazy &= !b;
        }
        self.graft_own(origin, peer, now)
    }

    /// Turns `peer`'s link eager in `origin`'s tree only; true if it was lazy there.
    pub(crate) fn graft_own(&mut self, origin: PublicKey, peer: &PublicKey, now: Instant) -> bool {
        let Some(&s) = self.index.get(peer) else {
            return false;
        };
        let b = 1u128 << s;
        let t = self.tree(origin, now);
        let was = t.masks.lazy & b != 0;
        t.masks.lazy &= !b;
        let s = usize::from(s);
        if self.grafted_at.len() <= s {
            self.grafted_at.resize(s + 1, None);
        }
        self.grafted_at[s] = Some(now);
        was
    }

    /// Counts a duplicate of `origin`'s broadcast from `hop`: (true when it is the second in
    /// a row in that origin's tree, no first copy from `hop` between them; true at once in
    /// the shared tree, Plumtree's rule). Counts that fire start over. A link grafted less
    /// than `hold` ago counts nothing.
    pub(crate) fn duplicate(
        &mut self,
        (origin, hop): (PublicKey, PublicKey),
        now: Instant,
        hold: Duration,
    ) -> (bool, bool) {
        let Some(b) = self.slot(hop) else {
            return (false, false);
        };
        let s = b.trailing_zeros() as usize;
        let held = (self.grafted_at.get(s).copied().flatten())
            .is_some_and(|t| now.saturating_duration_since(t) < hold);
        if held {
            return (false, false);
        }
        let t = self.tree(origin, now);
        let second = t.masks.strike & b != 0;
        t.masks.strike ^= b;
        (second, true)
    }

    /// Records that `hop` delivered our first copy of (origin, number): its duplicate
    /// counts in that tree and in the shared tree start over.
    pub(crate) fn first_copy(&mut self, origin: PublicKey, number: u32, hop: PublicKey) {
        if let Some(b) = self.bit(&hop) {
            if let Some(t) = self.origins.get_mut(&origin) {
                t.masks.strike &= !b;
            }
        }
        if self.first.len() >= FIRST_MAX {
            self.first.pop_front();
        }
        self.first.push_back((origin, number, hop));
    }

    /// The hop that delivered our first copy of (origin, number), if still remembered.
    pub(crate) fn first_hop(&self, origin: &PublicKey, number: u32) -> Option<PublicKey> {
        (self.first.iter().rev())
            .find(|(o, n, _)| o == origin && *n == number)
            .map(|f| f.2)
    }

    /// Frees the slots of peers `keep` refuses, clearing their bits in every tree (a link
    /// that comes back starts eager).
    pub(crate) fn retain(&mut self, keep: impl Fn(&PublicKey) -> bool) {
        let mut freed = 0u128;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.is_some_and(|k| !keep(&k)) {
                if let Some(k) = slot.take() {
                    self.index.remove(&k);
                }
                freed |= 1u128 << i;
                if let Some(g) = self.grafted_at.get_mut(i) {
                    *g = None;
                }
            }
        }
        if freed != 0 {
            self.shared.lazy &= !freed;
            self.shared.strike &= !freed;
            for t in self.origins.values_mut() {
                t.masks.lazy &= !freed;
                t.masks.strike &= !freed;
                t.named &= !freed;
            }
        }
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        self.grafted_at.truncate(self.slots.len());
    }

    /// Origins with a tree, and peers with a slot.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.origins.len(), self.index.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u16) -> PublicKey {
        let mut k = [0u8; 32];
        k[..2].copy_from_slice(&i.to_be_bytes());
        PublicKey(k)
    }

    #[test]
    fn prunes_are_per_origin_and_grafts_undo_them() {
        let now = crate::test_epoch();
        let mut l = Links::default();
        let (o1, o2, p) = (key(1), key(2), key(100));
        l.touch(o2, now);
        assert!(l.prune(o1, p, now));
        assert!(!l.is_eager(&o1, &p));
        assert!(l.is_eager(&o2, &p), "another origin's tree keeps the link");
        assert!(l.graft(o1, &p, now));
        assert!(!l.graft(o1, &p, now), "already eager");
        assert!(l.is_eager(&o1, &p));
    }

    #[test]
    fn a_new_origin_starts_as_the_shared_tree_and_its_grafts_hold() {
        let now = crate::test_epoch();
        let mut l = Links::default();
        let (a, b) = (key(100), key(101));
        l.prune(key(1), a, now);
        assert!(l.is_eager(&key(3), &a), "an origin's prune is its own");
        l.prune(SHARED, a, now);
        l.prune(SHARED, b, now);
        l.graft(key(2), &b, now);
        assert!(!l.is_eager(&key(3), &a), "pruned in the shared tree");
        assert!(
            l.is_eager(&key(3), &b),
            "a repair's graft grafts the shared tree"
        );
        l.graft_own(key(4), &a, now);
        assert!(l.is_eager(&key(4), &a), "grafted in its own tree");
        assert!(!l.is_eager(&key(3), &a), "and there only");
        l.prune(SHARED, b, now);
        assert!(
            l.is_eager(&key(2), &b),
            "a link an origin grafted stays eager for it"
        );
        assert!(!l.is_eager(&key(3), &b));
    }

    #[test]
    fn a_new_link_is_lazy_in_the_trees_that_exist_and_eager_in_the_shared_tree() {
        let now = crate::test_epoch();
        let mut l = Links::default();
        let (o1, o2, p) = (key(1), key(2), key(100));
        l.touch(o1, now);
        l.admit(p);
        assert!(!l.is_eager(&o1, &p), "lazy in a tree made before it");
        assert!(l.is_eager(&SHARED, &p), "eager in the shared tree");
        l.touch(o2, now);
        assert!(
            l.is_eager(&o2, &p),
            "a later copy of the shared tree has it eager"
        );
        assert!(l.graft(o1, &p, now));
        l.admit(p);
        assert!(
            l.is_eager(&o1, &p),
            "admitting a known link changes nothing"
        );
        l.retain(|k| *k != p);
        l.admit(p);
        assert!(
            !l.is_eager(&o1, &p) && !l.is_eager(&o2, &p),
            "back after leaving: new"
        );
    }

    #[test]
    fn a_duplicate_prunes_the_shared_tree_at_once_and_an_origin_s_at_the_second_in_a_row() {
        let now = crate::test_epoch();
        let hold = Duration::from_secs(1);
        let mut l = Links::default();
        let (o, h) = (key(1), key(100));
        assert_eq!(l.duplicate((o, h), now, hold), (false, true));
        l.first_copy(o, 1, h);
        let fresh = l.duplicate((o, h), now, hold);
        assert_eq!(
            fresh,
            (false, true),
            "a first copy between them starts over"
        );
        assert_eq!(
            l.duplicate((key(2), h), now, hold),
            (false, true),
            "per origin"
        );
        assert_eq!(l.duplicate((o, h), now, hold), (true, true));
        let again = l.duplicate((o, h), now, hold);
        assert_eq!(again, (false, true), "counts start over once they fire");
    }

    #[test]
    fn a_grafted_link_is_held_against_prunes_for_a_while() {
        let now = crate::test_epoch();
        let hold = Duration::from_secs(1);
        let mut l = Links::default();
        let (o, h) = (key(1), key(100));
        l.prune(o, h, now);
        assert!(l.graft(o, &h, now));
        let soon = now + Duration::from_millis(999);
        assert_eq!(l.duplicate((o, h), soon, hold), (false, false), "held");
        assert_eq!(
            l.duplicate((o, h), soon, hold),
            (false, false),
            "still held"
        );
        let later = now + hold;
        assert_eq!(l.duplicate((o, h), later, hold), (false, true));
        assert_eq!(l.duplicate((o, h), later, hold), (true, true));
    }

    #[test]
    fn an_idle_origin_s_tree_starts_again_from_the_shared_tree() {
        let now = crate::test_epoch();
        let mut l = Links::default();
        let (o, a, b) = (key(1), key(100), key(101));
        l.touch(o, now);
        l.prune(SHARED, a, now);
        assert!(l.is_eager(&o, &a), "a copy taken before the shared prune");
        l.prune(o, b, now);
        l.touch(o, now + ORIGIN_IDLE - Duration::from_millis(1));
        assert!(!l.is_eager(&o, &b) && l.is_eager(&o, &a), "still its own");
        l.touch(o, now + ORIGIN_IDLE * 2);
        assert!(
            !l.is_eager(&o, &a) && l.is_eager(&o, &b),
            "idle: the shared tree again"
        );
    }

    #[test]
    fn a_fresh_copy_is_reported_and_a_kept_link_is_eager_in_that_copy_only() {
        let now = crate::test_epoch();
        let mut l = Links::default();
        let (o, a) = (key(1), key(100));
        l.prune(SHARED, a, now);
        assert!(l.touch(o, now), "a new origin: copied");
        assert!(!l.touch(o, now), "in use: not copied again");
        l.keep(o, &a, now);
        assert!(l.is_eager(&o, &a) && !l.is_eager(&key(2), &a));
        l.prune(o, a, now);
        assert!(!l.is_eager(&o, &a), "kept without a prune hold");
        assert!(l.touch(o, now + ORIGIN_IDLE), "idle: copied again");
    }

    #[test]
    fn names_are_recorded_per_origin_kept_across_copies_and_freed_with_the_slot() {
        let now = crate::test_epoch();
        let mut l = Links::default();
        let (o, p) = (key(1), key(100));
        l.named(&o, p);
        assert!(!l.has_name(&o, &p), "no tree yet: nothing recorded");
        l.touch(o, now);
        l.named(&o, p);
        assert!(l.has_name(&o, &p) && !l.has_name(&key(2), &p), "per origin");
        assert!(l.touch(o, now + ORIGIN_IDLE), "idle: copied again");
        assert!(l.has_name(&o, &p), "the copy keeps what is known of names");
        l.retain(|k| *k != p);
        l.prune(key(3), p, now);
        assert!(!l.has_name(&o, &p), "a freed slot's peer starts over");
        assert!(!l.has_name(&o, &key(101)), "not slotted yet: not known");
    }

    #[test]
    fn slots_and_origins_are_bounded() {
        let now = crate::test_epoch();
        let mut l = Links::default();
        for i in 0..SLOTS as u16 {
            assert!(l.prune(key(1), key(1000 + i), now));
        }
        assert!(!l.prune(key(1), key(5000), now), "no slot: stays eager");
        assert!(l.is_eager(&key(1), &key(5000)));
        assert!(l.has_name(&key(1), &key(5000)), "no slot: no name sent");
        l.retain(|k| *k != key(1000));
        assert!(
            l.is_eager(&key(1), &key(1000)),
            "a freed slot's link starts eager"
        );
        assert!(l.prune(key(1), key(5000), now), "and its slot is reused");
        for i in 0..ORIGINS as u16 + 10 {
            l.touch(
                key(10_000 + i),
                now + Duration::from_millis(u64::from(i) + 1),
            );
        }
        assert_eq!(l.sizes(), (ORIGINS, SLOTS));
        assert!(
            !l.origins.contains_key(&key(1)),
            "the least recently used gave way"
        );
    }

    #[test]
    fn first_hops_are_bounded_and_newest_wins() {
        let mut l = Links::default();
        l.first_copy(key(9), 1, key(1));
        assert_eq!(l.first_hop(&key(9), 1), Some(key(1)));
        assert_eq!(l.first_hop(&key(9), 2), None);
        for n in 2..=FIRST_MAX as u32 {
            l.first_copy(key(9), n, key(2));
        }
        assert_eq!(l.first_hop(&key(9), 1), Some(key(1)));
        l.first_copy(key(9), 1000, key(3));
        assert_eq!(l.first_hop(&key(9), 1), None, "the oldest gave way");
        assert_eq!(l.first.len(), FIRST_MAX);
    }
}
