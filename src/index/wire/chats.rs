//! Group chats on the wire: request kinds 19–23 and their reply bodies (PROTOCOL.md §8.12,
//! Appendix B).
//!
//! | kind | request        | body                                                   | ok reply body |
//! |------|----------------|--------------------------------------------------------|---------------|
//! | 19   | put record     | `[len u16][rotation record]` (≤ 21,068 bytes, G2)      | `[epoch u64]` |
//! | 20   | fetch records  | `[chat id 32][from epoch u64][max 1]` (1..=16)         | `[n 1]` then n × `[len u16][record]`, by epoch |
//! | 21   | post to chat   | `[client message id u64][len u16][sealed message]` (G7, 80..=4,176 bytes) | `[message id u64]` |
//! | 22   | fetch chat     | `[chat id 32][after id u64][max 1]` (1..=50)           | `[n 1]` then n × `[id u64][sender name][unix secs u64][len u16][sealed message]`, oldest first |
//! | 23   | my chats       | (empty)                                                | `[n u16]` then n × `[chat id 32][head epoch u64]` |
//!
//! All five need a session. A put record that lost the race for its epoch is answered with
//! status 11 (`rotation_lost`) and the body `[len u16][the winning record]`; any other record
//! the ordering rule rejects gets status 12 (`bad_record`). The index sees only record bytes
//! (wraps sealed to each member) and sealed messages.

use super::put_short_bytes as put_bytes;
use super::{Kind, put_name, read_name, read_short_bytes};
use crate::index::groupkey::MAX_RECORD_LEN;
use crate::index::groupkey::message::MESSAGE_HEADER_LEN;
use crate::index::names::MAX_USERNAME;
use crate::wire::{DecodeError, Reader};

/// Longest plaintext of a group-chat message the index stores: 4,096 bytes.
pub const MAX_CHAT_TEXT: usize = 4096;
/// Longest sealed group-chat message: header (80) plus [`MAX_CHAT_TEXT`].
pub const MAX_CHAT_MESSAGE: usize = MESSAGE_HEADER_LEN + MAX_CHAT_TEXT;
/// Most records in one fetch reply.
pub const MAX_RECORD_PAGE: u8 = 16;
/// Most messages in one fetch reply.
pub const MAX_CHAT_PAGE: u8 = 50;
/// Most bytes of records or messages in one fetch reply (at least one is always served).
pub const MAX_CHAT_PAGE_BYTES: usize = 64_000;
/// Most chats in one "my chats" reply.
pub const MAX_MY_CHATS: usize = 1000;

/// A group-chat request (kinds 19–23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatRequest {
    /// Kind 19: a create or rotation record for the index to order and keep.
    PutRecord {
        /// The record bytes (G2).
        record: Vec<u8>,
    },
    /// Kind 20: records of a chat from an epoch on.
    FetchRecords {
        /// The chat.
        chat: [u8; 32],
        /// First epoch wanted.
        from: u64,
        /// Most records, 1..=16.
        max: u8,
    },
    /// Kind 21: store a sealed message for the members.
    PostChat {
        /// Chosen by the sender; the same id again stores nothing new.
        client_id: u64,
        /// The sealed message (G7): its header names the chat and epoch.
        message: Vec<u8>,
    },
    /// Kind 22: stored messages of a chat above an id.
    FetchChat {
        /// The chat.
        chat: [u8; 32],
        /// Only ids above this (0: from the oldest kept).
        after: u64,
        /// Most messages, 1..=50.
        max: u8,
    },
    /// Kind 23: the chats whose current epoch has the logged-in account as a member.
    MyChats,
}

/// One stored group-chat message as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChatMessage {
    /// Message id (increasing per index).
    pub id: u64,
    /// The sender's username.
    pub sender: String,
    /// When the index stored it, Unix seconds.
    pub at: u64,
    /// The sealed message (chat id and epoch in its header).
    pub sealed: Vec<u8>,
}

/// A reply body of kinds 19–23.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatReply {
    /// Kind 19 ok: the record is the head at this epoch.
    Stored(u64),
    /// Kind 19, status 11: the record that won this epoch.
    Lost(Vec<u8>),
    /// Kind 20, by epoch.
    Records(Vec<Vec<u8>>),
    /// Kind 21: the message id (the first copy's, for a replay).
    Posted(u64),
    /// Kind 22, oldest first.
    Messages(Vec<StoredChatMessage>),
    /// Kind 23: (chat id, head epoch).
    Chats(Vec<([u8; 32], u64)>),
}

/// Reads `[len u16][bytes]` with `min..=max` bytes.
fn read_bytes(r: &mut Reader<'_>, min: usize, max: usize) -> Result<Vec<u8>, DecodeError> {
    read_short_bytes(r, (min, max), "chat field length")
}

fn read_record(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    read_bytes(r, 1, MAX_RECORD_LEN)
}

