//! Token buckets keyed by IP address or username, in a bounded LRU (sans-IO: `now` is passed
//! in). A key that falls out of the LRU starts again with a full bucket, so the table's size
//! bounds memory, and its capacity should exceed the number of active keys.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

/// A bucket's shape: `burst` tokens, one more every `refill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) burst: u32,
    pub(crate) refill: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    last: Instant,
}

/// Buckets for up to `capacity` keys.
#[derive(Debug)]
pub(crate) struct RateTable<K: Hash + Eq> {
    rate: Rate,
    buckets: LruCache<K, Bucket>,
}

impl<K: Hash + Eq> RateTable<K> {
    pub(crate) fn new(rate: Rate, capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            rate,
            buckets: LruCache::new(capacity),
        }
    }

    fn refilled(&mut self, key: K, now: Instant) -> &mut Bucket {
        let rate = self.rate;
        let b = self.buckets.get_or_insert_mut(key, || Bucket {
            tokens: rate.burst,
            last: now,
        });
        let refill = rate.refill.as_nanos().max(1);
        let gained = now.saturating_duration_since(b.last).as_nanos() / refill;
        if gained > 0 {
            let gained = u32::try_from(gained).unwrap_or(u32::MAX);
            b.tokens = b.tokens.saturating_add(gained).min(rate.burst);
            // Whole refill periods consumed; a partial one carries over.
            b.last += rate.refill * gained.min(rate.burst.max(1));
            if b.tokens == rate.burst {
                b.last = now;
            }
        }
        b
    }

    /// True (and one token spent) if the key has a token left.
    pub(crate) fn take(&mut self, key: K, now: Instant) -> bool {
        let b = self.refilled(key, now);
        if b.tokens == 0 {
            return false;
        }
        b.tokens -= 1;
        true
    }

    /// True if the key has a token left; spends nothing.
    pub(crate) fn has(&mut self, key: K, now: Instant) -> bool {
        self.refilled(key, now).tokens > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = crate::test_epoch();
        let mut t = RateTable::new(
            Rate {
                burst: 2,
                refill: Duration::from_secs(10),
            },
            4,
        );
        assert!(t.take("a", t0));
        assert!(t.take("a", t0));
        assert!(!t.take("a", t0));
        assert!(t.take("b", t0));
        assert!(!t.has("a", t0 + Duration::from_secs(9)));
        assert!(t.take("a", t0 + Duration::from_secs(10)));
        assert!(!t.take("a", t0 + Duration::from_secs(11)));
        assert!(t.take("a", t0 + Duration::from_secs(40)));
        assert!(t.take("a", t0 + Duration::from_secs(40)));
    }
}
