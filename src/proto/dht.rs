//! The DHT table of one group: the peers we relay to (PROTOCOL.md §6.1).
//!
//! - A **close set**: the `close_size` peers whose keys are XOR-closest to ours (the 2014 close
//!   list), so neighbourhoods are tight and every member is someone's close peer.
//! - **Buckets**: besides those, up to `bucket_size` peers per Kademlia bucket (by the length
//!   of the common prefix with our key), so the overlay has O(log N) diameter.
//! - At most `max_per_ip` entries share one IP address.
//!
//! Only peers whose address was proven by a get_nodes/send_nodes round trip that we started
//! are inserted (the caller enforces it). Iteration order is deterministic.

use std::net::SocketAddr;
use std::time::Instant;

use crate::wire::{NodeInfo, PublicKey};

/// One table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The peer's key.
    pub key: PublicKey,
    /// Its proven address.
    pub addr: SocketAddr,
    /// Last send_nodes answer from it (round-trip proof of liveness).
    pub last_pong: Instant,
    /// Last keep-alive get_nodes we sent it.
    pub last_ping: Instant,
}

/// Outcome of [`Table::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// The peer is new in the table.
    Added,
    /// The peer was there; liveness (and address) refreshed.
    Refreshed,
    /// No room for it.
    Rejected,
}

/// The DHT table. See the module docs.
///
/// All entries live in one vector sorted by XOR distance to our key: the first `close_size`
/// are the close set, and since a bucket is a range of distances, each bucket's entries are
/// contiguous after it. Tables hold tens of entries, so linear scans are cheap.
#[derive(Debug, Clone)]
pub struct Table {
    own: PublicKey,
    close_size: usize,
    bucket_size: usize,
    max_per_ip: usize,
    /// Sorted by distance to `own`, closest first.
    entries: Vec<Entry>,
}

/// XOR distance between two keys, comparable as a big-endian number.
pub fn distance(a: &PublicKey, b: &PublicKey) -> [u8; 32] {
    std::array::from_fn(|i| a.0[i] ^ b.0[i])
}

/// Number of leading bits `a` and `b` share; `None` when they are equal.
pub fn common_prefix(a: &PublicKey, b: &PublicKey) -> Option<usize> {
    let d = distance(a, b);
    let i = d.iter().position(|&x| x != 0)?;
    Some(i * 8 + d[i].leading_zeros() as usize)
}

impl Table {
    /// An empty table for our key.
    pub fn new(own: PublicKey, close_size: usize, bucket_size: usize, max_per_ip: usize) -> Self {
        Self {
            own,
            close_size,
            bucket_size,
            max_per_ip,
            entries: Vec::new(),
        }
    }

    /// All entries, closest to us first.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Mutable access to every entry (for keep-alive bookkeeping).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.entries.iter_mut()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Number of entries in the close set (the first `close_size` entries).
    pub fn close_len(&self) -> usize {
        self.close_size.min(self.entries.len())
    }

    /// True if `key` is in the close set.
    pub fn is_close(&self, key: &PublicKey) -> bool {
        self.entries
            .iter()
            .take(self.close_size)
            .any(|e| e.key == *key)
    }

