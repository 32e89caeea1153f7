//! The writer's contract: operations queued together share one transaction (group commit),
//! and an operation is reported done only if its transaction committed. A connection whose
//! COMMIT fails on purpose shows that a failed commit acknowledges nothing and stores
//! nothing.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::index::account::{self, KdfParams, Lists};
use dhtchat::index::sql::{Dialect, Sql, SqlError, Sqlite, Value};
use dhtchat::index::store::{self, Limits, Op, Outcome};
use dhtchat::index::writer::{Job, Writer};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// SQLite whose COMMIT fails while `fail` is set (the transaction is rolled back).
struct FlakyCommit {
    inner: Sqlite,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Sql for FlakyCommit {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }
    fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        if sql == "COMMIT" && self.fail.load(Ordering::SeqCst) {
            return Err(SqlError::new("injected commit failure"));
        }
        self.inner.batch(sql)
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.inner.execute(sql, params)
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, SqlError> {
        self.inner.query(sql, params)
    }
    fn begin(&mut self) -> Result<(), SqlError> {
        self.inner.begin()
    }
}

/// Registrations differing only by name (one Argon2id for all of them).
fn registrations(names: impl Iterator<Item = String>) -> Vec<Op> {
    let template = registration("template");
    names
        .map(|n| {
            let Op::Register(mut reg) = template.clone() else {
                unreachable!()
            };
            reg.name = n;
            Op::Register(reg)
        })
        .collect()
}

fn registration(name: &str) -> Op {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let (mut reg, _) = account::register(
        "x",
        b"pw",
        &KdfParams::FLOOR,
        &Identity::from_seed(&[3; 32]),
        &Lists::default(),
        &mut rng,
    )
    .unwrap();
    reg.name = name.into();
    Op::Register(Box::new(reg))
}

fn names(path: &std::path::Path) -> Vec<String> {
    let mut db = Sqlite::open(path).unwrap();
    let rows = db
        .query("SELECT name FROM accounts ORDER BY name", &[])
        .unwrap();
    rows.iter().map(|r| r[0].text().to_owned()).collect()
}

#[test]
fn queued_writes_share_commits_and_a_failed_commit_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sqlite3");
    let mut db = Sqlite::open(&path).unwrap();
    store::migrate(&mut db).unwrap();
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sql = FlakyCommit {
        inner: db,
        fail: fail.clone(),
    };
    let (tx, rx) = mpsc::channel();
    let writer = Writer::spawn(Box::new(sql), Limits::default(), 1024, 256, move |t, o| {
        let _ = tx.send((t, o));
    })
    .unwrap();
    // 200 registrations queued at once: they go out in far fewer commits.
    let ops = registrations((0..200).map(|i| format!("ok{i:03}")));
    for (i, op) in ops.into_iter().enumerate() {
        writer
            .try_submit(Job {
                token: i as u64,
                op,
            })
            .unwrap();
    }
    let mut done = 0;
    while done < 200 {
        let (_, outcome) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(outcome, Outcome::Done);
        done += 1;
    }
    let commits = writer.stats().commits.load(Ordering::Relaxed);
    eprintln!("200 queued registrations in {commits} commits");
    assert!(commits < 50, "{commits} commits for 200 writes");
    // Commits now fail: nothing is acknowledged, nothing is stored.
    fail.store(true, Ordering::SeqCst);
    let ops = registrations((0..20).map(|i| format!("lost{i:02}")));
    for (i, op) in ops.into_iter().enumerate() {
        writer
            .try_submit(Job {
                token: 1000 + i as u64,
                op,
            })
            .unwrap();
    }
    for _ in 0..20 {
        let (_, outcome) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(outcome, Outcome::Failed);
    }
    fail.store(false, Ordering::SeqCst);
    writer
        .try_submit(Job {
            token: 2000,
            op: registration("after"),
        })
        .unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap().1,
        Outcome::Done
    );
    assert!(writer.stats().failed.load(Ordering::Relaxed) >= 1);
    writer.shutdown();
    let stored = names(&path);
    assert_eq!(stored.len(), 201);
    assert!(stored.iter().all(|n| !n.starts_with("lost")));
}

#[test]
fn rooms_keep_their_newest_messages_up_to_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Sqlite::open(&dir.path().join("index.sqlite3")).unwrap();
    store::migrate(&mut db).unwrap();
    let limits = Limits {
        max_room_messages: 10,
        ..Limits::default()
    };
    db.begin().unwrap();
    assert_eq!(
        store::apply(&mut db, &registration("poster"), &limits, 0).unwrap(),
        Outcome::Done
    );
    for i in 0..15 {
        let op = Op::PostRoom {
            account: 1,
            room: "LOBBY".into(),
            text: format!("m{i}"),
        };
        assert!(matches!(
            store::apply(&mut db, &op, &limits, 0).unwrap(),
            Outcome::Posted(_)
        ));
    }
    db.batch("COMMIT").unwrap();
    let op = Op::RoomHistory {
        room: "LOBBY".into(),
        before: 0,
        max: 50,
    };
    let Outcome::History(kept) = store::apply(&mut db, &op, &limits, 0).unwrap() else {
        panic!("no history");
    };
    let texts: Vec<&str> = kept.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, (5..15).map(|i| format!("m{i}")).collect::<Vec<_>>());
}
