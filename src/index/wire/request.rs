//! Index requests: `[kind 1][body]` after reassembly (PROTOCOL.md §8.4).
//!
//! | kind | request         | body                                                        | session |
//! |------|-----------------|-------------------------------------------------------------|---------|
//! | 1    | register        | name, credentials, public key 32, wrapped key 72, private key box 72, rooms blob, chats blob | no |
//! | 2    | prelogin        | name                                                        | no      |
//! | 3    | login           | name, signature 64                                          | no      |
//! | 4    | fetch account   | (empty)                                                     | yes     |
//! | 5    | update lists    | rooms blob, chats blob                                      | yes     |
//! | 6    | change password | credentials, wrapped key 72                                 | yes     |
//! | 7    | list rooms      | (empty)                                                     | no      |
//! | 8    | join room       | room name                                                   | yes     |
//! | 9    | leave room      | room name                                                   | yes     |
//! | 10   | set privilege   | name, privilege 1 (always refused: only a local command may) | yes    |
//! | 11   | post to room    | room name, text (u16 length, 1..=785 bytes)                 | yes     |
//! | 12   | logout          | (empty)                                                     | yes     |
//! | 13   | room history    | room name, before id u64 (0: newest), max 1 (1..=50)        | yes     |
//! | 14   | server message  | all 1 (1: every room, 0: the named one), [room name], text (u16 length) | yes, admin |
//! | 15–18 | mailbox        | user key, store PM, fetch PMs, ack PMs: see [`super::mailbox`] | yes     |
//! | 29   | user names      | keys → usernames: see [`super::mailbox`]                    | yes     |
//! | 19–23 | group chats    | put record, fetch records, post, fetch, my chats: see [`super::chats`] | yes |
//! | 24–25 | devices        | register device, remove device: see [`super::devices`]      | yes     |
//!
//! name = `[len 1][bytes]`; blob = `[len u32][bytes]` (≤ 32 KiB); credentials =
//! `[m KiB u32][t u32][p 1][salt 16][verifier 32]`.

use super::chats::ChatRequest;
use super::devices::DeviceRequest;
use super::mailbox::MailboxRequest;
use super::{MAX_MESSAGE, SALT_LEN, WRAPPED_KEY_LEN, put_blob, put_name, read_blob, read_name};
use crate::index::account::KdfParams;
use crate::index::names::{MAX_ROOM_NAME, MAX_USERNAME};
use crate::index::presence::PresenceRequest;
use crate::wire::{DecodeError, MAX_SIGNED_PAYLOAD, Reader};

/// Request kinds, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Create an account.
    Register = 1,
    /// Ask for an account's KDF parameters, salt and a login challenge.
    Prelogin = 2,
    /// Answer the challenge; opens a session and returns the account.
    Login = 3,
    /// The logged-in account again.
    Fetch = 4,
    /// Replace the two encrypted lists.
    UpdateLists = 5,
    /// New credentials and the re-wrapped account key.
    ChangePassword = 6,
    /// Rooms with their member counts.
    ListRooms = 7,
    /// Become a member of a room.
    JoinRoom = 8,
    /// Stop being a member of a room.
    LeaveRoom = 9,
    /// Change an account's privilege: always refused over the network.
    SetPrivilege = 10,
    /// Store a message in a room.
    PostRoom = 11,
    /// End the session.
    Logout = 12,
    /// Messages of a room, newest first from a point.
    RoomHistory = 13,
    /// An admin's server message to one room or to every room.
    ServerMessage = 14,
    /// An account's public key (to seal a PM to it).
    UserKey = 15,
    /// Store an offline PM.
    StorePm = 16,
    /// PMs waiting for the logged-in account.
    FetchPms = 17,
    /// Delete delivered PMs.
    AckPms = 18,
    /// A group chat's create or rotation record, for the index to order and keep.
    PutRecord = 19,
    /// Records of a group chat from an epoch on.
    FetchRecords = 20,
    /// Store a sealed group-chat message.
    PostChat = 21,
    /// Stored messages of a group chat.
    FetchChat = 22,
    /// The group chats the account is a member of.
    MyChats = 23,
    /// Certify a device key of the account (PROTOCOL.md §8.13).
    RegisterDevice = 24,
    /// Remove a device key of the account.
    RemoveDevice = 25,
    /// This device's direct-PM address, signed by the account (PROTOCOL.md §8.14).
    PublishPresence = 26,
    /// Where an account is online.
    LookupPresence = 27,
    /// This device goes offline.
    WithdrawPresence = 28,
    /// The usernames of accounts by their keys (a group chat's member list).
    UserNames = 29,
}

