//! The index's one query layer and its versioned schema, for SQLite and PostgreSQL alike.
//!
//! - [`migrate`] brings a database to [`SCHEMA_VERSION`], one numbered migration per
//!   transaction, recorded in `schema_version`.
//! - [`Op`] is one storage operation of a request; [`apply`] runs it inside the writer's open
//!   transaction and returns its [`Outcome`].
//! - [`set_privilege`] is the local-only admin change (`dhtchat admin`); no [`Op`] can change a
//!   privilege.
//! - [`meta_secret`] keeps the index's own secrets (envelope key seed, fake-salt key) in the
//!   database, so the database alone is the index's state.
//!
//! Bounds: blob sizes are CHECK constraints; account, room, member and message counts are
//! checked before inserting ([`Limits`]).

pub mod chats;
pub mod devices;
pub mod mailbox;
mod migrations;
mod rooms;

use migrations::MIGRATIONS;

use super::account::KdfParams;
use super::sql::{Dialect, Sql, SqlError, Value};
use super::wire::{
    AccountBundle, Credentials, MAX_BLOB, Registration, RoomInfo, RoomMessage, SALT_LEN,
};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 7;

/// Table bounds, checked before every insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most accounts. Default 100,000.
    pub max_accounts: i64,
    /// Most rooms. Default 1,000 (a room list fits one reply).
    pub max_rooms: i64,
    /// Most messages kept per room; older ones are deleted. Default 1,000.
    pub max_room_messages: i64,
    /// Most offline PMs waiting per recipient. Default 1,000.
    pub pm_max_messages: i64,
    /// Most body bytes waiting per recipient. Default 1 MiB.
    pub pm_max_bytes: i64,
    /// One sender may fill at most 1/this of a recipient's quota. Default 4.
    pub pm_sender_share: i64,
    /// Seconds an offline PM is kept. Default 14 days.
    pub pm_ttl_secs: i64,
    /// Bounds of the group-chat tables.
    pub chats: chats::ChatLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_accounts: 100_000,
            max_rooms: 1_000,
            max_room_messages: 1_000,
            pm_max_messages: 1_000,
            pm_max_bytes: 1 << 20,
            pm_sender_share: 4,
            pm_ttl_secs: 14 * 24 * 3600,
            chats: chats::ChatLimits::default(),
        }
    }
}

/// One storage operation. Names are already normalised and room names validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create an account (idempotent: the same verifier and key again is a success).
    Register(Box<Registration>),
    /// Look up what a login needs.
    LookupAuth {
        /// Username.
        name: String,
    },
    /// Read an account.
    Fetch {
        /// Account id.
        account: i64,
    },
    /// Replace both lists.
    UpdateLists {
        /// Account id.
        account: i64,
        /// Encrypted room list.
        rooms: Vec<u8>,
        /// Encrypted group-chat/PM list.
        chats: Vec<u8>,
    },
    /// New credentials and wrapped key.
    ChangePassword {
        /// Account id.
        account: i64,
        /// New parameters, salt, verifier.
        credentials: Credentials,
        /// Re-wrapped account key.
        wrapped_key: [u8; 72],
    },
    /// Rooms with member counts.
    ListRooms,
    /// Join a room, creating it if needed.
    JoinRoom {
        /// Account id.
        account: i64,
        /// Valid room name.
        room: String,
    },
    /// Leave a room.
    LeaveRoom {
        /// Account id.
        account: i64,
        /// Valid room name.
        room: String,
    },
    /// Store a room message, creating the room if needed.
    PostRoom {
        /// Account id.
        account: i64,
        /// Valid room name.
        room: String,
        /// Text.
        text: String,
    },
    /// Messages of a room before an id, newest `max`, returned oldest first.
    RoomHistory {
        /// Valid room name.
        room: String,
        /// Only ids below this; 0 for the newest.
        before: u64,
        /// Most messages.
        max: u8,
    },
    /// An admin's server message (the privilege is checked here, in the transaction).
    ServerMessage {
        /// Account id of the sender.
        account: i64,
        /// The room, or `None` for every room.
        room: Option<String>,
        /// Text.
        text: String,
    },
    /// Every room moderator: (room, the account's Ed25519 key), read by the index's node.
    RoomModerators,
    /// A chat the index's node heard in a room's group: stored as the message of the account
    /// whose member key sent it (`NoSuchUser` if none).
    RoomChat {
        /// Valid room name.
        room: String,
        /// The sender's member key (X25519).
        member_key: [u8; 32],
        /// Text.
        text: String,
    },
    /// An account's public key.
    UserKey {
        /// Normalised username.
        name: String,
    },
    /// The usernames of accounts by their Ed25519 keys.
    UserNames {
        /// Keys, at most [`crate::index::wire::mailbox::MAX_NAME_KEYS`].
        keys: Vec<[u8; 32]>,
    },
    /// Store an offline PM (idempotent per sender, recipient and client id).
    StorePm {
        /// Sender's account id.
        sender: i64,
        /// Normalised recipient name.
        recipient: String,
        /// The sender's message id.
        client_id: u64,
        /// Sealed body.
        body: Vec<u8>,
    },
    /// The account's waiting PMs above an id.
    FetchPms {
        /// Account id.
        account: i64,
        /// Only ids above this.
        after: u64,
        /// Most PMs.
        max: u8,
    },
    /// Delete the account's PMs by id.
    AckPms {
        /// Account id.
        account: i64,
        /// PM ids.
        ids: Vec<u64>,
    },
    /// A group-chat operation (kinds 19–23).
    Chat(chats::ChatOp),
    /// A device operation (kinds 24–25).
    Device(devices::DeviceOp),
}

