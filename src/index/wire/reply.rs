//! Index replies: `[kind 1][status 1][body]` after reassembly (PROTOCOL.md §8.5).
//!
//! The kind echoes the request's. Only status 0 (ok) has a body:
//!
//! | kind               | ok body                                                        |
//! |--------------------|----------------------------------------------------------------|
//! | prelogin           | `[m u32][t u32][p 1][salt 16][challenge 32]`                   |
//! | login, fetch       | account: `[privilege 1][m u32][t u32][p 1][salt 16][public key 32][wrapped key 72][private key box 72][rooms blob][chats blob]` |
//! | list rooms         | `[n u16]` then n × `[name][members u32]`                       |
//! | join room          | `[members u32][chat id 32][port u16]` (§8.11)                  |
//! | leave room         | `[members u32]`                                                |
//! | post to room       | `[message id u64]`                                             |
//! | room history       | `[n 1]` then n × `[id u64][author name][server 1][unix secs u64][text]`, oldest first |
//! | server message     | `[rooms u32]`: rooms it was posted to                          |
//! | 15–18 (mailbox)    | see [`super::mailbox`]                                          |
//! | 19–23 (group chats)| see [`super::chats`] (status 11 `rotation_lost` has a body too) |
//! | 24–25 (devices)    | see [`super::devices`]                                         |
//! | every other kind   | (empty)                                                        |

use super::chats::ChatReply;
use super::devices::DeviceReply;
use super::mailbox::MailboxReply;
use super::request::{MAX_HISTORY, put_params, put_text, read_params, read_text};
use super::{
    CHALLENGE_LEN, Kind, MAX_MESSAGE, SALT_LEN, WRAPPED_KEY_LEN, put_blob, put_name, read_blob,
    read_name,
};
use crate::index::account::KdfParams;
use crate::index::names::{MAX_ROOM_NAME, MAX_USERNAME};
use crate::index::presence::PresenceReply;
use crate::wire::{DecodeError, Reader};

/// Outcome of a request. Bad requests get no reply at all (a counted drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Done (and, for a write, committed).
    Ok = 0,
    /// Wrong password, unknown user or expired challenge: one answer for all.
    AuthFailed = 1,
    /// The username is taken.
    NameTaken = 2,
    /// Too many login attempts for this account; try later.
    RateLimited = 3,
    /// Too many expensive operations in progress; retry.
    Busy = 4,
    /// The request needs a session (log in first).
    NotLoggedIn = 5,
    /// Not allowed (privilege changes are local only).
    Forbidden = 6,
    /// The database failed; nothing was stored.
    Unavailable = 7,
    /// A table is full (accounts, rooms) or the room is not on the allow-list.
    Full = 8,
    /// The recipient's mailbox (or the sender's share of it) is full.
    MailboxFull = 9,
    /// No account has that name.
    NoSuchUser = 10,
    /// A group-chat record lost the race for its epoch; the body is the winner.
    RotationLost = 11,
    /// A group-chat record the ordering rule rejects (bad signature, fork, not allowed…).
    BadRecord = 12,
    /// A device certificate that does not verify for the session's account (§8.13).
    BadCertificate = 13,
    /// The device key is registered to another account.
    DeviceTaken = 14,
}

impl Status {
    fn from_u8(b: u8) -> Option<Self> {
        use Status::*;
        const ALL: [Status; 15] = [
            Ok,
            AuthFailed,
            NameTaken,
            RateLimited,
            Busy,
            NotLoggedIn,
            Forbidden,
            Unavailable,
            Full,
            MailboxFull,
            NoSuchUser,
            RotationLost,
            BadRecord,
            BadCertificate,
            DeviceTaken,
        ];
        ALL.get(usize::from(b)).copied()
    }
}

/// An account as the index returns it after login: nothing in it decrypts without the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountBundle {
    /// True for admin.
    pub admin: bool,
    /// KDF parameters.
    pub params: KdfParams,
    /// KDF salt.
    pub salt: [u8; SALT_LEN],
    /// The identity's Ed25519 public key.
    pub public_key: [u8; 32],
    /// Account key under the key-encryption key.
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
    /// Identity seed under the account key.
    pub private_key: [u8; WRAPPED_KEY_LEN],
    /// Encrypted room list.
    pub rooms: Vec<u8>,
    /// Encrypted group-chat/PM list.
    pub chats: Vec<u8>,
}