impl Kind {
    /// The kind for a wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        use Kind::*;
        const ALL: [Kind; 29] = [
            Register,
            Prelogin,
            Login,
            Fetch,
            UpdateLists,
            ChangePassword,
            ListRooms,
            JoinRoom,
            LeaveRoom,
            SetPrivilege,
            PostRoom,
            Logout,
            RoomHistory,
            ServerMessage,
            UserKey,
            StorePm,
            FetchPms,
            AckPms,
            PutRecord,
            FetchRecords,
            PostChat,
            FetchChat,
            MyChats,
            RegisterDevice,
            RemoveDevice,
            PublishPresence,
            LookupPresence,
            WithdrawPresence,
            UserNames,
        ];
        ALL.get(usize::from(b).wrapping_sub(1)).copied()
    }
}

/// What a client proves at login: the KDF parameters, the salt and the login verifier's
/// Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// Argon2id parameters the client used.
    pub params: KdfParams,
    /// Argon2id salt.
    pub salt: [u8; SALT_LEN],
    /// Ed25519 public key of the login verifier.
    pub verifier: [u8; 32],
}

/// Everything a new account stores.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    /// Username as sent (the index normalises it).
    pub name: String,
    /// KDF parameters, salt, login verifier.
    pub credentials: Credentials,
    /// The identity's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The account key wrapped under the key-encryption key.
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
    /// The identity seed under the account key.
    pub private_key: [u8; WRAPPED_KEY_LEN],
    /// Encrypted room list.
    pub rooms: Vec<u8>,
    /// Encrypted group-chat/PM list.
    pub chats: Vec<u8>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("rooms_len", &self.rooms.len())
            .field("chats_len", &self.chats.len())
            .finish_non_exhaustive()
    }
}

/// One decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Kind 1.
    Register(Box<Registration>),
    /// Kind 2.
    Prelogin {
        /// Username.
        name: String,
    },
    /// Kind 3.
    Login {
        /// Username.
        name: String,
        /// Signature by the login verifier (PROTOCOL.md §8.6).
        signature: [u8; 64],
    },
    /// Kind 4.
    Fetch,
    /// Kind 5.
    UpdateLists {
        /// Encrypted room list.
        rooms: Vec<u8>,
        /// Encrypted group-chat/PM list.
        chats: Vec<u8>,
    },
    /// Kind 6.
    ChangePassword {
        /// New parameters, salt and verifier.
        credentials: Credentials,
        /// The same account key under the new key-encryption key.
        wrapped_key: [u8; WRAPPED_KEY_LEN],
    },
    /// Kind 7.
    ListRooms,
    /// Kind 8.
    JoinRoom {
        /// Room name.
        room: String,
    },
    /// Kind 9.
    LeaveRoom {
        /// Room name.
        room: String,
    },
    /// Kind 10.
    SetPrivilege {
        /// Target username.
        name: String,
        /// True for admin.
        admin: bool,
    },
    /// Kind 11.
    PostRoom {
        /// Room name.
        room: String,
        /// UTF-8 text, 1..=785 bytes.
        text: String,
    },
    /// Kind 12.
    Logout,
    /// Kind 13.
    RoomHistory {
        /// Room name.
        room: String,
        /// Only messages with a smaller id; 0 for the newest.
        before: u64,
        /// Most messages, 1..=50.
        max: u8,
    },
    /// Kind 14.
    ServerMessage {
        /// The room, or `None` for every room.
        room: Option<String>,
        /// UTF-8 text, 1..=785 bytes.
        text: String,
    },
    /// Kinds 15–18.
    Mailbox(MailboxRequest),
    /// Kinds 19–23.
    Chat(ChatRequest),
    /// Kinds 24–25.
    Device(DeviceRequest),
    /// Kinds 26–28.
    Presence(PresenceRequest),
}

/// Most messages in one history reply.
pub const MAX_HISTORY: u8 = 50;

