//! The outputs a group handler writes to during one call: sealed datagrams, events, counters,
//! plus the shared-key cache and the RNG. One `Io` lives for one `handle_*` call.
//!
//! Sealed datagrams wait in the node's [`Outbox`]. Each is sealed into a buffer taken from the
//! outbox's bounded spare list, and a driver that hands a sent payload back
//! (`Node::recycle`) makes the send path allocation-free once the list is warm: relaying a
//! broadcast costs no heap allocation per datagram (tests/alloc_free.rs).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;

use super::{Config, DropReason, Event, Stats, Transmit};
use crate::crypto::{Identity, MAC1_LEN, SharedKeys, mac1_nonce_with, random_nonce, seal_packet};
use crate::wire::MAX_DATAGRAM;
use crate::wire::{NONCE_LEN, PING_ID_LEN, Payload, PublicKey};

/// Borrowed node state that handlers write to.
#[derive(Debug)]
pub(crate) struct Io<'a> {
    pub(crate) now: Instant,
    pub(crate) config: &'a Config,
    pub(crate) keys: &'a mut SharedKeys,
    pub(crate) rng: &'a mut ChaCha20Rng,
    pub(crate) transmits: &'a mut Outbox,
    pub(crate) events: &'a mut VecDeque<Event>,
    pub(crate) stats: &'a mut Stats,
    pub(crate) limiter: &'a mut super::limiter::ReplyLimiter,
    /// Our keys in secure groups: datagrams from them carry a mac1 nonce (PROTOCOL.md §2.1).
    pub(crate) secure: &'a HashSet<PublicKey>,
    /// Nonce counter, cookies received and the mac1 of what we last sent each address.
    pub(crate) cookies: &'a mut super::cookie::Cookies,
    /// A batch verdict on the signature of the broadcast being handled (`verify.rs`).
    pub(crate) verified: Option<super::verify::Verified>,
}

impl Io<'_> {
    /// Seals `payload` from `from` to `to` and queues it for `addr`. Bounded: a full queue
    /// drops and counts.
    pub(crate) fn send(
        &mut self,
        from: &Identity,
        to: &PublicKey,
        addr: SocketAddr,
        payload: &Payload<'_>,
    ) {
        if self.transmits.len() >= self.config.max_transmits {
            self.stats.count_drop(DropReason::TransmitQueueFull);
            return;
        }
        let own = from.public_key();
        let secure = self.secure.contains(&own);
        let nonce = if secure {
            let counter = self.cookies.next_counter();
            let cookie = self.cookies.for_sending(&addr, self.now);
            mac1_nonce_with(self.keys.mac1(to), &counter, cookie.as_ref(), &own)
        } else {
            random_nonce(self.rng)
        };
        let Some(shared) = self.keys.get(from.keypair(), to) else {
            self.stats.count_drop(DropReason::BadKey);
            return;
        };
        let mut datagram = self.transmits.buffer();
        if seal_packet(shared, to, &own, &nonce, payload, &mut datagram).is_err() {
            self.transmits.recycle(datagram);
            return;
        }
        if secure {
            let mut mac1 = [0u8; MAC1_LEN];
            mac1.copy_from_slice(&nonce[NONCE_LEN - MAC1_LEN..]);
            self.cookies.note_sent(addr, (own, *to, mac1));
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += datagram.len() as u64;
        self.transmits.push(Transmit {
            destination: addr,
            payload: datagram,
        });
    }

    /// Queues an event for the application. Bounded: a full queue drops and counts.
    pub(crate) fn emit(&mut self, event: Event) {
        if self.events.len() >= self.config.max_events {
            self.stats.count_drop(DropReason::EventQueueFull);
            return;
        }
        self.events.push_back(event);
    }

    /// `base` times a random factor in [0.5, 1.5), so the timers of many nodes do not align.
    pub(crate) fn jittered(&mut self, base: std::time::Duration) -> std::time::Duration {
        base.mul_f64(rand::Rng::random_range(self.rng, 0.5..1.5))
    }

    /// A fresh random ping id.
    pub(crate) fn ping_id(&mut self) -> [u8; PING_ID_LEN] {
        let mut id = [0u8; PING_ID_LEN];
        rand::RngCore::fill_bytes(self.rng, &mut id);
        id
    }
}

/// Spent datagram buffers kept for reuse. A full list costs `SPARE_MAX` × 1 KiB per node;
/// a burst above it allocates, and the surplus is freed when it comes back.
const SPARE_MAX: usize = 8;

/// The datagrams a node queued, oldest first, and spent buffers ready for the next seal.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Transmit>,
    spare: Vec<Vec<u8>>,
}

impl Outbox {
    /// Datagrams waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// An empty buffer that holds the largest datagram: a spare one if there is one.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MAX_DATAGRAM))
    }

    /// Queues a datagram (the caller checked the bound).
    pub(crate) fn push(&mut self, transmit: Transmit) {
        self.queue.push_back(transmit);
    }

    /// The oldest waiting datagram.
    pub(crate) fn pop(&mut self) -> Option<Transmit> {
        self.queue.pop_front()
    }

    /// Takes back a spent buffer, if the list has room and it holds the largest datagram.
    pub(crate) fn recycle(&mut self, mut payload: Vec<u8>) {
        if self.spare.len() < SPARE_MAX && payload.capacity() >= MAX_DATAGRAM {
            payload.clear();
            self.spare.push(payload);
        }
    }

    /// Spare buffers held.
    #[cfg(test)]
    pub(crate) fn spare(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(payload: Vec<u8>) -> Transmit {
        let destination = SocketAddr::from(([127, 0, 0, 1], 1));
        Transmit {
            destination,
            payload,
        }
    }

    #[test]
    fn recycled_buffers_are_reused_and_bounded() {
        let mut out = Outbox::default();
        let mut first = out.buffer();
        first.extend_from_slice(b"sealed");
        let ptr = first.as_ptr();
        out.push(transmit(first));
        let sent = out.pop().expect("queued").payload;
        out.recycle(sent);
        let again = out.buffer();
        assert!(again.is_empty(), "a reused buffer is cleared");
        assert_eq!(again.as_ptr(), ptr, "the same allocation comes back");
        for _ in 0..SPARE_MAX + 5 {
            out.recycle(Vec::with_capacity(MAX_DATAGRAM));
        }
        assert_eq!(out.spare(), SPARE_MAX, "the spare list is bounded");
        out.recycle(again);
        assert_eq!(out.spare(), SPARE_MAX);
    }

    #[test]
    fn small_buffers_are_not_kept() {
        let mut out = Outbox::default();
        out.recycle(vec![0; 10]);
        assert_eq!(
            out.spare(),
            0,
            "a buffer that cannot hold every datagram is freed"
        );
    }
}
