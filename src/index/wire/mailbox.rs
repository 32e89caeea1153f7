//! Offline private messages on the wire: request kinds 15–18 and their reply bodies
//! (PROTOCOL.md §8.10).
//!
//! | kind | request       | body                                                          | ok reply body |
//! |------|---------------|---------------------------------------------------------------|---------------|
//! | 15   | user key      | name                                                          | `[public key 32]` (the account's Ed25519 key) |
//! | 16   | store PM      | recipient name, client message id u64, sealed body (u16 length, 1..=4096) | `[pm id u64]` |
//! | 17   | fetch PMs     | after id u64 (0: from the start), max 1 (1..=50)              | `[n 1]` then n × `[id u64][sender name][sender key 32][sent unix secs u64][sealed body]`, oldest first |
//! | 18   | ack PMs       | `[n 1]` (1..=50) then n × id u64                              | `[deleted u32]` |
//! | 29   | user names    | `[n 1]` (1..=64) then n × Ed25519 key 32                      | `[n 1]` then n × `[len 1][name]`, in request order; len 0: no account has that key |
//!
//! All five need a session. The sealed body is `[nonce 24][mac 16][ciphertext]`: crypto_box
//! from the sender's identity to the recipient's (X25519 forms of the Ed25519 keys); the
//! index never sees the plaintext. A fetch reply holds at most [`MAX_PAGE_BYTES`] of bodies.

use super::{Kind, put_name, put_short_bytes, read_name, read_short_bytes};
use crate::index::names::MAX_USERNAME;
use crate::wire::{DecodeError, Reader};

/// Longest sealed PM body: 4,096 bytes (nonce and MAC included).
pub const MAX_PM_BODY: usize = 4096;
/// Most PMs in one fetch reply or one acknowledgement.
pub const MAX_PM_PAGE: u8 = 50;
/// Most body bytes in one fetch reply (the reply stays under one message).
pub const MAX_PAGE_BYTES: usize = 64_000;
/// Most keys in one user-names request (a group chat's member list is read in pages of it).
pub const MAX_NAME_KEYS: u8 = 64;

/// A mailbox request (kinds 15–18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxRequest {
    /// Kind 15: an account's public key, to seal a PM to it.
    UserKey {
        /// Username.
        name: String,
    },
    /// Kind 16: store a PM for an account.
    StorePm {
        /// Recipient's username.
        recipient: String,
        /// Chosen by the sender; the same id again stores nothing new.
        client_id: u64,
        /// Sealed body.
        body: Vec<u8>,
    },
    /// Kind 17: PMs waiting for the logged-in account.
    FetchPms {
        /// Only ids above this.
        after: u64,
        /// Most PMs, 1..=50.
        max: u8,
    },
    /// Kind 18: delete delivered PMs.
    AckPms {
        /// PM ids, 1..=50 of them.
        ids: Vec<u64>,
    },
    /// Kind 29: the usernames of accounts by their Ed25519 keys (a group chat's members).
    UserNames {
        /// Account keys, 1..=[`MAX_NAME_KEYS`] of them.
        keys: Vec<[u8; 32]>,
    },
}

/// One stored PM as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPm {
    /// PM id (increasing per index).
    pub id: u64,
    /// Sender's username.
    pub sender: String,
    /// Sender's Ed25519 public key (to open the body).
    pub sender_key: [u8; 32],
    /// When the index stored it, Unix seconds.
    pub at: u64,
    /// Sealed body.
    pub body: Vec<u8>,
}

/// An ok reply body of kinds 15–18.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxReply {
    /// Kind 15.
    UserKey([u8; 32]),
    /// Kind 16: the stored PM's id (the first copy's id for a replay).
    Stored(u64),
    /// Kind 17, oldest first.
    Pms(Vec<StoredPm>),
    /// Kind 18: PMs deleted.
    Acked(u32),
    /// Kind 29: one username per requested key, in order; empty for a key no account has.
    UserNames(Vec<String>),
}

/// Writes `[len u16][bytes]`.
fn put_body(out: &mut Vec<u8>, body: &[u8]) {
    put_short_bytes(out, body);
}

/// Reads `[len u16][bytes]`, 1..=[`MAX_PM_BODY`].
fn read_body(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    read_short_bytes(r, (1, MAX_PM_BODY), "pm body length")
}

