//! The ids repair's summaries announce (PROTOCOL.md §6.11), in 16 bytes each.
//!
//! A have filter hashes an item (origin, number) only through its 64-bit [`item_key`]
//! (`w0 ⊕ w1 ⊕ w2 ⊕ w3 ⊕ number`, PROTOCOL.md §3.5, salted afterwards), so keeping that key
//! instead of the 36-byte pair builds bit for bit the same filter for every salt: the
//! summaries on the wire do not change, and no item is lost or added. Two items with equal
//! keys are one to the filter with or without this store; this store adds no collision.
//! The arrival time is kept exactly, as nanoseconds after the first arrival (`u64`: 584
//! years), so expiry and span are those of whole instants. Bounded by count (the caller's
//! `max`) and age (`expire`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::{PublicKey, item_key};

/// One id: its filter key and its arrival in nanoseconds after [`Ids::base`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    key: u64,
    at: u64,
}

/// The recent ids, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    items: VecDeque<Id>,
    /// The stamps' origin: the first arrival's time.
    base: Option<Instant>,
    /// Arrival of the newest id dropped at the count cap: the ids are complete only for what
    /// arrived after it.
    capped: Option<Instant>,
}

impl Ids {
    /// How many are held.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Records (origin, number), arrived at `now`; the oldest gives way at `max` (0 keeps
    /// nothing).
    pub(crate) fn push(&mut self, now: Instant, origin: &PublicKey, number: u32, max: usize) {
        if max == 0 {
            return;
        }
        let at = self.stamp(now);
        while self.items.len() >= max {
            let Some(gone) = self.items.pop_front() else {
                break;
            };
            self.capped = self.instant(gone.at);
        }
        let key = item_key(origin, number);
        self.items.push_back(Id { key, at });
    }

    /// Forgets the ids `ttl` old.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some(at) = self.items.front().and_then(|id| self.instant(id.at)) {
            if now.saturating_duration_since(at) < ttl {
                break;
            }
            self.items.pop_front();
        }
    }

    /// How far back (from `now`) the ids hold everything that arrived, at most `ttl`.
    pub(crate) fn span(&self, now: Instant, ttl: Duration) -> Duration {
        let since = |t: Instant| now.saturating_duration_since(t);
        self.capped.map_or(ttl, |t| since(t).min(ttl))
    }

    /// True if (origin, number) is held (by its filter key: a key shared with another item
    /// counts, as it does in the filter).
    pub(crate) fn holds(&self, origin: &PublicKey, number: u32) -> bool {
        let key = item_key(origin, number);
        self.items.iter().any(|id| id.key == key)
    }

    /// The filter keys, oldest first.
    pub(crate) fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.items.iter().map(|id| id.key)
    }

    /// The stamp of `now`: nanoseconds after the base (the first arrival). A `now` before
    /// the base (the node's clock does not go back) stamps 0.
    fn stamp(&mut self, now: Instant) -> u64 {
        let base = *self.base.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The time stamp `at` stands for (`None` before the first push).
    fn instant(&self, at: u64) -> Option<Instant> {
        self.base?.checked_add(Duration::from_nanos(at))
    }
}

#[cfg(test)]
mod tests;
