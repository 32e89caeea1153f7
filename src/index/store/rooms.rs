//! Room queries: list with member counts, join, leave, post, history, server messages,
//! moderators. A member key is an account's through a registered device (§8.13) or the
//! account's own identity key.

use super::{Limits, Outcome, count, text};
use crate::index::sql::{Sql, SqlError, Value};
use crate::index::wire::{RoomInfo, RoomMessage};

pub(super) fn list(sql: &mut dyn Sql, limits: &Limits) -> Result<Outcome, SqlError> {
    let rows = sql.query(
        "SELECT r.name, COUNT(m.account_id) FROM rooms r \
         LEFT JOIN room_members m ON m.room_id = r.id \
         GROUP BY r.id, r.name ORDER BY r.name LIMIT $1",
        &[Value::Int(limits.max_rooms)],
    )?;
    Ok(Outcome::Rooms(
        rows.iter()
            .map(|r| RoomInfo {
                name: r[0].text().to_owned(),
                members: u32::try_from(r[1].int()).unwrap_or(u32::MAX),
            })
            .collect(),
    ))
}

/// The room's id, creating it if there is room for one more.
fn room_id(
    sql: &mut dyn Sql,
    room: &str,
    limits: &Limits,
    now: i64,
) -> Result<Option<i64>, SqlError> {
    let rows = sql.query("SELECT id FROM rooms WHERE name = $1", &[text(room)])?;
    if let Some(r) = rows.first() {
        return Ok(Some(r[0].int()));
    }
    if count(sql, "SELECT COUNT(*) FROM rooms", &[])? >= limits.max_rooms {
        return Ok(None);
    }
    sql.execute(
        "INSERT INTO rooms (name, created_at) VALUES ($1, $2)",
        &[text(room), Value::Int(now)],
    )?;
    let rows = sql.query("SELECT id FROM rooms WHERE name = $1", &[text(room)])?;
    Ok(rows.first().map(|r| r[0].int()))
}

fn members(sql: &mut dyn Sql, room: i64) -> Result<Outcome, SqlError> {
    let n = count(
        sql,
        "SELECT COUNT(*) FROM room_members WHERE room_id = $1",
        &[Value::Int(room)],
    )?;
    Ok(Outcome::Members(u32::try_from(n).unwrap_or(u32::MAX)))
}

pub(super) fn join(
    sql: &mut dyn Sql,
    account: i64,
    room: &str,
    limits: &Limits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let Some(id) = room_id(sql, room, limits, now)? else {
        return Ok(Outcome::Full);
    };
    let present = count(
        sql,
        "SELECT COUNT(*) FROM room_members WHERE room_id = $1 AND account_id = $2",
        &[Value::Int(id), Value::Int(account)],
    )?;
    if present == 0 {
        sql.execute(
            "INSERT INTO room_members (room_id, account_id) VALUES ($1, $2)",
            &[Value::Int(id), Value::Int(account)],
        )?;
    }
    members(sql, id)
}

pub(super) fn leave(sql: &mut dyn Sql, account: i64, room: &str) -> Result<Outcome, SqlError> {
    let rows = sql.query("SELECT id FROM rooms WHERE name = $1", &[text(room)])?;
    let Some(id) = rows.first().map(|r| r[0].int()) else {
        return Ok(Outcome::Members(0));
    };
    sql.execute(
        "DELETE FROM room_members WHERE room_id = $1 AND account_id = $2",
        &[Value::Int(id), Value::Int(account)],
    )?;
    members(sql, id)
}

pub(super) fn post(
    sql: &mut dyn Sql,
    account: i64,
    room: &str,
    body: &str,
    limits: &Limits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let Some(id) = room_id(sql, room, limits, now)? else {
        return Ok(Outcome::Full);
    };
    let posted = insert_message(sql, id, account, body, false, limits, now)?;
    Ok(Outcome::Posted(posted))
}

/// A chat the index's node heard: stored as the account whose member key sent it.
pub(super) fn chat(
    sql: &mut dyn Sql,
    room: &str,
    member_key: &[u8; 32],
    body: &str,
    limits: &Limits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let Some(account) = account_of_member(sql, member_key)? else {
        return Ok(Outcome::NoSuchUser);
    };
    post(sql, account, room, body, limits, now)
}

/// The account of a member key: a registered device's (§8.13), else an account's own
/// identity (clients that joined with the account key).
pub(super) fn account_of_member(
    sql: &mut dyn Sql,
    member_key: &[u8; 32],
) -> Result<Option<i64>, SqlError> {
    if let Some(account) = super::devices::account_of_member(sql, member_key)? {
        return Ok(Some(account));
    }
    let rows = sql.query(
        "SELECT id FROM accounts WHERE member_key = $1",
        &[Value::Blob(member_key.to_vec())],
    )?;
    Ok(rows.first().map(|r| r[0].int()))
}

/// Stores one message and trims the room to its bound; returns the message id.
fn insert_message(
    sql: &mut dyn Sql,
    id: i64,
    account: i64,
    body: &str,
    server: bool,
    limits: &Limits,
    now: i64,
) -> Result<u64, SqlError> {
    sql.execute(
        "INSERT INTO room_messages (room_id, account_id, body, created_at, server) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            Value::Int(id),
            Value::Int(account),
            text(body),
            Value::Int(now),
            Value::Int(i64::from(server)),
        ],
    )?;
    let rows = sql.query(
        "SELECT MAX(id) FROM room_messages WHERE room_id = $1",
        &[Value::Int(id)],
    )?;
    let posted = rows.first().map_or(0, |r| r[0].int());
    sql.execute(
        "DELETE FROM room_messages WHERE room_id = $1 AND id <= $2",
        &[
            Value::Int(id),
            Value::Int(posted - limits.max_room_messages.max(1)),
        ],
    )?;
    Ok(u64::try_from(posted).unwrap_or(0))
}