    /// True if the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `key`.
    pub fn get(&self, key: &PublicKey) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == *key)
    }

    /// The entry for `key`, mutable.
    pub fn get_mut(&mut self, key: &PublicKey) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.key == *key)
    }

    /// True if `key` is in the table.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.get(key).is_some()
    }

    /// Would [`Self::insert`] take this peer? Changes nothing.
    pub fn would_accept(&self, key: &PublicKey, addr: &SocketAddr) -> bool {
        if *key == self.own {
            return false;
        }
        if self.contains(key) {
            return true;
        }
        if self.count_ip(addr) >= self.max_per_ip {
            return false;
        }
        let at = self.position(key);
        at < self.close_size || self.bucket_count(key) < self.bucket_size
    }

    /// Inserts or refreshes a peer whose address was just proven.
    pub fn insert(&mut self, key: PublicKey, addr: SocketAddr, now: Instant) -> Insert {
        if let Some(e) = self.get_mut(&key) {
            e.addr = addr;
            e.last_pong = now;
            return Insert::Refreshed;
        }
        if !self.would_accept(&key, &addr) {
            return Insert::Rejected;
        }
        let at = self.position(&key);
        let entry = Entry {
            key,
            addr,
            last_pong: now,
            last_ping: now,
        };
        self.entries.insert(at, entry);
        if at < self.close_size {
            self.demote_overflow();
        }
        Insert::Added
    }

    /// Removes a peer.
    pub fn remove(&mut self, key: &PublicKey) -> Option<Entry> {
        let i = self.entries.iter().position(|e| e.key == *key)?;
        Some(self.entries.remove(i))
    }

    /// Up to `n` entries closest to `target`, excluding `target` itself.
    pub fn closest_to(&self, target: &PublicKey, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<(&Entry, [u8; 32])> = self
            .entries
            .iter()
            .filter(|e| e.key != *target)
            .map(|e| (e, distance(&e.key, target)))
            .collect();
        all.sort_unstable_by_key(|a| a.1);
        all.iter()
            .take(n)
            .map(|(e, _)| NodeInfo {
                key: e.key,
                addr: e.addr,
            })
            .collect()
    }

    /// Index where `key` goes in distance order.
    fn position(&self, key: &PublicKey) -> usize {
        let d = distance(key, &self.own);
        self.entries
            .partition_point(|e| distance(&e.key, &self.own) < d)
    }

    /// Entries outside the close set that share `key`'s bucket.
    fn bucket_count(&self, key: &PublicKey) -> usize {
        let bucket = common_prefix(&self.own, key);
        self.entries
            .iter()
            .skip(self.close_size)
            .filter(|e| common_prefix(&self.own, &e.key) == bucket)
            .count()
    }

    /// After an insert into the close set, the entry pushed out of it keeps a place only if
    /// its bucket has room.
    fn demote_overflow(&mut self) {
        let Some(pushed) = self.entries.get(self.close_size).map(|e| e.key) else {
            return;
        };
        if self.bucket_count(&pushed) > self.bucket_size {
            self.entries.remove(self.close_size);
        }
    }

    fn count_ip(&self, addr: &SocketAddr) -> usize {
        self.entries
            .iter()
            .filter(|e| e.addr.ip() == addr.ip())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(first: u8, last: u8) -> PublicKey {
        let mut k = [0u8; 32];
        k[0] = first;
        k[31] = last;
        PublicKey(k)
    }

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 1, i], 4000))
    }

    fn now() -> Instant {
        crate::test_epoch()
    }

    #[test]
    fn close_set_keeps_the_closest() {
        let t0 = now();
        let mut t = Table::new(key(0, 0), 2, 0, 2);
        assert_eq!(t.insert(key(0, 9), addr(9), t0), Insert::Added);
        assert_eq!(t.insert(key(0, 5), addr(5), t0), Insert::Added);
        assert_eq!(t.insert(key(0, 1), addr(1), t0), Insert::Added);
        let keys: Vec<_> = t.iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [key(0, 1), key(0, 5)],
            "farthest dropped, bucket size 0"
        );
        assert_eq!(t.insert(key(0, 20), addr(20), t0), Insert::Rejected);
    }

    #[test]
    fn buckets_spread_over_the_key_space() {
        let t0 = now();
        let mut t = Table::new(key(0, 0), 1, 1, 8);
        t.insert(key(0, 1), addr(1), t0);
        t.insert(key(0x80, 0), addr(2), t0);
        t.insert(key(0x81, 0), addr(3), t0);
        t.insert(key(0x40, 0), addr(4), t0);
        let keys: Vec<_> = t.iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [key(0, 1), key(0x40, 0), key(0x80, 0)],
            "distance order"
        );
        assert!(!t.would_accept(&key(0x90, 0), &addr(5)), "bucket 0 is full");
        assert!(!t.would_accept(&key(0, 0), &addr(6)), "never ourselves");
    }

    #[test]
    fn per_ip_cap() {
        let t0 = now();
        let mut t = Table::new(key(0, 0), 6, 2, 2);
        let same_ip = |p| SocketAddr::from(([127, 0, 0, 9], p));
        assert_eq!(t.insert(key(0, 1), same_ip(1), t0), Insert::Added);
        assert_eq!(t.insert(key(0, 2), same_ip(2), t0), Insert::Added);
        assert_eq!(t.insert(key(0, 3), same_ip(3), t0), Insert::Rejected);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn closest_to_sorts_by_xor_and_excludes_target() {
        let t0 = now();
        let mut t = Table::new(key(0, 0), 6, 2, 8);
        for i in 1..=6 {
            t.insert(key(0, i), addr(i), t0);
        }
        let got: Vec<_> = t.closest_to(&key(0, 4), 3).iter().map(|n| n.key).collect();
        assert_eq!(got, [key(0, 5), key(0, 6), key(0, 1)]);
    }

    #[test]
    fn remove_and_refresh() {
        let t0 = now();
        let mut t = Table::new(key(0, 0), 1, 1, 8);
        t.insert(key(0, 1), addr(1), t0);
        t.insert(key(0x80, 1), addr(2), t0);
        assert_eq!(t.insert(key(0x80, 1), addr(3), t0), Insert::Refreshed);
        assert_eq!(t.get(&key(0x80, 1)).unwrap().addr, addr(3));
        assert!(t.remove(&key(0x80, 1)).is_some());
        assert!(t.remove(&key(0, 1)).is_some());
        assert!(t.is_empty());
    }
}
