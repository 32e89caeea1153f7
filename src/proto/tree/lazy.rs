//! The lazy half's state (PROTOCOL.md §6.12): the ids waiting for the next IHAVE, and the
//! ids announced to us that we miss, each with its GRAFT timer.
//!
//! - **Announce queue**: the (origin, number) of every broadcast we accepted or sent since
//!   the last flush, with the hop it came from, at most [`ANNOUNCE_MAX`] (a full queue is
//!   flushed at once). The flush timer is armed by the first id queued. Ids queued `wide`
//!   (the newest ids, when the group falls silent) make the flush go to every lazy link.
//! - **Wanted**: an id some peer announced that we do not hold, with the announcer and the
//!   instant its GRAFT timer fires. At most [`WANTED_MAX`] in all and [`WANTED_PER_PEER`]
//!   per announcer, so a peer that floods IHAVEs holds at most a quarter of the timers; the
//!   rest are ignored (counted). The first announcer of an id keeps it; the entry goes
//!   when the copy arrives or its timer fires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::{MAX_LAZY_IDS, PublicKey};

/// Most ids waiting for the next IHAVE flush (one full IHAVE).
pub(crate) const ANNOUNCE_MAX: usize = MAX_LAZY_IDS;

/// Most GRAFT timers per group.
pub(crate) const WANTED_MAX: usize = 64;

/// Most GRAFT timers started by one announcer.
pub(crate) const WANTED_PER_PEER: usize = 16;

/// One id waiting for the next IHAVE: (origin, number, the hop it came from, if any).
pub(crate) type Queued = (PublicKey, u32, Option<PublicKey>);

/// Who announced a missing id, and when we graft if the copy has not come.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    pub(crate) from: PublicKey,
    pub(crate) addr: SocketAddr,
    pub(crate) due: Instant,
}

/// What happened to an announced id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// A GRAFT timer started.
    Started,
    /// Someone announced it first: its timer runs already.
    Known,
    /// Over a cap: ignored.
    Full,
}

/// The lazy half of one group.
#[derive(Debug, Clone, Default)]
pub(crate) struct LazyState {
    queue: Vec<Queued>,
    /// True if an id queued since the last flush arrived after a silence: the flush goes
    /// to every lazy link.
    wide: bool,
    flush_at: Option<Instant>,
    wanted: HashMap<(PublicKey, u32), Wanted>,
}

impl LazyState {
    /// Queues an id for the next IHAVE (`wide`: to every lazy link), arming the flush
    /// `interval` from `now`; true when the queue is full (flush it now).
    pub(crate) fn announce(
        &mut self,
        (id, wide): (Queued, bool),
        now: Instant,
        interval: Duration,
    ) -> bool {
        if self.queue.len() < ANNOUNCE_MAX {
            self.queue.push(id);
        }
        self.wide |= wide;
        self.flush_at.get_or_insert(now + interval);
        self.queue.len() >= ANNOUNCE_MAX
    }

    /// The queued ids if the flush is due at `now` (or `force`), emptying the queue, and
    /// whether they go to every lazy link.
    pub(crate) fn take_due(&mut self, now: Instant, force: bool) -> Option<(Vec<Queued>, bool)> {
        if !force && self.flush_at.is_none_or(|t| now < t) {
            return None;
        }
        self.flush_at = None;
        let wide = std::mem::take(&mut self.wide);
        Some((std::mem::take(&mut self.queue), wide))
    }

    /// Starts a GRAFT timer for (origin, number), announced by `from` at `addr`.
    pub(crate) fn want(
        &mut self,
        id: (PublicKey, u32),
        from: (PublicKey, SocketAddr),
        due: Instant,
    ) -> Want {
        if self.wanted.contains_key(&id) {
            return Want::Known;
        }
        let mine = self.wanted.values().filter(|w| w.from == from.0).count();
        if self.wanted.len() >= WANTED_MAX || mine >= WANTED_PER_PEER {
            return Want::Full;
        }
        let (from, addr) = from;
        self.wanted.insert(id, Wanted { from, addr, due });
        Want::Started
    }

