//! Unit tests of the compact history layout: every kept broadcast reads back byte for byte
//! (across page boundaries, with a slot's signer or its own), the limits evict in order and
//! free the pages and slots, stamps before the first entry read back exactly, and a flood
//! of distinct origins and largest bodies stays within the limits.

use std::time::Duration;

use super::super::{HistoryLimits, Log};
use super::*;
use crate::wire::{MAX_SIGNED_PAYLOAD, MessageId, Payload};

/// A deterministic generator (xorshift), so a failure reproduces.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A broadcast's plaintext with a made-up trailer (the layout never checks signatures).
fn plain(origin: u8, signer: u8, number: u32, body: &[u8]) -> Vec<u8> {
    let b = Broadcast {
        origin: PublicKey([origin; 32]),
        number,
        message_id: MessageId::Chat as u8,
        body,
        trailer: Some(SignatureTrailer {
            signer: [signer; 32],
            signature: [number as u8 ^ origin; 64],
        }),
    };
    let mut out = Vec::new();
    Payload::Broadcast(b).encode(&mut out).unwrap();
    out
}

fn decode(plain: &[u8]) -> Broadcast<'_> {
    match Payload::decode(plain) {
        Ok(Payload::Broadcast(b)) => b,
        _ => panic!("not a broadcast"),
    }
}

fn encode(b: Broadcast<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    Payload::Broadcast(b).encode(&mut out).unwrap();
    out
}

/// Random bodies of 0..=785 bytes from 5 origins, a third with a signer of their own.
fn random_plains(g: &mut Gen, count: u32) -> Vec<Vec<u8>> {
    (1..=count)
        .map(|n| {
            let len = g.below(MAX_SIGNED_PAYLOAD as u64 + 1) as usize;
            let body: Vec<u8> = (0..len).map(|_| g.next() as u8).collect();
            let origin = g.below(5) as u8;
            let signer = match g.below(3) {
                0 => 100 + g.below(2) as u8,
                _ => origin,
            };
            plain(origin, signer, n, &body)
        })
        .collect()
}

#[test]
fn every_entry_reads_back_byte_for_byte_across_page_boundaries() {
    let t0 = crate::test_epoch();
    let mut g = Gen(7);
    let plains = random_plains(&mut g, 300);
    let mut a = Arena::default();
    for (seq, p) in (1..).zip(&plains) {
        assert!(a.push(seq, t0, &decode(p)));
    }
    assert!(a.pages() > 10, "the records span {} pages", a.pages());
    for (i, p) in plains.iter().enumerate() {
        let b = a.broadcast(i).unwrap();
        assert_eq!(&encode(b), p, "entry {i}");
        let e = a.get(i).unwrap();
        assert_eq!(
            (e.seq, e.origin, e.number, e.at),
            (i as u32 + 1, b.origin, b.number, t0)
        );
        assert_eq!(a.find(&b.origin, b.number), Some(e.seq));
    }
    assert_eq!(a.bytes(), plains.iter().map(Vec::len).sum::<usize>());
}

#[test]
fn the_count_limit_wraps_the_pages_newest_kept_and_bytes_exact() {
    let t0 = crate::test_epoch();
    let mut g = Gen(11);
    let plains = random_plains(&mut g, 2000);
    let limits = HistoryLimits {
        max_messages: 50,
        ..HistoryLimits::default()
    };
    let mut log = Log::new(limits);
    for p in &plains {
        assert!(log.push(t0, Duration::ZERO, &decode(p)));
        let a = &log.entries;
        // 50 records of at most 882 bytes: 6 full pages at least half used, plus the last.
        assert!(
            a.pages() <= 50 * 882 / (PAGE - 882) + 2,
            "{} pages",
            a.pages()
        );
    }
    let kept = &plains[plains.len() - 50..];
    let records = log.since(0, t0);
    let got: Vec<&Vec<u8>> = records.iter().map(|r| &r.plain).collect();
    assert_eq!(
        got,
        kept.iter().collect::<Vec<_>>(),
        "the newest 50, in order"
    );
    assert_eq!(log.bytes(), kept.iter().map(Vec::len).sum::<usize>());
    let gone = log.evicted_since(0).0;
    assert_eq!(gone.len(), 1950);
    assert_eq!(gone[0], (decode(&plains[0]).origin, 1), "oldest out first");
    assert!(log.entries.slots() <= 5 + 2, "one slot per origin");
}

