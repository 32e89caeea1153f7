//! Durability of acknowledged group-chat rotations and offline PMs (issue #14 "Done when"):
//! a real `dhtchat index` process is killed with SIGKILL at random moments while one client
//! rotates a group chat's key (adds, removals, rekeys, redone when a record loses its epoch)
//! and another stores offline PMs. After every kill the database must open (and pass its
//! integrity check on SQLite), every acknowledged PM and every acknowledged record must be
//! there byte for byte, and no rotation may be half applied: every epoch has its record and
//! its member rows and the head is the last record ([`check_consistency`]).
//!
//! 200 kills per backend by default (SQLite; PostgreSQL too when `DHTCHAT_TEST_POSTGRES` is
//! set); `DHTCHAT_DURABILITY_KILLS` changes the count.

mod index_support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::index::account::{self, Lists};
use dhtchat::index::client::{GroupChats, IndexClient};
use dhtchat::index::groupkey::{Change, ChatId, GroupKeySchedule, Keyring};
use dhtchat::index::store::{self, chats::check_consistency};
use dhtchat::index::wire::Registration;
use dhtchat::wire::PublicKey;
use index_support::{Backend, FAST, backends, spawn_index};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

#[derive(Debug, Default)]
struct Acked {
    pms: Vec<u64>,
    /// (epoch, SHA-256 of the record bytes) of every acknowledged record.
    records: Vec<(u64, [u8; 32])>,
}

type Chats = GroupChats<Keyring>;

/// A client with short timeouts: after a kill it gives up quickly (and is aborted anyway).
async fn client(key: PublicKey, addr: SocketAddr, name: &str) -> Option<IndexClient> {
    let mut c = IndexClient::connect(key, addr).await.ok()?;
    c.retry = Duration::from_millis(100);
    c.attempts = 2;
    c.login(name, "pw").await.ok()?;
    Some(c)
}

/// Stores offline PMs for this round's recipient until the index dies.
async fn pm_sender(key: PublicKey, addr: SocketAddr, to: Registration, acked: Arc<Mutex<Acked>>) {
    let Ok(mut c) = IndexClient::connect(key, addr).await else {
        return;
    };
    c.retry = Duration::from_millis(100);
    c.attempts = 2;
    if c.register_prepared(&to).await.is_err() || c.login("poster", "pw").await.is_err() {
        return;
    }
    for i in 0..200u64 {
        match c.send_pm_with_id(&to.name, i, "offline pm").await {
            Ok(id) => acked.lock().unwrap().pms.push(id),
            Err(_) => return,
        }
    }
}

/// Rotates the chat until the index dies: catch up, then add or remove carol, or rekey.
async fn rotator(
    key: PublicKey,
    addr: SocketAddr,
    chat: ChatId,
    chats: Arc<tokio::sync::Mutex<Chats>>,
    acked: Arc<Mutex<Acked>>,
) {
    let Some(mut c) = client(key, addr, "alice").await else {
        return;
    };
    let Ok(carol) = c.user_key("carol").await else {
        return;
    };
    let mut g = chats.lock().await;
    if g.sync(&mut c, &chat).await.is_err() {
        return;
    }
    // At most 15 per round: 200 rounds stay well below the 10,000 epochs a chat may have.
    for i in 0..15u32 {
        let member = g.schedule().members(&chat).iter().any(|(m, _)| *m == carol);
        let change = match (i % 3, member) {
            (0, _) => Change::Rekey,
            (_, true) => Change::Remove(vec![carol]),
            (_, false) => Change::Add(vec![carol]),
        };
        let Ok(epoch) = g.change(&mut c, &chat, &change).await else {
            return;
        };
        let Some(head) = g.schedule().head(&chat) else {
            return;
        };
        assert_eq!(head.epoch(), epoch);
        acked.lock().unwrap().records.push((epoch, *head.hash()));
    }
}

/// The record hash of PROTOCOL.md Appendix B G4.
fn record_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"dhtchat/gkey/record-hash/v1");
    h.update(bytes);
    h.finalize().into()
}