impl std::fmt::Debug for AccountBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountBundle")
            .field("admin", &self.admin)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// One room in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// Room name.
    pub name: String,
    /// Accounts that joined it.
    pub members: u32,
}

/// The body of an ok reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// No body.
    Empty,
    /// Prelogin: how to derive the keys, and what to sign.
    Prelogin {
        /// KDF parameters (real or the deterministic fake of an unknown name).
        params: KdfParams,
        /// KDF salt.
        salt: [u8; SALT_LEN],
        /// Fresh challenge for the login signature.
        challenge: [u8; CHALLENGE_LEN],
    },
    /// Login, fetch.
    Account(Box<AccountBundle>),
    /// List rooms.
    Rooms(Vec<RoomInfo>),
    /// Join: the room's group (PROTOCOL.md §8.11).
    RoomJoin(RoomJoin),
    /// Leave: the room's member count afterwards.
    Members(u32),
    /// Post: the stored message's id.
    Posted(u64),
    /// Room history, oldest first.
    History(Vec<RoomMessage>),
    /// Server message: the rooms it went to.
    Delivered(u32),
    /// Kinds 15–18.
    Mailbox(MailboxReply),
    /// Kinds 19–23 (and the winner in a `rotation_lost` reply).
    Chat(ChatReply),
    /// Kinds 24–25.
    Device(DeviceReply),
    /// Kinds 26–28.
    Presence(PresenceReply),
}

/// What a client needs to join a room's group (the answer to kind 8).
///
/// | Length | Content |
/// |--------|---------|
/// | 4      | clients in the room's group now (u32 big-endian) |
/// | 32     | chat id: the Ed25519 key of the room's founder (the index's node) |
/// | 2      | UDP port of the index's node (u16 big-endian), on the index's IP address; 0: the index runs no node |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomJoin {
    /// Clients in the room's group (the index's node not counted).
    pub members: u32,
    /// The group's chat id.
    pub chat_id: [u8; 32],
    /// The node's port on the index's IP address; 0 if the index runs no node.
    pub port: u16,
}

/// One stored room message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMessage {
    /// Message id (increasing).
    pub id: u64,
    /// The author's username.
    pub author: String,
    /// True for an admin's server message (clients show it distinctly).
    pub server: bool,
    /// When the index stored it, Unix seconds.
    pub at: u64,
    /// The text.
    pub text: String,
}

/// One decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request kind this answers.
    pub kind: Kind,
    /// Outcome.
    pub status: Status,
    /// Body (only for [`Status::Ok`]).
    pub body: ReplyBody,
}

impl Reply {
    /// A reply without a body.
    pub fn status(kind: Kind, status: Status) -> Self {
        Self {
            kind,
            status,
            body: ReplyBody::Empty,
        }
    }

    /// Encodes `[kind][status][body]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind as u8, self.status as u8];
        match &self.body {
            ReplyBody::Empty => {}
            ReplyBody::Prelogin {
                params,
                salt,
                challenge,
            } => {
                put_params(&mut out, params);
                out.extend_from_slice(salt);
                out.extend_from_slice(challenge);
            }
            ReplyBody::Account(a) => put_account(&mut out, a),
            ReplyBody::Rooms(rooms) => put_rooms(&mut out, rooms),
            ReplyBody::RoomJoin(j) => {
                out.extend_from_slice(&j.members.to_be_bytes());
                out.extend_from_slice(&j.chat_id);
                out.extend_from_slice(&j.port.to_be_bytes());
            }
            ReplyBody::Members(n) => out.extend_from_slice(&n.to_be_bytes()),
            ReplyBody::Posted(id) => out.extend_from_slice(&id.to_be_bytes()),
            ReplyBody::History(messages) => put_history(&mut out, messages),
            ReplyBody::Delivered(n) => out.extend_from_slice(&n.to_be_bytes()),
            ReplyBody::Mailbox(m) => m.encode_body(&mut out),
            ReplyBody::Chat(c) => c.encode_body(&mut out),
            ReplyBody::Device(d) => d.encode_body(&mut out),
            ReplyBody::Presence(p) => p.encode_body(&mut out),
        }
        out
    }

    /// Decodes a reassembled reply.
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        if message.len() > MAX_MESSAGE {
            return Err(DecodeError::TooLong {
                len: message.len(),
                max: MAX_MESSAGE,
            });
        }
        let mut r = Reader::new(message);
        let kind = r.u8()?;
        let kind = Kind::from_u8(kind).ok_or(DecodeError::UnknownPayloadId(kind))?;
        let status = Status::from_u8(r.u8()?).ok_or(DecodeError::BadValue("status"))?;
        let body = match status {
            Status::Ok => decode_body(kind, &mut r)?,
            Status::RotationLost => ReplyBody::Chat(ChatReply::decode_lost(&mut r)?),
            _ => ReplyBody::Empty,
        };
        r.finish()?;
        Ok(Self { kind, status, body })
    }
}