/// What a login needs to know about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRecord {
    /// Account id.
    pub account: i64,
    /// Parameters, salt, verifier.
    pub credentials: Credentials,
}

/// The result of one [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written (or, for an idempotent retry, already there).
    Done,
    /// The username is taken by another account.
    NameTaken,
    /// A table bound is reached.
    Full,
    /// The login record, if the name exists.
    Auth(Option<AuthRecord>),
    /// The account, if it exists.
    Account(Option<Box<AccountBundle>>),
    /// Room list.
    Rooms(Vec<RoomInfo>),
    /// Member count after a join or leave.
    Members(u32),
    /// Id of the stored message.
    Posted(u64),
    /// Room messages, oldest first.
    History(Vec<RoomMessage>),
    /// Rooms a server message went to.
    Delivered(u32),
    /// The account may not do this (not an admin).
    Forbidden,
    /// The database failed; nothing of this operation was stored.
    Failed,
    /// An account's Ed25519 public key.
    UserKey([u8; 32]),
    /// One username per key asked, empty where no account has the key.
    UserNames(Vec<String>),
    /// Room moderators: (room name, the account's Ed25519 key), by room.
    Moderators(Vec<(String, [u8; 32])>),
    /// No account has that name.
    NoSuchUser,
    /// The PM's id (the first copy's, for a replay).
    PmStored(u64),
    /// The recipient's quota or the sender's share is used up.
    MailboxFull,
    /// Waiting PMs, oldest first.
    Pms(Vec<crate::index::wire::StoredPm>),
    /// PMs deleted by an acknowledgement.
    Acked(u32),
    /// The result of a group-chat operation.
    Chat(chats::ChatOutcome),
    /// The result of a device operation.
    Device(devices::DeviceOutcome),
}

/// Brings the database to [`SCHEMA_VERSION`]. Returns the version found before.
pub fn migrate(sql: &mut dyn Sql) -> Result<i64, SqlError> {
    sql.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let rows = sql.query("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?;
    let found = rows.first().and_then(|r| r.first()).map_or(0, Value::int);
    if found > SCHEMA_VERSION {
        return Err(SqlError::new(format!(
            "database schema {found} is newer than this build ({SCHEMA_VERSION})"
        )));
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        sql.begin()?;
        let version = i as i64 + 1;
        let run = sql
            .batch(&dialect_sql(sql.dialect(), migration))
            .and_then(|()| {
                sql.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[Value::Int(version)],
                )
            });
        match run {
            Ok(_) => sql.batch("COMMIT")?,
            Err(e) => {
                let _ = sql.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(found)
}

fn dialect_sql(dialect: Dialect, migration: &str) -> String {
    let (id, blob, empty) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB", "x''"),
        Dialect::Postgres => (
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            "BYTEA",
            "''::bytea",
        ),
    };
    migration
        .replace("{id}", id)
        .replace("{blob}", blob)
        .replace("{empty_blob}", empty)
        .replace("{max_blob}", &MAX_BLOB.to_string())
}

/// A 32-byte secret kept in `meta` under `key`, created from `fresh` on first use.
pub fn meta_secret(sql: &mut dyn Sql, key: &str, fresh: [u8; 32]) -> Result<[u8; 32], SqlError> {
    let read = |sql: &mut dyn Sql| -> Result<Option<[u8; 32]>, SqlError> {
        let rows = sql.query("SELECT value FROM meta WHERE key = $1", &[text(key)])?;
        Ok(rows.first().and_then(|r| r.first()?.blob().try_into().ok()))
    };
    if let Some(v) = read(sql)? {
        return Ok(v);
    }
    sql.begin()?;
    let insert = sql.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2)",
        &[text(key), Value::Blob(fresh.to_vec())],
    );
    match insert {
        Ok(_) => sql.batch("COMMIT")?,
        Err(e) => {
            let _ = sql.batch("ROLLBACK");
            return Err(e);
        }
    }
    read(sql)?.ok_or_else(|| SqlError::new("meta secret not stored"))
}

