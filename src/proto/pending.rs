//! Outstanding get_nodes requests of one group, keyed by their one-shot ping id.
//!
//! A send_nodes is accepted only if its ping id names a request we sent, to that key at that
//! address, less than `request_timeout` ago. The id is removed on first use, so a replayed or
//! duplicated send_nodes changes nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::{PING_ID_LEN, PublicKey};

/// Why a get_nodes was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Keep-alive of a table entry, or discovery of a candidate.
    Refresh,
    /// Address validation of a peer that asked us first; its own ping id is owed an answer.
    Probe {
        /// The ping id of the peer's get_nodes, answered once the probe returns.
        owed: [u8; PING_ID_LEN],
    },
    /// A join attempt through the join string's member.
    Join,
}

/// One outstanding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    /// Who we asked.
    pub(crate) key: PublicKey,
    /// At which address.
    pub(crate) addr: SocketAddr,
    /// When.
    pub(crate) sent: Instant,
    /// Why.
    pub(crate) purpose: Purpose,
}

/// The outstanding requests, bounded.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    requests: HashMap<[u8; PING_ID_LEN], Request>,
    /// The latest request to each key, so "is this key being asked?" costs one lookup.
    by_key: HashMap<PublicKey, [u8; PING_ID_LEN]>,
    cap: usize,
}

impl Pending {
    /// An empty table holding at most `cap` requests.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            requests: HashMap::new(),
            by_key: HashMap::new(),
            cap,
        }
    }

    /// Records a request; false (nothing recorded) when full or the id is taken.
    pub(crate) fn insert(&mut self, ping_id: [u8; PING_ID_LEN], request: Request) -> bool {
        if self.requests.len() >= self.cap || self.requests.contains_key(&ping_id) {
            return false;
        }
        self.by_key.insert(request.key, ping_id);
        self.requests.insert(ping_id, request);
        true
    }

    /// Takes the request a send_nodes answers: same id, same key and address, not expired.
    /// A mismatch leaves the request in place (a forged answer cannot cancel ours).
    pub(crate) fn take(
        &mut self,
        ping_id: &[u8; PING_ID_LEN],
        key: &PublicKey,
        addr: &SocketAddr,
        now: Instant,
        timeout: Duration,
    ) -> Option<Request> {
        let r = self.requests.get(ping_id)?;
        if r.key != *key || r.addr != *addr {
            return None;
        }
        let r = self.remove(ping_id)?;
        (now.saturating_duration_since(r.sent) < timeout).then_some(r)
    }

    /// The request to `key` still outstanding, if any.
    /// Outstanding probes (requests answering a stranger's get_nodes).
    pub(crate) fn probes(&self) -> usize {
        self.requests
            .values()
            .filter(|r| matches!(r.purpose, Purpose::Probe { .. }))
            .count()
    }

    pub(crate) fn to_key(&self, key: &PublicKey) -> Option<&Request> {
        self.requests.get(self.by_key.get(key)?)
    }

    /// Forgets requests older than `timeout`.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) {
        let old: Vec<[u8; PING_ID_LEN]> = self
            .requests
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.sent) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.remove(&id);
        }
    }

    fn remove(&mut self, ping_id: &[u8; PING_ID_LEN]) -> Option<Request> {
        let r = self.requests.remove(ping_id)?;
        if self.by_key.get(&r.key) == Some(ping_id) {
            self.by_key.remove(&r.key);
        }
        Some(r)
    }

    /// Number of outstanding requests.
    pub(crate) fn len(&self) -> usize {
        self.requests.len()
    }

    /// True when nothing is outstanding.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t: Instant) -> Request {
        Request {
            key: PublicKey([1; 32]),
            addr: "127.0.0.1:1".parse().unwrap(),
            sent: t,
            purpose: Purpose::Refresh,
        }
    }

    #[test]
    fn one_shot_and_checked() {
        let t0 = crate::test_epoch();
        let timeout = Duration::from_secs(5);
        let mut p = Pending::new(8);
        assert!(p.insert([7; 8], req(t0)));
        let r = req(t0);
        let other: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert!(p.take(&[7; 8], &r.key, &other, t0, timeout).is_none());
        assert!(
            p.take(&[7; 8], &PublicKey([2; 32]), &r.addr, t0, timeout)
                .is_none()
        );
        assert!(p.take(&[7; 8], &r.key, &r.addr, t0, timeout).is_some());
        assert!(
            p.take(&[7; 8], &r.key, &r.addr, t0, timeout).is_none(),
            "one-shot"
        );
        assert!(p.insert([8; 8], req(t0)));
        let late = t0 + timeout;
        assert!(
            p.take(&[8; 8], &r.key, &r.addr, late, timeout).is_none(),
            "expired"
        );
        assert!(p.is_empty());
    }

    #[test]
    fn bounded() {
        let t0 = crate::test_epoch();
        let mut p = Pending::new(2);
        assert!(p.insert([1; 8], req(t0)));
        assert!(!p.insert([1; 8], req(t0)), "id taken");
        assert!(p.insert([2; 8], req(t0)));
        assert!(!p.insert([3; 8], req(t0)), "full");
        p.expire(t0 + Duration::from_secs(6), Duration::from_secs(5));
        assert_eq!(p.len(), 0);
    }
}