fn decode_body(kind: Kind, r: &mut Reader<'_>) -> Result<ReplyBody, DecodeError> {
    Ok(match kind {
        Kind::Prelogin => ReplyBody::Prelogin {
            params: read_params(r)?,
            salt: r.array()?,
            challenge: r.array()?,
        },
        Kind::Login | Kind::Fetch => ReplyBody::Account(Box::new(read_account(r)?)),
        Kind::ListRooms => ReplyBody::Rooms(read_rooms(r)?),
        Kind::JoinRoom => ReplyBody::RoomJoin(RoomJoin {
            members: r.u32_be()?,
            chat_id: r.array()?,
            port: u16::from_be_bytes(r.array()?),
        }),
        Kind::LeaveRoom => ReplyBody::Members(r.u32_be()?),
        Kind::PostRoom => ReplyBody::Posted(r.u64_be()?),
        Kind::RoomHistory => ReplyBody::History(read_history(r)?),
        Kind::ServerMessage => ReplyBody::Delivered(r.u32_be()?),
        Kind::UserKey | Kind::StorePm | Kind::FetchPms | Kind::AckPms | Kind::UserNames => {
            ReplyBody::Mailbox(MailboxReply::decode_body(kind as u8, r)?)
        }
        Kind::PutRecord | Kind::FetchRecords | Kind::PostChat | Kind::FetchChat | Kind::MyChats => {
            ReplyBody::Chat(ChatReply::decode_body(kind as u8, r)?)
        }
        Kind::RegisterDevice | Kind::RemoveDevice => {
            ReplyBody::Device(DeviceReply::decode_body(kind as u8, r)?)
        }
        Kind::PublishPresence | Kind::LookupPresence | Kind::WithdrawPresence => {
            ReplyBody::Presence(PresenceReply::decode_body(kind as u8, r)?)
        }
        _ => ReplyBody::Empty,
    })
}

fn read_account(r: &mut Reader<'_>) -> Result<AccountBundle, DecodeError> {
    Ok(AccountBundle {
        admin: match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::BadValue("privilege")),
        },
        params: read_params(r)?,
        salt: r.array()?,
        public_key: r.array()?,
        wrapped_key: r.array()?,
        private_key: r.array()?,
        rooms: read_blob(r)?,
        chats: read_blob(r)?,
    })
}

fn put_account(out: &mut Vec<u8>, a: &AccountBundle) {
    out.push(u8::from(a.admin));
    put_params(out, &a.params);
    out.extend_from_slice(&a.salt);
    out.extend_from_slice(&a.public_key);
    out.extend_from_slice(&a.wrapped_key);
    out.extend_from_slice(&a.private_key);
    put_blob(out, &a.rooms);
    put_blob(out, &a.chats);
}

/// Most rooms in one list reply (37 bytes each at most: the list stays under one message).
pub const MAX_LISTED_ROOMS: usize = 1000;