fn read_max(r: &mut Reader<'_>, limit: u8) -> Result<u8, DecodeError> {
    match r.u8()? {
        0 => Err(DecodeError::BadValue("page size")),
        n if n > limit => Err(DecodeError::BadValue("page size")),
        n => Ok(n),
    }
}

impl ChatRequest {
    /// The request kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::PutRecord { .. } => Kind::PutRecord,
            Self::FetchRecords { .. } => Kind::FetchRecords,
            Self::PostChat { .. } => Kind::PostChat,
            Self::FetchChat { .. } => Kind::FetchChat,
            Self::MyChats => Kind::MyChats,
        }
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::PutRecord { record } => put_bytes(out, record),
            Self::FetchRecords { chat, from, max } => {
                out.extend_from_slice(chat);
                out.extend_from_slice(&from.to_be_bytes());
                out.push(*max);
            }
            Self::PostChat { client_id, message } => {
                out.extend_from_slice(&client_id.to_be_bytes());
                put_bytes(out, message);
            }
            Self::FetchChat { chat, after, max } => {
                out.extend_from_slice(chat);
                out.extend_from_slice(&after.to_be_bytes());
                out.push(*max);
            }
            Self::MyChats => {}
        }
    }

    /// Decodes the body of kind `kind` (19–23).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match kind {
            19 => Self::PutRecord {
                record: read_record(r)?,
            },
            20 => Self::FetchRecords {
                chat: r.array()?,
                from: r.u64_be()?,
                max: read_max(r, MAX_RECORD_PAGE)?,
            },
            21 => Self::PostChat {
                client_id: r.u64_be()?,
                message: read_bytes(r, MESSAGE_HEADER_LEN, MAX_CHAT_MESSAGE)?,
            },
            22 => Self::FetchChat {
                chat: r.array()?,
                after: r.u64_be()?,
                max: read_max(r, MAX_CHAT_PAGE)?,
            },
            23 => Self::MyChats,
            other => return Err(DecodeError::UnknownPayloadId(other)),
        })
    }
}

impl ChatReply {
    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Stored(e) | Self::Posted(e) => out.extend_from_slice(&e.to_be_bytes()),
            Self::Lost(record) => put_bytes(out, record),
            Self::Records(records) => {
                let records = &records[..records.len().min(usize::from(MAX_RECORD_PAGE))];
                out.push(records.len() as u8); // at most MAX_RECORD_PAGE after the line above
                records.iter().for_each(|rec| put_bytes(out, rec));
            }
            Self::Messages(messages) => {
                let messages = &messages[..messages.len().min(usize::from(MAX_CHAT_PAGE))];
                out.push(messages.len() as u8); // at most MAX_CHAT_PAGE after the line above
                for m in messages {
                    out.extend_from_slice(&m.id.to_be_bytes());
                    put_name(out, &m.sender);
                    out.extend_from_slice(&m.at.to_be_bytes());
                    put_bytes(out, &m.sealed);
                }
            }
            Self::Chats(chats) => {
                let chats = &chats[..chats.len().min(MAX_MY_CHATS)];
                out.extend_from_slice(&(chats.len() as u16).to_be_bytes()); // ≤ 1000
                for (chat, epoch) in chats {
                    out.extend_from_slice(chat);
                    out.extend_from_slice(&epoch.to_be_bytes());
                }
            }
        }
    }

    /// Decodes the ok body of kind `kind` (19–23).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match kind {
            19 => Self::Stored(r.u64_be()?),
            20 => {
                let n = read_count(r, MAX_RECORD_PAGE)?;
                Self::Records((0..n).map(|_| read_record(r)).collect::<Result<_, _>>()?)
            }
            21 => Self::Posted(r.u64_be()?),
            22 => {
                let n = read_count(r, MAX_CHAT_PAGE)?;
                Self::Messages((0..n).map(|_| read_message(r)).collect::<Result<_, _>>()?)
            }
            23 => {
                let n = usize::from(r.u16_be()?);
                if n > MAX_MY_CHATS {
                    return Err(DecodeError::BadValue("chat count"));
                }
                let one = |r: &mut Reader<'_>| Ok((r.array()?, r.u64_be()?));
                Self::Chats((0..n).map(|_| one(r)).collect::<Result<_, DecodeError>>()?)
            }
            other => return Err(DecodeError::UnknownPayloadId(other)),
        })
    }

    /// Decodes the body of a `rotation_lost` reply: the winning record.
    pub(crate) fn decode_lost(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::Lost(read_record(r)?))
    }
}

fn read_count(r: &mut Reader<'_>, limit: u8) -> Result<u8, DecodeError> {
    let n = r.u8()?;
    if n > limit {
        return Err(DecodeError::BadValue("page size"));
    }
    Ok(n)
}

