//! In-links (PROTOCOL.md §6.1, §6.4): validated peers that keep *us* in their table and send
//! us keep-alives. Relays go to them too, so every link of the overlay carries broadcasts
//! both ways. Bounded by `Config::max_in_links`; when full, the stalest link gives way, but
//! one that flagged us as part of its close set (the low bit of its ping id) only when no
//! other is left: those are the links a relay must always serve.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::PublicKey;

/// One in-link: where it is, when it last asked, whether it counts us in its close set.
#[derive(Debug, Clone, Copy)]
struct Link {
    addr: SocketAddr,
    last: Instant,
    close: bool,
}

/// The in-links of one group.
#[derive(Debug, Clone, Default)]
pub(crate) struct InLinks(BTreeMap<PublicKey, Link>);

impl InLinks {
    /// Records that validated `key` at `addr` asked us for nodes at `now`; at most `cap`.
    pub(crate) fn note(
        &mut self,
        key: PublicKey,
        addr: SocketAddr,
        (now, close): (Instant, bool),
        cap: usize,
    ) {
        if !self.0.contains_key(&key) && self.0.len() >= cap {
            let stalest = self
                .0
                .iter()
                .min_by_key(|(_, l)| (l.close, l.last))
                .map(|(k, _)| *k);
            if let Some(k) = stalest {
                self.0.remove(&k);
            }
        }
        self.0.insert(
            key,
            Link {
                addr,
                last: now,
                close,
            },
        );
    }

    /// The links that asked less than `fresh` before `now`.
    pub(crate) fn fresh(
        &self,
        now: Instant,
        fresh: Duration,
    ) -> impl Iterator<Item = (PublicKey, SocketAddr)> + '_ {
        self.0
            .iter()
            .filter(move |(_, l)| now.saturating_duration_since(l.last) < fresh)
            .map(|(k, l)| (*k, l.addr))
    }

    /// Forgets the links that have not asked for `fresh`.
    pub(crate) fn expire(&mut self, now: Instant, fresh: Duration) {
        self.0
            .retain(|_, l| now.saturating_duration_since(l.last) < fresh);
    }

    /// The address of `key`'s link, if it has one.
    pub(crate) fn addr(&self, key: &PublicKey) -> Option<SocketAddr> {
        self.0.get(key).map(|l| l.addr)
    }

    /// Forgets `key`'s link.
    pub(crate) fn remove(&mut self, key: &PublicKey) {
        self.0.remove(key);
    }

    /// How many links are kept.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stalest_link_without_the_close_flag_gives_way() {
        let t0 = crate::test_epoch();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let mut links = InLinks::default();
        links.note(PublicKey([1; 32]), addr, (at(0), true), 2);
        links.note(PublicKey([2; 32]), addr, (at(1), false), 2);
        links.note(PublicKey([3; 32]), addr, (at(2), false), 2);
        assert!(links.addr(&PublicKey([1; 32])).is_some(), "close link kept");
        assert!(links.addr(&PublicKey([2; 32])).is_none());
        assert_eq!(links.fresh(at(31), Duration::from_secs(30)).count(), 1);
        links.expire(at(31), Duration::from_secs(30));
        assert_eq!(links.len(), 1);
    }
}
