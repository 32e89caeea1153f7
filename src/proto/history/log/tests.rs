//! Copies shared with repair (`Log::share`, `Log::copy`) against a plain model of repair's
//! own copies: every copy repair may still re-send reads back byte for byte whatever the
//! limits drop, and the rescued ones stay within repair's count and ttl, also under a flood
//! of attacker-chosen messages.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::super::HistoryLimits;
use super::Log;
use crate::wire::{Broadcast, MessageId, Payload, PublicKey, SignatureTrailer};

/// A deterministic generator (xorshift), so a failure reproduces.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn plain(origin: PublicKey, signer: u8, number: u32, body: &[u8]) -> Vec<u8> {
    let b = Broadcast {
        origin,
        number,
        message_id: MessageId::Chat as u8,
        body,
        trailer: Some(SignatureTrailer {
            signer: [signer; 32],
            signature: [number as u8; 64],
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

/// Repair's copies as it kept them before: whole plaintexts, bounded by count and age.
struct Model {
    /// Arrival, plaintext, and whether the log holds it (shared) or repair its own.
    copies: VecDeque<(Instant, Vec<u8>, bool)>,
    young: (Duration, usize),
}

impl Model {
    fn keep(&mut self, now: Instant, plain: Vec<u8>, shared: bool) {
        if self.copies.len() >= self.young.1 {
            self.copies.pop_front();
        }
        self.copies.push_back((now, plain, shared));
    }

    /// The shared copies repair may still re-send at `now`.
    fn live(&self, now: Instant) -> impl Iterator<Item = &Vec<u8>> {
        let ttl = self.young.0;
        (self.copies.iter())
            .filter(move |(at, _, shared)| *shared && now.saturating_duration_since(*at) < ttl)
            .map(|(_, p, _)| p)
    }
}

fn check(log: &Log, model: &Model, now: Instant, run: u64) {
    for p in model.live(now) {
        let b = decode(p);
        assert_eq!(log.copy(&b.origin, b.number).as_ref(), Some(p), "run {run}");
    }
    assert!(log.rescued() <= model.young.1, "run {run}");
}

#[test]
fn every_copy_repair_may_resend_reads_back_whatever_the_limits_drop() {
    for run in 0..300 {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15 ^ (run + 1));
        let limits = HistoryLimits {
            max_messages: 1 + g.below(24) as usize,
            max_age: Duration::from_millis(500 + g.below(10_000)),
            max_bytes: 200 + g.below(6_000) as usize,
        };
        let young = (
            Duration::from_millis(1 + g.below(3_000)),
            1 + g.below(16) as usize,
        );
        let mut log = Log::new(limits);
        let mut model = Model {
            copies: VecDeque::new(),
            young,
        };
        let mut now = crate::test_epoch();
        for number in 1..=200u32 {
            now += Duration::from_millis(g.below(400));
            let origin = PublicKey([g.below(6) as u8; 32]);
            let body = vec![b'x'; g.below(786) as usize];
            let p = plain(origin, g.below(2) as u8, number, &body);
            match g.below(4) {
                // A fetched one (stored with an age): repair holds no copy of it.
                0 => {
                    let age = Duration::from_millis(g.below(20_000));
                    log.push(now, age, &decode(&p));
                }
                // A live one: repair keeps it and shares it once the log stored it.
                // (One the log refuses or drops at once, bigger than its byte limit, is not
                // shared: repair keeps its own copy.)
                _ => {
                    let b = decode(&p);
                    let shared =
                        log.push(now, Duration::ZERO, &b) && log.share(&origin, number, young);
                    model.keep(now, p, shared);
                }
            }
            check(&log, &model, now, run);
        }
    }
}

#[test]
fn a_shared_copy_outlives_its_entry_until_repair_lets_it_go() {
    let limits = HistoryLimits {
        max_messages: 2,
        ..HistoryLimits::default()
    };
    let young = (Duration::from_secs(3), 8);
    let mut log = Log::new(limits);
    let t0 = crate::test_epoch();
    let key = PublicKey([1; 32]);
    let plains: Vec<_> = (1..=4u32).map(|n| plain(key, 1, n, b"hello")).collect();
    for (n, p) in (1..=4u32).zip(&plains) {
        assert!(log.push(t0, Duration::ZERO, &decode(p)));
        if n != 2 {
            assert!(log.share(&key, n, young));
        }
    }
    // 1 and 2 went at the count limit: 1 was shared and is rescued, 2 was not.
    assert_eq!(log.len(), 2);
    assert_eq!(log.copy(&key, 1).as_ref(), Some(&plains[0]));
    assert_eq!(log.copy(&key, 2), None, "not shared: repair kept its own");
    assert_eq!(log.rescued(), 1);
    // Past repair's ttl the rescued copy goes at the next trim.
    log.trim(t0 + young.0);
    assert_eq!((log.rescued(), log.copy(&key, 1)), (0, None));
    // An entry past the ttl when the limits drop it is not rescued.
    let late = plain(key, 1, 5, b"late");
    assert!(log.push(t0 + young.0, Duration::ZERO, &decode(&late)));
    assert_eq!((log.len(), log.rescued()), (2, 0));
    assert_eq!(log.copy(&key, 3), None);
}

#[test]
fn a_flood_of_attacker_messages_rescues_at_most_repairs_count() {
    // Attacker-chosen: 20,000 distinct origins with the largest bodies, all at once, all
    // shared: the log stays within its limits, the rescued copies within repair's count
    // (whose newest ones all read back), and they go after repair's ttl.
    let limits = HistoryLimits::default();
    let young = (Duration::from_secs(3), 256);
    let mut log = Log::new(limits);
    let t0 = crate::test_epoch();
    let body = vec![0xEE; 785];
    let mut model = Model {
        copies: VecDeque::new(),
        young,
    };
    for i in 0..20_000u32 {
        let mut key = [0; 32];
        key[..4].copy_from_slice(&i.to_le_bytes());
        let p = plain(PublicKey(key), 7, i, &body);
        assert!(log.push(t0, Duration::ZERO, &decode(&p)));
        assert!(log.share(&PublicKey(key), i, young));
        model.keep(t0, p, true);
    }
    assert!(log.len() <= limits.max_messages && log.bytes() <= limits.max_bytes);
    assert!(log.rescued() <= young.1);
    check(&log, &model, t0, 0);
    log.trim(t0 + young.0);
    assert_eq!(log.rescued(), 0);
}
