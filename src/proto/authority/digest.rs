//! Fact sync by digest (PROTOCOL.md §6.8): a peer that already holds most of our facts (a
//! restarted member, a healed partition) is sent only what differs, not the whole set.
//!
//! - A newly validated peer gets our whole fact set (id 20) if it is at most
//!   [`FULL_SYNC_MAX`] facts; else one summary (id 21): per bucket of facts, the XOR of their
//!   hashes (`wire::digest`).
//! - A summary's receiver compares it with its own and, for each bucket that differs, sends
//!   a want: the hashes of the facts it holds in that bucket; if more than [`MAX_WANTS`]
//!   buckets differ (a fresh joiner), one "want all", answered with the whole set as before.
//! - A want's receiver answers with the facts of that bucket whose hash is not listed, packed
//!   into fact sync messages (id 20), each moderator-signed one preceded by its signer's role
//!   fact (a receiver accepts a moderator's fact only once it knows the role).
//! - Each side of a new link does this (both validate each other), so facts flow both ways.
//!   Cost: 1 summary, then per differing bucket one want and the facts missing from it; about
//!   32 facts share a bucket at the 8192-fact cap, so 10 missing facts cost about 21
//!   datagrams each way where the whole set would be about 1640.
//! - Wants and their answers take tokens of the group's digest budget ([`DIGEST_RATE`]).
//! - Every one-peer fact message (ids 20 and 21) is paced ([`FACT_PACE`]): the receiver
//!   holds each origin to 20 + 5/s (§6.7) and drops what is over, so a burst of more than
//!   that would be lost; the rest waits in a queue (at most [`FACT_QUEUE_MAX`]) drained on
//!   each tick.

use std::net::SocketAddr;

use crate::proto::Event;
use crate::proto::group::Group;
use crate::proto::io::Io;
use crate::wire::digest::{
    BUCKET_DIGEST_LEN, DIGEST_BUCKETS, FACT_HASH_LEN, MAX_WANT_HASHES, SUMMARY_LEN, fact_bucket,
    fact_hash,
};
use crate::wire::{FactDigest, FactKind, FactList, PeerMessage, PublicKey};

/// A fact set of at most this many facts goes to a new peer whole (at most 8 datagrams),
/// saving the round trip of a summary; a larger one goes by digest.
pub(crate) const FULL_SYNC_MAX: usize = 40;

/// A summary that differs from ours in more buckets than this is answered with one "want
/// all" rather than a want per bucket (a fresh joiner differs everywhere).
const MAX_WANTS: usize = 16;

/// One-peer fact messages sent at once, then per second (under the receiver's origin bucket,
/// 20 + 5/s, with room for our other broadcasts).
const FACT_PACE: (u32, u32) = (12, 4);

/// Most one-peer fact messages waiting; past it new ones are not sent.
const FACT_QUEUE_MAX: usize = 4096;

/// Budget of wants sent and fact sync datagrams sent in answer, per group: burst, per second.
const DIGEST_RATE: (u32, u32) = (512, 256);

/// A joiner's check that it holds the facts of the member that let it in (PROTOCOL.md
/// §6.3): that member follows its fact set with its summary; the joiner compares it with
/// its own, and again after each fact list it takes while they differ (its wants fetch what
/// was lost on the way).
#[derive(Debug, Default)]
pub(crate) struct JoinSync {
    /// The summary we wait to match.
    target: Option<Box<[u8]>>,
    /// Our facts matched a summary.
    matched: bool,
    /// `StateSynced` was raised.
    raised: bool,
}

/// One paced fact message: to whom, and the message id and body (signed when sent).
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    to: PublicKey,
    addr: SocketAddr,
    body: Vec<u8>,
    id: u8,
}

impl Group {
    /// Queues a one-peer fact message (ids 20, 21) and sends what the pace allows.
    pub(super) fn send_one(
        &mut self,
        io: &mut Io<'_>,
        to: PublicKey,
        addr: SocketAddr,
        msg: &PeerMessage<'_>,
    ) {
        let Ok(body) = msg.to_vec() else { return };
        if self.fact_queue.len() >= FACT_QUEUE_MAX {
            return;
        }
        let id = msg.id() as u8;
        self.fact_queue.push_back(Queued { to, addr, body, id });
        self.drain_fact_queue(io);
    }

    /// Sends queued fact messages while the pace allows (called on each tick too).
    pub(crate) fn drain_fact_queue(&mut self, io: &mut Io<'_>) {
        while !self.fact_queue.is_empty() && self.fact_pace.take(io.now, FACT_PACE) {
            let Some(q) = self.fact_queue.pop_front() else {
                return;
            };
            if let Ok(msg) = PeerMessage::decode(q.id, &q.body) {
                self.sign_and_send(io, q.to, q.addr, &msg);
            }
        }
    }

