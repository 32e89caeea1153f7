//! Offline private messages in SQL: store with quotas and replay detection, paged fetch,
//! delete on acknowledgement, expiry (PROTOCOL.md §8.10).
//!
//! A PM row is `(recipient, sender, client id)`-unique: a replayed store (same client message
//! id) finds the first copy and returns its id. Quotas count the recipient's unexpired rows:
//! at most `pm_max_messages` and `pm_max_bytes` of bodies, and one sender at most
//! `1 / pm_sender_share` of each. Rows past their expiry are invisible to a fetch and are
//! deleted by [`purge_expired`] (the writer runs it) and on every store for that recipient.

use super::{Limits, Outcome, count, text};
use crate::index::sql::{Sql, SqlError, Value};
use crate::index::wire::StoredPm;
use crate::index::wire::mailbox::{MAX_PAGE_BYTES, MAX_PM_PAGE};

/// Most expired rows deleted by one [`purge_expired`] call (bounded work per transaction).
pub const PURGE_BATCH: i64 = 10_000;

fn account_id(sql: &mut dyn Sql, name: &str) -> Result<Option<i64>, SqlError> {
    let rows = sql.query("SELECT id FROM accounts WHERE name = $1", &[text(name)])?;
    Ok(rows.first().map(|r| r[0].int()))
}

/// The Ed25519 public key of the account `name`.
pub fn user_key(sql: &mut dyn Sql, name: &str) -> Result<Outcome, SqlError> {
    let rows = sql.query(
        "SELECT public_key FROM accounts WHERE name = $1",
        &[text(name)],
    )?;
    Ok(
        match rows.first().and_then(|r| r[0].blob().try_into().ok()) {
            Some(key) => Outcome::UserKey(key),
            None => Outcome::NoSuchUser,
        },
    )
}

/// The username of each account key in `keys`, in order; empty for a key no account has.
pub fn user_names(sql: &mut dyn Sql, keys: &[[u8; 32]]) -> Result<Outcome, SqlError> {
    let mut names = Vec::with_capacity(keys.len());
    for key in keys {
        let rows = sql.query(
            "SELECT name FROM accounts WHERE public_key = $1",
            &[Value::Blob(key.to_vec())],
        )?;
        names.push(
            rows.first()
                .map(|r| r[0].text().to_owned())
                .unwrap_or_default(),
        );
    }
    Ok(Outcome::UserNames(names))
}

/// Stores one PM, or finds the first copy of a replay.
pub fn store(
    sql: &mut dyn Sql,
    sender: i64,
    recipient: &str,
    client_id: u64,
    body: &[u8],
    limits: &Limits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let Some(to) = account_id(sql, recipient)? else {
        return Ok(Outcome::NoSuchUser);
    };
    // Client ids are opaque 64-bit values, kept as their two's-complement i64.
    let cid = Value::Int(client_id as i64);
    let existing = sql.query(
        "SELECT id FROM pms WHERE recipient_id = $1 AND sender_id = $2 AND client_id = $3",
        &[Value::Int(to), Value::Int(sender), cid.clone()],
    )?;
    if let Some(row) = existing.first() {
        return Ok(Outcome::PmStored(row[0].int() as u64));
    }
    sql.execute(
        "DELETE FROM pms WHERE recipient_id = $1 AND expires_at <= $2",
        &[Value::Int(to), Value::Int(now)],
    )?;
    if !within_quota(sql, to, sender, body.len() as i64, limits)? {
        return Ok(Outcome::MailboxFull);
    }
    let rows = sql.query(
        "INSERT INTO pms (recipient_id, sender_id, client_id, body, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            Value::Int(to),
            Value::Int(sender),
            cid,
            Value::Blob(body.to_vec()),
            Value::Int(now),
            Value::Int(now.saturating_add(limits.pm_ttl_secs)),
        ],
    )?;
    let id = rows.first().map_or(0, |r| r[0].int());
    Ok(Outcome::PmStored(id as u64))
}

