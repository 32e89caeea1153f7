//! Two endpoints wired by hand: delivery with an ack, the retry and the mailbox fallback,
//! and the attacks (a forged sender, an unknown key, junk, a flood, a foreign ack).

use super::*;

const INDEX: [u8; 32] = [9; 32];
const UNIX: u64 = 1_800_000_000;

struct Side {
    pms: DirectPms,
    id: [u8; 32],
    addr: SocketAddr,
    name: &'static str,
}

fn side(n: u8, name: &'static str) -> Side {
    let mut pms = DirectPms::new([n; 32], INDEX, [n; 32]);
    let id = [n + 100; 32];
    pms.login(name, Identity::from_seed(&id));
    let addr = format!("127.0.0.{n}:5000").parse().unwrap();
    Side {
        pms,
        id,
        addr,
        name,
    }
}

impl Side {
    fn account_key(&self) -> [u8; 32] {
        Identity::from_seed(&self.id).signing_key()
    }

    fn presence(&self) -> PresenceEntry {
        let id = Identity::from_seed(&self.id);
        let key = self.pms.node_key().0;
        PresenceEntry::sign(&id, self.name, key, self.addr, UNIX + 60, &INDEX)
    }

    fn events(&mut self) -> Vec<DirectEvent> {
        std::iter::from_fn(|| self.pms.poll_event()).collect()
    }

    fn outgoing(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::iter::from_fn(|| self.pms.poll_transmit()).collect()
    }
}

/// Alice and bob, each knowing the other's key, alice knowing bob's presence.
fn pair() -> (Side, Side) {
    let mut a = side(1, "alice");
    let mut b = side(2, "bob");
    let now = crate::test_epoch();
    a.pms
        .learn(now, UNIX, "bob", b.account_key(), &[b.presence()]);
    b.pms.learn(now, UNIX, "alice", a.account_key(), &[]);
    (a, b)
}

fn deliver(from: &mut Side, to: &mut Side, now: Instant) -> usize {
    let out = from.outgoing();
    let n = out.len();
    for (dest, d) in out {
        assert_eq!(dest, to.addr);
        to.pms.handle_datagram(now, from.addr, &d);
    }
    n
}

#[test]
fn a_direct_pm_is_delivered_and_acknowledged() {
    let (mut a, mut b) = pair();
    let now = crate::test_epoch();
    assert_eq!(a.pms.route(now, "bob"), Route::Direct);
    a.pms.send(now, "bob", 7, "hi bob").unwrap();
    assert_eq!(deliver(&mut a, &mut b, now), 1);
    let got = b.events();
    assert!(
        matches!(&got[..], [DirectEvent::Received { from, client_id: 7, text, .. }]
            if from == "alice" && text == "hi bob"),
        "{got:?}"
    );
    assert_eq!(deliver(&mut b, &mut a, now), 1, "one ack");
    assert_eq!(
        a.events(),
        vec![DirectEvent::Delivered {
            to: "bob".into(),
            client_id: 7
        }]
    );
    assert_eq!(a.pms.poll_timeout(), None, "nothing left to retry");
}

#[test]
fn without_an_ack_it_retries_then_hands_the_same_body_to_the_mailbox() {
    let (mut a, mut b) = pair();
    let t0 = crate::test_epoch();
    a.pms.send(t0, "bob", 9, "are you there").unwrap();
    let first = a.outgoing();
    assert_eq!(first.len(), 1);
    let mut sends = 1;
    let mut t = t0;
    while let Some(due) = a.pms.poll_timeout() {
        t = due;
        a.pms.handle_timeout(t);
        sends += a.outgoing().len();
        assert!(sends <= TRIES as usize + 1, "bounded");
    }
    assert_eq!(sends, TRIES as usize);
    assert!(t - t0 <= RETRY * TRIES, "{:?}", t - t0);
    let ev = a.events();
    let [
        DirectEvent::Undelivered {
            to,
            client_id: 9,
            body,
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}");
    };
    assert_eq!(to, "bob");
    // The mailbox copy is the very body sent direct: bob de-duplicates by its nonce.
    b.pms.handle_datagram(t0, a.addr, &first[0].1);
    let got = b.events();
    let [DirectEvent::Received { nonce, .. }] = &got[..] else {
        panic!("{got:?}");
    };
    assert_eq!(&body[..NONCE_LEN], nonce);
    assert_eq!(a.pms.route(t, "bob"), Route::Offline, "presence dropped");
}

#[test]
fn a_forged_sender_is_dropped_without_an_ack() {
    let (mut a, mut b) = pair();
    // Mallory knows bob's presence and claims to be alice, sealing with her own identity.
    let mut m = side(3, "alice");
    m.pms.login("alice", Identity::from_seed(&[203; 32]));
    let now = crate::test_epoch();
    m.pms
        .learn(now, UNIX, "bob", b.account_key(), &[b.presence()]);
    m.pms.send(now, "bob", 1, "send me your password").unwrap();
    for (_, d) in m.outgoing() {
        b.pms.handle_datagram(now, m.addr, &d);
    }
    assert!(b.events().is_empty());
    assert!(b.outgoing().is_empty(), "no ack for a forgery");
    assert_eq!(b.pms.drops().get("bad_seal"), Some(&1));
    // Alice's real PM still goes through.
    a.pms.send(now, "bob", 2, "real").unwrap();
    deliver(&mut a, &mut b, now);
    assert_eq!(b.events().len(), 1);
}

