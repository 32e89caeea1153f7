//! Durability of acknowledged writes: a real `dhtchat index` process is killed with SIGKILL at
//! random moments while clients register accounts, post room messages and store offline PMs; after every kill
//! the database must open (and pass its integrity check on SQLite), and every write the index
//! acknowledged must be there. 200 kills per backend (SQLite and, when `DHTCHAT_TEST_POSTGRES`
//! is set, PostgreSQL); `DHTCHAT_DURABILITY_KILLS` changes that. A kill comes 30–300 ms after
//! the round's clients start; the acknowledged ids are checked with one query per table.

mod index_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::index::account::{self, Lists};
use dhtchat::index::client::IndexClient;
use dhtchat::index::store;
use dhtchat::index::wire::Registration;
use dhtchat::wire::PublicKey;
use index_support::{Backend, FAST, backends, spawn_index};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const CLIENTS: usize = 6;
/// Kills per backend unless `DHTCHAT_DURABILITY_KILLS` says otherwise.
const KILLS: u32 = 200;
/// A client's retry interval and attempts: it gives up 200 ms after the kill.
const RETRY: Duration = Duration::from_millis(100);
const ATTEMPTS: u32 = 2;

#[derive(Debug, Default)]
struct Acked {
    names: Vec<String>,
    posts: Vec<u64>,
    pms: Vec<u64>,
}

/// One client: registers accounts from the template until the index dies (or 100 are done).
async fn registrar(
    key: PublicKey,
    addr: SocketAddr,
    template: Registration,
    prefix: String,
    acked: Arc<Mutex<Acked>>,
) {
    let Ok(mut c) = IndexClient::connect(key, addr).await else {
        return;
    };
    c.retry = RETRY;
    c.attempts = ATTEMPTS;
    // At most 100 per round: the test is about kills, not about filling the accounts table.
    for i in 0..100 {
        let mut reg = template.clone();
        reg.name = format!("{prefix}n{i}");
        match c.register_prepared(&reg).await {
            Ok(()) => acked.lock().unwrap().names.push(reg.name),
            Err(_) => return,
        }
    }
}

/// One client: logs in and posts to a room until the index dies (or 500 are done).
async fn poster(
    key: PublicKey,
    addr: SocketAddr,
    name: String,
    room: String,
    acked: Arc<Mutex<Acked>>,
) {
    let Ok(mut c) = IndexClient::connect(key, addr).await else {
        return;
    };
    c.retry = RETRY;
    c.attempts = ATTEMPTS;
    if c.login(&name, "pw").await.is_err() {
        return;
    }
    // At most 500 per round (one room per round): below the room's 1,000-message retention,
    // so every acknowledged message must still be there.
    for i in 0..500 {
        match c.post_room(&room, &format!("message {i}")).await {
            Ok(id) => acked.lock().unwrap().posts.push(id),
            Err(_) => return,
        }
    }
}

/// One client: registers this round's recipient, logs in as the poster and stores offline
/// PMs for it until the index dies (or 200 are done: below one sender's share).
async fn pm_sender(
    key: PublicKey,
    addr: SocketAddr,
    recipient: Registration,
    acked: Arc<Mutex<Acked>>,
) {
    let Ok(mut c) = IndexClient::connect(key, addr).await else {
        return;
    };
    c.retry = RETRY;
    c.attempts = ATTEMPTS;
    if c.register_prepared(&recipient).await.is_err() || c.login("poster", "pw").await.is_err() {
        return;
    }
    for i in 0..200u64 {
        match c.send_pm_with_id(&recipient.name, i, "offline pm").await {
            Ok(id) => acked.lock().unwrap().pms.push(id),
            Err(_) => return,
        }
    }
}

/// Checks the database after a kill: it opens, migrates, passes the integrity check, and
/// holds every acknowledged account and message.
fn check(backend: &Backend, acked: &Acked) -> (usize, usize) {
    backend.with_db(|db| {
        store::migrate(db).expect("database opens and migrates after SIGKILL");
        if backend.url.is_none() {
            let ok = db.query("PRAGMA integrity_check", &[]).unwrap();
            assert_eq!(ok[0][0].text(), "ok");
        }
        let names: HashSet<String> = db
            .query("SELECT name FROM accounts", &[])
            .unwrap()
            .into_iter()
            .map(|r| r[0].text().to_owned())
            .collect();
        for n in &acked.names {
            assert!(
                names.contains(n),
                "{}: acknowledged account {n} lost",
                backend.name
            );
        }
        let mut ids = |query: &str| -> HashSet<u64> {
            db.query(query, &[])
                .unwrap()
                .into_iter()
                .map(|r| r[0].int() as u64)
                .collect()
        };
        let posts = ids("SELECT id FROM room_messages");
        for id in &acked.posts {
            assert!(
                posts.contains(id),
                "{}: acknowledged message {id} lost",
                backend.name
            );
        }
        let pms = ids("SELECT id FROM pms");
        for id in &acked.pms {
            assert!(
                pms.contains(id),
                "{}: acknowledged PM {id} lost",
                backend.name
            );
        }
        (names.len(), acked.posts.len())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_no_acknowledged_write() {
    let backends = backends("durability");
    let kills: u32 = std::env::var("DHTCHAT_DURABILITY_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KILLS);
    let mut rng = ChaCha20Rng::from_seed([42; 32]);
    let (template, _) = account::register(
        "template",
        b"pw",
        &FAST,
        &Identity::from_seed(&[1; 32]),
        &Lists::default(),
        &mut rng,
    )
    .unwrap();
    for backend in &backends {
        let started = dhtchat::net::now();
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut rounds = 0u32;
        // The poster's account, registered once.
        let (mut child, key, mut addr) = spawn_index(backend);
        let mut c = IndexClient::connect(key, addr).await.unwrap();
        let mut poster_reg = template.clone();
        poster_reg.name = "poster".into();
        c.register_prepared(&poster_reg).await.unwrap();
        while rounds < kills {
            rounds += 1;
            let mut tasks = Vec::new();
            for i in 0..CLIENTS {
                let prefix = format!("r{rounds}c{i}");
                tasks.push(tokio::spawn(registrar(
                    key,
                    addr,
                    template.clone(),
                    prefix,
                    Arc::clone(&acked),
                )));
            }
            let mut recipient = template.clone();
            recipient.name = format!("r{rounds}pm");
            tasks.push(tokio::spawn(pm_sender(
                key,
                addr,
                recipient,
                Arc::clone(&acked),
            )));
            let room = format!("ROUND {rounds}");
            tasks.push(tokio::spawn(poster(
                key,
                addr,
                "poster".into(),
                room,
                Arc::clone(&acked),
            )));
            tokio::time::sleep(Duration::from_millis(rng.random_range(30..300))).await;
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            for t in tasks {
                let _ = t.await;
            }
            let (accounts, posts) = check(backend, &acked.lock().unwrap());
            if rounds % 50 == 0 {
                eprintln!(
                    "{}: round {rounds}: {accounts} accounts, {posts} acked posts",
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
            "{}: {rounds} SIGKILL rounds in {:?}: {} acknowledged registrations, {} acknowledged room messages and {} acknowledged offline PMs, none lost",
            backend.name,
            started.elapsed(),
            a.names.len(),
            a.posts.len(),
            a.pms.len()
        );
        assert_eq!(rounds, kills);
        assert!(!a.names.is_empty());
    }
}
