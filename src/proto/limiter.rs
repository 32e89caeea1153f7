//! Token buckets that bound what we send to senders we have not validated (PROTOCOL.md
//! §6.2): one bucket per source IP and one for the whole node, so neither one address nor
//! many spoofed ones can turn the node into a reflector.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// One token, in the buckets' unit.
const ONE: u128 = 1_000_000_000;

/// A token bucket: `burst` tokens, refilled at `rate` per second. Integer arithmetic in
/// billionths of a token, so refills between closely spaced calls are not rounded away.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    nano: u128,
    /// Last refill; `None` until first used (a new bucket starts full).
    last: Option<Instant>,
}

impl Bucket {
    fn full(burst: u32) -> Self {
        Self {
            nano: u128::from(burst) * ONE,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant, burst: u32, rate: u32) {
        let ns = self
            .last
            .map_or(0, |t| now.saturating_duration_since(t).as_nanos());
        self.nano = (self.nano + ns * u128::from(rate)).min(u128::from(burst) * ONE);
        self.last = Some(now);
    }

    fn has_token(&self) -> bool {
        self.nano >= ONE
    }

    fn take(&mut self) -> bool {
        let ok = self.has_token();
        if ok {
            self.nano -= ONE;
        }
        ok
    }
}

/// Per-IP and global token buckets.
#[derive(Debug, Clone)]
pub(crate) struct ReplyLimiter {
    per_ip: HashMap<IpAddr, Bucket>,
    global: Bucket,
    ip_burst: u32,
    ip_rate: u32,
    global_burst: u32,
    global_rate: u32,
    max_ips: usize,
}

impl ReplyLimiter {
    /// Buckets of (burst, per second) per IP and for the node; at most `max_ips` IPs tracked.
    pub(crate) fn new(ip: (u32, u32), global: (u32, u32), max_ips: usize) -> Self {
        Self {
            per_ip: HashMap::new(),
            global: Bucket::full(global.0),
            ip_burst: ip.0,
            ip_rate: ip.1,
            global_burst: global.0,
            global_rate: global.1,
            max_ips,
        }
    }

    /// Takes one token for a reply to `ip`; false if either bucket is empty.
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.global.refill(now, self.global_burst, self.global_rate);
        if !self.global.has_token() {
            return false;
        }
        if !self.per_ip.contains_key(&ip) && self.per_ip.len() >= self.max_ips {
            self.forget_refilled(now);
        }
        if !self.per_ip.contains_key(&ip) && self.per_ip.len() >= self.max_ips {
            return false;
        }
        let (burst, rate) = (self.ip_burst, self.ip_rate);
        let bucket = self.per_ip.entry(ip).or_insert_with(|| Bucket::full(burst));
        bucket.refill(now, burst, rate);
        bucket.take() && self.global.take()
    }

    /// Source IPs tracked.
    pub(crate) fn tracked_ips(&self) -> usize {
        self.per_ip.len()
    }

    /// Drops the buckets that are full again: they hold no information.
    fn forget_refilled(&mut self, now: Instant) {
        let (burst, rate) = (self.ip_burst, self.ip_rate);
        self.per_ip.retain(|_, b| {
            b.refill(now, burst, rate);
            b.nano < u128::from(burst) * ONE
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn per_ip_burst_then_rate() {
        let t0 = crate::test_epoch();
        let mut l = ReplyLimiter::new((5, 10), (1000, 1000), 16);
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert_eq!((0..100).filter(|_| l.allow(ip, t0)).count(), 5);
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| l.allow(ip, t1)).count(), 5);
        let other: IpAddr = [127, 0, 0, 2].into();
        assert!(l.allow(other, t1), "other addresses have their own bucket");
    }

    #[test]
    fn global_bucket_bounds_many_addresses() {
        let t0 = crate::test_epoch();
        let mut l = ReplyLimiter::new((5, 10), (50, 10), 100_000);
        let allowed = (0..10_000u32)
            .filter(|i| l.allow(IpAddr::from(i.to_be_bytes()), t0))
            .count();
        assert_eq!(allowed, 50);
    }

    #[test]
    fn the_ip_table_is_bounded() {
        let t0 = crate::test_epoch();
        let mut l = ReplyLimiter::new((5, 10), (100_000, 100_000), 8);
        for i in 0..1000u32 {
            l.allow(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(l.per_ip.len() <= 8);
    }
}
