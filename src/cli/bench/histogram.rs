//! [`Histogram`]: latencies in a fixed, bounded log-linear histogram (HdrHistogram's layout),
//! so a long or large run keeps constant memory and percentiles are cheap to ask for.
//!
//! Values are whole microseconds. Below 128 µs every value has its own bucket; above, each
//! power of two is cut into 128 buckets, so a bucket is at most 1/128 (0.8 %) of its values
//! wide. A percentile is reported as the upper end of its bucket (never below the truth,
//! at most 0.8 % above it) and never above the exact maximum, which is kept separately.

use std::time::Duration;

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 7;
/// Sub-buckets per power of two.
const SUB: usize = 1 << SUB_BITS;
/// Buckets for every `u32` of microseconds (about 71 minutes); longer values are clamped.
const BUCKETS: usize = (32 - SUB_BITS as usize + 1) * SUB;

/// A bounded latency histogram with microsecond resolution.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    /// Counts one latency.
    pub(crate) fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .min(u64::from(u32::MAX));
        self.counts[index(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The `q` quantile (0 < q ≤ 1) by nearest rank; `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(micros(upper(i).min(self.max_us)));
            }
        }
        Some(micros(self.max_us))
    }

    /// The largest latency counted (exact); `None` when empty.
    pub(crate) fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| micros(self.max_us))
    }
}

fn micros(us: u64) -> Duration {
    Duration::from_micros(us)
}

/// The bucket of `v` (v ≤ `u32::MAX`).
fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let top = 63 - v.leading_zeros();
    let shift = top - SUB_BITS;
    let sub = (v >> shift) as usize & (SUB - 1);
    (shift as usize + 1) * SUB + sub
}

/// The largest value in bucket `i`.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    let low = ((SUB + i % SUB) as u64) << shift;
    low + (1 << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        let mut v = 0u64;
        while v <= u64::from(u32::MAX) {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            assert!(upper(i) >= v, "{v}");
            assert!(i == 0 || upper(i - 1) < v, "{v}");
            assert!((upper(i) - v) as f64 <= v as f64 / SUB as f64, "{v}");
            v = v * 9 / 8 + 1;
        }
        assert_eq!(index(u64::from(u32::MAX)), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_one_bucket_and_capped_by_the_max() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.max(), None);
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.total, 100);
        let near = |got: Option<Duration>, ms: u64| {
            let got = got.unwrap().as_secs_f64() * 1e3;
            assert!(
                got >= ms as f64 && got <= ms as f64 * 1.008,
                "{got} vs {ms}"
            );
        };
        near(h.quantile(0.50), 50);
        near(h.quantile(0.90), 90);
        near(h.quantile(0.99), 99);
        assert_eq!(h.quantile(1.0), Some(Duration::from_millis(100)));
        assert_eq!(h.max(), Some(Duration::from_millis(100)));
        let mut one = Histogram::default();
        one.record(Duration::from_micros(77));
        assert_eq!(one.quantile(0.99), Some(Duration::from_micros(77)));
    }

    #[test]
    fn huge_values_are_clamped_not_lost() {
        let mut h = Histogram::default();
        h.record(Duration::from_secs(1 << 40));
        assert_eq!(h.total, 1);
        assert_eq!(h.max(), Some(Duration::from_micros(u64::from(u32::MAX))));
    }
}
