//! Group chats in SQL (PROTOCOL.md §8.12, Appendix B): the ordered chain of records with
//! their wraps, the member set of every epoch, and the sealed messages kept for members who
//! were offline.
//!
//! - **Ordering**: [`ChatOp::PutRecord`] runs inside the writer's transaction (its own
//!   savepoint): read the head record, [`ChainHead::judge`] the candidate against it, then
//!   insert the record, its epoch's member rows and move the head, all or nothing. The writer
//!   is the only one writing, so "the first valid record for e+1 wins" is the commit order.
//!   A loser gets the winner's bytes back ([`ChatOutcome::Lost`]); the same bytes again (a
//!   retry across a restart) are a success.
//! - **The signer is the account**: a record is stored only when its signer is the session
//!   account's identity key, so one account cannot rotate in another's name.
//! - **Who reads what**: records up to one past the last epoch the account belonged to
//!   (a removed member sees its own removal, no later record); messages only of epochs the
//!   account belonged to.
//! - **Bounds**: chats (`max_chats`), epochs per chat (`max_epochs`), messages per chat
//!   (`max_messages`, oldest deleted first) and their age (`ttl_secs`; expired rows are never
//!   served and are purged by the writer).

use super::{Outcome, count};
use crate::index::groupkey::message::MessageHeader;
use crate::index::groupkey::{ChainHead, Reject, RotationRecord};
use crate::index::sql::{Sql, SqlError, Value};
use crate::index::wire::StoredChatMessage;
use crate::index::wire::chats::{
    MAX_CHAT_PAGE, MAX_CHAT_PAGE_BYTES, MAX_MY_CHATS, MAX_RECORD_PAGE,
};

/// Most expired messages deleted by one [`purge_expired`] call.
pub const PURGE_BATCH: i64 = 10_000;

/// Bounds of the group-chat tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLimits {
    /// Most chats. Default 100,000.
    pub max_chats: i64,
    /// Most epochs (records) per chat. Default 10,000.
    pub max_epochs: i64,
    /// Most messages kept per chat; older ones are deleted. Default 1,000.
    pub max_messages: i64,
    /// Seconds a message is kept. Default 14 days.
    pub ttl_secs: i64,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            max_chats: 100_000,
            max_epochs: 10_000,
            max_messages: 1_000,
            ttl_secs: 14 * 24 * 3600,
        }
    }
}

/// One group-chat storage operation (kinds 19–23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatOp {
    /// Order and keep a create or rotation record.
    PutRecord {
        /// Account id of the sender.
        account: i64,
        /// Record bytes.
        record: Vec<u8>,
    },
    /// Records of a chat from an epoch on.
    FetchRecords {
        /// Account id.
        account: i64,
        /// Chat id.
        chat: [u8; 32],
        /// First epoch.
        from: u64,
        /// Most records.
        max: u8,
    },
    /// Store a sealed message.
    Post {
        /// Account id of the sender.
        account: i64,
        /// The sender's id for the message.
        client_id: u64,
        /// Sealed message (G7).
        message: Vec<u8>,
    },
    /// Messages of a chat above an id.
    Fetch {
        /// Account id.
        account: i64,
        /// Chat id.
        chat: [u8; 32],
        /// Only ids above this.
        after: u64,
        /// Most messages.
        max: u8,
    },
    /// Chats whose head epoch has the account as a member.
    Mine {
        /// Account id.
        account: i64,
    },
}

/// The result of a [`ChatOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatOutcome {
    /// The record is the head at this epoch.
    Stored(u64),
    /// The record lost its epoch to this one.
    Lost(Vec<u8>),
    /// The record is not the valid next one (nor the winner again).
    BadRecord,
    /// Records, by epoch.
    Records(Vec<Vec<u8>>),
    /// The message id.
    Posted(u64),
    /// Messages, oldest first.
    Messages(Vec<StoredChatMessage>),
    /// (chat id, head epoch).
    Chats(Vec<([u8; 32], u64)>),
}