fn read_rooms(r: &mut Reader<'_>) -> Result<Vec<RoomInfo>, DecodeError> {
    let n = usize::from(r.u16_be()?);
    if n > MAX_LISTED_ROOMS {
        return Err(DecodeError::BadValue("room count"));
    }
    let mut rooms = Vec::with_capacity(n);
    for _ in 0..n {
        rooms.push(RoomInfo {
            name: read_name(r, MAX_ROOM_NAME)?,
            members: r.u32_be()?,
        });
    }
    Ok(rooms)
}

fn put_rooms(out: &mut Vec<u8>, rooms: &[RoomInfo]) {
    let rooms = &rooms[..rooms.len().min(MAX_LISTED_ROOMS)];
    // At most MAX_LISTED_ROOMS (1000) after the line above.
    out.extend_from_slice(&(rooms.len() as u16).to_be_bytes());
    for room in rooms {
        put_name(out, &room.name);
        out.extend_from_slice(&room.members.to_be_bytes());
    }
}

fn read_history(r: &mut Reader<'_>) -> Result<Vec<RoomMessage>, DecodeError> {
    let n = r.u8()?;
    if n > MAX_HISTORY {
        return Err(DecodeError::BadValue("history size"));
    }
    let mut out = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        out.push(RoomMessage {
            id: r.u64_be()?,
            author: read_name(r, MAX_USERNAME)?,
            server: super::request::read_bool(r)?,
            at: r.u64_be()?,
            text: read_text(r)?,
        });
    }
    Ok(out)
}

fn put_history(out: &mut Vec<u8>, messages: &[RoomMessage]) {
    let messages = &messages[..messages.len().min(usize::from(MAX_HISTORY))];
    out.push(messages.len() as u8); // at most MAX_HISTORY (50) after the line above
    for m in messages {
        out.extend_from_slice(&m.id.to_be_bytes());
        put_name(out, &m.author);
        out.push(u8::from(m.server));
        out.extend_from_slice(&m.at.to_be_bytes());
        put_text(out, &m.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip() {
        let params = KdfParams {
            m_kib: 65536,
            t: 3,
            p: 1,
        };
        let all = vec![
            Reply::status(Kind::Login, Status::AuthFailed),
            Reply {
                kind: Kind::Prelogin,
                status: Status::Ok,
                body: ReplyBody::Prelogin {
                    params,
                    salt: [1; 16],
                    challenge: [2; 32],
                },
            },
            Reply {
                kind: Kind::Fetch,
                status: Status::Ok,
                body: ReplyBody::Account(Box::new(AccountBundle {
                    admin: true,
                    params,
                    salt: [1; 16],
                    public_key: [3; 32],
                    wrapped_key: [4; 72],
                    private_key: [5; 72],
                    rooms: vec![6; 40],
                    chats: vec![7; 41],
                })),
            },
            Reply {
                kind: Kind::ListRooms,
                status: Status::Ok,
                body: ReplyBody::Rooms(vec![RoomInfo {
                    name: "LOBBY".into(),
                    members: 3,
                }]),
            },
            Reply {
                kind: Kind::JoinRoom,
                status: Status::Ok,
                body: ReplyBody::RoomJoin(RoomJoin {
                    members: 2,
                    chat_id: [9; 32],
                    port: 33447,
                }),
            },
            Reply {
                kind: Kind::LeaveRoom,
                status: Status::Ok,
                body: ReplyBody::Members(1),
            },
            Reply {
                kind: Kind::PostRoom,
                status: Status::Ok,
                body: ReplyBody::Posted(9),
            },
            Reply::status(Kind::Register, Status::Ok),
            Reply {
                kind: Kind::RoomHistory,
                status: Status::Ok,
                body: ReplyBody::History(vec![RoomMessage {
                    id: 3,
                    author: "admin".into(),
                    server: true,
                    at: 1_700_000_000,
                    text: "maintenance".into(),
                }]),
            },
            Reply {
                kind: Kind::ServerMessage,
                status: Status::Ok,
                body: ReplyBody::Delivered(4),
            },
        ];
        for reply in all {
            let bytes = reply.encode();
            assert_eq!(Reply::decode(&bytes).unwrap(), reply);
            let mut long = bytes;
            long.push(1);
            assert!(Reply::decode(&long).is_err());
        }
        assert!(Reply::decode(&[1, 11]).is_err());
    }
}