impl Request {
    /// The request's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Register(_) => Kind::Register,
            Self::Prelogin { .. } => Kind::Prelogin,
            Self::Login { .. } => Kind::Login,
            Self::Fetch => Kind::Fetch,
            Self::UpdateLists { .. } => Kind::UpdateLists,
            Self::ChangePassword { .. } => Kind::ChangePassword,
            Self::ListRooms => Kind::ListRooms,
            Self::JoinRoom { .. } => Kind::JoinRoom,
            Self::LeaveRoom { .. } => Kind::LeaveRoom,
            Self::SetPrivilege { .. } => Kind::SetPrivilege,
            Self::PostRoom { .. } => Kind::PostRoom,
            Self::Logout => Kind::Logout,
            Self::RoomHistory { .. } => Kind::RoomHistory,
            Self::ServerMessage { .. } => Kind::ServerMessage,
            Self::Mailbox(m) => m.kind(),
            Self::Chat(c) => c.kind(),
            Self::Device(d) => d.kind(),
            Self::Presence(p) => Kind::from_u8(p.kind_byte()).unwrap_or(Kind::LookupPresence),
        }
    }

    /// Decodes a reassembled request message.
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
        let request = decode_body(kind, &mut r)?;
        r.finish()?;
        Ok(request)
    }

    /// Encodes the message `[kind][body]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind() as u8];
        match self {
            Self::Register(reg) => encode_registration(&mut out, reg),
            Self::Prelogin { name } => put_name(&mut out, name),
            Self::Login { name, signature } => {
                put_name(&mut out, name);
                out.extend_from_slice(signature);
            }
            Self::Fetch | Self::ListRooms | Self::Logout => {}
            Self::UpdateLists { rooms, chats } => {
                put_blob(&mut out, rooms);
                put_blob(&mut out, chats);
            }
            Self::ChangePassword {
                credentials,
                wrapped_key,
            } => {
                put_credentials(&mut out, credentials);
                out.extend_from_slice(wrapped_key);
            }
            Self::JoinRoom { room } | Self::LeaveRoom { room } => put_name(&mut out, room),
            Self::SetPrivilege { name, admin } => {
                put_name(&mut out, name);
                out.push(u8::from(*admin));
            }
            Self::PostRoom { room, text } => {
                put_name(&mut out, room);
                put_text(&mut out, text);
            }
            Self::RoomHistory { room, before, max } => {
                put_name(&mut out, room);
                out.extend_from_slice(&before.to_be_bytes());
                out.push(*max);
            }
            Self::ServerMessage { room, text } => {
                match room {
                    Some(room) => {
                        out.push(0);
                        put_name(&mut out, room);
                    }
                    None => out.push(1),
                }
                put_text(&mut out, text);
            }
            Self::Mailbox(m) => m.encode_body(&mut out),
            Self::Chat(c) => c.encode_body(&mut out),
            Self::Device(d) => d.encode_body(&mut out),
            Self::Presence(p) => p.encode_body(&mut out),
        }
        out
    }
}

fn decode_body(kind: Kind, r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    Ok(match kind {
        Kind::Register => Request::Register(Box::new(decode_registration(r)?)),
        Kind::Prelogin => Request::Prelogin {
            name: read_name(r, MAX_USERNAME)?,
        },
        Kind::Login => Request::Login {
            name: read_name(r, MAX_USERNAME)?,
            signature: r.array()?,
        },
        Kind::Fetch => Request::Fetch,
        Kind::UpdateLists => Request::UpdateLists {
            rooms: read_blob(r)?,
            chats: read_blob(r)?,
        },
        Kind::ChangePassword => Request::ChangePassword {
            credentials: read_credentials(r)?,
            wrapped_key: r.array()?,
        },
        Kind::ListRooms => Request::ListRooms,
        Kind::JoinRoom => Request::JoinRoom {
            room: read_name(r, MAX_ROOM_NAME)?,
        },
        Kind::LeaveRoom => Request::LeaveRoom {
            room: read_name(r, MAX_ROOM_NAME)?,
        },
        Kind::SetPrivilege => Request::SetPrivilege {
            name: read_name(r, MAX_USERNAME)?,
            admin: read_bool(r)?,
        },
        Kind::PostRoom => decode_post(r)?,
        Kind::Logout => Request::Logout,
        Kind::RoomHistory => decode_history(r)?,
        Kind::ServerMessage => Request::ServerMessage {
            room: if read_bool(r)? {
                None
            } else {
                Some(read_name(r, MAX_ROOM_NAME)?)
            },
            text: read_text(r)?,
        },
        Kind::UserKey | Kind::StorePm | Kind::FetchPms | Kind::AckPms | Kind::UserNames => {
            Request::Mailbox(MailboxRequest::decode_body(kind as u8, r)?)
        }
        Kind::PutRecord | Kind::FetchRecords | Kind::PostChat | Kind::FetchChat | Kind::MyChats => {
            Request::Chat(ChatRequest::decode_body(kind as u8, r)?)
        }
        Kind::RegisterDevice | Kind::RemoveDevice => {
            Request::Device(DeviceRequest::decode_body(kind as u8, r)?)
        }
        Kind::PublishPresence | Kind::LookupPresence | Kind::WithdrawPresence => {
            Request::Presence(PresenceRequest::decode_body(kind as u8, r)?)
        }
    })
}

