//! The kept broadcasts of one group in a compact layout (PROTOCOL.md §6.13 keeps them; this is
//! only how they sit in memory): the records live in byte pages of [`PAGE`] bytes, written
//! one after the other and freed whole once their last entry went (the log drops its oldest
//! first); each entry has a 28-byte [`Meta`] in a ring; each origin (key and the signer of its
//! first entry) is held once, in a slot with its numbers in order.
//!
//! A record is `[message id][body][signer, only if not the slot's][signature]`: the origin,
//! the number and the inner id are not repeated per message, so a 200-byte chat text takes
//! 265 bytes instead of a 334-byte plaintext in its own allocation plus a 72-byte entry.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::SignatureTrailer;
use crate::wire::{BROADCAST_HEADER_LEN, Broadcast, KEY_LEN, PublicKey, SIGNATURE_LEN};

/// Bytes of one page; a record never spans two.
pub(super) const PAGE: usize = 8 * 1024;

/// Flag in [`Meta::len`]: the record carries its own signer (not its slot's).
const OWN_SIGNER: u16 = 0x8000;

/// Flag in [`Meta::len`]: repair reads its copy of this entry from here (`Log::share`).
const SHARED: u16 = 0x4000;

/// The length bits of [`Meta::len`] (a record is at most [`PAGE`] bytes).
const LEN: u16 = 0x3FFF;

/// One entry's place and facts, in the ring.
#[derive(Debug, Clone, Copy)]
struct Meta {
    seq: u32,
    number: u32,
    /// The origin's slot.
    slot: u32,
    /// The page's number (its index plus `Arena::first_page`, wrapping).
    page: u32,
    off: u16,
    /// The record's length, with [`OWN_SIGNER`] and [`SHARED`].
    len: u16,
    /// When it was stored: nanoseconds from `Arena::base`, `i64` little-endian (keeps the
    /// struct at 4-byte alignment, 28 bytes).
    at: [u8; 8],
}

/// One origin: its key, the signer of the entry that opened the slot, and number → seq of
/// what we hold, in number order.
#[derive(Debug)]
struct Slot {
    key: PublicKey,
    signer: [u8; KEY_LEN],
    index: VecDeque<(u32, u32)>,
}

/// One kept entry, as the server, the fetch and the store read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its log position.
    pub seq: u32,
    /// When it was stored (for a fetched or restored one: now minus its age).
    pub at: Instant,
    /// Its author.
    pub origin: PublicKey,
    /// The author's number.
    pub number: u32,
}

/// The kept broadcasts, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    metas: VecDeque<Meta>,
    pages: VecDeque<Vec<u8>>,
    first_page: u32,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_key: HashMap<PublicKey, u32>,
    /// The time stamps' origin: the first stored entry's time.
    base: Option<Instant>,
    /// Sum of the entries' plaintext lengths (`[51][broadcast]`), as the limits count them.
    bytes: usize,
}