#[test]
fn stamps_before_the_first_entry_read_back_exactly_and_expire_by_age() {
    let t0 = crate::test_epoch();
    let day = Duration::from_secs(24 * 3600);
    let t = t0 + 10 * day;
    let mut log = Log::new(HistoryLimits::default());
    let odd = Duration::from_nanos(123_456_789);
    assert!(log.push(t, Duration::ZERO, &decode(&plain(1, 1, 1, b"now"))));
    assert!(log.push(t, 6 * day + odd, &decode(&plain(1, 1, 2, b"old"))));
    assert!(log.push(t + odd, day, &decode(&plain(2, 2, 1, b"a day"))));
    let ats: Vec<Instant> = (0..3).map(|i| log.entries.get(i).unwrap().at).collect();
    assert_eq!(ats, [t, t - 6 * day - odd, t + odd - day]);
    log.trim(t + 7 * day - Duration::from_nanos(1));
    assert_eq!(log.len(), 3, "the first stored is not seven days old yet");
    log.trim(t + 7 * day);
    assert_eq!(log.len(), 0, "it went, and the two older behind it");
    assert_eq!(log.evicted_since(0).0.len(), 3);
}

#[test]
fn a_restore_from_the_records_gives_the_same_log() {
    let t0 = crate::test_epoch();
    let mut g = Gen(5);
    let plains = random_plains(&mut g, 120);
    let mut log = Log::new(HistoryLimits::default());
    for (age, p) in (0..120u64).rev().zip(&plains) {
        log.push(t0, Duration::from_secs(age), &decode(p));
    }
    let records = log.since(0, t0 + Duration::from_secs(30));
    let mut again = Log::new(HistoryLimits::default());
    let now = t0 + Duration::from_secs(1000);
    for r in &records {
        let age = Duration::from_secs(u64::from(r.age_secs));
        assert!(again.push(now, age, &decode(&r.plain)));
    }
    let back = again.since(0, now);
    assert_eq!(back, records, "same plaintexts, positions and ages");
    assert_eq!(again.bytes(), log.bytes());
}

#[test]
fn prev_and_below_skip_what_the_asker_may_not_see() {
    let t0 = crate::test_epoch();
    let mut a = Arena::default();
    let o = PublicKey([3; 32]);
    // Numbers arrive out of order (a fetch fills a gap later).
    for (seq, n) in [(1, 5), (2, 9), (3, 7), (4, 2)] {
        assert!(a.push(seq, t0, &decode(&plain(3, 3, n, b"x"))));
    }
    assert_eq!(a.below(&o, 9), Some(7));
    assert_eq!(a.below(&o, 2), None);
    assert_eq!(a.prev_visible(&o, 9, 0), 7);
    assert_eq!(a.prev_visible(&o, 9, 4), 2, "7 and 5 came before the view");
    assert_eq!(a.prev_visible(&o, 9, 5), 0, "none the asker may see");
    assert_eq!(a.prev_visible(&o, 7, 1), 5);
    assert_eq!(a.prev_visible(&o, 5, 0), 2);
    assert_eq!(a.find(&o, 6), None);
}

#[test]
fn a_flood_of_origins_and_largest_bodies_stays_within_the_limits() {
    let t0 = crate::test_epoch();
    let limits = HistoryLimits::default();
    let mut log = Log::new(limits);
    let body = [0xAB; MAX_SIGNED_PAYLOAD];
    let mut max_pages = 0;
    for n in 0..20_000u32 {
        let mut p = plain(0, 0, n + 1, &body[..(n as usize * 37) % body.len()]);
        // A fresh origin and signer each time: every entry opens a slot.
        p[1..5].copy_from_slice(&n.to_be_bytes());
        let at = p.len() - 96;
        p[at..at + 4].copy_from_slice(&n.to_le_bytes());
        assert!(log.push(t0, Duration::ZERO, &decode(&p)));
        assert!(log.len() <= limits.max_messages && log.bytes() <= limits.max_bytes);
        max_pages = max_pages.max(log.entries.pages());
    }
    let bound = limits.max_bytes / (PAGE - 882) + 2;
    assert!(max_pages <= bound, "{max_pages} pages > {bound}");
    assert!(
        log.entries.slots() <= limits.max_messages + 1,
        "{}",
        log.entries.slots()
    );
    assert_eq!(
        log.evicted_since(0).0.len(),
        4096,
        "evictions kept for the store are capped"
    );
}