fn decode_history(r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    let room = read_name(r, MAX_ROOM_NAME)?;
    let before = r.u64_be()?;
    let max = r.u8()?;
    if max == 0 || max > MAX_HISTORY {
        return Err(DecodeError::BadValue("history size"));
    }
    Ok(Request::RoomHistory { room, before, max })
}

/// Reads `[len u16][UTF-8]`, 1..=785 bytes.
pub(crate) fn read_text(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let len = usize::from(r.u16_be()?);
    if len == 0 || len > MAX_SIGNED_PAYLOAD {
        return Err(DecodeError::BadValue("text length"));
    }
    let text = std::str::from_utf8(r.take(len)?).map_err(|_| DecodeError::BadValue("text"))?;
    Ok(text.to_owned())
}

/// Writes `[len u16][UTF-8]`.
pub(crate) fn put_text(out: &mut Vec<u8>, text: &str) {
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn decode_post(r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    let room = read_name(r, MAX_ROOM_NAME)?;
    let text = read_text(r)?;
    Ok(Request::PostRoom { room, text })
}

pub(super) fn read_bool(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::BadValue("flag")),
    }
}

fn decode_registration(r: &mut Reader<'_>) -> Result<Registration, DecodeError> {
    Ok(Registration {
        name: read_name(r, MAX_USERNAME)?,
        credentials: read_credentials(r)?,
        public_key: r.array()?,
        wrapped_key: r.array()?,
        private_key: r.array()?,
        rooms: read_blob(r)?,
        chats: read_blob(r)?,
    })
}

fn encode_registration(out: &mut Vec<u8>, reg: &Registration) {
    put_name(out, &reg.name);
    put_credentials(out, &reg.credentials);
    out.extend_from_slice(&reg.public_key);
    out.extend_from_slice(&reg.wrapped_key);
    out.extend_from_slice(&reg.private_key);
    put_blob(out, &reg.rooms);
    put_blob(out, &reg.chats);
}

/// Reads `[m u32][t u32][p 1]`; values are range-checked by the receiver, not here.
pub(crate) fn read_params(r: &mut Reader<'_>) -> Result<KdfParams, DecodeError> {
    Ok(KdfParams {
        m_kib: r.u32_be()?,
        t: r.u32_be()?,
        p: r.u8()?,
    })
}

/// Writes `[m u32][t u32][p 1]`.
pub(crate) fn put_params(out: &mut Vec<u8>, params: &KdfParams) {
    out.extend_from_slice(&params.m_kib.to_be_bytes());
    out.extend_from_slice(&params.t.to_be_bytes());
    out.push(params.p);
}

fn read_credentials(r: &mut Reader<'_>) -> Result<Credentials, DecodeError> {
    Ok(Credentials {
        params: read_params(r)?,
        salt: r.array()?,
        verifier: r.array()?,
    })
}

fn put_credentials(out: &mut Vec<u8>, c: &Credentials) {
    put_params(out, &c.params);
    out.extend_from_slice(&c.salt);
    out.extend_from_slice(&c.verifier);
}

#[cfg(test)]
mod tests;