impl Arena {
    pub(crate) fn len(&self) -> usize {
        self.metas.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Pages held now (each at most [`PAGE`] bytes).
    #[cfg(test)]
    pub(super) fn pages(&self) -> usize {
        self.pages.len()
    }

    /// Origin slots in use or free now.
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The seq of `number` of `origin`, if we hold it.
    pub(crate) fn find(&self, origin: &PublicKey, number: u32) -> Option<u32> {
        let index = &self.slot_of(origin)?.index;
        let i = index.partition_point(|(n, _)| *n < number);
        index.get(i).filter(|(n, _)| *n == number).map(|(_, s)| *s)
    }

    /// The highest number we hold of `origin` below `number`, if any.
    pub(crate) fn below(&self, origin: &PublicKey, number: u32) -> Option<u32> {
        let index = &self.slot_of(origin)?.index;
        let i = index.partition_point(|(n, _)| *n < number);
        i.checked_sub(1).and_then(|i| index.get(i)).map(|(n, _)| *n)
    }

    /// The highest number of `origin` below `number` whose seq is at least `view_from`
    /// (0: none), the `prev` a server writes.
    pub(crate) fn prev_visible(&self, origin: &PublicKey, number: u32, view_from: u32) -> u32 {
        let Some(slot) = self.slot_of(origin) else {
            return 0;
        };
        let i = slot.index.partition_point(|(n, _)| *n < number);
        (slot.index.range(..i).rev())
            .find(|(_, seq)| *seq >= view_from)
            .map_or(0, |(n, _)| *n)
    }

    fn slot_of(&self, origin: &PublicKey) -> Option<&Slot> {
        self.slots.get(*self.by_key.get(origin)? as usize)
    }

    /// The index of the first entry whose seq is at least `seq`.
    pub(crate) fn first_from(&self, seq: u32) -> usize {
        self.metas.partition_point(|m| m.seq < seq)
    }

    pub(crate) fn get(&self, i: usize) -> Option<Entry> {
        let m = self.metas.get(i)?;
        Some(Entry {
            seq: m.seq,
            at: instant(self.base?, m.at),
            origin: self.slots.get(m.slot as usize)?.key,
            number: m.number,
        })
    }

    pub(crate) fn back(&self) -> Option<Entry> {
        self.get(self.metas.len().checked_sub(1)?)
    }

    /// The signed broadcast of entry `i`, borrowed from its page.
    pub(crate) fn broadcast(&self, i: usize) -> Option<Broadcast<'_>> {
        let m = self.metas.get(i)?;
        let slot = self.slots.get(m.slot as usize)?;
        let page = self
            .pages
            .get(m.page.wrapping_sub(self.first_page) as usize)?;
        let len = usize::from(m.len & LEN);
        let rec = page.get(usize::from(m.off)..usize::from(m.off) + len)?;
        let (head, signature) = rec.split_at_checked(len.checked_sub(SIGNATURE_LEN)?)?;
        let (head, signer) = match m.len & OWN_SIGNER != 0 {
            true => {
                let (h, s) = head.split_at_checked(head.len().checked_sub(KEY_LEN)?)?;
                (h, s.try_into().ok()?)
            }
            false => (head, slot.signer),
        };
        let (&message_id, body) = head.split_first()?;
        Some(Broadcast {
            origin: slot.key,
            number: m.number,
            message_id,
            body,
            trailer: Some(SignatureTrailer {
                signer,
                signature: signature.try_into().ok()?,
            }),
        })
    }

    /// Keeps signed broadcast `b` at position `seq`, stored at `at`; false if it is not
    /// signed or too long for a page (no valid broadcast is). The caller checks it is not
    /// held yet.
    pub(crate) fn push(&mut self, seq: u32, at: Instant, b: &Broadcast<'_>) -> bool {
        let Some(t) = b.trailer else {
            return false;
        };
        let held = self.by_key.get(&b.origin).copied();
        let own = held.is_some_and(|s| self.slots[s as usize].signer != t.signer);
        let len = 1 + b.body.len() + SIGNATURE_LEN + usize::from(own) * KEY_LEN;
        let Some(len16) = u16::try_from(len).ok().filter(|_| len <= PAGE) else {
            return false;
        };
        let slot = held.unwrap_or_else(|| self.open_slot(b.origin, t.signer));
        let (page, off) = self.room(len);
        let Some(last) = self.pages.back_mut() else {
            return false;
        };
        last.push(b.message_id);
        last.extend_from_slice(b.body);
        if own {
            last.extend_from_slice(&t.signer);
        }
        last.extend_from_slice(&t.signature);
        let index = &mut self.slots[slot as usize].index;
        let i = index.partition_point(|(n, _)| *n < b.number);
        index.insert(i, (b.number, seq));
        let at = self.stamp(at);
        self.metas.push_back(Meta {
            seq,
            number: b.number,
            slot,
            page,
            off,
            len: len16 | (u16::from(own) * OWN_SIGNER),
            at,
        });
        self.bytes += plain_len(len, own);
        true
    }

