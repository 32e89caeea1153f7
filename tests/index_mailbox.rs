//! Offline private messages (issue #14 item 2, PROTOCOL.md §8.10) on SQLite and, when
//! `DHTCHAT_TEST_POSTGRES` is set, on PostgreSQL: a PM sent while the recipient is offline
//! is delivered exactly once after login and is gone from the database after the
//! acknowledgement; the index stores only ciphertext; quotas, the sender's share and the TTL
//! (with an injected clock) are enforced; a replayed store stores one copy.

mod index_support;

use dhtchat::crypto::Identity;
use dhtchat::index::account::{self, Lists};
use dhtchat::index::client::{ClientError, IndexClient};
use dhtchat::index::sql::Sql;
use dhtchat::index::store::{self, Limits, Op, Outcome, mailbox};
use dhtchat::index::writer::{self, Job, commit_batch};
use index_support::{FAST, backends, contains, start_index, start_index_with, stored_bytes};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const PASSWORD: &str = "correct horse battery staple 7Qz!";

async fn user(index: &dhtchat::index::driver::Running, name: &str, seed: u8) -> IndexClient {
    let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
    let me = Identity::from_seed(&[seed; 32]);
    c.register(name, PASSWORD, FAST, &me, &Lists::default())
        .await
        .unwrap();
    c.login(name, PASSWORD).await.unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_pm_is_delivered_once_after_login_and_gone_after_the_ack() {
    for backend in backends("pm_once") {
        let index = start_index(&backend).await;
        let mut bob = user(&index, "bob", 2).await;
        bob.logout().await.unwrap();
        let mut alice = user(&index, "alice", 1).await;
        let first = alice.send_pm("Bob", "meet at noon, bob").await.unwrap();
        let second = alice.send_pm("bob", "second one").await.unwrap();
        assert!(second > first);
        // The sender cannot read her own mailbox into bob's: she has none.
        assert!(alice.fetch_pms().await.unwrap().is_empty());
        let err = alice.send_pm("nobody", "hi").await.unwrap_err();
        assert!(matches!(err, ClientError::NoSuchUser), "{err:?}");

        // Bob logs in on another device: both PMs, in order, opened.
        let mut bob = IndexClient::connect(index.key, index.addr).await.unwrap();
        bob.login("bob", PASSWORD).await.unwrap();
        let pms = bob.fetch_pms().await.unwrap();
        let texts: Vec<_> = pms.iter().map(|p| p.text.clone().unwrap()).collect();
        assert_eq!(
            texts,
            ["meet at noon, bob", "second one"],
            "{}",
            backend.name
        );
        assert!(pms.iter().all(|p| p.sender == "alice" && p.at > 0));
        // Not acknowledged yet: a second fetch (a lost reply, a crash) gets the same PMs.
        assert_eq!(bob.fetch_pms().await.unwrap(), pms);
        let ids: Vec<u64> = pms.iter().map(|p| p.id).collect();
        assert_eq!(bob.ack_pms(&ids).await.unwrap(), 2);
        // Exactly once: nothing after the ack, and a repeated ack deletes nothing.
        assert!(bob.fetch_pms().await.unwrap().is_empty());
        assert_eq!(bob.ack_pms(&ids).await.unwrap(), 0);
        index.stop().await;
        let left = backend.with_db(|db| mailbox::count_for(db, "bob").unwrap());
        assert_eq!(left, 0, "gone from the database after the ack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_stores_only_ciphertext_and_replays_store_once() {
    for backend in backends("pm_replay") {
        let index = start_index(&backend).await;
        let mut bob = user(&index, "bob", 2).await;
        let mut alice = user(&index, "alice", 1).await;
        let a = alice.send_pm_with_id("bob", 42, "secret words").await;
        let b = alice.send_pm_with_id("bob", 42, "secret words").await;
        assert_eq!(
            a.unwrap(),
            b.unwrap(),
            "a replay returns the first copy's id"
        );
        alice.send_pm_with_id("bob", 43, "other").await.unwrap();
        // Another sender may use the same client id.
        let mut carol = user(&index, "carol", 3).await;
        carol
            .send_pm_with_id("bob", 42, "from carol")
            .await
            .unwrap();
        let pms = bob.fetch_pms().await.unwrap();
        assert_eq!(pms.len(), 3, "{}", backend.name);
        // An eavesdropper's mailbox view: someone else cannot acknowledge bob's PMs.
        let ids: Vec<u64> = pms.iter().map(|p| p.id).collect();
        assert_eq!(carol.ack_pms(&ids).await.unwrap(), 0);
        index.stop().await;
        let values = backend.with_db(stored_bytes);
        for v in &values {
            assert!(!contains(v, b"secret words"));
            assert!(!contains(v, b"from carol"));
        }
        assert_eq!(
            backend.with_db(|db| mailbox::count_for(db, "bob").unwrap()),
            3
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_is_a_clear_error_to_the_sender() {
    for backend in backends("pm_full") {
        let index = start_index_with(&backend, |o| {
            o.limits.pm_max_messages = 4;
            o.limits.pm_sender_share = 2;
        })
        .await;
        let _bob = user(&index, "bob", 2).await;
        let mut alice = user(&index, "alice", 1).await;
        alice.send_pm("bob", "1").await.unwrap();
        alice.send_pm("bob", "2").await.unwrap();
        let err = alice.send_pm("bob", "3").await.unwrap_err();
        assert!(matches!(err, ClientError::MailboxFull), "{err:?}");
        assert_eq!(err.to_string(), "mailbox full");
        // Alice's share is used up; carol still has hers.
        let mut carol = user(&index, "carol", 3).await;
        carol.send_pm("bob", "c1").await.unwrap();
        index.stop().await;
    }
}

/// Registers accounts directly through the store (one Argon2id for all of them).
fn register(db: &mut dyn Sql, names: &[&str]) {
    store::migrate(db).unwrap();
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let (template, _) = account::register(
        "x",
        b"pw",
        &FAST,
        &Identity::from_seed(&[5; 32]),
        &Lists::default(),
        &mut rng,
    )
    .unwrap();
    let jobs: Vec<Job> = names
        .iter()
        .zip(0..)
        .map(|(n, token)| {
            let mut reg = template.clone();
            reg.name = (*n).to_owned();
            Job {
                token,
                op: Op::Register(Box::new(reg)),
            }
        })
        .collect();
    let out = commit_batch(db, &Limits::default(), &jobs, 0).unwrap();
    assert!(out.iter().all(|o| *o == Outcome::Done), "{out:?}");
}

fn run(db: &mut dyn Sql, limits: &Limits, op: Op, now: i64) -> Outcome {
    let job = Job { token: 0, op };
    commit_batch(db, limits, &[job], now).unwrap().remove(0)
}

fn id_of(db: &mut dyn Sql, name: &str) -> i64 {
    let rows = db
        .query(
            "SELECT id FROM accounts WHERE name = $1",
            &[dhtchat::index::sql::Value::Text(name.into())],
        )
        .unwrap();
    rows[0][0].int()
}

fn store_pm(sender: i64, client_id: u64, len: usize) -> Op {
    Op::StorePm {
        sender,
        recipient: "bob".into(),
        client_id,
        body: vec![7; len],
    }
}

fn fetch(db: &mut dyn Sql, limits: &Limits, bob: i64, now: i64) -> usize {
    let op = Op::FetchPms {
        account: bob,
        after: 0,
        max: 50,
    };
    match run(db, limits, op, now) {
        Outcome::Pms(pms) => pms.len(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn quotas_shares_and_ttl_with_an_injected_clock() {
    for backend in backends("pm_quota") {
        backend.with_db(|db| {
            register(db, &["alice", "bob", "carol"]);
            let (alice, bob, carol) = (id_of(db, "alice"), id_of(db, "bob"), id_of(db, "carol"));
            let limits = Limits {
                pm_max_messages: 6,
                pm_max_bytes: 3000,
                pm_sender_share: 2,
                pm_ttl_secs: 100,
                ..Limits::default()
            };
            let t0 = 1_000_000;
            // Share by count: 3 each.
            for i in 0..3 {
                assert!(matches!(
                    run(db, &limits, store_pm(alice, i, 10), t0),
                    Outcome::PmStored(_)
                ));
            }
            assert_eq!(
                run(db, &limits, store_pm(alice, 9, 10), t0),
                Outcome::MailboxFull
            );
            // A replay of a stored id still answers with its id, quota or not.
            assert!(matches!(
                run(db, &limits, store_pm(alice, 1, 10), t0),
                Outcome::PmStored(_)
            ));
            // Share by bytes: carol may hold 1500 bytes.
            assert!(matches!(
                run(db, &limits, store_pm(carol, 1, 1400), t0 + 10),
                Outcome::PmStored(_)
            ));
            assert_eq!(
                run(db, &limits, store_pm(carol, 2, 200), t0 + 10),
                Outcome::MailboxFull
            );
            assert_eq!(fetch(db, &limits, bob, t0 + 10), 4);
            // TTL: alice's three expire at t0 + 100, carol's at t0 + 110.
            assert_eq!(
                fetch(db, &limits, bob, t0 + 100),
                1,
                "expired PMs are not served"
            );
            assert!(matches!(
                run(db, &limits, store_pm(alice, 20, 10), t0 + 100),
                Outcome::PmStored(_)
            ));
            assert_eq!(
                writer::purge(db, t0 + 200),
                Some(2),
                "the writer deletes expired rows"
            );
            assert_eq!(mailbox::count_for(db, "bob").unwrap(), 0);
            // The whole mailbox bound: 6 messages across senders.
            let share_free = Limits {
                pm_sender_share: 1,
                ..limits.clone()
            };
            for i in 0..6 {
                assert!(matches!(
                    run(db, &share_free, store_pm(carol, 100 + i, 10), t0 + 200),
                    Outcome::PmStored(_)
                ));
            }
            assert_eq!(
                run(db, &share_free, store_pm(alice, 100, 10), t0 + 200),
                Outcome::MailboxFull
            );
        });
    }
}
