//! The outputs a group handler writes to during one call: sealed datagrams, events, counters,
//! plus the shared-key cache and the RNG. One `Io` lives for one `handle_*` call.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;

use super::{Config, DropReason, Event, Stats, Transmit};
use crate::crypto::{Identity, MAC1_LEN, SharedKeys, mac1_nonce, random_nonce, seal_packet};
use crate::wire::{NONCE_LEN, PING_ID_LEN, Payload, PublicKey};

/// Borrowed node state that handlers write to.
#[derive(Debug)]
pub(crate) struct Io<'a> {
    pub(crate) now: Instant,
    pub(crate) config: &'a Config,
    pub(crate) keys: &'a mut SharedKeys,
    pub(crate) rng: &'a mut ChaCha20Rng,
    pub(crate) transmits: &'a mut VecDeque<Transmit>,
    pub(crate) events: &'a mut VecDeque<Event>,
    pub(crate) stats: &'a mut Stats,
    pub(crate) limiter: &'a mut super::limiter::ReplyLimiter,
    /// Our keys in secure groups: datagrams from them carry a mac1 nonce (PROTOCOL.md §2.1).
    pub(crate) secure: &'a HashSet<PublicKey>,
    /// Nonce counter, cookies received and the mac1 of what we last sent each address.
    pub(crate) cookies: &'a mut super::cookie::Cookies,
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
            mac1_nonce(&counter, cookie.as_ref(), to, &own)
        } else {
            random_nonce(self.rng)
        };
        let Some(shared) = self.keys.get(from.keypair(), to) else {
            self.stats.count_drop(DropReason::BadKey);
            return;
        };
        let mut datagram = Vec::with_capacity(crate::wire::MAX_DATAGRAM);
        if seal_packet(shared, to, &own, &nonce, payload, &mut datagram).is_err() {
            return;
        }
        if secure {
            let mut mac1 = [0u8; MAC1_LEN];
            mac1.copy_from_slice(&nonce[NONCE_LEN - MAC1_LEN..]);
            self.cookies.note_sent(addr, (own, *to, mac1));
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += datagram.len() as u64;
        self.transmits.push_back(Transmit {
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
