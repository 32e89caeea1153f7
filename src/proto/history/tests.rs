//! Unit tests of the history log's bounds and the display order; `arena.rs` has those of
//! its compact layout.

use std::time::Duration;

use super::*;
use crate::crypto::Identity;
use crate::wire::HistoryVisibility;

fn signed(id: &Identity, number: u32, text: &[u8]) -> Vec<u8> {
    let mut b = Broadcast {
        origin: id.public_key(),
        number,
        message_id: MessageId::Chat as u8,
        body: text,
        trailer: None,
    };
    b.trailer = Some(id.sign_broadcast(&[7; 32], &b).unwrap());
    let mut out = Vec::new();
    Payload::Broadcast(b).encode(&mut out).unwrap();
    out
}

fn push(log: &mut Log, now: Instant, age: u64, plain: &[u8]) -> bool {
    let Ok(Payload::Broadcast(b)) = Payload::decode(plain) else {
        panic!("not a broadcast")
    };
    log.push(now, Duration::from_secs(age), &b)
}

#[test]
fn the_log_keeps_at_most_max_messages_oldest_out_first() {
    let t0 = crate::test_epoch();
    let id = Identity::from_seed(&[1; 32]);
    let mut log = Log::new(HistoryLimits {
        max_messages: 10,
        ..HistoryLimits::default()
    });
    for n in 1..=25 {
        assert!(push(&mut log, t0, 0, &signed(&id, n, b"hi")));
    }
    assert_eq!(log.len(), 10);
    assert!(!log.holds(&id.public_key(), 15) && log.holds(&id.public_key(), 16));
    assert!(
        !push(&mut log, t0, 0, &signed(&id, 20, b"again")),
        "held: not kept twice"
    );
}

#[test]
fn the_log_drops_what_is_past_max_age_and_over_bytes() {
    let t0 = crate::test_epoch();
    let id = Identity::from_seed(&[2; 32]);
    let day = 24 * 3600;
    let mut log = Log::new(HistoryLimits::default());
    assert!(!push(
        &mut log,
        t0 + Duration::from_secs(8 * day),
        8 * day,
        &signed(&id, 1, b"x")
    ));
    let t = t0 + Duration::from_secs(10 * day);
    assert!(push(&mut log, t, 6 * day, &signed(&id, 2, b"six days")));
    assert!(push(&mut log, t, 0, &signed(&id, 3, b"now")));
    log.trim(t + Duration::from_secs(day));
    assert_eq!(log.len(), 1, "the six-day-old one passed seven days");
    let big = vec![b'b'; 700];
    let mut small = Log::new(HistoryLimits {
        max_bytes: 4000,
        ..HistoryLimits::default()
    });
    for n in 1..=20 {
        push(&mut small, t, 0, &signed(&id, n, &big));
    }
    assert!(
        small.bytes() <= 4000 && small.len() == 4,
        "{} {}",
        small.bytes(),
        small.len()
    );
}

#[test]
fn display_order_keeps_each_origin_in_number_order_whatever_the_ages() {
    let a = PublicKey([1; 32]);
    let b = PublicKey([2; 32]);
    let mut f = Fetch::default();
    f.insert_for_test((a, 1), 50);
    f.insert_for_test((a, 2), 90); // a lying age: older than its predecessor
    f.insert_for_test((b, 7), 60);
    f.insert_for_test((b, 8), u32::MAX);
    let order: Vec<_> = f
        .order_for_test(1000)
        .into_iter()
        .map(|(o, n, _)| (o, n))
        .collect();
    assert_eq!(order, [(b, 7), (b, 8), (a, 1), (a, 2)]);
}

#[test]
fn the_store_is_told_the_new_entries_and_the_evicted_ones_since_its_cursor() {
    let t0 = crate::test_epoch();
    let id = Identity::from_seed(&[2; 32]);
    let mut log = Log::new(HistoryLimits {
        max_messages: 3,
        ..HistoryLimits::default()
    });
    for n in 1..=3 {
        push(&mut log, t0, 0, &signed(&id, n, b"a"));
    }
    let cursor = (log.last_seq(), log.evicted_since(0).1);
    assert_eq!(cursor, (3, 0));
    for n in 4..=5 {
        push(&mut log, t0, 0, &signed(&id, n, b"b"));
    }
    let new: Vec<u32> = log.since(cursor.0, t0).iter().map(|r| r.number).collect();
    let (gone, count) = log.evicted_since(cursor.1);
    assert_eq!(new, [4, 5], "only what came since");
    let origin = id.public_key();
    assert_eq!(gone, [(origin, 1), (origin, 2)], "what went since");
    assert_eq!(
        log.evicted_since(count).0,
        [],
        "nothing new after the new cursor"
    );
}

#[test]
fn admissions_survive_a_restart_by_entry_and_only_ever_show_less() {
    let t0 = crate::test_epoch();
    let id = Identity::from_seed(&[3; 32]);
    let (early, late, fresh) = (PublicKey([1; 32]), PublicKey([2; 32]), PublicKey([4; 32]));
    let mut log = Log::new(HistoryLimits::default());
    let plains: Vec<Vec<u8>> = (1..=4).map(|n| signed(&id, n, b"x")).collect();
    push(&mut log, t0, 0, &plains[0]);
    log.admit(early);
    push(&mut log, t0, 0, &plains[1]);
    push(&mut log, t0, 0, &plains[2]);
    log.admit(late);
    push(&mut log, t0, 0, &plains[3]);
    log.admit(fresh);
    let stored = log.admissions();
    // After a restart the log is renumbered, and the first entry is gone.
    let mut again = Log::new(HistoryLimits::default());
    for p in &plains[1..] {
        push(&mut again, t0, 0, p);
    }
    again.restore_admissions(&stored);
    let sees = |log: &Log, k: &PublicKey| {
        let from = log.start_for(k, HistoryVisibility::Joined).unwrap();
        (0..log.entries.len())
            .filter_map(|i| log.entries.get(i))
            .filter(|e| e.seq >= from)
            .map(|e| e.number)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sees(&again, &early),
        [2, 3, 4],
        "from its first entry, 2, on"
    );
    assert_eq!(sees(&again, &late), [4]);
    assert_eq!(
        sees(&again, &fresh),
        Vec::<u32>::new(),
        "only what comes next"
    );
    assert_eq!(
        sees(&log, &late),
        sees(&again, &late),
        "as before the restart"
    );
}