impl MailboxRequest {
    /// The request kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::UserKey { .. } => Kind::UserKey,
            Self::StorePm { .. } => Kind::StorePm,
            Self::FetchPms { .. } => Kind::FetchPms,
            Self::AckPms { .. } => Kind::AckPms,
            Self::UserNames { .. } => Kind::UserNames,
        }
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::UserKey { name } => put_name(out, name),
            Self::StorePm {
                recipient,
                client_id,
                body,
            } => {
                put_name(out, recipient);
                out.extend_from_slice(&client_id.to_be_bytes());
                put_body(out, body);
            }
            Self::FetchPms { after, max } => {
                out.extend_from_slice(&after.to_be_bytes());
                out.push(*max);
            }
            Self::AckPms { ids } => {
                let ids = &ids[..ids.len().min(usize::from(MAX_PM_PAGE))];
                out.push(ids.len() as u8); // at most MAX_PM_PAGE after the line above
                for id in ids {
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
            Self::UserNames { keys } => {
                let keys = &keys[..keys.len().min(usize::from(MAX_NAME_KEYS))];
                out.push(keys.len() as u8); // at most MAX_NAME_KEYS after the line above
                for key in keys {
                    out.extend_from_slice(key);
                }
            }
        }
    }

    /// Decodes the body of kind `kind` (15–18, 29).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match kind {
            15 => Self::UserKey {
                name: read_name(r, MAX_USERNAME)?,
            },
            16 => Self::StorePm {
                recipient: read_name(r, MAX_USERNAME)?,
                client_id: r.u64_be()?,
                body: read_body(r)?,
            },
            17 => {
                let after = r.u64_be()?;
                let max = r.u8()?;
                if max == 0 || max > MAX_PM_PAGE {
                    return Err(DecodeError::BadValue("pm page size"));
                }
                Self::FetchPms { after, max }
            }
            18 => {
                let n = r.u8()?;
                if n == 0 || n > MAX_PM_PAGE {
                    return Err(DecodeError::BadValue("ack count"));
                }
                let ids = (0..n).map(|_| r.u64_be()).collect::<Result<_, _>>()?;
                Self::AckPms { ids }
            }
            29 => {
                let n = r.u8()?;
                if n == 0 || n > MAX_NAME_KEYS {
                    return Err(DecodeError::BadValue("name key count"));
                }
                let keys = (0..n).map(|_| r.array()).collect::<Result<_, _>>()?;
                Self::UserNames { keys }
            }
            other => return Err(DecodeError::UnknownPayloadId(other)),
        })
    }
}

impl MailboxReply {
    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::UserKey(key) => out.extend_from_slice(key),
            Self::Stored(id) => out.extend_from_slice(&id.to_be_bytes()),
            Self::Acked(n) => out.extend_from_slice(&n.to_be_bytes()),
            Self::Pms(pms) => {
                let pms = &pms[..pms.len().min(usize::from(MAX_PM_PAGE))];
                out.push(pms.len() as u8); // at most MAX_PM_PAGE after the line above
                for pm in pms {
                    out.extend_from_slice(&pm.id.to_be_bytes());
                    put_name(out, &pm.sender);
                    out.extend_from_slice(&pm.sender_key);
                    out.extend_from_slice(&pm.at.to_be_bytes());
                    put_body(out, &pm.body);
                }
            }
            Self::UserNames(names) => {
                let names = &names[..names.len().min(usize::from(MAX_NAME_KEYS))];
                out.push(names.len() as u8); // at most MAX_NAME_KEYS after the line above
                for name in names {
                    let name = &name.as_bytes()[..name.len().min(MAX_USERNAME)];
                    out.push(name.len() as u8); // at most MAX_USERNAME (< 256)
                    out.extend_from_slice(name);
                }
            }
        }
    }

    /// Decodes the ok body of kind `kind` (15–18, 29).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match kind {
            15 => Self::UserKey(r.array()?),
            16 => Self::Stored(r.u64_be()?),
            18 => Self::Acked(r.u32_be()?),
            17 => {
                let n = r.u8()?;
                if n > MAX_PM_PAGE {
                    return Err(DecodeError::BadValue("pm page size"));
                }
                let mut pms = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    pms.push(StoredPm {
                        id: r.u64_be()?,
                        sender: read_name(r, MAX_USERNAME)?,
                        sender_key: r.array()?,
                        at: r.u64_be()?,
                        body: read_body(r)?,
                    });
                }
                Self::Pms(pms)
            }
            29 => Self::UserNames(read_names(r)?),
            other => return Err(DecodeError::UnknownPayloadId(other)),
        })
    }
}

