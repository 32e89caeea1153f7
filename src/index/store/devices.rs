//! Device keys of accounts (PROTOCOL.md §8.13): the `devices` table (migration 6), at most
//! [`MAX_DEVICES`] per account, the least recently used evicted for a new one. Each row maps a
//! device's member key (the X25519 form of its Ed25519 key) to its account, so a room chat the
//! index's node hears from a device is stored as the account's, and a moderator role granted
//! to an account is signed for every device key.

use super::{Outcome, count, member_key, text};
use crate::index::devices::{Certificate, MAX_DEVICES};
use crate::index::sql::{Sql, SqlError, Value};

/// A device operation (kinds 24–25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOp {
    /// Register or refresh a device of `account`, certified for the index `index`.
    Register {
        /// The session's account.
        account: i64,
        /// The certificate as received.
        cert: Certificate,
        /// The index's key (the certificate is bound to it).
        index: [u8; 32],
    },
    /// Remove a device key of `account`.
    Remove {
        /// The session's account.
        account: i64,
        /// The device's Ed25519 key.
        device: [u8; 32],
    },
}

/// The result of a [`DeviceOp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// The account's devices now, and how many were evicted (0 or 1).
    Registered(u8, u8),
    /// 1 if the key was a device of the account.
    Removed(u8),
    /// The certificate does not verify for the account (nothing changed).
    BadCertificate,
    /// Another account holds the device key (nothing changed).
    Taken,
}

pub(super) fn apply(sql: &mut dyn Sql, op: &DeviceOp, now: i64) -> Result<Outcome, SqlError> {
    let outcome = match op {
        DeviceOp::Register {
            account,
            cert,
            index,
        } => register(sql, *account, cert, index, now)?,
        DeviceOp::Remove { account, device } => {
            let n = sql.execute(
                "DELETE FROM devices WHERE device_key = $1 AND account_id = $2",
                &[Value::Blob(device.to_vec()), Value::Int(*account)],
            )?;
            DeviceOutcome::Removed(u8::from(n > 0))
        }
    };
    Ok(Outcome::Device(outcome))
}

fn register(
    sql: &mut dyn Sql,
    account: i64,
    cert: &Certificate,
    index: &[u8; 32],
    now: i64,
) -> Result<DeviceOutcome, SqlError> {
    let rows = sql.query(
        "SELECT name, public_key FROM accounts WHERE id = $1",
        &[Value::Int(account)],
    )?;
    let Some((name, key)) = rows.first().and_then(|r| {
        Some((
            r[0].text().to_owned(),
            <[u8; 32]>::try_from(r[1].blob()).ok()?,
        ))
    }) else {
        return Ok(DeviceOutcome::BadCertificate);
    };
    let clock = u64::try_from(now).unwrap_or(0);
    if cert.verify(&name, &key, index, clock).is_err() {
        return Ok(DeviceOutcome::BadCertificate);
    }
    let device = Value::Blob(cert.device.to_vec());
    let issued = i64::try_from(cert.issued).unwrap_or(i64::MAX);
    let held = sql.query(
        "SELECT account_id, issued FROM devices WHERE device_key = $1",
        std::slice::from_ref(&device),
    )?;
    let mut evicted = 0;
    match held.first().map(|r| (r[0].int(), r[1].int())) {
        Some((owner, _)) if owner != account => return Ok(DeviceOutcome::Taken),
        // A newer certificate refreshes the row; the same or an older one changes nothing.
        Some((_, stored)) if issued > stored => {
            sql.execute(
                "UPDATE devices SET issued = $1, last_used = $2 WHERE device_key = $3",
                &[Value::Int(issued), Value::Int(now), device],
            )?;
        }
        Some(_) => {}
        None => {
            evicted = evict_for_one_more(sql, account)?;
            sql.execute(
                "INSERT INTO devices (device_key, account_id, member_key, issued, created_at, \
                 last_used) VALUES ($1, $2, $3, $4, $5, $5)",
                &[
                    device,
                    Value::Int(account),
                    Value::Blob(member_key(&cert.device)),
                    Value::Int(issued),
                    Value::Int(now),
                ],
            )?;
        }
    }
    let n = devices_of(sql, account)?;
    Ok(DeviceOutcome::Registered(
        u8::try_from(n).unwrap_or(u8::MAX),
        evicted,
    ))
}

fn devices_of(sql: &mut dyn Sql, account: i64) -> Result<i64, SqlError> {
    count(
        sql,
        "SELECT COUNT(*) FROM devices WHERE account_id = $1",
        &[Value::Int(account)],
    )
}

/// Deletes the account's least recently used devices until one more fits; how many.
fn evict_for_one_more(sql: &mut dyn Sql, account: i64) -> Result<u8, SqlError> {
    let mut evicted = 0;
    while devices_of(sql, account)? >= i64::from(MAX_DEVICES) && evicted < MAX_DEVICES {
        let rows = sql.query(
            "SELECT device_key FROM devices WHERE account_id = $1 \
             ORDER BY last_used, id LIMIT 1",
            &[Value::Int(account)],
        )?;
        let Some(oldest) = rows.first().map(|r| r[0].blob().to_vec()) else {
            break;
        };
        sql.execute(
            "DELETE FROM devices WHERE device_key = $1",
            &[Value::Blob(oldest)],
        )?;
        evicted += 1;
    }
    Ok(evicted)
}

/// The account whose device has the member key `key`, if any.
pub(super) fn account_of_member(
    sql: &mut dyn Sql,
    key: &[u8; 32],
) -> Result<Option<i64>, SqlError> {
    let rows = sql.query(
        "SELECT account_id FROM devices WHERE member_key = $1",
        &[Value::Blob(key.to_vec())],
    )?;
    Ok(rows.first().map(|r| r[0].int()))
}

/// The Ed25519 device keys of the account named `name` (tests, audits).
pub fn device_keys(sql: &mut dyn Sql, name: &str) -> Result<Vec<[u8; 32]>, SqlError> {
    let rows = sql.query(
        "SELECT d.device_key FROM devices d JOIN accounts a ON a.id = d.account_id \
         WHERE a.name = $1 ORDER BY d.id",
        &[text(name)],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| r[0].blob().try_into().ok())
        .collect())
}