/// True if one more body of `len` bytes fits the recipient's quota and the sender's share.
fn within_quota(
    sql: &mut dyn Sql,
    to: i64,
    sender: i64,
    len: i64,
    limits: &Limits,
) -> Result<bool, SqlError> {
    let (n, bytes, sn, sbytes) = usage(sql, to, sender)?;
    if n + 1 > limits.pm_max_messages || bytes + len > limits.pm_max_bytes {
        return Ok(false);
    }
    let share = limits.pm_sender_share.max(1);
    Ok(sn < (limits.pm_max_messages / share).max(1)
        && sbytes + len <= (limits.pm_max_bytes / share).max(len))
}

/// Rows and body bytes waiting for `to`, then those of them from `sender`: one scan of the
/// recipient's rows.
fn usage(sql: &mut dyn Sql, to: i64, sender: i64) -> Result<(i64, i64, i64, i64), SqlError> {
    let rows = sql.query(
        "SELECT COUNT(*), COALESCE(SUM(length(body)), 0), \
         COALESCE(SUM(CASE WHEN sender_id = $2 THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN sender_id = $2 THEN length(body) ELSE 0 END), 0) \
         FROM pms WHERE recipient_id = $1",
        &[Value::Int(to), Value::Int(sender)],
    )?;
    Ok(rows.first().map_or((0, 0, 0, 0), |r| {
        (r[0].int(), r[1].int(), r[2].int(), r[3].int())
    }))
}

/// The recipient's unexpired PMs with ids above `after`, oldest first: at most `max` and at
/// most [`MAX_PAGE_BYTES`] of bodies (always at least one PM if any waits).
pub fn fetch(
    sql: &mut dyn Sql,
    account: i64,
    after: u64,
    max: u8,
    now: i64,
) -> Result<Outcome, SqlError> {
    let max = i64::from(max.min(MAX_PM_PAGE));
    let rows = sql.query(
        "SELECT p.id, a.name, a.public_key, p.created_at, p.body FROM pms p \
         JOIN accounts a ON a.id = p.sender_id \
         WHERE p.recipient_id = $1 AND p.id > $2 AND p.expires_at > $3 ORDER BY p.id LIMIT $4",
        &[
            Value::Int(account),
            Value::Int(i64::try_from(after).unwrap_or(i64::MAX)),
            Value::Int(now),
            Value::Int(max),
        ],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    for r in rows {
        let body = r[4].blob().to_vec();
        bytes += body.len();
        if bytes > MAX_PAGE_BYTES && !out.is_empty() {
            break;
        }
        out.push(StoredPm {
            id: r[0].int() as u64,
            sender: r[1].text().to_owned(),
            sender_key: r[2].blob().try_into().unwrap_or([0; 32]),
            at: r[3].int().max(0) as u64,
            body,
        });
    }
    Ok(Outcome::Pms(out))
}

/// Deletes the account's PMs among `ids`; returns how many were deleted.
pub fn ack(sql: &mut dyn Sql, account: i64, ids: &[u64]) -> Result<Outcome, SqlError> {
    let mut deleted = 0u32;
    for id in ids.iter().take(usize::from(MAX_PM_PAGE)) {
        let n = sql.execute(
            "DELETE FROM pms WHERE id = $1 AND recipient_id = $2",
            &[
                Value::Int(i64::try_from(*id).unwrap_or(-1)),
                Value::Int(account),
            ],
        )?;
        deleted += u32::try_from(n).unwrap_or(0);
    }
    Ok(Outcome::Acked(deleted))
}

/// Deletes up to [`PURGE_BATCH`] PMs that expired at or before `now`; returns the count.
pub fn purge_expired(sql: &mut dyn Sql, now: i64) -> Result<u64, SqlError> {
    sql.execute(
        "DELETE FROM pms WHERE id IN \
         (SELECT id FROM pms WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
        &[Value::Int(now), Value::Int(PURGE_BATCH)],
    )
}

/// PMs stored for `name` (for tests and `dhtchat admin`-style checks).
pub fn count_for(sql: &mut dyn Sql, name: &str) -> Result<i64, SqlError> {
    count(
        sql,
        "SELECT COUNT(*) FROM pms p JOIN accounts a ON a.id = p.recipient_id WHERE a.name = $1",
        &[text(name)],
    )
}