/// Sets an account's privilege (the local `dhtchat admin` command). Returns false if there is
/// no such account.
pub fn set_privilege(sql: &mut dyn Sql, name: &str, admin: bool) -> Result<bool, SqlError> {
    sql.begin()?;
    let privilege = if admin { "admin" } else { "normal" };
    let run = sql.execute(
        "UPDATE accounts SET privilege = $1 WHERE name = $2",
        &[text(privilege), text(name)],
    );
    match run {
        Ok(n) => {
            sql.batch("COMMIT")?;
            Ok(n == 1)
        }
        Err(e) => {
            let _ = sql.batch("ROLLBACK");
            Err(e)
        }
    }
}

pub use rooms::{room_names, set_moderator};

/// The member key of an identity key (its X25519 form); empty for a key that has none.
fn member_key(public_key: &[u8; 32]) -> Vec<u8> {
    crate::crypto::x25519_of(public_key).map_or_else(Vec::new, |k| k.0.to_vec())
}

/// Computes the member key of every account stored before migration 4; returns how many.
pub fn fill_member_keys(sql: &mut dyn Sql) -> Result<usize, SqlError> {
    let rows = sql.query(
        "SELECT id, public_key FROM accounts WHERE length(member_key) = 0",
        &[],
    )?;
    let mut filled = 0;
    sql.begin()?;
    for r in &rows {
        let Ok(key) = <[u8; 32]>::try_from(r[1].blob()) else {
            continue;
        };
        let member = member_key(&key);
        if member.is_empty() {
            continue;
        }
        let run = sql.execute(
            "UPDATE accounts SET member_key = $1 WHERE id = $2",
            &[Value::Blob(member), Value::Int(r[0].int())],
        );
        if let Err(e) = run {
            let _ = sql.batch("ROLLBACK");
            return Err(e);
        }
        filled += 1;
    }
    sql.batch("COMMIT")?;
    Ok(filled)
}

/// Runs one operation inside the caller's transaction. `now` is Unix seconds.
pub fn apply(sql: &mut dyn Sql, op: &Op, limits: &Limits, now: i64) -> Result<Outcome, SqlError> {
    match op {
        Op::Register(reg) => register(sql, reg, limits, now),
        Op::LookupAuth { name } => lookup_auth(sql, name),
        Op::Fetch { account } => fetch(sql, *account),
        Op::UpdateLists {
            account,
            rooms,
            chats,
        } => {
            sql.execute(
                "UPDATE accounts SET rooms = $1, chats = $2 WHERE id = $3",
                &[blob(rooms), blob(chats), Value::Int(*account)],
            )?;
            Ok(Outcome::Done)
        }
        Op::ChangePassword {
            account,
            credentials: c,
            wrapped_key,
        } => {
            sql.execute(
                "UPDATE accounts SET kdf_m = $1, kdf_t = $2, kdf_p = $3, salt = $4, verifier = $5, \
                 wrapped_key = $6 WHERE id = $7",
                &[
                    Value::Int(c.params.m_kib.into()),
                    Value::Int(c.params.t.into()),
                    Value::Int(c.params.p.into()),
                    blob(&c.salt),
                    blob(&c.verifier),
                    blob(wrapped_key),
                    Value::Int(*account),
                ],
            )?;
            Ok(Outcome::Done)
        }
        Op::ListRooms => rooms::list(sql, limits),
        Op::JoinRoom { account, room } => rooms::join(sql, *account, room, limits, now),
        Op::LeaveRoom { account, room } => rooms::leave(sql, *account, room),
        Op::PostRoom {
            account,
            room,
            text: body,
        } => rooms::post(sql, *account, room, body, limits, now),
        Op::RoomHistory { room, before, max } => rooms::history(sql, room, *before, *max),
        Op::ServerMessage {
            account,
            room,
            text: body,
        } => rooms::server_message(sql, *account, room.as_deref(), body, limits, now),
        Op::RoomModerators => rooms::moderators(sql),
        Op::RoomChat {
            room,
            member_key,
            text: body,
        } => rooms::chat(sql, room, member_key, body, limits, now),
        Op::UserKey { name } => mailbox::user_key(sql, name),
        Op::UserNames { keys } => mailbox::user_names(sql, keys),
        Op::StorePm {
            sender,
            recipient,
            client_id,
            body,
        } => mailbox::store(sql, *sender, recipient, *client_id, body, limits, now),
        Op::FetchPms {
            account,
            after,
            max,
        } => mailbox::fetch(sql, *account, *after, *max, now),
        Op::AckPms { account, ids } => mailbox::ack(sql, *account, ids),
        Op::Chat(op) => chats::apply(sql, op, &limits.chats, now),
        Op::Device(op) => devices::apply(sql, op, now),
    }
}

pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn blob(b: &[u8]) -> Value {
    Value::Blob(b.to_vec())
}

pub(super) fn count(sql: &mut dyn Sql, query: &str, params: &[Value]) -> Result<i64, SqlError> {
    let rows = sql.query(query, params)?;
    Ok(rows.first().and_then(|r| r.first()).map_or(0, Value::int))
}

fn register(
    sql: &mut dyn Sql,
    reg: &Registration,
    limits: &Limits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let existing = sql.query(
        "SELECT verifier, public_key FROM accounts WHERE name = $1",
        &[text(&reg.name)],
    )?;
    if let Some(row) = existing.first() {
        let same = row[0].blob() == reg.credentials.verifier && row[1].blob() == reg.public_key;
        return Ok(if same {
            Outcome::Done
        } else {
            Outcome::NameTaken
        });
    }
    if count(sql, "SELECT COUNT(*) FROM accounts", &[])? >= limits.max_accounts {
        return Ok(Outcome::Full);
    }
    let c = &reg.credentials;
    sql.execute(
        "INSERT INTO accounts (name, kdf_m, kdf_t, kdf_p, salt, verifier, public_key, \
         wrapped_key, private_key, rooms, chats, created_at, member_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            text(&reg.name),
            Value::Int(c.params.m_kib.into()),
            Value::Int(c.params.t.into()),
            Value::Int(c.params.p.into()),
            blob(&c.salt),
            blob(&c.verifier),
            blob(&reg.public_key),
            blob(&reg.wrapped_key),
            blob(&reg.private_key),
            blob(&reg.rooms),
            blob(&reg.chats),
            Value::Int(now),
            blob(&member_key(&reg.public_key)),
        ],
    )?;
    Ok(Outcome::Done)
}

fn params_of(row: &[Value]) -> KdfParams {
    KdfParams {
        m_kib: u32::try_from(row[0].int()).unwrap_or(0),
        t: u32::try_from(row[1].int()).unwrap_or(0),
        p: u8::try_from(row[2].int()).unwrap_or(0),
    }
}

fn array<const N: usize>(v: &Value) -> [u8; N] {
    let mut out = [0u8; N];
    if v.blob().len() == N {
        out.copy_from_slice(v.blob());
    }
    out
}

fn lookup_auth(sql: &mut dyn Sql, name: &str) -> Result<Outcome, SqlError> {
    let rows = sql.query(
        "SELECT kdf_m, kdf_t, kdf_p, salt, verifier, id FROM accounts WHERE name = $1",
        &[text(name)],
    )?;
    Ok(Outcome::Auth(rows.first().map(|r| AuthRecord {
        account: r[5].int(),
        credentials: Credentials {
            params: params_of(r),
            salt: array::<SALT_LEN>(&r[3]),
            verifier: array(&r[4]),
        },
    })))
}

fn fetch(sql: &mut dyn Sql, account: i64) -> Result<Outcome, SqlError> {
    let rows = sql.query(
        "SELECT kdf_m, kdf_t, kdf_p, salt, public_key, wrapped_key, private_key, rooms, chats, \
         privilege FROM accounts WHERE id = $1",
        &[Value::Int(account)],
    )?;
    Ok(Outcome::Account(rows.first().map(|r| {
        Box::new(AccountBundle {
            admin: r[9].text() == "admin",
            params: params_of(r),
            salt: array(&r[3]),
            public_key: array(&r[4]),
            wrapped_key: array(&r[5]),
            private_key: array(&r[6]),
            rooms: r[7].blob().to_vec(),
            chats: r[8].blob().to_vec(),
        })
    })))
}
