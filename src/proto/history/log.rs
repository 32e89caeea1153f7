//! The history log of one group (PROTOCOL.md §6.13): the kept broadcasts in the order we
//! stored them, each with a log position (`seq`, the cursor of the wire), bounded by
//! [`HistoryLimits`] (count, age, bytes); the admissions for visibility `joined`; the
//! evictions the store has yet to delete; the numbers shown before a restart.
//!
//! Repair's copy of a text message it kept is read from here (`share`, `copy`) rather than
//! held twice. Should the limits drop such an entry while repair may still re-send it
//! (younger than repair's ttl), its plaintext is moved to a small list of rescued copies,
//! bounded by repair's own count and ttl, so a shared copy is never lost early.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::arena::{Arena, Entry};
use super::{Admission, HistoryLimits, HistoryRecord, age_secs};
use crate::wire::{Broadcast, HistoryVisibility, Payload, PublicKey};

/// Most members whose admission position we remember (for visibility `joined`).
const ADMITTED_MAX: usize = 16_384;

/// Most evictions remembered for the store (`Log::evicted_since`); older ones are lost and
/// their rows stay stored until a restart's limits drop them.
const EVICTED_MAX: usize = 4096;

/// Most restored shown numbers kept per group (the journal's size bounds them too).
pub(crate) const SHOWN_MAX: usize = 16_384;

/// The kept messages of one group.
#[derive(Debug)]
pub(crate) struct Log {
    pub(in crate::proto::history) limits: HistoryLimits,
    /// The kept broadcasts, oldest first (compact: [`Arena`]).
    pub(in crate::proto::history) entries: Arena,
    next_seq: u32,
    /// Log position at which each member was admitted (visibility `joined`).
    admitted: HashMap<PublicKey, u32>,
    /// The (origin, number) of the entries that went (limits), the last being eviction
    /// number `evictions`, for the store to delete their rows.
    evicted: VecDeque<(PublicKey, u32)>,
    evictions: u64,
    /// Numbers shown since the last store before a restart (the marks journal, §6.9), at most
    /// [`SHOWN_MAX`]: a fetch does not show them again.
    shown: HashSet<(PublicKey, u32)>,
    /// Repair's ttl and count of copies (`share`): how long and how many shared entries
    /// that the limits drop are rescued.
    young: (Duration, usize),
    /// Shared entries the limits dropped while younger than `young.0`, oldest first.
    rescued: VecDeque<Rescued>,
}

/// A shared entry the limits dropped early: its plaintext (`[51][broadcast]`).
#[derive(Debug)]
struct Rescued {
    origin: PublicKey,
    number: u32,
    at: Instant,
    plain: Box<[u8]>,
}

impl Log {
    pub(crate) fn new(limits: HistoryLimits) -> Self {
        Self {
            limits,
            entries: Arena::default(),
            next_seq: 1,
            admitted: HashMap::new(),
            evicted: VecDeque::new(),
            evictions: 0,
            shown: HashSet::new(),
            young: (Duration::ZERO, 0),
            rescued: VecDeque::new(),
        }
    }

    pub(crate) fn set_limits(&mut self, limits: HistoryLimits, now: Instant) {
        self.limits = limits;
        self.trim(now);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.entries.bytes()
    }

    pub(crate) fn holds(&self, origin: &PublicKey, number: u32) -> bool {
        self.entries.find(origin, number).is_some()
    }

    /// Takes the numbers shown since the last store (the marks journal at a restart).
    pub(crate) fn restore_shown(&mut self, list: &[(PublicKey, u32)]) {
        let room = SHOWN_MAX.saturating_sub(self.shown.len());
        self.shown.extend(list.iter().copied().take(room));
    }

    /// True if `number` of `origin` was shown before the restart without being stored in
    /// the log.
    pub(crate) fn shown_before(&self, origin: &PublicKey, number: u32) -> bool {
        self.shown.contains(&(*origin, number))
    }

    /// The highest number we hold of `origin` below `number`, if any.
    pub(in crate::proto::history) fn below(&self, origin: &PublicKey, number: u32) -> Option<u32> {
        self.entries.below(origin, number)
    }

    /// Keeps a signed text broadcast stored `age` ago; false if held already or not kept.
    pub(crate) fn push(&mut self, now: Instant, age: Duration, b: &Broadcast<'_>) -> bool {
        if self.limits.max_messages == 0 || age >= self.limits.max_age {
            return false;
        }
        if self.holds(&b.origin, b.number) || b.trailer.is_none() {
            return false;
        }
        let at = now.checked_sub(age).unwrap_or(now);
        if !self.entries.push(self.next_seq, at, b) {
            return false;
        }
        self.next_seq = self.next_seq.saturating_add(1);
        self.trim(now);
        true
    }

    /// Drops the oldest entries beyond the count and byte limits, and those past the age.
    pub(crate) fn trim(&mut self, now: Instant) {
        let max_age = self.limits.max_age;
        let ttl = self.young.0;
        while (self.rescued.front()).is_some_and(|r| now.saturating_duration_since(r.at) >= ttl) {
            self.rescued.pop_front();
        }
        while let Some(front) = self.entries.get(0) {
            let over = self.entries.len() > self.limits.max_messages
                || self.entries.bytes() > self.limits.max_bytes;
            if !over && now.saturating_duration_since(front.at) < max_age {
                break;
            }
            if self.entries.is_shared(0) && now.saturating_duration_since(front.at) < ttl {
                self.rescue_front(front);
            }
            let Some(gone) = self.entries.pop_front() else {
                break;
            };
            self.evictions += 1;
            if self.evicted.len() >= EVICTED_MAX {
                self.evicted.pop_front();
            }
            self.evicted.push_back(gone);
        }
    }