/// Runs one operation inside the caller's transaction. `now` is Unix seconds.
pub fn apply(
    sql: &mut dyn Sql,
    op: &ChatOp,
    limits: &ChatLimits,
    now: i64,
) -> Result<Outcome, SqlError> {
    match op {
        ChatOp::PutRecord { account, record } => put_record(sql, *account, record, limits, now),
        ChatOp::FetchRecords {
            account,
            chat,
            from,
            max,
        } => fetch_records(sql, *account, chat, *from, *max),
        ChatOp::Post {
            account,
            client_id,
            message,
        } => post(sql, *account, *client_id, message, limits, now),
        ChatOp::Fetch {
            account,
            chat,
            after,
            max,
        } => fetch(sql, *account, chat, *after, *max, now),
        ChatOp::Mine { account } => mine(sql, *account),
    }
}

fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn blob(b: &[u8]) -> Value {
    Value::Blob(b.to_vec())
}

fn chat(outcome: ChatOutcome) -> Result<Outcome, SqlError> {
    Ok(Outcome::Chat(outcome))
}

/// The account's identity key.
fn account_key(sql: &mut dyn Sql, account: i64) -> Result<Option<[u8; 32]>, SqlError> {
    let rows = sql.query(
        "SELECT public_key FROM accounts WHERE id = $1",
        &[Value::Int(account)],
    )?;
    Ok(rows.first().and_then(|r| r[0].blob().try_into().ok()))
}

/// A chat's row id, creator and head epoch.
struct ChatRow {
    id: i64,
    creator: [u8; 32],
    epoch: u64,
}

fn chat_row(sql: &mut dyn Sql, chat: &[u8; 32]) -> Result<Option<ChatRow>, SqlError> {
    let rows = sql.query(
        "SELECT id, creator, epoch FROM chats WHERE chat_id = $1",
        &[blob(chat)],
    )?;
    Ok(rows.first().map(|r| ChatRow {
        id: r[0].int(),
        creator: r[1].blob().try_into().unwrap_or([0; 32]),
        epoch: r[2].int().max(0) as u64,
    }))
}

fn record_at(sql: &mut dyn Sql, chat_ref: i64, epoch: u64) -> Result<Option<Vec<u8>>, SqlError> {
    let rows = sql.query(
        "SELECT record FROM chat_records WHERE chat_ref = $1 AND epoch = $2",
        &[Value::Int(chat_ref), int(epoch)],
    )?;
    Ok(rows.first().map(|r| r[0].blob().to_vec()))
}

/// The head of a stored chat, rebuilt from its head record (checked when it was stored).
fn head_of(sql: &mut dyn Sql, row: &ChatRow) -> Result<Option<ChainHead>, SqlError> {
    let Some(bytes) = record_at(sql, row.id, row.epoch)? else {
        return Ok(None);
    };
    let record = RotationRecord::decode(&bytes).map_err(|_| SqlError::new("stored record"))?;
    Ok(Some(ChainHead::resume(row.creator, &record)))
}

fn put_record(
    sql: &mut dyn Sql,
    account: i64,
    bytes: &[u8],
    limits: &ChatLimits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let Ok(candidate) = RotationRecord::decode(bytes) else {
        return chat(ChatOutcome::BadRecord);
    };
    if account_key(sql, account)? != Some(candidate.signer) {
        return Ok(Outcome::Forbidden);
    }
    let row = chat_row(sql, &candidate.chat_id)?;
    let head = match &row {
        Some(row) => head_of(sql, row)?,
        None => None,
    };
    if row.is_some() && head.is_none() {
        return Err(SqlError::new("chat without its head record"));
    }
    match ChainHead::judge(head.as_ref(), bytes) {
        Ok((record, next)) => store_record(sql, row.as_ref(), &record, &next, bytes, limits, now),
        Err(Reject::StaleEpoch { got, .. }) => {
            let winner = match &row {
                Some(row) => record_at(sql, row.id, got)?,
                None => None,
            };
            match winner {
                Some(w) if w == bytes => chat(ChatOutcome::Stored(got)),
                Some(w) => chat(ChatOutcome::Lost(w)),
                None => chat(ChatOutcome::BadRecord),
            }
        }
        Err(_) => chat(ChatOutcome::BadRecord),
    }
}