    /// Sends `to` at `addr` the summary of our facts.
    pub(crate) fn send_fact_summary(&mut self, io: &mut Io<'_>, to: PublicKey, addr: SocketAddr) {
        let s = summary(self.authority.entries());
        let msg = PeerMessage::FactDigest(FactDigest::Summary(&s));
        self.send_one(io, to, addr, &msg);
    }

    /// A peer validated before is back in our table after dropping out of it (a healed
    /// partition, PROTOCOL.md §6.8): either side may have taken facts the other lacks, so
    /// it gets our summary and pulls what differs (it does the same towards us).
    pub(crate) fn resync_facts(&mut self, io: &mut Io<'_>, to: PublicKey, addr: SocketAddr) {
        if self.dialect() == crate::proto::Dialect::Secure {
            self.send_fact_summary(io, to, addr);
        }
    }

    /// A fresh joiner that came through us gets our summary after a fact set sent whole
    /// (a larger set went as a summary already), so it can tell when it holds ours. A group
    /// without facts (no name: the application always names its groups) sends none.
    pub(crate) fn send_join_summary(&mut self, io: &mut Io<'_>, to: PublicKey, addr: SocketAddr) {
        let small = (1..=FULL_SYNC_MAX).contains(&self.authority.len());
        if small && self.dialect() == crate::proto::Dialect::Secure {
            self.send_fact_summary(io, to, addr);
        }
    }

    /// True once `StateSynced` was raised: joined, holding the group's facts.
    pub(crate) fn state_synced(&self) -> bool {
        self.authority.sync.raised
    }

    /// Raises `StateSynced` once, when we are joined and hold the state (PROTOCOL.md §6.3).
    pub(crate) fn check_state_synced(&mut self, io: &mut Io<'_>) {
        let legacy = self.dialect() != crate::proto::Dialect::Secure;
        let (joined, group) = (self.joined, self.id());
        let sync = &mut self.authority.sync;
        if joined && (legacy || sync.matched) && !sync.raised {
            sync.raised = true;
            io.emit(Event::StateSynced { group });
        }
    }

    /// Facts were taken: do they now match the summary we wait for?
    pub(crate) fn recheck_join_sync(&mut self, io: &mut Io<'_>) {
        let Some(target) = &self.authority.sync.target else {
            return;
        };
        if summary(self.authority.entries())[..] == target[..] {
            self.authority.sync.target = None;
            self.authority.sync.matched = true;
            self.check_state_synced(io);
        }
    }

    /// A fact digest from `origin` (secure groups): a summary is answered with wants for the
    /// buckets that differ, a want with the facts it lacks.
    pub(crate) fn on_fact_digest(&mut self, io: &mut Io<'_>, origin: PublicKey, d: FactDigest<'_>) {
        let Some(addr) = self.members.addr(&origin) else {
            return;
        };
        match d {
            FactDigest::Summary(theirs) => {
                let ours = summary(self.authority.entries());
                if !self.authority.sync.matched {
                    match ours[..] == theirs[..] {
                        true => self.authority.sync.matched = true,
                        false => self.authority.sync.target = Some(theirs.into()),
                    }
                    self.check_state_synced(io);
                }
                let buckets = differing(&ours, theirs);
                if buckets.len() > MAX_WANTS {
                    // A fresh or far-behind peer: one want for everything.
                    let all = PeerMessage::FactDigest(FactDigest::WantAll);
                    self.send_one(io, origin, addr, &all);
                    return;
                }
                for bucket in buckets {
                    if !self.digest_budget.take(io.now, DIGEST_RATE) {
                        break;
                    }
                    let hashes = held(self.authority.entries(), bucket);
                    let want = FactDigest::Want {
                        bucket,
                        hashes: &hashes,
                    };
                    self.send_one(io, origin, addr, &PeerMessage::FactDigest(want));
                }
            }
            FactDigest::WantAll => {
                let all = self.authority.export();
                self.send_facts(io, origin, addr, all);
            }
            FactDigest::Want { bucket, hashes } => {
                let missing = lacking(self.authority.entries(), bucket, hashes);
                // A moderator's fact is accepted only after its role: send the role first.
                let mut out: Vec<Vec<u8>> = (missing.iter())
                    .filter_map(|f| self.authority.signer_role(f).map(<[u8]>::to_vec))
                    .collect();
                out.dedup();
                out.extend(missing);
                self.send_facts(io, origin, addr, out);
            }
        }
    }