    /// Marks entry `i` as the copy repair reads (`Log::share`); false if there is none.
    pub(crate) fn mark_shared(&mut self, i: usize) -> bool {
        self.metas.get_mut(i).map(|m| m.len |= SHARED).is_some()
    }

    /// True if entry `i` is marked by [`Self::mark_shared`].
    pub(crate) fn is_shared(&self, i: usize) -> bool {
        self.metas.get(i).is_some_and(|m| m.len & SHARED != 0)
    }

    /// Drops the oldest entry; returns its origin and number.
    pub(crate) fn pop_front(&mut self) -> Option<(PublicKey, u32)> {
        let m = self.metas.pop_front()?;
        let own = m.len & OWN_SIGNER != 0;
        self.bytes -= plain_len(usize::from(m.len & LEN), own);
        let slot = &mut self.slots[m.slot as usize];
        let key = slot.key;
        let i = slot.index.partition_point(|(n, _)| *n < m.number);
        if slot.index.get(i).is_some_and(|(n, _)| *n == m.number) {
            slot.index.remove(i);
        }
        if slot.index.is_empty() {
            slot.index = VecDeque::new();
            self.by_key.remove(&key);
            self.free.push(m.slot);
        }
        match self.metas.front().map(|f| f.page) {
            Some(front) => {
                while self.first_page != front && self.pages.pop_front().is_some() {
                    self.first_page = self.first_page.wrapping_add(1);
                }
            }
            None => {
                self.pages.clear();
                self.first_page = 0;
            }
        }
        Some((key, m.number))
    }

    fn open_slot(&mut self, key: PublicKey, signer: [u8; KEY_LEN]) -> u32 {
        let slot = Slot {
            key,
            signer,
            index: VecDeque::new(),
        };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = slot;
                s
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_key.insert(key, s);
        s
    }

    /// The page and offset where a record of `len` bytes goes; the last page grows (by
    /// doubling, up to [`PAGE`]) or a new one opens.
    fn room(&mut self, len: usize) -> (u32, u16) {
        let fits = self.pages.back().is_some_and(|p| p.len() + len <= PAGE);
        if !fits {
            let cap = if self.pages.is_empty() { 0 } else { PAGE };
            self.pages.push_back(Vec::with_capacity(cap));
        }
        let number = (self.first_page).wrapping_add(self.pages.len() as u32 - 1);
        let Some(last) = self.pages.back_mut() else {
            return (number, 0);
        };
        if last.capacity() < last.len() + len {
            let want = (last.capacity() * 2).max(last.len() + len).min(PAGE);
            last.reserve_exact(want - last.len());
        }
        (number, last.len() as u16)
    }

    fn stamp(&mut self, at: Instant) -> [u8; 8] {
        let base = *self.base.get_or_insert(at);
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let off = match at.checked_duration_since(base) {
            Some(d) => nanos(d),
            None => -nanos(base.saturating_duration_since(at)),
        };
        off.to_le_bytes()
    }
}

/// The plaintext length (`[51][broadcast]`) of a record of `len` bytes.
fn plain_len(len: usize, own_signer: bool) -> usize {
    let signer = usize::from(!own_signer) * KEY_LEN;
    1 + len + (BROADCAST_HEADER_LEN - 1) + signer
}

/// The time `at` stamps, from `base`.
fn instant(base: Instant, at: [u8; 8]) -> Instant {
    let off = i64::from_le_bytes(at);
    let d = Duration::from_nanos(off.unsigned_abs());
    match off >= 0 {
        true => base.checked_add(d).unwrap_or(base),
        false => base.checked_sub(d).unwrap_or(base),
    }
}

#[cfg(test)]
mod tests;