/// Inserts the record, its member rows and the new head: one savepoint, all or nothing.
fn store_record(
    sql: &mut dyn Sql,
    row: Option<&ChatRow>,
    record: &RotationRecord,
    next: &ChainHead,
    bytes: &[u8],
    limits: &ChatLimits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let chat_ref = match row {
        Some(row) => {
            if i64::try_from(record.epoch).unwrap_or(i64::MAX) >= limits.max_epochs {
                return Ok(Outcome::Full);
            }
            sql.execute(
                "UPDATE chats SET epoch = $1, head_hash = $2 WHERE id = $3",
                &[int(next.epoch()), blob(next.hash()), Value::Int(row.id)],
            )?;
            row.id
        }
        None => {
            if count(sql, "SELECT COUNT(*) FROM chats", &[])? >= limits.max_chats {
                return Ok(Outcome::Full);
            }
            let rows = sql.query(
                "INSERT INTO chats (chat_id, creator, epoch, head_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    blob(&record.chat_id),
                    blob(next.creator()),
                    int(next.epoch()),
                    blob(next.hash()),
                    Value::Int(now),
                ],
            )?;
            rows.first().map_or(0, |r| r[0].int())
        }
    };
    sql.execute(
        "INSERT INTO chat_records (chat_ref, epoch, record, created_at) VALUES ($1, $2, $3, $4)",
        &[
            Value::Int(chat_ref),
            int(record.epoch),
            blob(bytes),
            Value::Int(now),
        ],
    )?;
    for (member, flags) in next.members() {
        sql.execute(
            "INSERT INTO chat_members (chat_ref, epoch, member, flags) VALUES ($1, $2, $3, $4)",
            &[
                Value::Int(chat_ref),
                int(record.epoch),
                blob(member),
                Value::Int(i64::from(*flags)),
            ],
        )?;
    }
    chat(ChatOutcome::Stored(record.epoch))
}

/// The last epoch of the chat the account's key belonged to.
fn last_epoch_of(
    sql: &mut dyn Sql,
    chat_ref: i64,
    key: &[u8; 32],
) -> Result<Option<u64>, SqlError> {
    let rows = sql.query(
        "SELECT COALESCE(MAX(epoch), -1) FROM chat_members WHERE chat_ref = $1 AND member = $2",
        &[Value::Int(chat_ref), blob(key)],
    )?;
    let last = rows.first().map_or(-1, |r| r[0].int());
    Ok(u64::try_from(last).ok())
}

fn fetch_records(
    sql: &mut dyn Sql,
    account: i64,
    chat_id: &[u8; 32],
    from: u64,
    max: u8,
) -> Result<Outcome, SqlError> {
    let (Some(key), Some(row)) = (account_key(sql, account)?, chat_row(sql, chat_id)?) else {
        return Ok(Outcome::Forbidden);
    };
    let Some(last) = last_epoch_of(sql, row.id, &key)? else {
        return Ok(Outcome::Forbidden);
    };
    let rows = sql.query(
        "SELECT record FROM chat_records WHERE chat_ref = $1 AND epoch >= $2 AND epoch <= $3 \
         ORDER BY epoch LIMIT $4",
        &[
            Value::Int(row.id),
            int(from),
            int(last.saturating_add(1)),
            Value::Int(i64::from(max.min(MAX_RECORD_PAGE))),
        ],
    )?;
    let mut out = Vec::new();
    let mut bytes = 0;
    for r in rows {
        bytes += r[0].blob().len();
        if bytes > MAX_CHAT_PAGE_BYTES && !out.is_empty() {
            break;
        }
        out.push(r[0].blob().to_vec());
    }
    chat(ChatOutcome::Records(out))
}

