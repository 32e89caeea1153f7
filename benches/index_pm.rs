//! Acknowledged offline-PM stores per second, with group commit against one durable commit
//! per request, both from one run (issue #14 "Done when"; figures in benches/README.md).
//!
//! The workload goes through the index's own writer ([`Writer`]): up to 256 store operations
//! in flight (the service's `max_in_flight`), each acknowledged only after the COMMIT that
//! holds it. "Group commit" is the index's writer (up to 256 operations per transaction);
//! "per request" is the same writer with batches of one. SQLite always (WAL,
//! `synchronous=FULL`, in a temporary directory); PostgreSQL too when `DHTCHAT_BENCH_POSTGRES`
//! holds a URL (the tables are created in a fresh schema). `DHTCHAT_BENCH_PMS` sets the
//! stores per measurement (default 20,000; 3,000 for the per-request side, which is slow).
//!
//! Run: `cargo bench --bench index_pm`.

use std::sync::mpsc;

use dhtchat::crypto::Identity;
use dhtchat::index::account::{self, KdfParams, Lists};
use dhtchat::index::sql::{self, Sql};
use dhtchat::index::store::{self, Limits, Op, Outcome};
use dhtchat::index::writer::{Job, Writer, commit_batch};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const ACCOUNTS: usize = 200;
const IN_FLIGHT: usize = 256;

/// Opens a fresh database: SQLite in `dir`, or a new schema on the PostgreSQL server `url`.
fn open(url: Option<&str>, dir: &std::path::Path, tag: &str) -> Box<dyn Sql> {
    match url {
        None => sql::open(None, dir).expect("open SQLite"),
        Some(url) => {
            let schema = format!("bench_pm_{tag}_{}", std::process::id());
            let mut admin = sql::open(Some(url), dir).expect("connect");
            admin
                .batch(&format!("CREATE SCHEMA {schema}"))
                .expect("schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}options=-csearch_path%3D{schema}");
            sql::open(Some(&url), dir).expect("connect to the schema")
        }
    }
}

/// Migrates and registers the accounts (one Argon2id for all of them).
fn prepare(db: &mut dyn Sql) {
    store::migrate(db).expect("migrate");
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let (template, _) = account::register(
        "x",
        b"pw",
        &KdfParams::FLOOR,
        &Identity::from_seed(&[9; 32]),
        &Lists::default(),
        &mut rng,
    )
    .expect("register");
    let jobs: Vec<Job> = (0..ACCOUNTS)
        .map(|i| {
            let mut reg = template.clone();
            reg.name = format!("u{i}");
            Job {
                token: i as u64,
                op: Op::Register(Box::new(reg)),
            }
        })
        .collect();
    commit_batch(db, &Limits::default(), &jobs, 1).expect("accounts");
}

/// Stores `n` PMs through a writer with `max_batch`; returns acknowledged stores per second.
fn run(db: Box<dyn Sql>, max_batch: usize, n: usize, first_id: i64) -> f64 {
    let (tx, rx) = mpsc::channel();
    let writer = Writer::spawn(
        db,
        Limits::default(),
        IN_FLIGHT * 2,
        max_batch,
        move |t, o| {
            let _ = tx.send((t, o));
        },
    )
    .expect("writer");
    let op = |i: usize| Op::StorePm {
        sender: first_id + (i % ACCOUNTS) as i64,
        recipient: format!("u{}", (i / ACCOUNTS + i) % ACCOUNTS),
        client_id: i as u64,
        body: vec![0xA5; 200],
    };
    let started = dhtchat::net::now();
    let (mut sent, mut acked) = (0, 0);
    while acked < n {
        while sent < n && sent - acked < IN_FLIGHT {
            let job = Job {
                token: sent as u64,
                op: op(sent),
            };
            writer.try_submit(job).expect("queue has room");
            sent += 1;
        }
        let (_, outcome) = rx.recv().expect("outcome");
        assert!(matches!(outcome, Outcome::PmStored(_)), "{outcome:?}");
        acked += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let (commits, ops) = (
        writer
            .stats()
            .commits
            .load(std::sync::atomic::Ordering::Relaxed),
        writer
            .stats()
            .ops
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    writer.shutdown();
    eprintln!("  max_batch {max_batch}: {n} stores, {commits} commits ({ops} ops), {rate:.0}/s");
    rate
}

fn first_account(db: &mut dyn Sql) -> i64 {
    let rows = db
        .query("SELECT MIN(id) FROM accounts", &[])
        .expect("min id");
    rows[0][0].int()
}

fn backend(name: &str, url: Option<&str>, n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut results = Vec::new();
    for (tag, max_batch, n) in [("group", 256, n), ("single", 1, (n / 7).max(1000))] {
        let sub = dir.path().join(tag);
        std::fs::create_dir_all(&sub).expect("dir");
        let mut db = open(url, &sub, tag);
        prepare(db.as_mut());
        let first = first_account(db.as_mut());
        results.push(run(db, max_batch, n, first));
    }
    println!(
        "{name}: acknowledged PM stores/s: group commit {:.0}, one commit per request {:.0} (x{:.1})",
        results[0],
        results[1],
        results[0] / results[1]
    );
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let n = std::env::var("DHTCHAT_BENCH_PMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    backend("sqlite", None, n);
    if let Ok(url) = std::env::var("DHTCHAT_BENCH_POSTGRES") {
        backend("postgres", Some(&url), n);
    }
}
