//! High-water marks: the highest broadcast and direct-message numbers accepted from each
//! origin that outlive its member entry and our own restarts (PROTOCOL.md §6.9).
//!
//! A member's dedup windows live in its member entry, which goes when it quits (3 s later),
//! times out, is kicked or banned, or when we restart. Without more, an origin we hold no
//! window for has its first broadcast accepted at any number, so a copy of an old broadcast
//! re-sent by anyone would be shown again. [`Marks`] keeps, per origin, the top of each
//! window at the moment the entry went (and whatever the application restored after a
//! restart): a number at or below the mark (modulo 2^32, half the space back) is `too_old`,
//! whether or not the origin has a window now.
//!
//! - Written when a member entry is forgotten ([`Marks::raise`]) and on restore
//!   ([`Marks::restore`]); read on every broadcast and direct message ([`Marks::check`]).
//! - Exported with the live windows' tops for the store ([`Marks::export`]).
//! - Bounded by `cap` origins; when full, the mark written longest ago gives way.

use std::collections::BTreeMap;

use super::DropReason;
use crate::wire::PublicKey;

/// The highest numbers accepted from one origin, as stored (0: none known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The origin's key in the group.
    pub origin: PublicKey,
    /// Its highest accepted broadcast number (0: none).
    pub broadcast: u32,
    /// Its highest accepted direct-message number (0: none).
    pub direct: u32,
}

/// Which counter of an origin a number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Broadcast numbers (PROTOCOL.md §6.4).
    Broadcast,
    /// Direct-message numbers (§6.10).
    Direct,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    broadcast: u32,
    direct: u32,
    /// Write order, for eviction at the cap.
    seq: u64,
}

/// The marks of one group, by origin. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Marks {
    map: BTreeMap<PublicKey, Entry>,
    cap: usize,
    seq: u64,
}

/// True if `n` is after `mark` (modulo 2^32); every number is after 0 (no mark).
fn after(n: u32, mark: u32) -> bool {
    mark == 0 || (n.wrapping_sub(mark) as i32) > 0
}

/// The later of two numbers (modulo 2^32), 0 counting as none.
fn later(a: u32, b: u32) -> u32 {
    if after(b, a) { b } else { a }
}

impl Marks {
    /// No marks; at most `cap` origins are remembered.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            map: BTreeMap::new(),
            cap,
            seq: 0,
        }
    }

    /// How many origins have a mark.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// `number` of `origin`'s `counter` is not at or below its mark: `too_old` if it is.
    pub(crate) fn check(
        &self,
        origin: &PublicKey,
        counter: Counter,
        number: u32,
    ) -> Result<(), DropReason> {
        let Some(e) = self.map.get(origin) else {
            return Ok(());
        };
        let mark = match counter {
            Counter::Broadcast => e.broadcast,
            Counter::Direct => e.direct,
        };
        match after(number, mark) {
            true => Ok(()),
            false => Err(DropReason::TooOld),
        }
    }

    /// Raises `m.origin`'s marks to `m`'s numbers (never lowers them).
    pub(crate) fn raise(&mut self, m: Mark) {
        if m.broadcast == 0 && m.direct == 0 {
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        if let Some(e) = self.map.get_mut(&m.origin) {
            e.broadcast = later(e.broadcast, m.broadcast);
            e.direct = later(e.direct, m.direct);
            e.seq = seq;
            return;
        }
        if self.cap == 0 {
            return;
        }
        if self.map.len() >= self.cap {
            self.evict_oldest();
        }
        let (broadcast, direct) = (m.broadcast, m.direct);
        self.map.insert(
            m.origin,
            Entry {
                broadcast,
                direct,
                seq,
            },
        );
    }

    /// Takes marks stored before a restart.
    pub(crate) fn restore(&mut self, marks: &[Mark]) {
        for m in marks {
            self.raise(*m);
        }
    }

    /// Every mark, raised by `live` (the tops of the windows members hold now), for the
    /// store; by origin.
    pub(crate) fn export(&self, live: impl Iterator<Item = Mark>) -> Vec<Mark> {
        let mut all: BTreeMap<PublicKey, (u32, u32)> = self
            .map
            .iter()
            .map(|(k, e)| (*k, (e.broadcast, e.direct)))
            .collect();
        for m in live {
            let e = all.entry(m.origin).or_insert((0, 0));
            *e = (later(e.0, m.broadcast), later(e.1, m.direct));
        }
        all.into_iter()
            .filter(|(_, numbers)| *numbers != (0, 0))
            .map(|(origin, (broadcast, direct))| Mark {
                origin,
                broadcast,
                direct,
            })
            .collect()
    }

    fn evict_oldest(&mut self) {
        let oldest = self.map.iter().min_by_key(|(_, e)| e.seq).map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(b: u8, broadcast: u32, direct: u32) -> Mark {
        Mark {
            origin: PublicKey([b; 32]),
            broadcast,
            direct,
        }
    }

    #[test]
    fn numbers_at_or_below_the_mark_are_too_old_and_marks_never_go_down() {
        let mut m = Marks::new(8);
        let k = PublicKey([1; 32]);
        assert_eq!(m.check(&k, Counter::Broadcast, 5), Ok(()), "no mark yet");
        m.raise(mark(1, 100, 7));
        m.raise(mark(1, 50, 0));
        for n in [1, 99, 100] {
            assert_eq!(m.check(&k, Counter::Broadcast, n), Err(DropReason::TooOld));
        }
        assert_eq!(m.check(&k, Counter::Broadcast, 101), Ok(()));
        assert_eq!(m.check(&k, Counter::Direct, 7), Err(DropReason::TooOld));
        assert_eq!(m.check(&k, Counter::Direct, 8), Ok(()));
        assert_eq!(m.export(std::iter::empty()), [mark(1, 100, 7)]);
    }

    #[test]
    fn marks_compare_across_the_wrap_and_merge_live_tops() {
        let mut m = Marks::new(8);
        m.raise(mark(1, u32::MAX - 1, 0));
        let k = PublicKey([1; 32]);
        assert_eq!(m.check(&k, Counter::Broadcast, 3), Ok(()), "past the wrap");
        assert_eq!(
            m.check(&k, Counter::Broadcast, u32::MAX - 5),
            Err(DropReason::TooOld)
        );
        assert_eq!(m.check(&k, Counter::Direct, 1), Ok(()), "no direct mark");
        let out = m.export([mark(1, 2, 9), mark(2, 4, 0), mark(3, 0, 0)].into_iter());
        assert_eq!(
            out,
            [mark(1, 2, 9), mark(2, 4, 0)],
            "a member with no window has no mark"
        );
    }

    #[test]
    fn the_oldest_mark_gives_way_at_the_cap() {
        let mut m = Marks::new(2);
        m.raise(mark(1, 1, 0));
        m.raise(mark(2, 1, 0));
        m.raise(mark(1, 2, 0));
        m.raise(mark(3, 1, 0));
        assert_eq!(m.len(), 2);
        let kept: Vec<u8> = m
            .export(std::iter::empty())
            .iter()
            .map(|x| x.origin.0[0])
            .collect();
        assert_eq!(kept, [1, 3], "2 was written longest ago");
        m.raise(mark(4, 0, 0));
        assert_eq!(m.len(), 2, "an empty mark is not kept");
    }
}