/// The newest `max` messages below `before` (0: the newest), oldest first.
pub(super) fn history(
    sql: &mut dyn Sql,
    room: &str,
    before: u64,
    max: u8,
) -> Result<Outcome, SqlError> {
    let before = if before == 0 {
        i64::MAX
    } else {
        i64::try_from(before).unwrap_or(i64::MAX)
    };
    let mut rows = sql.query(
        "SELECT m.id, a.name, m.server, m.created_at, m.body FROM room_messages m \
         JOIN rooms r ON r.id = m.room_id JOIN accounts a ON a.id = m.account_id \
         WHERE r.name = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3",
        &[text(room), Value::Int(before), Value::Int(i64::from(max))],
    )?;
    rows.reverse();
    Ok(Outcome::History(
        rows.iter()
            .map(|r| RoomMessage {
                id: u64::try_from(r[0].int()).unwrap_or(0),
                author: r[1].text().to_owned(),
                server: r[2].int() == 1,
                at: u64::try_from(r[3].int()).unwrap_or(0),
                text: r[4].text().to_owned(),
            })
            .collect(),
    ))
}

/// An admin's notice to one room (created if needed) or to every existing room.
pub(super) fn server_message(
    sql: &mut dyn Sql,
    account: i64,
    room: Option<&str>,
    body: &str,
    limits: &Limits,
    now: i64,
) -> Result<Outcome, SqlError> {
    let admin = count(
        sql,
        "SELECT COUNT(*) FROM accounts WHERE id = $1 AND privilege = 'admin'",
        &[Value::Int(account)],
    )?;
    if admin != 1 {
        return Ok(Outcome::Forbidden);
    }
    let ids: Vec<i64> = match room {
        Some(name) => match room_id(sql, name, limits, now)? {
            Some(id) => vec![id],
            None => return Ok(Outcome::Full),
        },
        None => sql
            .query("SELECT id FROM rooms ORDER BY id", &[])?
            .iter()
            .map(|r| r[0].int())
            .collect(),
    };
    for id in &ids {
        insert_message(sql, *id, account, body, true, limits, now)?;
    }
    Ok(Outcome::Delivered(
        u32::try_from(ids.len()).unwrap_or(u32::MAX),
    ))
}

/// Every room moderator (the index's node grants them the role), by room: the account's
/// identity key and each of its device keys (§8.13), all Ed25519.
pub(super) fn moderators(sql: &mut dyn Sql) -> Result<Outcome, SqlError> {
    let rows = sql.query(
        "SELECT r.name, a.public_key FROM room_moderators m \
         JOIN rooms r ON r.id = m.room_id JOIN accounts a ON a.id = m.account_id \
         UNION ALL \
         SELECT r.name, d.device_key FROM room_moderators m \
         JOIN rooms r ON r.id = m.room_id JOIN devices d ON d.account_id = m.account_id \
         ORDER BY 1, 2 LIMIT 100000",
        &[],
    )?;
    Ok(Outcome::Moderators(
        rows.iter()
            .filter_map(|r| Some((r[0].text().to_owned(), r[1].blob().try_into().ok()?)))
            .collect(),
    ))
}

/// The names of every room, to found their groups when the index starts.
pub fn room_names(sql: &mut dyn Sql) -> Result<Vec<String>, SqlError> {
    let rows = sql.query("SELECT name FROM rooms ORDER BY name", &[])?;
    Ok(rows.iter().map(|r| r[0].text().to_owned()).collect())
}

/// Appoints (`on`) or removes a room moderator: the local `dhtchat admin moderator|unmoderator
/// ROOM NAME`. The room is created if needed (it must be a valid name). Returns false if there
/// is no such account.
pub fn set_moderator(
    sql: &mut dyn Sql,
    room: &str,
    name: &str,
    on: bool,
    limits: &Limits,
    now: i64,
) -> Result<bool, SqlError> {
    sql.begin()?;
    let run = (|| {
        let rows = sql.query("SELECT id FROM accounts WHERE name = $1", &[text(name)])?;
        let Some(account) = rows.first().map(|r| r[0].int()) else {
            return Ok(false);
        };
        let Some(room) = room_id(sql, room, limits, now)? else {
            return Err(SqlError::new("the room table is full"));
        };
        let (a, r) = (Value::Int(account), Value::Int(room));
        sql.execute(
            "DELETE FROM room_moderators WHERE room_id = $1 AND account_id = $2",
            &[r.clone(), a.clone()],
        )?;
        if on {
            sql.execute(
                "INSERT INTO room_moderators (room_id, account_id) VALUES ($1, $2)",
                &[r, a],
            )?;
        }
        Ok(true)
    })();
    match run {
        Ok(found) => {
            sql.batch("COMMIT")?;
            Ok(found)
        }
        Err(e) => {
            let _ = sql.batch("ROLLBACK");
            Err(e)
        }
    }
}
