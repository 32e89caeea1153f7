//! [`Node::handle_datagrams`]: a receive batch at once, so the signatures of its broadcasts
//! are checked together (`proto/verify.rs`).
//!
//! The batch is handled in chunks of [`BATCH_MAX`] datagrams. Each datagram of a chunk is
//! checked and opened in order (the same steps as `handle_datagram`, into a plaintext slot of
//! the [`BatchScratch`]); the signed broadcasts among them that will need a signature check
//! are verified in one batch; then each plaintext is handled in order, with its verdict.
//! Every datagram is opened once. What differs from one `handle_datagram` after another: the
//! opening steps of a chunk (graylist, X25519 budget) run before its handlers, so a hop
//! graylisted by one datagram is refused from the next chunk on.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Node, Opened};
use crate::proto::verify::{BATCH_MAX, Pending};
use crate::wire::{MAX_PLAINTEXT, PayloadId};

/// Working memory of [`Node::handle_datagrams`], reused from call to call (about 30 KiB once
/// warm). It holds nothing between calls, so one can serve every node driven from one thread.
#[derive(Debug, Default)]
pub struct BatchScratch {
    plains: Vec<[u8; MAX_PLAINTEXT]>,
    opened: Vec<(SocketAddr, Opened)>,
    pending: Pending,
}

/// Signatures checked by [`Node::handle_datagrams`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchCounts {
    /// Signatures accepted by a batch verification that passed.
    pub batched: u64,
    /// Batches that failed, so that each of their signatures was checked on its own.
    pub failed_batches: u64,
}

impl Node {
    /// Handles received datagrams, in order, as [`Node::handle_datagram`] would one by one,
    /// but checks the signatures of the broadcasts in each chunk of [`BATCH_MAX`] together.
    /// Call `poll_transmit` and `poll_event` afterwards.
    pub fn handle_datagrams<'d>(
        &mut self,
        now: Instant,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'d [u8])>,
        scratch: &mut BatchScratch,
    ) -> BatchCounts {
        let mut counts = BatchCounts::default();
        let mut datagrams = datagrams.into_iter().peekable();
        while datagrams.peek().is_some() {
            self.open_chunk(now, datagrams.by_ref().take(BATCH_MAX), scratch);
            self.verify_chunk(scratch, &mut counts);
            for (slot, &(from, opened)) in scratch.opened.iter().enumerate() {
                let plain = &scratch.plains[slot][..opened.len];
                let verdict = scratch.pending.verdict(slot);
                if let Err(reason) = self.dispatch(now, from, opened, plain, verdict) {
                    self.stats.count_drop(reason);
                }
            }
        }
        counts
    }

    /// Opens each datagram into its plaintext slot; what fails is counted and dropped.
    fn open_chunk<'d>(
        &mut self,
        now: Instant,
        chunk: impl Iterator<Item = (SocketAddr, &'d [u8])>,
        scratch: &mut BatchScratch,
    ) {
        scratch.opened.clear();
        for (from, datagram) in chunk {
            self.stats.datagrams_in += 1;
            self.stats.bytes_in += datagram.len() as u64;
            let slot = scratch.opened.len();
            if scratch.plains.len() <= slot {
                scratch.plains.push([0; MAX_PLAINTEXT]);
            }
            match self.open(now, from, datagram, &mut scratch.plains[slot]) {
                Ok(Some(opened)) => scratch.opened.push((from, opened)),
                Ok(None) => {}
                Err(reason) => self.stats.count_drop(reason),
            }
        }
    }

    /// Verifies together the signatures of the chunk's broadcasts that will need one, if
    /// there are at least two.
    fn verify_chunk(&self, scratch: &mut BatchScratch, counts: &mut BatchCounts) {
        let pending = &mut scratch.pending;
        pending.clear();
        for (slot, (_, opened)) in scratch.opened.iter().enumerate() {
            let plain = &scratch.plains[slot][..opened.len];
            if plain.first() != Some(&(PayloadId::SignedBroadcast as u8)) {
                continue;
            }
            let Ok(crate::wire::Payload::Broadcast(b)) = crate::wire::Payload::decode(plain) else {
                continue;
            };
            let Some(group) = self.groups.get(&opened.group) else {
                continue;
            };
            if let Some(signer) = group.batch_candidate(&self.config, &b) {
                pending.add(slot, &group.chat_id(), signer, &b);
            }
        }
        if pending.len() >= 2 {
            let batched = pending.verify();
            counts.batched += batched as u64;
            counts.failed_batches += u64::from(batched == 0);
        } else {
            pending.clear();
        }
    }
}
