//! [`Ledger`]: what the bench sent and what each receiver got, shared between the publishing
//! scheduler and the nodes' event collectors, and the payload that ties the two together.
//!
//! A bench message is `--size` bytes: its sequence number as 8 lower-case hex digits, then
//! `.` padding. The scheduler writes the send instant under that number *before* it hands the
//! message to the publisher's driver, so a collector that sees the number in a
//! `MessageReceived` text can always find it. Each collector keeps a bitset of the numbers its
//! node has delivered, so a repeated delivery is counted as a duplicate, not twice.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::histogram::Histogram;
use crate::net::NodeEvent;
use crate::proto::Event;

/// Length of the sequence number at the start of every bench message.
pub(crate) const SEQ_LEN: usize = 8;

/// The text of bench message `seq`, `size` bytes long (`size` ≥ [`SEQ_LEN`]).
pub(crate) fn payload(seq: u32, size: usize) -> Vec<u8> {
    let mut text = format!("{seq:08x}").into_bytes();
    text.resize(size.max(SEQ_LEN), b'.');
    text
}

/// The sequence number of a bench message; `None` for any other text.
pub(crate) fn seq_of(text: &[u8]) -> Option<u32> {
    let digits = std::str::from_utf8(text.get(..SEQ_LEN)?).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// A published message.
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    publisher: usize,
}

/// Counts so far, as the progress line and the final report read them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Messages handed to a publisher.
    pub(crate) sent: u64,
    /// (message, receiver) pairs delivered, the publisher itself not counted.
    pub(crate) delivered: u64,
    /// Deliveries beyond the first of a (message, receiver) pair.
    pub(crate) duplicates: u64,
    /// `MessageReceived` events whose text is not a bench message we sent.
    pub(crate) unknown: u64,
    /// Latency of every first delivery.
    pub(crate) latency: Histogram,
    /// When the last first delivery happened.
    pub(crate) last_delivery: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<Sent>,
    counts: Snapshot,
}

/// The shared record of sends and deliveries (one short lock per send and per event).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    state: Mutex<State>,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A collector that panicked mid-update leaves counts that are still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that the next message (sequence numbers count from 0) is published by
    /// `publisher` at `at`; returns its sequence number.
    pub(crate) fn publish(&self, publisher: usize, at: Instant) -> u32 {
        let mut s = self.lock();
        let seq = u32::try_from(s.sent.len()).unwrap_or(u32::MAX);
        s.sent.push(Sent { at, publisher });
        s.counts.sent += 1;
        seq
    }

    /// Records that `receiver` delivered message `seq` at `at` for the first time.
    fn deliver(&self, receiver: usize, seq: u32, at: Instant) {
        let mut s = self.lock();
        let Some(sent) = s.sent.get(seq as usize).copied() else {
            s.counts.unknown += 1;
            return;
        };
        if sent.publisher == receiver {
            return;
        }
        let c = &mut s.counts;
        c.delivered += 1;
        c.latency.record(at.saturating_duration_since(sent.at));
        c.last_delivery = c.last_delivery.max(Some(at));
    }

    fn count(&self, what: fn(&mut Snapshot) -> &mut u64) {
        *what(&mut self.lock().counts) += 1;
    }

    /// A copy of the counts so far.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.lock().counts.clone()
    }

    /// Messages sent and first deliveries so far.
    pub(crate) fn progress(&self) -> (u64, u64) {
        let s = self.lock();
        (s.counts.sent, s.counts.delivered)
    }

    /// The `q` latency quantile so far.
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        self.lock().counts.latency.quantile(q)
    }
}

/// The numbers one receiver has delivered: a bitset that grows with the largest number seen
/// (the bench bounds the messages, so it is bounded too).
#[derive(Debug, Default)]
struct Seen(Vec<u64>);

impl Seen {
    /// Marks `seq`; false if it was already marked.
    fn insert(&mut self, seq: u32) -> bool {
        let (word, bit) = (seq as usize / 64, seq % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        let fresh = self.0[word] & (1 << bit) == 0;
        self.0[word] |= 1 << bit;
        fresh
    }
}

/// Consumes node `receiver`'s events until its driver stops, entering every bench message it
/// delivers into `ledger`.
pub(crate) async fn collect(
    receiver: usize,
    mut events: mpsc::Receiver<NodeEvent>,
    ledger: Arc<Ledger>,
) {
    let mut seen = Seen::default();
    while let Some(e) = events.recv().await {
        let Event::MessageReceived { text, .. } = e.event else {
            continue;
        };
        match seq_of(&text) {
            Some(seq) if seen.insert(seq) => ledger.deliver(receiver, seq, e.at),
            Some(_) => ledger.count(|c| &mut c.duplicates),
            None => ledger.count(|c| &mut c.unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_number_and_have_the_asked_size() {
        for (seq, size) in [(0, 8), (7, 200), (0xdead_beef, 785), (u32::MAX, 9)] {
            let text = payload(seq, size);
            assert_eq!(text.len(), size);
            assert_eq!(seq_of(&text), Some(seq));
        }
        assert_eq!(seq_of(b"0000001"), None);
        assert_eq!(seq_of(b"hello, world"), None);
        assert_eq!(seq_of(b"+0000001"), None);
    }

    #[test]
    fn the_seen_set_spots_repeats() {
        let mut seen = Seen::default();
        assert!(seen.insert(5));
        assert!(seen.insert(700));
        assert!(!seen.insert(5));
        assert!(!seen.insert(700));
        assert!(seen.insert(64));
    }

    #[test]
    fn deliveries_are_attributed_to_their_send() {
        let ledger = Ledger::default();
        let t0 = crate::net::now();
        let a = ledger.publish(3, t0);
        let b = ledger.publish(4, t0 + Duration::from_millis(10));
        assert_eq!((a, b), (0, 1));
        ledger.deliver(1, a, t0 + Duration::from_millis(2));
        ledger.deliver(3, a, t0 + Duration::from_millis(2)); // the publisher itself
        ledger.deliver(1, b, t0 + Duration::from_millis(14));
        ledger.deliver(1, 9, t0); // never sent
        let s = ledger.snapshot();
        assert_eq!((s.sent, s.delivered, s.unknown), (2, 2, 1));
        assert_eq!(s.latency.max(), Some(Duration::from_millis(4)));
        assert_eq!(s.last_delivery, Some(t0 + Duration::from_millis(14)));
        assert_eq!(ledger.progress(), (2, 2));
    }
}
