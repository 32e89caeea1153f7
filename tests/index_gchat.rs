//! Group chats on the index (issue #14 item 1, PROTOCOL.md §8.12 and Appendix B) on SQLite
//! and, when `DHTCHAT_TEST_POSTGRES` is set, on PostgreSQL:
//!
//! - a removed member cannot open anything of the next epoch from everything it stored and
//!   every byte it could capture, and no capture holds a raw epoch key;
//! - two members rotating at once end on the same epoch key, and no message is lost;
//! - a member offline during two rotations reads both epochs it belonged to, none other;
//! - the index stores whole rotations only (consistency check) and refuses records signed
//!   by another account than the session's;
//! - stored messages are bounded per chat by count and age, epochs per chat by count;
//! - a chat's member keys are named by the index (kind 29) only for a session, unknown keys
//!   as empty names.

mod index_support;

use dhtchat::crypto::Identity;
use dhtchat::index::account::Lists;
use dhtchat::index::client::{ChatError, ClientError, GroupChats, IndexClient};
use dhtchat::index::groupkey::message::{MessageHeader, seal};
use dhtchat::index::groupkey::{
    Change, ChatId, GroupKeySchedule, Keyring, RotationRecord, ScheduleError,
};
use dhtchat::index::sql::{Sql, Value};
use dhtchat::index::store::chats::{ChatLimits, ChatOp, ChatOutcome, check_consistency};
use dhtchat::index::store::{self, Limits, Op, Outcome};
use dhtchat::index::writer::{self, Job, commit_batch};
use index_support::{FAST, backends, contains, start_index, stored_bytes};

const PASSWORD: &str = "correct horse battery staple 7Qz!";

type Chats = GroupChats<Keyring>;

async fn user(index: &dhtchat::index::driver::Running, name: &str, seed: u8) -> IndexClient {
    let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
    let me = Identity::from_seed(&[seed; 32]);
    c.register(name, PASSWORD, FAST, &me, &Lists::default())
        .await
        .unwrap();
    c.login(name, PASSWORD).await.unwrap();
    c
}

fn chats(seed: u8) -> Chats {
    GroupChats::new(
        Keyring::new(Identity::from_seed(&[seed; 32])),
        [seed ^ 0x77; 32],
    )
}

fn texts(lines: &[dhtchat::index::client::ChatLine]) -> Vec<String> {
    lines.iter().filter_map(|l| l.text.clone()).collect()
}

fn key_bytes(c: &Chats, chat: &ChatId, epoch: u64) -> [u8; 32] {
    *c.schedule().epoch_key(chat, epoch).unwrap().expose()
}