fn is_member(
    sql: &mut dyn Sql,
    chat_ref: i64,
    epoch: u64,
    key: &[u8; 32],
) -> Result<bool, SqlError> {
    let n = count(
        sql,
        "SELECT COUNT(*) FROM chat_members WHERE chat_ref = $1 AND epoch = $2 AND member = $3",
        &[Value::Int(chat_ref), int(epoch), blob(key)],
    )?;
    Ok(n > 0)
}

fn post(
    sql: &mut dyn Sql,
    account: i64,
    client_id: u64,
    message: &[u8],
    limits: &ChatLimits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let Ok(header) = MessageHeader::peek(message) else {
        return chat(ChatOutcome::BadRecord);
    };
    let (Some(key), Some(row)) = (account_key(sql, account)?, chat_row(sql, &header.chat_id)?)
    else {
        return Ok(Outcome::Forbidden);
    };
    // A sender posts while it belongs to the chat, under the key of an epoch it belonged to
    // (a message sealed just before a rotation still counts for that epoch's members).
    let allowed = header.epoch <= row.epoch
        && is_member(sql, row.id, row.epoch, &key)?
        && is_member(sql, row.id, header.epoch, &key)?;
    if !allowed {
        return Ok(Outcome::Forbidden);
    }
    let cid = Value::Int(client_id as i64); // opaque 64-bit id, kept as its i64 pattern
    let existing = sql.query(
        "SELECT id FROM chat_messages WHERE chat_ref = $1 AND sender_id = $2 AND client_id = $3",
        &[Value::Int(row.id), Value::Int(account), cid.clone()],
    )?;
    if let Some(r) = existing.first() {
        return chat(ChatOutcome::Posted(r[0].int() as u64));
    }
    trim(sql, row.id, limits, now)?;
    let rows = sql.query(
        "INSERT INTO chat_messages (chat_ref, epoch, sender_id, client_id, body, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[
            Value::Int(row.id),
            int(header.epoch),
            Value::Int(account),
            cid,
            blob(message),
            Value::Int(now),
            Value::Int(now.saturating_add(limits.ttl_secs)),
        ],
    )?;
    chat(ChatOutcome::Posted(
        rows.first().map_or(0, |r| r[0].int()) as u64
    ))
}

/// Makes room for one more message: deletes the chat's expired rows, then the oldest beyond
/// `max_messages - 1`.
fn trim(sql: &mut dyn Sql, chat_ref: i64, limits: &ChatLimits, now: i64) -> Result<(), SqlError> {
    sql.execute(
        "DELETE FROM chat_messages WHERE chat_ref = $1 AND expires_at <= $2",
        &[Value::Int(chat_ref), Value::Int(now)],
    )?;
    let keep = (limits.max_messages - 1).max(0);
    sql.execute(
        "DELETE FROM chat_messages WHERE chat_ref = $1 AND id NOT IN \
         (SELECT id FROM chat_messages WHERE chat_ref = $1 ORDER BY id DESC LIMIT $2)",
        &[Value::Int(chat_ref), Value::Int(keep)],
    )?;
    Ok(())
}