fn read_message(r: &mut Reader<'_>) -> Result<StoredChatMessage, DecodeError> {
    Ok(StoredChatMessage {
        id: r.u64_be()?,
        sender: read_name(r, MAX_USERNAME)?,
        at: r.u64_be()?,
        sealed: read_bytes(r, MESSAGE_HEADER_LEN, MAX_CHAT_MESSAGE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Reply, ReplyBody, Request, Status};
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The golden vectors of PROTOCOL.md §8.12.
    #[test]
    fn golden_vectors() {
        let put = Request::Chat(ChatRequest::PutRecord {
            record: vec![1, 2, 3],
        });
        assert_eq!(hex(&put.encode()), "130003010203");
        let fetch = Request::Chat(ChatRequest::FetchRecords {
            chat: [0xaa; 32],
            from: 1,
            max: 16,
        });
        assert_eq!(
            hex(&fetch.encode()),
            format!("14{}000000000000000110", "aa".repeat(32))
        );
        let mine = Request::Chat(ChatRequest::MyChats);
        assert_eq!(hex(&mine.encode()), "17");
        let stored = Reply {
            kind: Kind::PutRecord,
            status: Status::Ok,
            body: ReplyBody::Chat(ChatReply::Stored(2)),
        };
        assert_eq!(hex(&stored.encode()), "13000000000000000002");
        let lost = Reply {
            kind: Kind::PutRecord,
            status: Status::RotationLost,
            body: ReplyBody::Chat(ChatReply::Lost(vec![9, 9])),
        };
        assert_eq!(hex(&lost.encode()), "130b00020909");
        assert_eq!(Reply::decode(&lost.encode()).unwrap(), lost);
        let bad = Reply::status(Kind::PutRecord, Status::BadRecord);
        assert_eq!(hex(&bad.encode()), "130c");
    }

    #[test]
    fn round_trips_and_bounds() {
        let all = vec![
            ChatRequest::PutRecord {
                record: vec![7; MAX_RECORD_LEN],
            },
            ChatRequest::FetchRecords {
                chat: [1; 32],
                from: 0,
                max: 1,
            },
            ChatRequest::PostChat {
                client_id: u64::MAX,
                message: vec![3; MAX_CHAT_MESSAGE],
            },
            ChatRequest::FetchChat {
                chat: [2; 32],
                after: 5,
                max: 50,
            },
            ChatRequest::MyChats,
        ];
        for m in all {
            let req = Request::Chat(m);
            let bytes = req.encode();
            assert_eq!(Request::decode(&bytes).unwrap(), req);
            let mut long = bytes;
            long.push(0);
            assert!(Request::decode(&long).is_err());
        }
        let short = Request::Chat(ChatRequest::PostChat {
            client_id: 1,
            message: vec![0; MESSAGE_HEADER_LEN - 1],
        });
        assert!(Request::decode(&short.encode()).is_err());
        let mut zero = vec![20];
        zero.extend_from_slice(&[0; 40]);
        zero.push(0);
        assert!(Request::decode(&zero).is_err());
        let replies = [
            ChatReply::Records(vec![vec![1; 300], vec![2; 5]]),
            ChatReply::Posted(4),
            ChatReply::Messages(vec![StoredChatMessage {
                id: 1,
                sender: "alice".into(),
                at: 1_700_000_000,
                sealed: vec![5; 100],
            }]),
            ChatReply::Chats(vec![([4; 32], 3)]),
        ];
        for (body, kind) in replies.into_iter().zip([
            Kind::FetchRecords,
            Kind::PostChat,
            Kind::FetchChat,
            Kind::MyChats,
        ]) {
            let reply = Reply {
                kind,
                status: Status::Ok,
                body: ReplyBody::Chat(body),
            };
            assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_chat_messages_never_panic(
            kind in 19u8..=23,
            status in 0u8..=12,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        ) {
            let mut req = vec![kind];
            req.extend_from_slice(&body);
            let _ = Request::decode(&req);
            let mut rep = vec![kind, status];
            rep.extend_from_slice(&body);
            let _ = Reply::decode(&rep);
        }

        #[test]
        fn posts_and_fetches_round_trip(
            client_id in proptest::prelude::any::<u64>(),
            chat in proptest::prelude::any::<[u8; 32]>(),
            after in proptest::prelude::any::<u64>(),
            max in 1u8..=MAX_CHAT_PAGE,
            len in MESSAGE_HEADER_LEN..=MAX_CHAT_MESSAGE,
        ) {
            let post = Request::Chat(ChatRequest::PostChat { client_id, message: vec![7; len] });
            proptest::prop_assert_eq!(Request::decode(&post.encode()).unwrap(), post);
            let fetch = Request::Chat(ChatRequest::FetchChat { chat, after, max });
            proptest::prop_assert_eq!(Request::decode(&fetch.encode()).unwrap(), fetch);
        }
    }
}