    /// The copy of (origin, number) arrived: its timer stops.
    pub(crate) fn arrived(&mut self, origin: PublicKey, number: u32) {
        if !self.wanted.is_empty() {
            self.wanted.remove(&(origin, number));
        }
    }

    /// Removes and returns the timers that fired by `now`, earliest first (then by id: the
    /// map's order is random, and what is sent must not depend on it).
    pub(crate) fn fired(&mut self, now: Instant) -> Vec<((PublicKey, u32), Wanted)> {
        let mut due: Vec<_> = (self.wanted.iter())
            .filter(|(_, w)| w.due <= now)
            .map(|(id, w)| (*id, *w))
            .collect();
        due.sort_unstable_by_key(|(id, w)| (w.due, *id));
        for (id, _) in &due {
            self.wanted.remove(id);
        }
        due
    }

    /// When the next flush or GRAFT timer falls due.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let graft = self.wanted.values().map(|w| w.due).min();
        match (self.flush_at, graft) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// GRAFT timers running.
    #[cfg(test)]
    pub(crate) fn wanted_len(&self) -> usize {
        self.wanted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> PublicKey {
        PublicKey([i; 32])
    }

    const ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        9,
    ));

    #[test]
    fn the_queue_flushes_when_due_or_full() {
        let now = crate::test_epoch();
        let ms = Duration::from_millis;
        let mut l = LazyState::default();
        assert!(!l.announce(((key(1), 1, None), false), now, ms(20)));
        assert!(!l.announce(((key(1), 2, None), true), now + ms(5), ms(20)));
        assert_eq!(
            l.next_timeout(),
            Some(now + ms(20)),
            "armed by the first id"
        );
        assert!(l.take_due(now + ms(19), false).is_none());
        assert_eq!(
            l.take_due(now + ms(20), false)
                .map(|(q, wide)| (q.len(), wide)),
            Some((2, true)),
            "wide if any id is"
        );
        assert_eq!(l.next_timeout(), None);
        for n in 0..ANNOUNCE_MAX as u32 - 1 {
            assert!(!l.announce(((key(2), n, None), false), now, ms(20)));
        }
        assert!(l.announce(((key(2), 99, None), false), now, ms(20)), "full");
        assert!(
            l.announce(((key(2), 100, None), false), now, ms(20)),
            "still full, not grown"
        );
        assert_eq!(
            l.take_due(now, true).map(|(q, wide)| (q.len(), wide)),
            Some((ANNOUNCE_MAX, false))
        );
    }

    #[test]
    fn graft_timers_are_bounded_per_announcer_and_in_all() {
        let now = crate::test_epoch();
        let mut l = LazyState::default();
        for n in 0..WANTED_PER_PEER as u32 {
            assert_eq!(l.want((key(1), n), (key(9), ADDR), now), Want::Started);
        }
        assert_eq!(l.want((key(1), 99), (key(9), ADDR), now), Want::Full);
        assert_eq!(l.want((key(1), 0), (key(8), ADDR), now), Want::Known);
        let mut peer = 10;
        while l.wanted_len() < WANTED_MAX {
            for n in 0..WANTED_PER_PEER as u32 {
                l.want((key(peer), n), (key(peer), ADDR), now);
            }
            peer += 1;
        }
        assert_eq!(l.want((key(200), 0), (key(200), ADDR), now), Want::Full);
        assert_eq!(l.wanted_len(), WANTED_MAX);
    }

    #[test]
    fn a_timer_stops_when_the_copy_arrives_and_fires_once() {
        let now = crate::test_epoch();
        let ms = Duration::from_millis;
        let mut l = LazyState::default();
        l.want((key(1), 1), (key(9), ADDR), now + ms(10));
        l.want((key(1), 2), (key(9), ADDR), now + ms(10));
        l.arrived(key(1), 1);
        assert_eq!(l.next_timeout(), Some(now + ms(10)));
        assert!(l.fired(now + ms(9)).is_empty());
        let fired = l.fired(now + ms(10));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].0, (key(1), 2));
        assert!(l.fired(now + ms(20)).is_empty(), "once");
    }
}