/// After a kill: the database opens, is consistent, and holds every acknowledged write.
fn check(backend: &Backend, acked: &Acked) -> (usize, u64) {
    backend.with_db(|db| {
        store::migrate(db).expect("database opens and migrates after SIGKILL");
        if backend.url.is_none() {
            let ok = db.query("PRAGMA integrity_check", &[]).unwrap();
            assert_eq!(ok[0][0].text(), "ok");
        }
        let chats = check_consistency(db).expect("no half-applied rotation");
        assert_eq!(chats, 1);
        let pms: HashSet<i64> = db
            .query("SELECT id FROM pms", &[])
            .unwrap()
            .iter()
            .map(|r| r[0].int())
            .collect();
        for id in &acked.pms {
            assert!(
                pms.contains(&(*id as i64)),
                "{}: acked PM {id} lost",
                backend.name
            );
        }
        let records: HashMap<i64, [u8; 32]> = db
            .query("SELECT epoch, record FROM chat_records", &[])
            .unwrap()
            .iter()
            .map(|r| (r[0].int(), record_hash(r[1].blob())))
            .collect();
        for (epoch, hash) in &acked.records {
            let stored = records.get(&(*epoch as i64));
            assert_eq!(
                stored,
                Some(hash),
                "{}: acked epoch {epoch} lost",
                backend.name
            );
        }
        let head = db.query("SELECT epoch FROM chats", &[]).unwrap()[0][0].int();
        (acked.pms.len(), head as u64)
    })
}

fn template() -> Registration {
    let mut rng = ChaCha20Rng::from_seed([42; 32]);
    let me = Identity::from_seed(&[9; 32]);
    let lists = Lists::default();
    account::register("template", b"pw", &FAST, &me, &lists, &mut rng)
        .unwrap()
        .0
}

/// Registers alice (seed 1), bob (2), carol (3) and the poster, and creates the chat.
async fn set_up(key: PublicKey, addr: SocketAddr, chats: &mut Chats) -> ChatId {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    for (name, seed) in [("alice", 1u8), ("bob", 2), ("carol", 3), ("poster", 4)] {
        let me = Identity::from_seed(&[seed; 32]);
        let (reg, _) =
            account::register(name, b"pw", &FAST, &me, &Lists::default(), &mut rng).unwrap();
        let mut c = IndexClient::connect(key, addr).await.unwrap();
        c.register_prepared(&reg).await.unwrap();
    }
    let mut a = client(key, addr, "alice").await.unwrap();
    chats.create(&mut a, "durable", &["bob"]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_rotations_and_pm_stores_loses_no_acknowledged_write() {
    let kills: u32 = std::env::var("DHTCHAT_DURABILITY_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let template = template();
    let mut rng = ChaCha20Rng::from_seed([43; 32]);
    for backend in &backends("durability_gc") {
        let started = dhtchat::net::now();
        let acked = Arc::new(Mutex::new(Acked::default()));
        let (mut child, key, mut addr) = spawn_index(backend);
        let mut g = GroupChats::new(Keyring::new(Identity::from_seed(&[1; 32])), [5; 32]);
        let chat = set_up(key, addr, &mut g).await;
        let chats = Arc::new(tokio::sync::Mutex::new(g));
        for round in 1..=kills {
            let mut to = template.clone();
            to.name = format!("r{round}pm");
            let tasks = [
                tokio::spawn(pm_sender(key, addr, to, Arc::clone(&acked))),
                tokio::spawn(rotator(
                    key,
                    addr,
                    chat,
                    Arc::clone(&chats),
                    Arc::clone(&acked),
                )),
            ];
            tokio::time::sleep(Duration::from_millis(rng.random_range(80..400))).await;
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            for t in tasks {
                t.abort();
                let _ = t.await;
            }
            let (pms, head) = check(backend, &acked.lock().unwrap());
            if round % 25 == 0 {
                eprintln!(
                    "{}: kill {round}: {pms} acked PMs, head epoch {head}",
                    backend.name
                );
            }
            let (ch, k, a) = spawn_index(backend);
            assert_eq!(k, key, "the index key survives restarts");
            (child, addr) = (ch, a);
        }
        child.kill().ok();
        child.wait().ok();
        let a = acked.lock().unwrap();
        eprintln!(
            "{}: {kills} SIGKILLs in {:?}: {} acknowledged offline PMs and {} acknowledged \
             rotation records, none lost, no half-applied rotation",
            backend.name,
            started.elapsed(),
            a.pms.len(),
            a.records.len()
        );
        assert!(!a.pms.is_empty() && !a.records.is_empty());
    }
}
