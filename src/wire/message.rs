//! Typed bodies of the peer messages carried in broadcasts (PROTOCOL.md §5).
//!
//! | id | message     | body                                                     |
//! |----|-------------|----------------------------------------------------------|
//! | 0  | ping        | empty                                                    |
//! | 16 | new_peer    | `[public key 32]`                                        |
//! | 17 | ban         | `[target key 32][version u32 BE][action: 0 unban, 1 ban, 2 kick]` |
//! | 18 | topic       | `[version u32 BE][topic: 0..=512 bytes of UTF-8]`        |
//! | 19 | facts       | one or more signed facts (secure groups; relayed)         |
//! | 20 | fact sync   | one or more signed facts (secure groups; never relayed)   |
//! | 21 | fact digest | a summary of the facts held, or a want (`digest.rs`; never relayed) |
//! | 24 | quit        | `[reason: 0..=256 bytes of UTF-8]` (empty in legacy groups) |
//! | 48 | name        | `[name: 1..=128 bytes]`                                  |
//! | 49 | status      | `[status: 0 online, 1 away, 2 busy]`                     |
//! | 63 | action      | `[text]` (/me; the id the 2014 C code sends)             |
//! | 64 | chat        | `[text]`                                                 |
//! | 65 | seed action | `[text]` (/me; the seed's id, accepted, never sent)      |
//!
//! Ids 0, 16, 24, 48, 63 and 64 are byte-exact with the 2014 C code; 17, 18 and 49 were never
//! built there and are defined here; bodies are the same in both dialects.

use bytes::BufMut;

use super::digest::FactDigest;
use super::fact::FactList;
pub use super::values::{BanAction, MAX_TOPIC_LEN};
use super::{DecodeError, EncodeError, KEY_LEN, PublicKey, Reader};

/// Longest nick, in bytes (`MAX_NICK_BYTES`).
pub const MAX_NAME_LEN: usize = 128;
/// Longest quit reason, in bytes (secure groups; a legacy quit is empty).
pub const MAX_QUIT_REASON_LEN: usize = 256;
/// Length of a ban body.
pub const BAN_LEN: usize = KEY_LEN + 4 + 1;

/// The peer message ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageId {
    /// Liveness ping.
    Ping = 0,
    /// Announces a new member.
    NewPeer = 16,
    /// Ban, unban or kick a member.
    Ban = 17,
    /// Topic change.
    Topic = 18,
    /// Signed facts, relayed to every member (secure groups).
    Facts = 19,
    /// Signed facts sent to one peer, never relayed (secure groups).
    FactSync = 20,
    /// A summary of the facts held, or a want for one bucket; one peer, never relayed.
    FactDigest = 21,
    /// The origin leaves the group.
    Quit = 24,
    /// Nick change.
    Name = 48,
    /// Presence change.
    Status = 49,
    /// /me action (2014 C id).
    Action = 63,
    /// Chat message.
    Chat = 64,
    /// /me action (the seed's id).
    SeedAction = 65,
}

impl TryFrom<u8> for MessageId {
    type Error = DecodeError;

    fn try_from(id: u8) -> Result<Self, DecodeError> {
        Ok(match id {
            0 => Self::Ping,
            16 => Self::NewPeer,
            17 => Self::Ban,
            18 => Self::Topic,
            19 => Self::Facts,
            20 => Self::FactSync,
            21 => Self::FactDigest,
            24 => Self::Quit,
            48 => Self::Name,
            49 => Self::Status,
            63 => Self::Action,
            64 => Self::Chat,
            65 => Self::SeedAction,
            other => return Err(DecodeError::UnknownMessageId(other)),
        })
    }
}

/// Body of a ban (17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    /// The member acted on.
    pub target: PublicKey,
    /// Version of this moderation fact; an older one never replaces a newer one.
    pub version: u32,
    /// Ban, unban or kick.
    pub action: BanAction,
}