    /// Sends `facts` to `to`, packed into fact sync messages, within the digest budget.
    fn send_facts(
        &mut self,
        io: &mut Io<'_>,
        to: PublicKey,
        addr: SocketAddr,
        facts: Vec<Vec<u8>>,
    ) {
        for chunk in super::apply::pack(facts) {
            if !self.digest_budget.take(io.now, DIGEST_RATE) {
                break;
            }
            if let Ok(list) = FactList::new(&chunk) {
                self.send_one(io, to, addr, &PeerMessage::FactSync(list));
            }
        }
    }
}

/// Per bucket, the XOR of the hashes of its facts (first [`BUCKET_DIGEST_LEN`] bytes).
fn summary<'a>(facts: impl Iterator<Item = (FactKind, &'a PublicKey, &'a [u8])>) -> Vec<u8> {
    let mut out = vec![0u8; SUMMARY_LEN];
    for (kind, subject, bytes) in facts {
        let at = usize::from(fact_bucket(kind as u8, subject)) * BUCKET_DIGEST_LEN;
        let h = fact_hash(bytes);
        for (o, b) in out[at..at + BUCKET_DIGEST_LEN].iter_mut().zip(h) {
            *o ^= b;
        }
    }
    out
}

/// The buckets whose digests differ (a summary of the wrong length differs everywhere).
fn differing(ours: &[u8], theirs: &[u8]) -> Vec<u8> {
    (0..DIGEST_BUCKETS)
        .filter(|&b| {
            let r = b * BUCKET_DIGEST_LEN..(b + 1) * BUCKET_DIGEST_LEN;
            ours.get(r.clone()) != theirs.get(r)
        })
        .filter_map(|b| u8::try_from(b).ok())
        .collect()
}

/// The hashes of our facts in `bucket`, concatenated (at most [`MAX_WANT_HASHES`]: beyond
/// that the peer re-sends a few facts we hold, which we ignore as stale).
fn held<'a>(
    facts: impl Iterator<Item = (FactKind, &'a PublicKey, &'a [u8])>,
    bucket: u8,
) -> Vec<u8> {
    (facts)
        .filter(|(k, s, _)| fact_bucket(*k as u8, s) == bucket)
        .take(MAX_WANT_HASHES)
        .flat_map(|(_, _, bytes)| fact_hash(bytes))
        .collect()
}

/// Our facts in `bucket` whose hash is not in `hashes`.
fn lacking<'a>(
    facts: impl Iterator<Item = (FactKind, &'a PublicKey, &'a [u8])>,
    bucket: u8,
    hashes: &[u8],
) -> Vec<Vec<u8>> {
    let theirs: Vec<&[u8]> = hashes.chunks_exact(FACT_HASH_LEN).collect();
    (facts)
        .filter(|(k, s, _)| fact_bucket(*k as u8, s) == bucket)
        .filter(|(_, _, bytes)| !theirs.contains(&&fact_hash(bytes)[..]))
        .map(|(_, _, bytes)| bytes.to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(n: u8) -> Vec<(FactKind, PublicKey, Vec<u8>)> {
        (0..n)
            .map(|i| (FactKind::Ban, PublicKey([i; 32]), vec![i, 1, 2]))
            .collect()
    }

    fn view(
        f: &[(FactKind, PublicKey, Vec<u8>)],
    ) -> impl Iterator<Item = (FactKind, &PublicKey, &[u8])> {
        f.iter().map(|(k, s, b)| (*k, s, b.as_slice()))
    }

    #[test]
    fn only_the_buckets_that_differ_are_wanted_and_only_what_lacks_is_sent() {
        let all = facts(200);
        let mut most = all.clone();
        let gone: Vec<_> = most.drain(..3).collect();
        let wanted = differing(&summary(view(&most)), &summary(view(&all)));
        let expect: std::collections::BTreeSet<u8> = gone
            .iter()
            .map(|(k, s, _)| fact_bucket(*k as u8, s))
            .collect();
        assert_eq!(
            wanted
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            expect
        );
        let mut sent = Vec::new();
        for b in wanted {
            let hashes = held(view(&most), b);
            sent.extend(lacking(view(&all), b, &hashes));
        }
        sent.sort();
        let mut gone: Vec<Vec<u8>> = gone.into_iter().map(|(_, _, b)| b).collect();
        gone.sort();
        assert_eq!(sent, gone);
        assert!(differing(&summary(view(&all)), &summary(view(&all))).is_empty());
    }
}
