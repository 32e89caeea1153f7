//! `Ids` against a plain model (the former `VecDeque<(PublicKey, u32, Instant)>`), the
//! filters both build, and attacker-chosen ids.

use super::*;
use crate::wire::BloomBuilder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng as StdRng;

/// The former store: whole ids and exact instants.
#[derive(Default)]
struct Model {
    items: VecDeque<(PublicKey, u32, Instant)>,
    capped: Option<Instant>,
}

impl Model {
    fn push(&mut self, now: Instant, origin: PublicKey, number: u32, max: usize) {
        if max == 0 {
            return;
        }
        if self.items.len() >= max {
            self.capped = self.items.pop_front().map(|(_, _, at)| at);
        }
        self.items.push_back((origin, number, now));
    }

    fn expire(&mut self, now: Instant, ttl: Duration) {
        while (self.items.front()).is_some_and(|s| now.saturating_duration_since(s.2) >= ttl) {
            self.items.pop_front();
        }
    }

    fn span(&self, now: Instant, ttl: Duration) -> Duration {
        let since = |t: Instant| now.saturating_duration_since(t);
        self.capped.map_or(ttl, |t| since(t).min(ttl))
    }
}

fn filter<'a>(salt: u64, n: usize, items: impl Iterator<Item = &'a (PublicKey, u32)>) -> Vec<u8> {
    let mut b = BloomBuilder::new(n, 10, 5, salt);
    items.for_each(|(o, k)| b.insert(o, *k));
    b.have(0, 0).filter().to_vec()
}

fn filter_of(ids: &Ids, salt: u64) -> Vec<u8> {
    let mut b = BloomBuilder::new(ids.len(), 10, 5, salt);
    ids.keys().for_each(|k| b.insert_key(k));
    b.have(0, 0).filter().to_vec()
}

#[test]
fn random_steps_match_the_model_exactly() {
    let mut rng = StdRng::seed_from_u64(7);
    for run in 0..300 {
        let t0 = crate::test_epoch();
        let (mut ids, mut model) = (Ids::default(), Model::default());
        let max = rng.random_range(0..40);
        let ttl = Duration::from_micros(rng.random_range(1..3_000_000));
        let mut now = t0;
        for _ in 0..400 {
            // Nanosecond steps, and now and then none (several ids at one instant).
            now += Duration::from_nanos(rng.random_range(0..60_000_000) * rng.random_range(0..2));
            let origin = PublicKey([rng.random_range(0..8u8); 32]);
            match rng.random_range(0..4) {
                0 => {
                    ids.expire(now, ttl);
                    model.expire(now, ttl);
                }
                _ => {
                    let number = rng.random();
                    ids.push(now, &origin, number, max);
                    model.push(now, origin, number, max);
                }
            }
            let want: Vec<u64> = (model.items.iter())
                .map(|(o, n, _)| item_key(o, *n))
                .collect();
            assert_eq!(ids.keys().collect::<Vec<_>>(), want, "run {run}");
            assert_eq!(ids.span(now, ttl), model.span(now, ttl), "run {run}");
        }
        let salt = rng.random();
        let pairs: Vec<_> = model.items.iter().map(|(o, n, _)| (*o, *n)).collect();
        assert_eq!(
            filter_of(&ids, salt),
            filter(salt, pairs.len(), pairs.iter())
        );
    }
}

#[test]
fn a_long_silence_keeps_young_ids_and_drops_old_ones() {
    let t0 = crate::test_epoch();
    let ttl = Duration::from_secs(8);
    let mut ids = Ids::default();
    ids.push(t0, &PublicKey([1; 32]), 1, 64);
    // 30 years later: the old id still looks old, the new ones new.
    let later = t0 + Duration::from_secs(30 * 365 * 24 * 3600);
    ids.push(later, &PublicKey([2; 32]), 2, 64);
    let young = later + Duration::from_nanos(1_500_000_001);
    ids.push(young, &PublicKey([3; 32]), 3, 64);
    assert_eq!(ids.len(), 3);
    ids.expire(young + Duration::from_secs(1), ttl);
    let keys: Vec<u64> = ids.keys().collect();
    let want = [
        item_key(&PublicKey([2; 32]), 2),
        item_key(&PublicKey([3; 32]), 3),
    ];
    assert_eq!(keys, want, "the 30-year-old id went, the young ones stay");
    ids.expire(later + ttl, ttl);
    assert_eq!(ids.keys().collect::<Vec<_>>(), [want[1]]);
    ids.expire(young + ttl - Duration::from_nanos(1), ttl);
    assert_eq!(ids.len(), 1, "one nanosecond before its ttl");
    ids.expire(young + ttl, ttl);
    assert_eq!(ids.len(), 0);
}

#[test]
fn attacker_chosen_ids_build_the_same_filter_and_stay_bounded() {
    // An attacker picks origins and numbers: the all-equal keys, numbers that cancel the
    // origin's fold, and two items whose keys collide on purpose (its own origin with the
    // number that lands on a victim's key). Whatever it picks, the filter built from the
    // stored keys is the filter built from the items, for every salt: the store changes
    // nothing the wire says, so it can neither hide a message nor add one.
    let mut rng = StdRng::seed_from_u64(9);
    let victim = (PublicKey(core::array::from_fn(|i| i as u8)), 77);
    let mut attacker_key = [0xAB; 32];
    // Make the halves of the folds equal above bit 32, so a number can collide.
    let v = item_key(&victim.0, 0);
    let a = item_key(&PublicKey(attacker_key), 0);
    let fix = (v ^ a) & !0xFFFF_FFFF;
    let first = u64::from_le_bytes(attacker_key[..8].try_into().unwrap()) ^ fix;
    attacker_key[..8].copy_from_slice(&first.to_le_bytes());
    let attacker = PublicKey(attacker_key);
    let colliding = (item_key(&victim.0, victim.1) ^ item_key(&attacker, 0)) as u32;
    assert_eq!(
        item_key(&attacker, colliding),
        item_key(&victim.0, victim.1)
    );
    let mut chosen = vec![(attacker, colliding), (PublicKey([0; 32]), 0), victim];
    chosen.extend((0..500).map(|i| (PublicKey([0xFF; 32]), u32::MAX - i)));
    chosen.extend((0..500).map(|_| (PublicKey(rng.random()), rng.random())));
    let t0 = crate::test_epoch();
    let max = 1024;
    let mut ids = Ids::default();
    for (i, (o, n)) in chosen.iter().enumerate() {
        ids.push(t0 + Duration::from_millis(i as u64), o, *n, max);
    }
    let kept = &chosen[chosen.len() - ids.len()..];
    for salt in [0, 1, u64::MAX, rng.random()] {
        assert_eq!(filter_of(&ids, salt), filter(salt, kept.len(), kept.iter()));
    }
    // A flood past the cap keeps the newest `max` and reports the shorter span.
    for i in 0..5_000u32 {
        ids.push(t0 + Duration::from_secs(10), &attacker, i, max);
    }
    assert_eq!(ids.len(), max);
    assert_eq!(
        ids.span(t0 + Duration::from_secs(10), Duration::from_secs(8)),
        Duration::ZERO
    );
    assert!(
        size_of::<Id>() == 16,
        "the entry is {} bytes",
        size_of::<Id>()
    );
}