/// Body of a topic change (18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic<'a> {
    /// Version of the topic; an older one never replaces a newer one.
    pub version: u32,
    /// The topic, at most [`MAX_TOPIC_LEN`] bytes; empty clears it.
    pub text: &'a str,
}

/// A member's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Status {
    /// Available.
    #[default]
    Online = 0,
    /// Away from the keyboard.
    Away = 1,
    /// Do not disturb.
    Busy = 2,
}

/// One typed peer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMessage<'a> {
    /// 0: liveness ping.
    Ping,
    /// 16: announces a member's key.
    NewPeer(PublicKey),
    /// 17: ban, unban or kick.
    Ban(Ban),
    /// 18: topic change.
    Topic(Topic<'a>),
    /// 19: signed facts, relayed.
    Facts(FactList<'a>),
    /// 20: signed facts for one peer, not relayed.
    FactSync(FactList<'a>),
    /// 21: a fact summary or want for one peer, not relayed.
    FactDigest(FactDigest<'a>),
    /// 24: the origin leaves, with a reason (UTF-8, at most [`MAX_QUIT_REASON_LEN`] bytes;
    /// empty: none, and always empty in legacy groups, as the 2014 code requires).
    Quit(&'a str),
    /// 48: the origin's nick (raw bytes, as the C code sends them).
    Name(&'a [u8]),
    /// 49: the origin's presence.
    Status(Status),
    /// 63: /me action.
    Action(&'a [u8]),
    /// 64: chat message.
    Chat(&'a [u8]),
    /// 65: /me action with the seed's id.
    SeedAction(&'a [u8]),
}

impl<'a> PeerMessage<'a> {
    /// Decodes the body of message `id`; the whole body must be used.
    pub fn decode(id: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let msg = match MessageId::try_from(id)? {
            MessageId::Ping => Self::Ping,
            MessageId::NewPeer => Self::NewPeer(PublicKey(r.array()?)),
            MessageId::Ban => Self::Ban(read_ban(&mut r)?),
            MessageId::Topic => Self::Topic(read_topic(&mut r)?),
            MessageId::Facts => Self::Facts(FactList::new(r.rest())?),
            MessageId::FactSync => Self::FactSync(FactList::new(r.rest())?),
            MessageId::FactDigest => Self::FactDigest(FactDigest::read(&mut r)?),
            MessageId::Quit => Self::Quit(read_reason(&mut r)?),
            MessageId::Name => Self::Name(read_name(&mut r)?),
            MessageId::Status => Self::Status(read_status(&mut r)?),
            MessageId::Action => Self::Action(r.rest()),
            MessageId::Chat => Self::Chat(r.rest()),
            MessageId::SeedAction => Self::SeedAction(r.rest()),
        };
        r.finish()?;
        Ok(msg)
    }

    /// The id this message is sent with.
    pub fn id(&self) -> MessageId {
        match self {
            Self::Ping => MessageId::Ping,
            Self::NewPeer(_) => MessageId::NewPeer,
            Self::Ban(_) => MessageId::Ban,
            Self::Topic(_) => MessageId::Topic,
            Self::Facts(_) => MessageId::Facts,
            Self::FactSync(_) => MessageId::FactSync,
            Self::FactDigest(_) => MessageId::FactDigest,
            Self::Quit(_) => MessageId::Quit,
            Self::Name(_) => MessageId::Name,
            Self::Status(_) => MessageId::Status,
            Self::Action(_) => MessageId::Action,
            Self::Chat(_) => MessageId::Chat,
            Self::SeedAction(_) => MessageId::SeedAction,
        }
    }

    /// Length of the body.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Ping => 0,
            Self::Quit(r) => r.len(),
            Self::NewPeer(_) => KEY_LEN,
            Self::Ban(_) => BAN_LEN,
            Self::Topic(t) => 4 + t.text.len(),
            Self::Facts(l) | Self::FactSync(l) => l.as_bytes().len(),
            Self::FactDigest(d) => d.encoded_len(),
            Self::Status(_) => 1,
            Self::Name(b) | Self::Action(b) | Self::Chat(b) | Self::SeedAction(b) => b.len(),
        }
    }

    /// Checks the field limits (name 1..=128 bytes, topic ≤ 512, quit reason ≤ 256); writes
    /// nothing.
    pub fn check(&self) -> Result<(), EncodeError> {
        match self {
            Self::Name([]) => Err(EncodeError::BadValue("empty name")),
            Self::Name(n) if n.len() > MAX_NAME_LEN => Err(EncodeError::TooLong {
                len: n.len(),
                max: MAX_NAME_LEN,
            }),
            Self::Topic(t) if t.text.len() > MAX_TOPIC_LEN => Err(EncodeError::TooLong {
                len: t.text.len(),
                max: MAX_TOPIC_LEN,
            }),
            Self::Quit(r) if r.len() > MAX_QUIT_REASON_LEN => Err(EncodeError::TooLong {
                len: r.len(),
                max: MAX_QUIT_REASON_LEN,
            }),
            Self::FactDigest(d) => d.check(),
            _ => Ok(()),
        }
    }

    /// Appends the body. Fails, writing nothing, if a field is out of range.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        self.check()?;
        match self {
            Self::Ping => {}
            Self::Quit(r) => out.put_slice(r.as_bytes()),
            Self::NewPeer(k) => out.put_slice(k.as_bytes()),
            Self::Ban(b) => {
                out.put_slice(b.target.as_bytes());
                out.put_u32(b.version);
                out.put_u8(b.action as u8);
            }
            Self::Topic(t) => {
                out.put_u32(t.version);
                out.put_slice(t.text.as_bytes());
            }
            Self::Status(s) => out.put_u8(*s as u8),
            Self::Facts(l) | Self::FactSync(l) => out.put_slice(l.as_bytes()),
            Self::FactDigest(d) => d.write(out),
            Self::Name(b) | Self::Action(b) | Self::Chat(b) | Self::SeedAction(b) => {
                out.put_slice(b)
            }
        }
        Ok(())
    }

    /// The body as a vector (convenience for building broadcasts).
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }
}

fn read_ban(r: &mut Reader<'_>) -> Result<Ban, DecodeError> {
    let target = PublicKey(r.array()?);
    let version = r.u32_be()?;
    let action = match r.u8()? {
        0 => BanAction::Unban,
        1 => BanAction::Ban,
        2 => BanAction::Kick,
        _ => return Err(DecodeError::BadValue("ban action")),
    };
    Ok(Ban {
        target,
        version,
        action,
    })
}

fn read_topic<'a>(r: &mut Reader<'a>) -> Result<Topic<'a>, DecodeError> {
    let version = r.u32_be()?;
    let raw = r.rest();
    if raw.len() > MAX_TOPIC_LEN {
        return Err(DecodeError::TooLong {
            len: raw.len(),
            max: MAX_TOPIC_LEN,
        });
    }
    let text = std::str::from_utf8(raw).map_err(|_| DecodeError::BadValue("topic utf-8"))?;
    Ok(Topic { version, text })
}

fn read_reason<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let raw = r.rest();
    if raw.len() > MAX_QUIT_REASON_LEN {
        return Err(DecodeError::TooLong {
            len: raw.len(),
            max: MAX_QUIT_REASON_LEN,
        });
    }
    std::str::from_utf8(raw).map_err(|_| DecodeError::BadValue("quit reason utf-8"))
}

fn read_name<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    match r.rest() {
        [] => Err(DecodeError::TooShort { need: 1, got: 0 }),
        n if n.len() > MAX_NAME_LEN => Err(DecodeError::TooLong {
            len: n.len(),
            max: MAX_NAME_LEN,
        }),
        n => Ok(n),
    }
}

