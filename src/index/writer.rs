//! The writer thread: every storage operation of the index goes through it, and concurrent
//! operations share one durable transaction (group commit).
//!
//! Loop: block for one [`Job`], take every job already queued (up to `max_batch`), then
//! `BEGIN` (IMMEDIATE on SQLite), each job inside its own `SAVEPOINT` (a failing job is rolled
//! back alone, the others stay), `COMMIT`, and only then send each job's [`Outcome`]. If the
//! commit fails every job of the batch gets [`Outcome::Failed`]: nothing is acknowledged that
//! is not durable (SQLite `synchronous=FULL` in WAL mode, PostgreSQL `synchronous_commit=on`).
//!
//! The queue is bounded ([`Writer::try_submit`] fails when full); the service caps its own
//! in-flight operations below that.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use tracing::warn;

use super::service::Token;
use super::sql::Sql;
use super::store::{self, Limits, Op, Outcome};

/// One operation and where its outcome goes.
#[derive(Debug)]
pub struct Job {
    /// The service's token for the request.
    pub token: Token,
    /// The operation.
    pub op: Op,
}

/// Counters of the writer, shared with the driver.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Operations in committed transactions.
    pub ops: AtomicU64,
    /// Transactions that failed (every job in them got `Failed`).
    pub failed: AtomicU64,
}

/// Handle to the writer thread. Dropping it ends the thread once the queue is drained.
#[derive(Debug)]
pub struct Writer {
    jobs: SyncSender<Job>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the thread. `done` receives every outcome, after its commit.
    pub fn spawn(
        sql: Box<dyn Sql>,
        limits: Limits,
        capacity: usize,
        max_batch: usize,
        done: impl FnMut(Token, Outcome) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, rx) = sync_channel(capacity.max(1));
        let stats = Arc::new(WriterStats::default());
        let shared = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("index-writer".into())
            .spawn(move || run(sql, &limits, &rx, max_batch.max(1), done, &shared))?;
        Ok(Self {
            jobs,
            thread: Some(thread),
            stats,
        })
    }

    /// Queues a job; gives its token back if the queue is full or the thread is gone.
    pub fn try_submit(&self, job: Job) -> Result<(), Token> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(j) | TrySendError::Disconnected(j) => j.token,
        })
    }

    /// The counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Stops accepting jobs and waits for the thread to finish the queued ones.
    pub fn shutdown(mut self) {
        self.close();
    }

    fn close(&mut self) {
        let (dead, _) = sync_channel(1);
        self.jobs = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(
    mut sql: Box<dyn Sql>,
    limits: &Limits,
    rx: &Receiver<Job>,
    max_batch: usize,
    mut done: impl FnMut(Token, Outcome),
    stats: &WriterStats,
) {
    let mut last_purge = i64::MIN;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let now = unix_now();
        if now.saturating_sub(last_purge) >= PURGE_EVERY_SECS {
            last_purge = now;
            purge(sql.as_mut(), now);
        }
        let outcomes = commit_batch(sql.as_mut(), limits, &batch, now);
        match &outcomes {
            Some(_) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.ops.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            None => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let outcomes = outcomes.unwrap_or_else(|| vec![Outcome::Failed; batch.len()]);
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            done(job.token, outcome);
        }
    }
}

/// Seconds between two deletions of expired offline PMs.
pub const PURGE_EVERY_SECS: i64 = 60;

/// Deletes expired offline PMs and group-chat messages in their own transaction (at most
/// [`store::mailbox::PURGE_BATCH`]); returns how many, or `None` if it failed.
pub fn purge(sql: &mut dyn Sql, now: i64) -> Option<u64> {
    if let Err(e) = sql.begin() {
        warn!(error = %e, "BEGIN (purge) failed");
        return None;
    }
    let run = store::mailbox::purge_expired(sql, now)
        .and_then(|n| Ok(n + store::chats::purge_expired(sql, now)?));
    match run.and_then(|n| sql.batch("COMMIT").map(|()| n)) {
        Ok(n) => Some(n),
        Err(e) => {
            warn!(error = %e, "purging expired PMs failed");
            let _ = sql.batch("ROLLBACK");
            None
        }
    }
}

/// Runs a batch in one transaction; `None` if the transaction could not commit.
pub fn commit_batch(
    sql: &mut dyn Sql,
    limits: &Limits,
    batch: &[Job],
    now: i64,
) -> Option<Vec<Outcome>> {
    if let Err(e) = sql.begin() {
        warn!(error = %e, "BEGIN failed");
        return None;
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        outcomes.push(apply_one(sql, limits, &job.op, now));
    }
    match sql.batch("COMMIT") {
        Ok(()) => Some(outcomes),
        Err(e) => {
            warn!(error = %e, "COMMIT failed");
            let _ = sql.batch("ROLLBACK");
            None
        }
    }
}

/// One job inside its savepoint: its failure undoes only its own writes.
fn apply_one(sql: &mut dyn Sql, limits: &Limits, op: &Op, now: i64) -> Outcome {
    if sql.batch("SAVEPOINT job").is_err() {
        return Outcome::Failed;
    }
    match store::apply(sql, op, limits, now) {
        Ok(outcome) => match sql.batch("RELEASE SAVEPOINT job") {
            Ok(()) => outcome,
            Err(_) => Outcome::Failed,
        },
        Err(e) => {
            let _ = sql.batch("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
            if e.unique {
                Outcome::NameTaken
            } else {
                warn!(error = %e, "storage operation failed");
                Outcome::Failed
            }
        }
    }
}

/// Unix seconds, for `created_at` columns (the writer is IO; the service never reads this).
pub(crate) fn unix_now() -> i64 {
    #[allow(clippy::disallowed_methods)]
    // wall-clock stamps on stored rows, outside the sans-IO core
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}
