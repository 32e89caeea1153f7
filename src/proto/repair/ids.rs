//! The ids repair's summaries announce (PROTOCOL.md §6.11), in 12 bytes each.
//!
//! A have filter hashes an item (origin, number) only through its 64-bit [`item_key`]
//! (`w0 ⊕ w1 ⊕ w2 ⊕ w3 ⊕ number`, PROTOCOL.md §3.5, salted afterwards), so keeping that key
//! instead of the 36-byte pair builds bit for bit the same filter for every salt: the
//! summaries on the wire do not change, and no item is lost or added. Two items with equal
//! keys are one to the filter with or without this store (see the appendix of
//! PROTOCOL.md §6.11 on collisions); this store adds none. The arrival time is kept as
//! milliseconds after `base`, rounded up, so an id is kept at most 1 ms longer than its ttl
//! and the span it backs is at most 1 ms shorter: a summary never claims less than it did.
//! Bounded by count (the caller's `max`) and age (`expire`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::{PublicKey, item_key};

/// Stamps are rebased once `now` is this many milliseconds past the base (≈ 24.9 days).
const REBASE_MS: u64 = 1 << 31;

/// A rebase puts the base this far before `now` (≈ 12.4 days): older stamps are clamped to
/// it, so they still look far older than any ttl.
const KEEP_MS: u64 = 1 << 30;

/// One id: its filter key as two halves (the struct stays at 4-byte alignment, 12 bytes) and
/// its arrival in milliseconds after [`Ids::base`], rounded up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    key: [u32; 2],
    at: u32,
}

impl Id {
    fn key(&self) -> u64 {
        u64::from(self.key[0]) | (u64::from(self.key[1]) << 32)
    }
}

/// The recent ids, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    items: VecDeque<Id>,
    /// The stamps' origin: the first arrival's time (moved forward by a rebase).
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
        let key = [key as u32, (key >> 32) as u32];
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

    /// The filter keys, oldest first.
    pub(crate) fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.items.iter().map(Id::key)
    }

    /// The stamp of `now`: milliseconds after the base, rounded up; rebases first when
    /// `now` is [`REBASE_MS`] past it. A `now` before the base (the node's clock does not go
    /// back) stamps 0.
    fn stamp(&mut self, now: Instant) -> u32 {
        let base = *self.base.get_or_insert(now);
        if millis_ceil(now.saturating_duration_since(base)) >= REBASE_MS {
            self.rebase(now);
        }
        let base = self.base.unwrap_or(now);
        u32::try_from(millis_ceil(now.saturating_duration_since(base))).unwrap_or(u32::MAX)
    }

    /// Moves the base to [`KEEP_MS`] before `now`; older stamps are clamped to it.
    fn rebase(&mut self, now: Instant) {
        let Some(old) = self.base else {
            return;
        };
        let new = now
            .checked_sub(Duration::from_millis(KEEP_MS))
            .unwrap_or(old)
            .max(old);
        let shift = millis_ceil(new.saturating_duration_since(old));
        for id in &mut self.items {
            id.at = u32::try_from(u64::from(id.at).saturating_sub(shift)).unwrap_or(0);
        }
        self.base = Some(old + Duration::from_millis(shift));
    }

    /// The time stamp `at` stands for (`None` before the first push).
    fn instant(&self, at: u32) -> Option<Instant> {
        Some(self.base? + Duration::from_millis(u64::from(at)))
    }
}

/// Whole milliseconds of `d`, rounded up.
fn millis_ceil(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