fn fetch(
    sql: &mut dyn Sql,
    account: i64,
    chat_id: &[u8; 32],
    after: u64,
    max: u8,
    now: i64,
) -> Result<Outcome, SqlError> {
    let (Some(key), Some(row)) = (account_key(sql, account)?, chat_row(sql, chat_id)?) else {
        return Ok(Outcome::Forbidden);
    };
    let rows = sql.query(
        "SELECT m.id, a.name, m.created_at, m.body FROM chat_messages m \
         JOIN accounts a ON a.id = m.sender_id \
         JOIN chat_members cm ON cm.chat_ref = m.chat_ref AND cm.epoch = m.epoch \
         AND cm.member = $1 \
         WHERE m.chat_ref = $2 AND m.id > $3 AND m.expires_at > $4 ORDER BY m.id LIMIT $5",
        &[
            blob(&key),
            Value::Int(row.id),
            int(after),
            Value::Int(now),
            Value::Int(i64::from(max.min(MAX_CHAT_PAGE))),
        ],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    for r in rows {
        bytes += r[3].blob().len();
        if bytes > MAX_CHAT_PAGE_BYTES && !out.is_empty() {
            break;
        }
        out.push(StoredChatMessage {
            id: r[0].int().max(0) as u64,
            sender: r[1].text().to_owned(),
            at: r[2].int().max(0) as u64,
            sealed: r[3].blob().to_vec(),
        });
    }
    chat(ChatOutcome::Messages(out))
}

fn mine(sql: &mut dyn Sql, account: i64) -> Result<Outcome, SqlError> {
    let Some(key) = account_key(sql, account)? else {
        return Ok(Outcome::Forbidden);
    };
    let rows = sql.query(
        "SELECT c.chat_id, c.epoch FROM chats c JOIN chat_members m \
         ON m.chat_ref = c.id AND m.epoch = c.epoch WHERE m.member = $1 ORDER BY c.id LIMIT $2",
        &[blob(&key), Value::Int(MAX_MY_CHATS as i64)],
    )?;
    let chats = rows
        .iter()
        .filter_map(|r| Some((r[0].blob().try_into().ok()?, r[1].int().max(0) as u64)))
        .collect();
    chat(ChatOutcome::Chats(chats))
}

/// Deletes up to [`PURGE_BATCH`] messages that expired at or before `now`.
pub fn purge_expired(sql: &mut dyn Sql, now: i64) -> Result<u64, SqlError> {
    sql.execute(
        "DELETE FROM chat_messages WHERE id IN \
         (SELECT id FROM chat_messages WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
        &[Value::Int(now), Value::Int(PURGE_BATCH)],
    )
}

/// Checks that every stored chat's head is a record of its chain and that every epoch has
/// both its record and its member rows (a half-applied rotation would break one of these).
/// Returns the number of chats checked. Reads one snapshot (a transaction, REPEATABLE READ on
/// PostgreSQL), so a commit landing between two of its queries cannot look like a half
/// rotation; writes nothing.
pub fn check_consistency(sql: &mut dyn Sql) -> Result<usize, SqlError> {
    sql.begin()?;
    if sql.dialect() == crate::index::sql::Dialect::Postgres {
        sql.batch("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
    }
    let result = consistency(sql);
    let _ = sql.batch("ROLLBACK");
    result
}

fn consistency(sql: &mut dyn Sql) -> Result<usize, SqlError> {
    let chats = sql.query("SELECT id, epoch, head_hash FROM chats", &[])?;
    for c in &chats {
        let (id, epoch) = (c[0].int(), c[1].int());
        let records = count(
            sql,
            "SELECT COUNT(*) FROM chat_records WHERE chat_ref = $1",
            &[Value::Int(id)],
        )?;
        let with_members = count(
            sql,
            "SELECT COUNT(DISTINCT epoch) FROM chat_members WHERE chat_ref = $1",
            &[Value::Int(id)],
        )?;
        let head = record_at(sql, id, epoch.max(0) as u64)?
            .and_then(|b| RotationRecord::decode(&b).ok())
            .map(|r| r.hash());
        if records != epoch + 1
            || with_members != epoch + 1
            || head.as_ref().map(|h| &h[..]) != Some(c[2].blob())
        {
            return Err(SqlError::new(format!(
                "chat {id}: head epoch {epoch}, {records} records, {with_members} member sets"
            )));
        }
    }
    Ok(chats.len())
}
