//! Attacks on presence and direct PMs (PROTOCOL.md §8.14) against a real `dhtchat index`
//! and real `dhtchat chat --plain` clients (harness `tests/index_procs`); the attacker,
//! mallory, is this test with her own account, driving the library directly:
//!
//! - she cannot publish presence for alice (signed by her for alice's name, or alice's own
//!   entry replayed from her session): `forbidden`, and a lookup of alice shows nothing of
//!   hers; lookups need a session and are rate-limited;
//! - she looks bob up and sends his endpoint direct PMs claiming to be alice (sealed with
//!   her own identity), and junk: bob shows none of it and sends no ack; alice's real PM
//!   still arrives;
//! - when bob quits, his presence is withdrawn at once.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod index_procs;

use std::time::{Duration, Instant};

use dhtchat::crypto::Identity;
use dhtchat::index::account::{KdfParams, Lists};
use dhtchat::index::client::{ClientError, IndexClient};
use dhtchat::index::presence::direct::{DirectEvent, DirectPms};
use dhtchat::index::presence::{PresenceEntry, PresenceRequest};
use dhtchat::index::wire::{Request, Status};
use dhtchat::wire::PublicKey;
use index_procs::{Proc, start_index};

const PW: &str = "a long enough secret 9Xq";

fn split(target: &str) -> (PublicKey, std::net::SocketAddr) {
    let (key, addr) = target.split_once('@').unwrap();
    (key.parse().unwrap(), addr.parse().unwrap())
}

async fn mallory(target: &str, seed: u8) -> (IndexClient, Identity) {
    let (key, addr) = split(target);
    let mut c = IndexClient::connect(key, addr).await.unwrap();
    let me = Identity::from_seed(&[seed; 32]);
    let name = format!("mallory{seed}");
    c.register(&name, PW, KdfParams::FLOOR, &me, &Lists::default())
        .await
        .unwrap();
    c.login(&name, PW).await.unwrap();
    (c, me)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_cannot_be_forged_and_forged_direct_pms_are_dropped() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let (index_key, _) = split(&target);
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", PW);
    let mut b = Proc::chat("bob", dirs[2].path(), &target);
    b.account("register", "bob", PW);
    let (mut m, m_id) = mallory(&target, 7).await;

    // Alice's presence, as the index serves it to any logged-in account.
    let alice_key = m.user_key("alice").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let alice_entry = loop {
        if let Some(e) = m.lookup_presence("alice").await.unwrap().first() {
            break *e;
        }
        assert!(Instant::now() < deadline, "alice never published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(alice_entry.verify("alice", &alice_key, &index_key.0));

    // 1. Mallory's session publishes an entry for alice's name signed by mallory: refused.
    let evil: std::net::SocketAddr = "127.0.0.66:4444".parse().unwrap();
    let forged = PresenceEntry::sign(&m_id, "alice", [9; 32], evil, unix_now() + 60, &index_key.0);
    let publish = |e| Request::Presence(PresenceRequest::Publish(e));
    assert_eq!(
        m.request(&publish(forged)).await.unwrap().status,
        Status::Forbidden
    );
    // 2. Alice's own signed entry replayed from mallory's session: refused too.
    assert_eq!(
        m.request(&publish(alice_entry)).await.unwrap().status,
        Status::Forbidden
    );
    let seen = m.lookup_presence("alice").await.unwrap();
    assert_eq!(seen, vec![alice_entry], "only alice's own entry");
    // Her own presence, signed by her, is accepted (the control).
    let mine = PresenceEntry::sign(
        &m_id,
        "mallory7",
        [9; 32],
        evil,
        unix_now() + 60,
        &index_key.0,
    );
    assert_eq!(m.request(&publish(mine)).await.unwrap().status, Status::Ok);
    // Lookups need a session, and are rate-limited per account.
    let (key, addr) = split(&target);
    let mut anon = IndexClient::connect(key, addr).await.unwrap();
    assert!(matches!(
        anon.lookup_presence("alice").await,
        Err(ClientError::NotLoggedIn)
    ));
    let mut limited = 0;
    for _ in 0..40 {
        if matches!(
            m.lookup_presence("bob").await,
            Err(ClientError::RateLimited)
        ) {
            limited += 1;
        }
    }
    assert!(limited > 0, "40 lookups at once were not limited");

    // 3. Direct PMs to bob claiming to be alice, sealed with mallory's own identity.
    let (_, m2_id) = mallory(&target, 8).await;
    let bob_key = m.user_key("bob").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // the lookup bucket refills a little
    let bob_entries = m.lookup_presence("bob").await.unwrap();
    assert_eq!(bob_entries.len(), 1);
    let socket = tokio::net::UdpSocket::bind("127.0.0.77:0").await.unwrap();
    let mut forger = DirectPms::new([3; 32], index_key.0, [4; 32]);
    forger.login("alice", m2_id);
    let now = dhtchat::net::now();
    forger.learn(now, unix_now(), "bob", bob_key, &bob_entries);
    for i in 0..5 {
        forger
            .send(now, "bob", 1000 + i, "FORGED from alice")
            .unwrap();
    }
    while let Some((to, d)) = forger.poll_transmit() {
        socket.send_to(&d, to).await.unwrap();
        // Junk to the same endpoint: a bad box.
        let mut junk = d.clone();
        junk[120] ^= 1;
        socket.send_to(&junk, to).await.unwrap();
    }
    let mut buf = [0u8; 2048];
    let ack = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await;
    assert!(ack.is_err(), "bob acknowledged a forged PM");
    while let Some(ev) = forger.poll_event() {
        assert!(!matches!(ev, DirectEvent::Delivered { .. }));
    }

    // Alice's real PM arrives; the forgeries never show.
    a.say("/pm bob the real alice");
    b.expect(
        "PM",
        "the real alice",
        &[("chat", "alice"), ("nick", "alice")],
    );
    std::thread::sleep(Duration::from_secs(1));
    while let Ok(line) = b.lines.try_recv() {
        b.seen.push(line);
    }
    assert!(
        !b.printed().contains("FORGED"),
        "bob showed a forgery:\n{}",
        b.printed()
    );

    // Bob quits: his presence is withdrawn at once (not left to expire in 120 s).
    b.say("/quit");
    let _ = b.child.wait();
    assert_eq!(m.lookup_presence("bob").await.unwrap(), Vec::new());
}