    /// Repair reads its copy of (origin, number) from here from now on (it keeps a copy for
    /// `young`: its ttl and count); false if the entry is not held (repair keeps its own).
    pub(crate) fn share(
        &mut self,
        origin: &PublicKey,
        number: u32,
        young: (Duration, usize),
    ) -> bool {
        let Some(seq) = self.entries.find(origin, number) else {
            return false;
        };
        self.young = young;
        young.1 > 0 && self.entries.mark_shared(self.entries.first_from(seq))
    }

    /// The plaintext (`[51][broadcast]`) of (origin, number), held or rescued.
    pub(crate) fn copy(&self, origin: &PublicKey, number: u32) -> Option<Vec<u8>> {
        if let Some(seq) = self.entries.find(origin, number) {
            let mut plain = Vec::new();
            let b = self.entries.broadcast(self.entries.first_from(seq))?;
            Payload::Broadcast(b).encode(&mut plain).ok()?;
            return Some(plain);
        }
        (self.rescued.iter())
            .find(|r| r.number == number && r.origin == *origin)
            .map(|r| r.plain.to_vec())
    }

    /// Shared copies rescued now (tests).
    #[cfg(test)]
    pub(crate) fn rescued(&self) -> usize {
        self.rescued.len()
    }

    /// Keeps the plaintext of the oldest entry (`front`, shared) that the limits drop now.
    fn rescue_front(&mut self, front: Entry) {
        let mut plain = Vec::new();
        let Some(b) = self.entries.broadcast(0) else {
            return;
        };
        if Payload::Broadcast(b).encode(&mut plain).is_err() || self.young.1 == 0 {
            return;
        }
        while self.rescued.len() >= self.young.1 {
            self.rescued.pop_front();
        }
        self.rescued.push_back(Rescued {
            origin: front.origin,
            number: front.number,
            at: front.at,
            plain: plain.into_boxed_slice(),
        });
    }

    /// Records that `key` became a member now: with visibility `joined` it is served only
    /// what is stored from here on. The first admission counts.
    pub(crate) fn admit(&mut self, key: PublicKey) {
        if self.admitted.len() >= ADMITTED_MAX && !self.admitted.contains_key(&key) {
            // Forget the earliest admissions: they are served from further back anyway.
            let cut = self.admitted.values().copied().min().unwrap_or(0);
            self.admitted.retain(|_, s| *s > cut);
        }
        let seq = self.next_seq;
        self.admitted.entry(key).or_insert(seq);
    }

    /// Every admission (visibility `joined`) for the store: the member and the first entry
    /// it may see (`None`: none held yet, only what comes next). Positions are renumbered
    /// by a restart; the entries are not.
    pub(crate) fn admissions(&self) -> Vec<Admission> {
        (self.admitted.iter())
            .map(|(key, seq)| {
                let first = self.entries.first_from(*seq);
                let from = self.entries.get(first).map(|e| (e.origin, e.number));
                Admission { key: *key, from }
            })
            .collect()
    }

    /// Takes back stored admissions (after the log was restored): a member sees from its
    /// entry on; if that entry is not held (any more), only what comes next, which shows
    /// less, never more. An admission made since counts.
    pub(crate) fn restore_admissions(&mut self, list: &[Admission]) {
        for a in list.iter().take(ADMITTED_MAX) {
            let held = a.from.and_then(|(o, n)| self.entries.find(&o, n));
            let seq = held.unwrap_or(self.next_seq);
            self.admitted.entry(a.key).or_insert(seq);
        }
    }

    /// Where `key`'s view of the log starts under `visibility`; `None`: it sees nothing.
    pub(in crate::proto::history) fn start_for(
        &self,
        key: &PublicKey,
        visibility: HistoryVisibility,
    ) -> Option<u32> {
        match visibility {
            HistoryVisibility::Shared => Some(0),
            HistoryVisibility::Joined => self.admitted.get(key).copied(),
        }
    }

    /// The (origin, number) of the entries that went after eviction `after` (the count
    /// [`Self::evictions`] gave), and the count now.
    pub(crate) fn evicted_since(&self, after: u64) -> (Vec<(PublicKey, u32)>, u64) {
        // The remembered ones are evictions `first ..= self.evictions`.
        let first = self.evictions + 1 - self.evicted.len() as u64;
        let skip = usize::try_from((after + 1).saturating_sub(first)).unwrap_or(usize::MAX);
        let gone = self.evicted.iter().skip(skip).copied().collect();
        (gone, self.evictions)
    }

    /// The position of the newest entry (0: none yet).
    pub(crate) fn last_seq(&self) -> u32 {
        self.next_seq - 1
    }

    /// The position the next entry gets.
    pub(in crate::proto::history) fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Records with a position after `after`, oldest first, with their ages at `now`.
    pub(crate) fn since(&self, after: u32, now: Instant) -> Vec<HistoryRecord> {
        let first = self.entries.first_from(after.saturating_add(1));
        let first = match after {
            u32::MAX => self.entries.len(),
            _ => first,
        };
        (first..self.entries.len())
            .filter_map(|i| {
                let e: Entry = self.entries.get(i)?;
                let mut plain = Vec::new();
                Payload::Broadcast(self.entries.broadcast(i)?)
                    .encode(&mut plain)
                    .ok()?;
                Some(HistoryRecord {
                    seq: e.seq,
                    age_secs: age_secs(now, e.at),
                    origin: e.origin,
                    number: e.number,
                    plain,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