/// Every G7 header for `chat` at `epoch` inside `bytes`: the offsets where one starts.
fn sealed_at(bytes: &[u8], chat: &ChatId, epoch: u64) -> Vec<usize> {
    let mut head = chat.to_vec();
    head.extend_from_slice(&epoch.to_be_bytes());
    (0..bytes.len().saturating_sub(head.len()))
        .filter(|&i| bytes[i..].starts_with(&head))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_member_cannot_decrypt_the_next_epoch_and_no_raw_key_is_on_the_wire() {
    for backend in backends("gc_remove") {
        let index = start_index(&backend).await;
        let (mut a, mut b, mut m) = (
            user(&index, "alice", 1).await,
            user(&index, "bob", 2).await,
            user(&index, "mallory", 3).await,
        );
        for c in [&mut a, &mut b, &mut m] {
            c.capture();
        }
        let (mut ca, mut cb, mut cm) = (chats(1), chats(2), chats(3));
        let chat = ca
            .create(&mut a, "devs", &["bob", "mallory"])
            .await
            .unwrap();
        ca.post(&mut a, &chat, "epoch zero for all").await.unwrap();
        assert_eq!(cm.discover(&mut m).await.unwrap(), vec![chat]);
        assert_eq!(
            texts(&cm.read(&mut m, &chat).await.unwrap()),
            ["epoch zero for all"]
        );
        assert_eq!(cm.chats()[&chat].name, "devs");

        assert_eq!(ca.remove(&mut a, &chat, "mallory").await.unwrap(), 1);
        ca.post(&mut a, &chat, "after mallory left").await.unwrap();
        cb.discover(&mut b).await.unwrap();
        let read = texts(&cb.read(&mut b, &chat).await.unwrap());
        assert_eq!(
            read,
            ["epoch zero for all", "after mallory left"],
            "{}",
            backend.name
        );

        // Mallory follows the chain up to her removal and asks for everything stored.
        assert_eq!(cm.sync(&mut m, &chat).await.unwrap(), 1);
        assert!(cm.read(&mut m, &chat).await.unwrap().is_empty());
        assert_eq!(cm.schedule().readable_epochs(&chat), vec![0]);
        let m_identity = Identity::from_seed(&[3; 32]);
        // Everything mallory's client sent and received, and everyone else's traffic too
        // (a sniffer on the index's link), in the clear inside the envelope.
        let mut everything: Vec<Vec<u8>> = Vec::new();
        for c in [&a, &b, &m] {
            everything.extend(c.captured().iter().cloned());
        }
        let stored = backend.with_db(|db| stored_bytes(db));
        everything.extend(stored.iter().cloned());
        let mut tried = 0;
        for bytes in &everything {
            for at in sealed_at(bytes, &chat, 1) {
                match cm.schedule().open(&bytes[at..]) {
                    Ok(_) => panic!("mallory opened an epoch-1 message"),
                    Err(ScheduleError::NoKey { epoch: 1 }) => tried += 1,
                    Err(_) => {} // a record's chat id and epoch, no message
                }
            }
            for at in 0..bytes.len().saturating_sub(2) {
                if let Ok(r) = RotationRecord::decode(&bytes[at..]) {
                    assert!(r.epoch < 1 || r.unwrap_key(&m_identity).is_none());
                }
            }
        }
        assert!(tried >= 2, "the epoch-1 message was captured ({tried})");
        for epoch in [0, 1] {
            let raw = key_bytes(&ca, &chat, epoch);
            assert_eq!(raw, key_bytes(&cb, &chat, epoch));
            for bytes in &everything {
                assert!(!contains(bytes, &raw), "raw key of epoch {epoch} seen");
            }
        }
        // Mallory can no longer post: no key for the head, and the index refuses a message
        // sealed under the old epoch's key.
        let err = cm.post(&mut m, &chat, "still here?").await.unwrap_err();
        assert!(matches!(
            err,
            ChatError::Schedule(ScheduleError::NoKey { epoch: 1 })
        ));
        let old = cm.schedule().epoch_key(&chat, 0).unwrap();
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed([5; 32]);
        let sealed = seal(&mut rng, old, &chat, 0, b"still here?").unwrap();
        let err = m.post_chat(77, &sealed).await.unwrap_err();
        assert!(matches!(err, ClientError::Forbidden), "{err:?}");
        let n = backend.with_db(|db| check_consistency(db).unwrap());
        assert_eq!(n, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_rotate_at_once_and_all_end_on_the_same_key() {
    for backend in backends("gc_race") {
        let index = start_index(&backend).await;
        let mut a = user(&index, "alice", 1).await;
        let mut b = user(&index, "bob", 2).await;
        let mut c = user(&index, "carol", 3).await;
        let mut d = user(&index, "dave", 4).await;
        let mut e = user(&index, "erin", 5).await;
        let (mut ca, mut cb, mut cc, mut cd, mut ce) =
            (chats(1), chats(2), chats(3), chats(4), chats(5));
        let chat = ca.create(&mut a, "race", &["bob"]).await.unwrap();
        cb.discover(&mut b).await.unwrap();

        // Deterministic race: both rotate from epoch 0; bob's record loses and is redone.
        assert_eq!(ca.add(&mut a, &chat, "carol").await.unwrap(), 1);
        assert_eq!(cb.schedule().current_epoch(&chat), Some(0));
        assert_eq!(cb.add(&mut b, &chat, "dave").await.unwrap(), 2);

        // And a real one: two clients at the same time, each posting right after.
        let (ra, rb) = tokio::join!(
            async {
                ca.sync(&mut a, &chat).await?;
                ca.add(&mut a, &chat, "erin").await?;
                ca.post(&mut a, &chat, "alice after adding erin").await
            },
            async {
                cb.change(&mut b, &chat, &Change::Rekey).await?;
                cb.post(&mut b, &chat, "bob after his rekey").await
            }
        );
        ra.unwrap();
        rb.unwrap();
        for (g, client) in [(&mut ca, &mut a), (&mut cb, &mut b), (&mut cc, &mut c)] {
            g.discover(client).await.unwrap();
            g.sync(client, &chat).await.unwrap();
        }
        cd.discover(&mut d).await.unwrap();
        ce.discover(&mut e).await.unwrap();
        let head = ca.schedule().current_epoch(&chat).unwrap();
        assert!(head >= 4, "{head}");
        let key = key_bytes(&ca, &chat, head);
        for g in [&cb, &cc, &cd, &ce] {
            assert_eq!(
                g.schedule().current_epoch(&chat),
                Some(head),
                "{}",
                backend.name
            );
            assert_eq!(key_bytes(g, &chat, head), key);
            assert_eq!(g.schedule().members(&chat).len(), 5);
        }
        // Both posts are readable by both posters (members of every epoch since the start).
        for (g, client) in [(&mut ca, &mut a), (&mut cb, &mut b)] {
            let read = texts(&g.read(client, &chat).await.unwrap());
            assert!(
                read.contains(&"alice after adding erin".to_owned()),
                "{read:?}"
            );
            assert!(read.contains(&"bob after his rekey".to_owned()), "{read:?}");
        }
        assert_eq!(backend.with_db(|db| check_consistency(db).unwrap()), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_offline_during_two_rotations_reads_only_the_epochs_it_belonged_to() {
    for backend in backends("gc_offline") {
        let index = start_index(&backend).await;
        let mut a = user(&index, "alice", 1).await;
        let mut c = user(&index, "carol", 3).await;
        user(&index, "dave", 4).await;
        let (mut ca, mut cc) = (chats(1), chats(3));
        let chat = ca.create(&mut a, "offline", &["carol"]).await.unwrap();
        cc.discover(&mut c).await.unwrap();
        assert!(cc.read(&mut c, &chat).await.unwrap().is_empty()); // only the name
        // Carol keeps the chat in her encrypted list, then goes offline.
        let lists = Lists {
            rooms: Vec::new(),
            chats: cc.entries(),
        };
        c.update_lists(&lists).await.unwrap();
        c.logout().await.unwrap();

        ca.post(&mut a, &chat, "m0: epoch 0").await.unwrap();
        assert_eq!(ca.add(&mut a, &chat, "dave").await.unwrap(), 1);
        ca.post(&mut a, &chat, "m1: epoch 1").await.unwrap();
        assert_eq!(ca.remove(&mut a, &chat, "carol").await.unwrap(), 2);
        ca.post(&mut a, &chat, "m2: epoch 2").await.unwrap();

        // Carol logs in on another device: the chat comes back from her list.
        let mut c2 = IndexClient::connect(index.key, index.addr).await.unwrap();
        let opened = c2.login("carol", PASSWORD).await.unwrap();
        assert_eq!(opened.lists.chats.len(), 1);
        assert_eq!(opened.lists.chats[0].name, "offline");
        let mut cc2 = chats(3);
        let entry = &opened.lists.chats[0];
        cc2.remember(entry.chat_id, &entry.name);
        assert_eq!(cc2.sync(&mut c2, &chat).await.unwrap(), 2);
        assert_eq!(cc2.schedule().readable_epochs(&chat), vec![0, 1]);
        let lines = cc2.read(&mut c2, &chat).await.unwrap();
        assert_eq!(
            texts(&lines),
            ["m0: epoch 0", "m1: epoch 1"],
            "{}",
            backend.name
        );
        assert!(
            lines
                .iter()
                .all(|l| l.text.is_some() && l.sender == "alice")
        );
        // The key in her list is the one of the epoch it names.
        assert_eq!(entry.key, key_bytes(&ca, &chat, 0));
        // Not in the chat any more: the index does not list it for her.
        assert!(c2.my_chats().await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_signed_for_another_account_and_replays_are_handled() {
    for backend in backends("gc_records") {
        let index = start_index(&backend).await;
        let mut a = user(&index, "alice", 1).await;
        let mut b = user(&index, "bob", 2).await;
        // Bob's session sends a create record signed by alice's identity: refused.
        let mut forged = Keyring::new(Identity::from_seed(&[1; 32]));
        let bob_key = b.user_key("bob").await.unwrap();
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed([9; 32]);
        let created = forged.create_chat(&mut rng, &[bob_key], &[]).unwrap();
        let err = b.put_record(&created.record).await.unwrap_err();
        assert!(matches!(err, ClientError::Forbidden), "{err:?}");
        // Alice sends it: stored; the same bytes again (a retry across a restart): ok.
        assert_eq!(
            a.put_record(&created.record).await.unwrap(),
            dhtchat::index::client::PutOutcome::Stored(0)
        );
        assert_eq!(
            a.put_record(&created.record).await.unwrap(),
            dhtchat::index::client::PutOutcome::Stored(0)
        );
        // The same epoch again with other bytes: lost, with the winner.
        let mut other = created.record.clone();
        other[100] ^= 1;
        assert_eq!(
            a.put_record(&other).await.unwrap(),
            dhtchat::index::client::PutOutcome::Lost(created.record.clone())
        );
        // The next epoch with a broken signature: bad_record.
        let mut broken = forged
            .rotate(&mut rng, &created.chat_id, &Change::Rekey)
            .unwrap();
        let last = broken.len() - 1;
        broken[last] ^= 1;
        let err = a.put_record(&broken).await.unwrap_err();
        assert!(matches!(err, ClientError::BadRecord), "{err:?}");
        // A message header for a chat bob is in, sealed by someone outside: forbidden.
        let mut c = user(&index, "carol", 3).await;
        let mut cc = chats(3);
        let err = cc.sync(&mut c, &created.chat_id).await.unwrap_err();
        assert!(
            matches!(err, ChatError::Client(ClientError::Forbidden)),
            "{err:?}"
        );
        let header = MessageHeader {
            chat_id: created.chat_id,
            epoch: 0,
        };
        let mut fake = header.chat_id.to_vec();
        fake.extend_from_slice(&0u64.to_be_bytes());
        fake.extend_from_slice(&[0; 60]);
        let err = c.post_chat(1, &fake).await.unwrap_err();
        assert!(matches!(err, ClientError::Forbidden), "{err:?}");
        assert_eq!(backend.with_db(|db| check_consistency(db).unwrap()), 1);
    }
}

/// Registers `(name, identity seed)` accounts directly through the store.
fn register_all(db: &mut dyn Sql, who: &[(&str, u8)]) -> Vec<i64> {
    store::migrate(db).unwrap();
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed([5; 32]);
    let me = Identity::from_seed(&[5; 32]);
    let (template, _) =
        dhtchat::index::account::register("x", b"pw", &FAST, &me, &Lists::default(), &mut rng)
            .unwrap();
    let mut ids = Vec::new();
    for (name, seed) in who {
        let mut reg = template.clone();
        reg.name = (*name).to_owned();
        reg.public_key = Identity::from_seed(&[*seed; 32]).signing_key();
        let op = Op::Register(Box::new(reg));
        assert_eq!(run(db, &Limits::default(), op, 0), Outcome::Done);
        let rows = db
            .query(
                "SELECT id FROM accounts WHERE name = $1",
                &[Value::Text((*name).into())],
            )
            .unwrap();
        ids.push(rows[0][0].int());
    }
    ids
}

fn run(db: &mut dyn Sql, limits: &Limits, op: Op, now: i64) -> Outcome {
    commit_batch(db, limits, &[Job { token: 0, op }], now)
        .unwrap()
        .remove(0)
}

fn fetch(
    db: &mut dyn Sql,
    limits: &Limits,
    account: i64,
    chat: &ChatId,
    now: i64,
) -> Vec<dhtchat::index::wire::StoredChatMessage> {
    let op = Op::Chat(ChatOp::Fetch {
        account,
        chat: *chat,
        after: 0,
        max: 50,
    });
    match run(db, limits, op, now) {
        Outcome::Chat(ChatOutcome::Messages(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn chat_messages_are_bounded_by_count_and_age_and_epochs_by_count() {
    for backend in backends("gc_bounds") {
        backend.with_db(|db| {
            let ids = register_all(db, &[("alice", 1), ("bob", 2)]);
            let (alice, bob) = (ids[0], ids[1]);
            let limits = Limits {
                chats: ChatLimits {
                    max_messages: 3,
                    ttl_secs: 100,
                    max_epochs: 2,
                    ..ChatLimits::default()
                },
                ..Limits::default()
            };
            let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed([8; 32]);
            let mut ka = Keyring::new(Identity::from_seed(&[1; 32]));
            let bob_key = Identity::from_seed(&[2; 32]).signing_key();
            let created = ka.create_chat(&mut rng, &[bob_key], &[]).unwrap();
            let chat = created.chat_id;
            let put = |record: Vec<u8>| {
                Op::Chat(ChatOp::PutRecord {
                    account: alice,
                    record,
                })
            };
            let t0 = 1_000_000;
            let stored = run(db, &limits, put(created.record.clone()), t0);
            assert_eq!(stored, Outcome::Chat(ChatOutcome::Stored(0)));
            let post = |client_id, message| {
                Op::Chat(ChatOp::Post {
                    account: alice,
                    client_id,
                    message,
                })
            };
            let mut first = 0;
            for i in 0..5u64 {
                let sealed = ka
                    .seal(&mut rng, &chat, format!("m{i}").as_bytes())
                    .unwrap();
                let Outcome::Chat(ChatOutcome::Posted(id)) =
                    run(db, &limits, post(i, sealed), t0 + i as i64)
                else {
                    panic!("not posted");
                };
                first = if i == 0 { id } else { first };
            }
            // A replayed post (same client id) stores nothing and names the first copy.
            let again = ka.seal(&mut rng, &chat, b"m4").unwrap();
            let replay = run(db, &limits, post(4, again), t0 + 5);
            let kept = fetch(db, &limits, bob, &chat, t0 + 5);
            assert_eq!(kept.len(), 3, "{}: bounded by count", backend.name);
            assert_eq!(replay, Outcome::Chat(ChatOutcome::Posted(kept[2].id)));
            assert!(kept.iter().all(|m| m.id > first));
            let texts: Vec<_> = kept
                .iter()
                .map(|m| ka.open(&m.sealed).unwrap().2.to_vec())
                .collect();
            assert_eq!(texts, [b"m2".to_vec(), b"m3".to_vec(), b"m4".to_vec()]);
            // Age: not served once expired, and the writer's purge deletes them.
            assert!(fetch(db, &limits, bob, &chat, t0 + 103).len() < 3);
            assert!(fetch(db, &limits, bob, &chat, t0 + 200).is_empty());
            assert_eq!(writer::purge(db, t0 + 200), Some(3));
            // Epochs: at most two records (epochs 0 and 1) with max_epochs = 2.
            let r1 = ka.rotate(&mut rng, &chat, &Change::Rekey).unwrap();
            assert_eq!(
                run(db, &limits, put(r1.clone()), t0),
                Outcome::Chat(ChatOutcome::Stored(1))
            );
            ka.accept(&r1).unwrap();
            let r2 = ka.rotate(&mut rng, &chat, &Change::Rekey).unwrap();
            assert_eq!(run(db, &limits, put(r2), t0), Outcome::Full);
            assert_eq!(check_consistency(db).unwrap(), 1);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_online_admin_removes_when_the_creator_is_away() {
    for backend in backends("gc_admin") {
        let index = start_index(&backend).await;
        let mut a = user(&index, "alice", 1).await;
        let mut b = user(&index, "bob", 2).await;
        let mut c = user(&index, "carol", 3).await;
        let (mut ca, mut cb, mut cc) = (chats(1), chats(2), chats(3));
        let chat = ca
            .create(&mut a, "admins", &["bob", "carol"])
            .await
            .unwrap();
        cc.discover(&mut c).await.unwrap();
        // A member who is not an admin cannot remove anyone.
        let err = cc.remove(&mut c, &chat, "bob").await.unwrap_err();
        assert!(matches!(
            err,
            ChatError::Schedule(ScheduleError::NotAllowed)
        ));
        assert_eq!(ca.make_admin(&mut a, &chat, "bob").await.unwrap(), 1);
        a.logout().await.unwrap();
        // The creator is offline; bob, now an admin, removes carol.
        cb.discover(&mut b).await.unwrap();
        assert_eq!(cb.remove(&mut b, &chat, "carol").await.unwrap(), 2);
        cb.post(&mut b, &chat, "without carol").await.unwrap();
        cc.sync(&mut c, &chat).await.unwrap();
        assert!(cc.read(&mut c, &chat).await.unwrap().is_empty());
        assert_eq!(cc.schedule().readable_epochs(&chat), vec![0, 1]);
        let mut a2 = IndexClient::connect(index.key, index.addr).await.unwrap();
        a2.login("alice", PASSWORD).await.unwrap();
        ca.sync(&mut a2, &chat).await.unwrap();
        let read = texts(&ca.read(&mut a2, &chat).await.unwrap());
        assert_eq!(read, ["without carol"], "{}", backend.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_keys_are_named_for_a_session_only() {
    for backend in backends("gc_names") {
        let index = start_index(&backend).await;
        let mut a = user(&index, "alice", 1).await;
        let _b = user(&index, "bob", 2).await;
        let alice = Identity::from_seed(&[1; 32]).signing_key();
        let bob = Identity::from_seed(&[2; 32]).signing_key();
        let names = a.user_names(&[bob, [7; 32], alice]).await.unwrap();
        assert_eq!(names, ["bob", "", "alice"]);
        // More keys than one request holds are asked in pages, in order.
        let many: Vec<[u8; 32]> = (0..70)
            .map(|i| if i == 69 { bob } else { [i; 32] })
            .collect();
        let names = a.user_names(&many).await.unwrap();
        assert_eq!(names.len(), 70);
        assert_eq!(names[69], "bob");
        assert!(names[..69].iter().all(String::is_empty));
        // Without a session: refused.
        let mut anon = IndexClient::connect(index.key, index.addr).await.unwrap();
        let err = anon.user_names(&[bob]).await.unwrap_err();
        assert!(matches!(err, ClientError::NotLoggedIn), "{err:?}");
    }
}