fn read_status(r: &mut Reader<'_>) -> Result<Status, DecodeError> {
    match r.u8()? {
        0 => Ok(Status::Online),
        1 => Ok(Status::Away),
        2 => Ok(Status::Busy),
        _ => Err(DecodeError::BadValue("status")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(msg: PeerMessage<'_>) -> Vec<u8> {
        let body = msg.to_vec().unwrap();
        assert_eq!(body.len(), msg.encoded_len());
        assert_eq!(PeerMessage::decode(msg.id() as u8, &body), Ok(msg));
        body
    }

    #[test]
    fn empty_messages() {
        assert!(round_trip(PeerMessage::Ping).is_empty());
        assert!(round_trip(PeerMessage::Quit("")).is_empty());
        assert_eq!(
            PeerMessage::decode(0, &[1]),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn quit_reason_is_bounded_utf8() {
        assert_eq!(round_trip(PeerMessage::Quit("bye all")), b"bye all");
        round_trip(PeerMessage::Quit(&"é".repeat(128)));
        let long = "x".repeat(MAX_QUIT_REASON_LEN + 1);
        assert!(PeerMessage::Quit(&long).to_vec().is_err());
        assert!(PeerMessage::decode(24, long.as_bytes()).is_err());
        assert_eq!(
            PeerMessage::decode(24, &[0xFF]),
            Err(DecodeError::BadValue("quit reason utf-8"))
        );
    }

    #[test]
    fn new_peer_is_exactly_a_key() {
        assert_eq!(
            round_trip(PeerMessage::NewPeer(PublicKey([5; 32]))),
            [5; 32]
        );
        assert!(PeerMessage::decode(16, &[5; 31]).is_err());
        assert!(PeerMessage::decode(16, &[5; 33]).is_err());
    }

    #[test]
    fn ban_layout() {
        let ban = Ban {
            target: PublicKey([7; 32]),
            version: 258,
            action: BanAction::Kick,
        };
        let body = round_trip(PeerMessage::Ban(ban));
        assert_eq!(&body[32..], &[0, 0, 1, 2, 2]);
        let mut bad = body.clone();
        bad[36] = 3;
        assert_eq!(
            PeerMessage::decode(17, &bad),
            Err(DecodeError::BadValue("ban action"))
        );
    }

    #[test]
    fn topic_layout_and_limits() {
        let body = round_trip(PeerMessage::Topic(Topic {
            version: 3,
            text: "rust",
        }));
        assert_eq!(body, [0, 0, 0, 3, b'r', b'u', b's', b't']);
        assert!(PeerMessage::decode(18, &[0, 0, 0, 3, 0xFF]).is_err());
        let long = "x".repeat(513);
        let msg = PeerMessage::Topic(Topic {
            version: 1,
            text: &long,
        });
        assert!(msg.to_vec().is_err());
    }

    #[test]
    fn name_limits() {
        round_trip(PeerMessage::Name(&[b'a'; 128]));
        assert!(PeerMessage::Name(&[b'a'; 129]).to_vec().is_err());
        assert!(PeerMessage::Name(&[]).to_vec().is_err());
        assert!(PeerMessage::decode(48, &[]).is_err());
        assert!(PeerMessage::decode(48, &[b'a'; 129]).is_err());
    }

    #[test]
    fn status_and_text_messages() {
        assert_eq!(round_trip(PeerMessage::Status(Status::Busy)), [2]);
        assert!(PeerMessage::decode(49, &[3]).is_err());
        round_trip(PeerMessage::Chat(b""));
        round_trip(PeerMessage::Action(b"waves"));
        round_trip(PeerMessage::SeedAction(b"waves"));
    }

    #[test]
    fn unknown_id_is_rejected() {
        assert_eq!(
            PeerMessage::decode(22, &[]),
            Err(DecodeError::UnknownMessageId(22))
        );
    }
}
