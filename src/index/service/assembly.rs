//! Reassembly of fragmented requests and the cache of finished replies, both bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
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
/// without being run again. Bounded by entries and by bytes. A cached reply goes only to the
/// address that sent the request, at most [`MAX_RESENDS`] times: a captured request replayed
/// from a spoofed address cannot turn the index into an amplifier.
#[derive(Debug)]
pub(super) struct ReplyCache {
    cache: LruCache<(PublicKey, u64), Cached>,
    bytes: usize,
    max_bytes: usize,
}

/// Most times one cached reply is sent again.
pub(super) const MAX_RESENDS: u8 = 8;

#[derive(Debug)]
struct Cached {
    peer: SocketAddr,
    message: Vec<u8>,
    resends: u8,
}

/// Why a cached reply is not sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The retry comes from another address than the request.
    OtherAddress,
    /// It was already sent again [`MAX_RESENDS`] times.
    TooManyResends,
}

impl ReplyCache {
    pub(super) fn new(entries: usize, max_bytes: usize) -> Self {
        Self {
            cache: LruCache::new(NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN)),
            bytes: 0,
            max_bytes,
        }
    }

    /// The cached reply for a retry from `peer`, if there is one: `None` when nothing is
    /// cached, `Some(Err)` when it may not be sent again.
    pub(super) fn resend(
        &mut self,
        client: PublicKey,
        request_id: u64,
        peer: SocketAddr,
    ) -> Option<Result<Vec<u8>, Refused>> {
        let c = self.cache.get_mut(&(client, request_id))?;
        if c.peer != peer {
            return Some(Err(Refused::OtherAddress));
        }
        if c.resends >= MAX_RESENDS {
            return Some(Err(Refused::TooManyResends));
        }
        c.resends += 1;
        Some(Ok(c.message.clone()))
    }

    /// True if a reply to this request is cached (nothing is counted).
    pub(super) fn contains(&self, client: PublicKey, request_id: u64) -> bool {
        self.cache.contains(&(client, request_id))
    }

    pub(super) fn put(
        &mut self,
        client: PublicKey,
        request_id: u64,
        peer: SocketAddr,
        message: Vec<u8>,
    ) {
        self.bytes += message.len();
        let entry = Cached {
            peer,
            message,
            resends: 0,
        };
        if let Some((_, old)) = self.cache.push((client, request_id), entry) {
            self.bytes -= old.message.len();
        }
        while self.bytes > self.max_bytes {
            match self.cache.pop_lru() {
                Some((_, old)) => self.bytes -= old.message.len(),
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
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut c = ReplyCache::new(10, 100);
        c.put(PublicKey([1; 32]), 1, peer, vec![0; 60]);
        c.put(PublicKey([1; 32]), 2, peer, vec![0; 60]);
        assert!(c.resend(PublicKey([1; 32]), 1, peer).is_none());
        assert!(c.resend(PublicKey([1; 32]), 2, peer).is_some());
    }

    #[test]
    fn cached_replies_go_only_to_the_requester_a_few_times() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let spoofed: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let mut c = ReplyCache::new(10, 1000);
        c.put(PublicKey([1; 32]), 1, peer, vec![0; 60]);
        assert_eq!(
            c.resend(PublicKey([1; 32]), 1, spoofed),
            Some(Err(Refused::OtherAddress))
        );
        for _ in 0..MAX_RESENDS {
            assert!(matches!(c.resend(PublicKey([1; 32]), 1, peer), Some(Ok(_))));
        }
        assert_eq!(
            c.resend(PublicKey([1; 32]), 1, peer),
            Some(Err(Refused::TooManyResends))
        );
    }
}