/// Reads the names of a user-names reply: `[n 1]` (≤ [`MAX_NAME_KEYS`]) then n ×
/// `[len 1][name]`, each name empty or a username.
fn read_names(r: &mut Reader<'_>) -> Result<Vec<String>, DecodeError> {
    let n = r.u8()?;
    if n > MAX_NAME_KEYS {
        return Err(DecodeError::BadValue("name count"));
    }
    let mut names = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = usize::from(r.u8()?);
        if len > MAX_USERNAME {
            return Err(DecodeError::BadValue("name length"));
        }
        let bytes = r.take(len)?;
        let name = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadValue("name text"))?;
        names.push(name.to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::super::{Reply, ReplyBody, Request, Status};
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The golden vectors of PROTOCOL.md §8.10.
    #[test]
    fn golden_vectors() {
        let store = Request::Mailbox(MailboxRequest::StorePm {
            recipient: "bob".into(),
            client_id: 7,
            body: vec![0xaa, 0xbb],
        });
        assert_eq!(hex(&store.encode()), "1003626f6200000000000000070002aabb");
        let fetch = Request::Mailbox(MailboxRequest::FetchPms { after: 0, max: 50 });
        assert_eq!(hex(&fetch.encode()), "11000000000000000032");
        let ack = Request::Mailbox(MailboxRequest::AckPms { ids: vec![1, 2] });
        assert_eq!(hex(&ack.encode()), "120200000000000000010000000000000002");
        let full = Reply::status(Kind::StorePm, Status::MailboxFull);
        assert_eq!(hex(&full.encode()), "1009");
        let stored = Reply {
            kind: Kind::StorePm,
            status: Status::Ok,
            body: ReplyBody::Mailbox(MailboxReply::Stored(3)),
        };
        assert_eq!(hex(&stored.encode()), "10000000000000000003");
        let names = Request::Mailbox(MailboxRequest::UserNames {
            keys: vec![[0x11; 32], [0x22; 32]],
        });
        let want = format!("1d02{}{}", "11".repeat(32), "22".repeat(32));
        assert_eq!(hex(&names.encode()), want);
        let named = Reply {
            kind: Kind::UserNames,
            status: Status::Ok,
            body: ReplyBody::Mailbox(MailboxReply::UserNames(vec!["bob".into(), String::new()])),
        };
        assert_eq!(hex(&named.encode()), "1d000203626f6200");
    }

    #[test]
    fn round_trips_and_bounds() {
        let all = vec![
            MailboxRequest::UserKey { name: "bob".into() },
            MailboxRequest::StorePm {
                recipient: "bob".into(),
                client_id: u64::MAX,
                body: vec![1; MAX_PM_BODY],
            },
            MailboxRequest::FetchPms { after: 9, max: 1 },
            MailboxRequest::AckPms { ids: vec![4; 50] },
        ];
        for m in all {
            let req = Request::Mailbox(m);
            let bytes = req.encode();
            assert_eq!(Request::decode(&bytes).unwrap(), req);
            let mut long = bytes;
            long.push(0);
            assert!(Request::decode(&long).is_err());
        }
        let mut big = vec![16, 3, b'b', b'o', b'b', 0, 0, 0, 0, 0, 0, 0, 1];
        big.extend_from_slice(&(MAX_PM_BODY as u16 + 1).to_be_bytes());
        big.extend_from_slice(&[0; MAX_PM_BODY + 1]);
        assert!(Request::decode(&big).is_err());
        assert!(Request::decode(&[17, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Request::decode(&[18, 0]).is_err());
        // User names: 1..=64 keys; a reply of at most 64 names, each empty or ≤ 32 bytes.
        let names = Request::Mailbox(MailboxRequest::UserNames {
            keys: vec![[9; 32]; usize::from(MAX_NAME_KEYS)],
        });
        assert_eq!(Request::decode(&names.encode()).unwrap(), names);
        assert!(Request::decode(&[29, 0]).is_err());
        let mut many = vec![29, MAX_NAME_KEYS + 1];
        many.extend_from_slice(&[9; 32 * (MAX_NAME_KEYS as usize + 1)]);
        assert!(Request::decode(&many).is_err());
        assert!(Request::decode(&[29, 1, 9, 9]).is_err());
        let reply = Reply {
            kind: Kind::UserNames,
            status: Status::Ok,
            body: ReplyBody::Mailbox(MailboxReply::UserNames(vec!["bob".into(), String::new()])),
        };
        assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
        assert!(Reply::decode(&[29, 0, 1, 33]).is_err());
        assert!(Reply::decode(&[29, 0, 1, 2, 0xff, 0xfe]).is_err());
        let pms = Reply {
            kind: Kind::FetchPms,
            status: Status::Ok,
            body: ReplyBody::Mailbox(MailboxReply::Pms(vec![StoredPm {
                id: 1,
                sender: "alice".into(),
                sender_key: [2; 32],
                at: 1_700_000_000,
                body: vec![3; 100],
            }])),
        };
        assert_eq!(Reply::decode(&pms.encode()).unwrap(), pms);
    }
}
