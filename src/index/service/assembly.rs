//! Reassembly of fragmented requests and the cache of finished replies, both bounded.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::index::wire::{FRAGMENT_DATA, Fragment};
use crate::wire::PublicKey;

/// A message being put together.
#[derive(Debug)]
struct Assembly {
    buf: Vec<u8>,
    have: Vec<bool>,
    missing: usize,
    started: Instant,
}

/// Messages in reassembly, keyed by (client key, request id); at most `max` at once, each
/// dropped `ttl` after its first fragment.
#[derive(Debug)]
pub(super) struct Assemblies {
    max: usize,
    ttl: Duration,
    open: HashMap<(PublicKey, u64), Assembly>,
}

/// What a fragment did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The message is complete.
    Complete(Vec<u8>),
    /// More fragments are needed.
    Pending,
    /// The fragment does not fit the assembly it names (other count, other length).
    Mismatch,
    /// No room for a new assembly.
    Full,
}

impl Assemblies {
    pub(super) fn new(max: usize, ttl: Duration) -> Self {
        Self {
            max,
            ttl,
            open: HashMap::new(),
        }
    }

    /// Adds one fragment; a single-fragment message completes at once without being stored.
    pub(super) fn add(&mut self, now: Instant, client: PublicKey, f: &Fragment<'_>) -> Step {
        if f.count == 1 {
            return Step::Complete(f.data.to_vec());
        }
        let key = (client, f.request_id);
        if !self.open.contains_key(&key) && !self.make_room(now) {
            return Step::Full;
        }
        let count = usize::from(f.count);
        let a = self.open.entry(key).or_insert_with(|| Assembly {
            buf: vec![0; count * FRAGMENT_DATA],
            have: vec![false; count],
            missing: count,
            started: now,
        });
        if a.have.len() != count {
            return Step::Mismatch;
        }
        let i = usize::from(f.index);
        if !a.have[i] {
            let start = i * FRAGMENT_DATA;
            a.buf[start..start + f.data.len()].copy_from_slice(f.data);
            if i + 1 == count {
                a.buf.truncate(start + f.data.len());
            }
            a.have[i] = true;
            a.missing -= 1;
        }
        if a.missing > 0 {
            return Step::Pending;
        }
        match self.open.remove(&key) {
            Some(done) => Step::Complete(done.buf),
            None => Step::Pending,
        }
    }

    /// Drops expired assemblies; true if there is room for one more.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.open.len() < self.max {
            return true;
        }
        let ttl = self.ttl;
        self.open
            .retain(|_, a| now.saturating_duration_since(a.started) < ttl);
        self.open.len() < self.max
    }

    /// Messages in reassembly.
    pub(super) fn len(&self) -> usize {
        self.open.len()
    }
}

/// Finished replies by (client key, request id), so a retried request gets the same answer
/// without being run twice. Bounded by entries and by bytes.
#[derive(Debug)]
pub(super) struct ReplyCache {
    cache: LruCache<(PublicKey, u64), Vec<u8>>,
    bytes: usize,
    max_bytes: usize,
}

impl ReplyCache {
    pub(super) fn new(entries: usize, max_bytes: usize) -> Self {
        Self {
            cache: LruCache::new(NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN)),
            bytes: 0,
            max_bytes,
        }
    }

    pub(super) fn get(&mut self, client: PublicKey, request_id: u64) -> Option<&Vec<u8>> {
        self.cache.get(&(client, request_id))
    }

    pub(super) fn put(&mut self, client: PublicKey, request_id: u64, message: Vec<u8>) {
        self.bytes += message.len();
        if let Some((_, old)) = self.cache.push((client, request_id), message) {
            self.bytes -= old.len();
        }
        while self.bytes > self.max_bytes {
            match self.cache.pop_lru() {
                Some((_, old)) => self.bytes -= old.len(),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(index: u8, count: u8, data: &[u8]) -> Fragment<'_> {
        Fragment {
            reply: false,
            request_id: 1,
            index,
            count,
            data,
        }
    }

    #[test]
    fn out_of_order_and_duplicate_fragments_assemble_once() {
        let t = crate::test_epoch();
        let mut a = Assemblies::new(2, Duration::from_secs(10));
        let full = vec![7u8; FRAGMENT_DATA];
        let k = PublicKey([1; 32]);
        assert_eq!(a.add(t, k, &frag(1, 2, b"end")), Step::Pending);
        assert_eq!(a.add(t, k, &frag(1, 2, b"end")), Step::Pending);
        let Step::Complete(m) = a.add(t, k, &frag(0, 2, &full)) else {
            panic!("not complete");
        };
        assert_eq!(m.len(), FRAGMENT_DATA + 3);
        assert_eq!(a.len(), 0);
    }

    #[test]
    fn bounded_and_expiring() {
        let t = crate::test_epoch();
        let mut a = Assemblies::new(1, Duration::from_secs(10));
        assert_eq!(
            a.add(t, PublicKey([1; 32]), &frag(0, 3, &[0; FRAGMENT_DATA])),
            Step::Pending
        );
        assert_eq!(
            a.add(t, PublicKey([2; 32]), &frag(0, 3, &[0; FRAGMENT_DATA])),
            Step::Full
        );
        let later = t + Duration::from_secs(11);
        assert_eq!(
            a.add(later, PublicKey([2; 32]), &frag(0, 3, &[0; FRAGMENT_DATA])),
            Step::Pending
        );
        assert_eq!(
            a.add(later, PublicKey([2; 32]), &frag(1, 4, &[0; FRAGMENT_DATA])),
            Step::Mismatch
        );
    }

    #[test]
    fn reply_cache_is_bounded_by_bytes() {
        let mut c = ReplyCache::new(10, 100);
        c.put(PublicKey([1; 32]), 1, vec![0; 60]);
        c.put(PublicKey([1; 32]), 2, vec![0; 60]);
        assert!(c.get(PublicKey([1; 32]), 1).is_none());
        assert!(c.get(PublicKey([1; 32]), 2).is_some());
    }
}