#[test]
fn an_unknown_sender_is_held_until_its_key_is_looked_up() {
    let (mut a, _) = pair();
    let mut b = side(2, "bob");
    let now = crate::test_epoch();
    a.pms.send(now, "bob", 3, "who am i").unwrap();
    deliver(&mut a, &mut b, now);
    assert_eq!(b.events(), vec![DirectEvent::NeedKey("alice".into())]);
    assert!(
        b.outgoing().is_empty(),
        "no ack before the sender is authenticated"
    );
    assert_eq!(b.pms.drops().get("unknown_sender"), Some(&1));
    // The key the index gives for alice opens it: shown and acknowledged.
    b.pms.learn(now, UNIX, "alice", a.account_key(), &[]);
    let got = b.events();
    assert!(
        matches!(&got[..], [DirectEvent::Received { client_id: 3, .. }]),
        "{got:?}"
    );
    assert_eq!(deliver(&mut b, &mut a, now), 1);
    assert!(matches!(
        &a.events()[..],
        [DirectEvent::Delivered { client_id: 3, .. }]
    ));
}

#[test]
fn a_held_pm_under_a_false_name_is_never_shown() {
    // Mallory claims to be alice; bob holds it, looks alice up, and her real key does not
    // open it.
    let mut b = side(2, "bob");
    let a = side(1, "alice");
    let mut m = side(3, "alice");
    let now = crate::test_epoch();
    m.pms
        .learn(now, UNIX, "bob", b.account_key(), &[b.presence()]);
    m.pms.send(now, "bob", 5, "trust me").unwrap();
    deliver(&mut m, &mut b, now);
    assert_eq!(b.events(), vec![DirectEvent::NeedKey("alice".into())]);
    b.pms.learn(now, UNIX, "alice", a.account_key(), &[]);
    assert!(b.events().is_empty());
    assert!(b.outgoing().is_empty());
    assert_eq!(b.pms.drops().get("bad_seal"), Some(&1));
}

#[test]
fn held_pms_are_bounded() {
    let mut b = side(2, "bob");
    let mut m = side(3, "alice");
    let now = crate::test_epoch();
    m.pms
        .learn(now, UNIX, "bob", b.account_key(), &[b.presence()]);
    for i in 0..(MAX_HELD as u64 + 5) {
        m.pms.send(now, "bob", i, "spam").unwrap();
    }
    deliver(&mut m, &mut b, now);
    assert_eq!(b.pms.drops().get("held_evicted"), Some(&5));
    assert_eq!(b.events().len(), 1, "one lookup asked");
}

#[test]
fn made_up_sender_names_cannot_make_us_flood_the_index() {
    let mut b = side(2, "bob");
    let now = crate::test_epoch();
    for i in 0..20u8 {
        let name: &'static str = Box::leak(format!("fake{i}").into_boxed_str());
        let mut m = side(3, name);
        m.pms
            .learn(now, UNIX, "bob", b.account_key(), &[b.presence()]);
        m.pms.send(now, "bob", 1, "hi").unwrap();
        deliver(&mut m, &mut b, now);
    }
    let asks = b.events().len();
    assert_eq!(asks, ASK_RATE.0 as usize, "lookups bounded");
    assert_eq!(
        b.pms.drops().get("ask_limited"),
        Some(&(20 - u64::from(ASK_RATE.0)))
    );
}

#[test]
fn junk_floods_and_foreign_acks_are_counted_drops() {
    let (mut a, mut b) = pair();
    let now = crate::test_epoch();
    let junk = vec![0x30; 200];
    let (burst, _) = IP_RATE;
    for _ in 0..burst + 10 {
        b.pms.handle_datagram(now, a.addr, &junk);
    }
    assert_eq!(b.pms.drops().get("bad_envelope"), Some(&u64::from(burst)));
    assert_eq!(b.pms.drops().get("over_limit"), Some(&10));
    // An ack from a key the PM was not sent to does not count.
    a.pms.send(now, "bob", 4, "x").unwrap();
    let _ = a.outgoing();
    let mut m = side(3, "mallory");
    let mut ack = vec![DIRECT_ACK];
    ack.extend_from_slice(&4u64.to_be_bytes());
    let key = a.pms.node_key();
    m.pms.seal_to(&key, a.addr, &ack);
    for (_, d) in m.outgoing() {
        a.pms.handle_datagram(now, m.addr, &d);
    }
    assert_eq!(a.pms.drops().get("unexpected_ack"), Some(&1));
    assert!(a.events().is_empty());
}

#[test]
fn presence_not_signed_by_the_account_or_expired_is_not_used() {
    let mut a = side(1, "alice");
    let b = side(2, "bob");
    let now = crate::test_epoch();
    let mut moved = b.presence();
    moved.addr = "192.0.2.1:5000".parse().unwrap();
    a.pms.learn(now, UNIX, "bob", b.account_key(), &[moved]);
    assert_eq!(
        a.pms.route(now, "bob"),
        Route::Offline,
        "bad signature ignored"
    );
    a.pms
        .learn(now, UNIX + 3600, "bob", b.account_key(), &[b.presence()]);
    assert_eq!(a.pms.route(now, "bob"), Route::Offline, "expired ignored");
    a.pms
        .learn(now, UNIX, "bob", b.account_key(), &[b.presence()]);
    assert_eq!(a.pms.route(now, "bob"), Route::Direct);
    assert_eq!(
        a.pms.route(now + PRESENCE_CACHE, "bob"),
        Route::Unknown,
        "looked up again"
    );
    assert_eq!(
        a.pms.send(now, "bob", 1, &"x".repeat(MAX_DIRECT_TEXT + 1)),
        Err(NotSent::TooLong)
    );
}
