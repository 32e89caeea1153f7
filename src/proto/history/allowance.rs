//! What history a server sends beyond the reply budget (PROTOCOL.md §6.13, "Serving"): pages
//! go only to a validated member at the address it proved, so they cannot be reflected at
//! anyone else, and what bounds them is our upload. Each asker has a token bucket of pages
//! (`Config::history_rate`) and the group one more (`Config::history_rate_group`), so a fetch
//! reads a whole log in a few round trips while neither one member nor many (a Sybil crowd)
//! can make us send more than the group's rate. A page neither bucket pays for may still go
//! on the asker's reply budget (§6.2), as before.

use std::collections::HashMap;
use std::time::Instant;

use crate::proto::spam::Bucket;
use crate::wire::PublicKey;

/// Most askers with a bucket. A full map forgets an asker whose bucket is full again (a new
/// one starts full, so forgetting it gives nothing away); with none, a new asker gets no
/// allowance and is served on its reply budget only.
pub(crate) const ASKERS_MAX: usize = 64;

/// The page buckets of one group's history server.
#[derive(Debug, Default)]
pub(crate) struct Allowance {
    askers: HashMap<PublicKey, Bucket>,
    group: Bucket,
}

impl Allowance {
    /// Takes one page token of `asker` and one of the group; false (nothing taken) if
    /// either has none, or `asker` has no bucket and none can be made.
    pub(crate) fn take(
        &mut self,
        now: Instant,
        asker: &PublicKey,
        per_asker: (u32, u32),
        group: (u32, u32),
    ) -> bool {
        if !self.askers.contains_key(asker) && !self.make_room(now, per_asker.1) {
            return false;
        }
        let bucket = self.askers.entry(*asker).or_default();
        if !bucket.has(now, per_asker) || !self.group.has(now, group) {
            return false;
        }
        bucket.take(now, per_asker) && self.group.take(now, group)
    }

    /// Room for one more asker: forgets one whose bucket is full, if the map is full.
    fn make_room(&mut self, now: Instant, rate: u32) -> bool {
        if self.askers.len() < ASKERS_MAX {
            return true;
        }
        let full = (self.askers.iter_mut()).find_map(|(k, b)| b.is_full(now, rate).then_some(*k));
        full.is_some_and(|k| self.askers.remove(&k).is_some())
    }

    /// Askers with a bucket (at most [`ASKERS_MAX`]).
    #[cfg(test)]
    pub(crate) fn askers(&self) -> usize {
        self.askers.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(i: u8) -> PublicKey {
        PublicKey([i; 32])
    }

    #[test]
    fn an_asker_gets_its_burst_then_its_rate() {
        let mut a = Allowance::default();
        let t = crate::test_epoch();
        let taken = (0..100)
            .filter(|_| a.take(t, &key(1), (8, 4), (100, 100)))
            .count();
        assert_eq!(taken, 8);
        let later = t + Duration::from_millis(500);
        let taken = (0..100)
            .filter(|_| a.take(later, &key(1), (8, 4), (100, 100)))
            .count();
        assert_eq!(taken, 2, "4 pages a second");
    }

    #[test]
    fn the_group_bucket_bounds_many_askers_together() {
        let mut a = Allowance::default();
        let t = crate::test_epoch();
        let taken: usize = (0..40u8)
            .map(|k| {
                (0..10)
                    .filter(|_| a.take(t, &key(k), (8, 4), (50, 10)))
                    .count()
            })
            .sum();
        assert_eq!(taken, 50);
    }

    #[test]
    fn a_full_map_forgets_only_a_full_bucket() {
        let mut a = Allowance::default();
        let t = crate::test_epoch();
        for k in 0..ASKERS_MAX as u8 {
            assert!(a.take(t, &key(k), (8, 4), (10_000, 10_000)));
        }
        // Every bucket is below full: a new asker gets nothing, and nobody is reset.
        assert!(!a.take(t, &key(200), (8, 4), (10_000, 10_000)));
        assert_eq!(a.askers(), ASKERS_MAX);
        assert!(
            a.take(t, &key(0), (8, 4), (10_000, 10_000)),
            "key 0 keeps its 7 left"
        );
        // A second later every bucket is full again: one is forgotten for the new asker.
        let later = t + Duration::from_secs(1);
        assert!(a.take(later, &key(200), (8, 4), (10_000, 10_000)));
        assert_eq!(a.askers(), ASKERS_MAX);
    }
}
