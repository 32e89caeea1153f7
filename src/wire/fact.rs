//! Signed facts: the self-contained, versioned statements of authority in a secure group
//! (roles, bans, kicks, topic, topic lock, voice, peer limit; PROTOCOL.md §5.5).
//!
//! | offset  | size | content                                                   |
//! |---------|------|-----------------------------------------------------------|
//! | 0       | 1    | kind: 1 role, 2 ban, 3 topic, 4 topic lock, 5 voice, 6 peer limit, 7 group name |
//! | 1       | 32   | subject: a member's X25519 key (role, ban); zero otherwise |
//! | 33      | 4    | version, u32 big-endian                                   |
//! | 37      | 2    | value length n, u16 big-endian                            |
//! | 39      | n    | value (its layout depends on the kind)                    |
//! | 39 + n  | 32   | signer: Ed25519 public key                                |
//! | 71 + n  | 64   | Ed25519 signature over [`FACT_DOMAIN`] ‖ chat id ‖ bytes 0..39+n |
//!
//! A fact carries everything needed to check it except the chat id, so it can be stored,
//! re-sent to late joiners and restored after a restart. A [`FactList`] is one or more facts
//! back to back (the body of message ids 19 and 20).

use bytes::BufMut;

use super::values::{BanAction, MAX_TOPIC_LEN};
use super::{DecodeError, EncodeError, KEY_LEN, PublicKey, Reader, SIGNATURE_LEN};

/// Domain separation prefix of every fact signature.
pub const FACT_DOMAIN: &[u8; 15] = b"dhtchat/fact/v1";
/// Bytes of a fact besides its value: header (39) and signer + signature (96).
pub const FACT_FIXED_LEN: usize = FACT_HEADER_LEN + KEY_LEN + SIGNATURE_LEN;
/// Kind, subject, version and value length.
pub const FACT_HEADER_LEN: usize = 1 + KEY_LEN + 4 + 2;
/// Longest value (a topic).
pub const MAX_FACT_VALUE: usize = MAX_TOPIC_LEN;
/// Longest group name, in bytes.
pub const MAX_GROUP_NAME_LEN: usize = 128;

/// What a fact is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FactKind {
    /// A member's role (value: 1 byte, [`Role`] without founder).
    Role = 1,
    /// Ban, unban or kick of a member (value: 1 byte, [`BanAction`]).
    Ban = 2,
    /// The topic (value: 0..=512 bytes of UTF-8).
    Topic = 3,
    /// Whether only moderators may set the topic (value: 1 byte, 0 or 1).
    TopicLock = 4,
    /// Who may speak (value: 1 byte, [`VoiceLevel`]).
    Voice = 5,
    /// Most members the group admits, 0 = no limit (value: u32 big-endian).
    PeerLimit = 6,
    /// The group's name (value: 0..=128 bytes of UTF-8; founder only).
    GroupName = 7,
    /// Who sees the group's history (value: 1 byte, [`HistoryVisibility`]; founder only).
    HistoryVisibility = 8,
}

/// Which history a member serves a joiner (PROTOCOL.md §6.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum HistoryVisibility {
    /// Joiners see the history members keep (the default).
    #[default]
    Shared = 0,
    /// A member sees only what was said since it joined.
    Joined = 1,
}

/// A member's role in a secure group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Role {
    /// An ordinary member (the default).
    #[default]
    User = 0,
    /// May ban, kick and silence users.
    Moderator = 1,
    /// Silenced: may read, not speak.
    Observer = 2,
    /// The key whose Ed25519 form is the chat id; never the value of a fact.
    Founder = 3,
}

/// Who may send chat messages and actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum VoiceLevel {
    /// Every member but observers (the default).
    #[default]
    All = 0,
    /// Moderators and the founder.
    Moderators = 1,
    /// The founder only.
    Founder = 2,
}

/// The value of a fact, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactValue<'a> {
    /// The subject's role.
    Role(Role),
    /// Ban, unban or kick the subject.
    Ban(BanAction),
    /// The topic; empty clears it.
    Topic(&'a str),
    /// Topic lock on or off.
    TopicLock(bool),
    /// Who may speak.
    Voice(VoiceLevel),
    /// Most members; 0 is no limit.
    PeerLimit(u32),
    /// The group's name; empty clears it.
    GroupName(&'a str),
    /// Who sees the group's history.
    History(HistoryVisibility),
}

impl FactValue<'_> {
    /// The kind this value belongs to.
    pub fn kind(&self) -> FactKind {
        match self {
            Self::Role(_) => FactKind::Role,
            Self::Ban(_) => FactKind::Ban,
            Self::Topic(_) => FactKind::Topic,
            Self::TopicLock(_) => FactKind::TopicLock,
            Self::Voice(_) => FactKind::Voice,
            Self::PeerLimit(_) => FactKind::PeerLimit,
            Self::GroupName(_) => FactKind::GroupName,
            Self::History(_) => FactKind::HistoryVisibility,
        }
    }

    /// Length of the encoded value.
    pub fn len(&self) -> usize {
        match self {
            Self::Topic(t) | Self::GroupName(t) => t.len(),
            Self::PeerLimit(_) => 4,
            _ => 1,
        }
    }

    /// True for an empty value (an empty topic or group name).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the fact is about one member (its subject is a key).
    pub fn has_subject(&self) -> bool {
        matches!(self, Self::Role(_) | Self::Ban(_))
    }

    fn put(&self, out: &mut impl BufMut) {
        match *self {
            Self::Role(r) => out.put_u8(r as u8),
            Self::Ban(a) => out.put_u8(a as u8),
            Self::Topic(t) | Self::GroupName(t) => out.put_slice(t.as_bytes()),
            Self::TopicLock(l) => out.put_u8(u8::from(l)),
            Self::Voice(v) => out.put_u8(v as u8),
            Self::PeerLimit(n) => out.put_u32(n),
            Self::History(h) => out.put_u8(h as u8),
        }
    }
}

/// One signed fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fact<'a> {
    /// The member it is about; all zero for group-wide kinds.
    pub subject: PublicKey,
    /// Version per (kind, subject); an older one never replaces a newer one.
    pub version: u32,
    /// What it says.
    pub value: FactValue<'a>,
    /// The signer's Ed25519 public key.
    pub signer: [u8; KEY_LEN],
    /// Ed25519 signature over the signing input.
    pub signature: [u8; SIGNATURE_LEN],
}

impl<'a> Fact<'a> {
    /// The kind.
    pub fn kind(&self) -> FactKind {
        self.value.kind()
    }

    /// Length of the encoded fact.
    pub fn encoded_len(&self) -> usize {
        FACT_FIXED_LEN + self.value.len()
    }

    /// Checks the field rules (no founder role, topic ≤ 512 bytes, group name ≤ 128, zero
    /// subject for group-wide kinds); writes nothing.
    pub fn check(&self) -> Result<(), EncodeError> {
        if self.value == FactValue::Role(Role::Founder) {
            return Err(EncodeError::BadValue("founder role"));
        }
        let max = match self.value {
            FactValue::GroupName(_) => MAX_GROUP_NAME_LEN,
            _ => MAX_FACT_VALUE,
        };
        if self.value.len() > max {
            return Err(EncodeError::TooLong {
                len: self.value.len(),
                max,
            });
        }
        if !self.value.has_subject() && self.subject != PublicKey([0; KEY_LEN]) {
            return Err(EncodeError::BadValue("subject of a group-wide fact"));
        }
        Ok(())
    }

    /// Appends the fact. Fails, writing nothing, if a field is out of range.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        self.check()?;
        self.put_header(out);
        out.put_slice(&self.signer);
        out.put_slice(&self.signature);
        Ok(())
    }

    /// The fact as a vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }

    /// The bytes the signature covers: domain ‖ chat id ‖ kind ‖ subject ‖ version ‖ value
    /// length ‖ value.
    pub fn signing_input(&self, chat_id: &[u8; KEY_LEN]) -> Vec<u8> {
        let mut out = Vec::with_capacity(FACT_DOMAIN.len() + KEY_LEN + FACT_HEADER_LEN + 512);
        out.put_slice(FACT_DOMAIN);
        out.put_slice(chat_id);
        self.put_header(&mut out);
        out
    }

    fn put_header(&self, out: &mut impl BufMut) {
        out.put_u8(self.kind() as u8);
        out.put_slice(self.subject.as_bytes());
        out.put_u32(self.version);
        // At most MAX_FACT_VALUE (512) once checked; a longer value is never encoded.
        out.put_u16(self.value.len().min(usize::from(u16::MAX)) as u16);
        self.value.put(out);
    }

    /// Decodes exactly one fact; trailing bytes are an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let fact = Self::read(&mut r)?;
        r.finish()?;
        Ok(fact)
    }

    /// Reads one fact from the front of `r`.
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let kind = r.u8()?;
        let subject = PublicKey(r.array()?);
        let version = r.u32_be()?;
        let len = usize::from(r.u16_be()?);
        if len > MAX_FACT_VALUE {
            return Err(DecodeError::TooLong {
                len,
                max: MAX_FACT_VALUE,
            });
        }
        let value = read_value(kind, r.take(len)?)?;
        let fact = Self {
            subject,
            version,
            value,
            signer: r.array()?,
            signature: r.array()?,
        };
        fact.check().map_err(|_| DecodeError::BadValue("fact"))?;
        Ok(fact)
    }
}

fn read_value(kind: u8, v: &[u8]) -> Result<FactValue<'_>, DecodeError> {
    let one = |v: &[u8]| match v {
        [b] => Ok(*b),
        _ => Err(DecodeError::BadValue("fact value length")),
    };
    Ok(match kind {
        1 => FactValue::Role(match one(v)? {
            0 => Role::User,
            1 => Role::Moderator,
            2 => Role::Observer,
            _ => return Err(DecodeError::BadValue("role")),
        }),
        2 => FactValue::Ban(match one(v)? {
            0 => BanAction::Unban,
            1 => BanAction::Ban,
            2 => BanAction::Kick,
            _ => return Err(DecodeError::BadValue("ban action")),
        }),
        3 => FactValue::Topic(
            std::str::from_utf8(v).map_err(|_| DecodeError::BadValue("topic utf-8"))?,
        ),
        4 => FactValue::TopicLock(match one(v)? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::BadValue("topic lock")),
        }),
        5 => FactValue::Voice(match one(v)? {
            0 => VoiceLevel::All,
            1 => VoiceLevel::Moderators,
            2 => VoiceLevel::Founder,
            _ => return Err(DecodeError::BadValue("voice")),
        }),
        6 => FactValue::PeerLimit(u32::from_be_bytes(
            v.try_into()
                .map_err(|_| DecodeError::BadValue("fact value length"))?,
        )),
        // Its length (≤ 128) is checked with the other field rules, in `Fact::check`.
        7 => FactValue::GroupName(
            std::str::from_utf8(v).map_err(|_| DecodeError::BadValue("group name utf-8"))?,
        ),
        8 => FactValue::History(match one(v)? {
            0 => HistoryVisibility::Shared,
            1 => HistoryVisibility::Joined,
            _ => return Err(DecodeError::BadValue("history visibility")),
        }),
        _ => return Err(DecodeError::BadValue("fact kind")),
    })
}

/// One or more facts back to back, each checked to decode (the body of ids 19 and 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactList<'a>(&'a [u8]);

impl<'a> FactList<'a> {
    /// Checks that `bytes` is one or more whole facts.
    pub fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::TooShort {
                need: FACT_FIXED_LEN,
                got: 0,
            });
        }
        let mut r = Reader::new(bytes);
        while r.remaining() > 0 {
            Fact::read(&mut r)?;
        }
        Ok(Self(bytes))
    }

    /// The encoded list.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Each fact with its own encoded bytes.
    pub fn iter(&self) -> impl Iterator<Item = (Fact<'a>, &'a [u8])> + 'a {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let mut r = Reader::new(rest);
            let fact = Fact::read(&mut r).ok()?;
            let used = rest.len() - r.remaining();
            let (raw, tail) = rest.split_at(used);
            rest = tail;
            Some((fact, raw))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: FactValue<'_>) -> Fact<'_> {
        Fact {
            subject: if value.has_subject() {
                PublicKey([7; 32])
            } else {
                PublicKey([0; 32])
            },
            version: 0x0102_0304,
            value,
            signer: [8; 32],
            signature: [9; 64],
        }
    }

    #[test]
    fn every_kind_round_trips() {
        for value in [
            FactValue::Role(Role::Moderator),
            FactValue::Ban(BanAction::Kick),
            FactValue::Topic("rust"),
            FactValue::Topic(""),
            FactValue::TopicLock(true),
            FactValue::Voice(VoiceLevel::Founder),
            FactValue::PeerLimit(70000),
            FactValue::GroupName("rustaceans"),
            FactValue::History(HistoryVisibility::Shared),
            FactValue::History(HistoryVisibility::Joined),
            FactValue::GroupName(""),
        ] {
            let f = sample(value);
            let bytes = f.to_vec().unwrap();
            assert_eq!(bytes.len(), f.encoded_len());
            assert_eq!(Fact::decode(&bytes), Ok(f));
            assert_eq!(bytes[0], f.kind() as u8);
            assert_eq!(&bytes[33..37], &[1, 2, 3, 4]);
        }
    }

    #[test]
    fn bad_facts_are_rejected() {
        assert!(sample(FactValue::Role(Role::Founder)).to_vec().is_err());
        let mut f = sample(FactValue::Voice(VoiceLevel::All));
        f.subject = PublicKey([1; 32]);
        assert!(f.to_vec().is_err());
        let mut bytes = sample(FactValue::Role(Role::User)).to_vec().unwrap();
        bytes[39] = 3;
        assert_eq!(Fact::decode(&bytes), Err(DecodeError::BadValue("role")));
        bytes[0] = 9;
        assert!(Fact::decode(&bytes).is_err());
        let ok = sample(FactValue::Ban(BanAction::Ban)).to_vec().unwrap();
        assert!(Fact::decode(&ok[..ok.len() - 1]).is_err());
        let mut long = ok.clone();
        long.push(0);
        assert!(Fact::decode(&long).is_err());
    }

    #[test]
    fn a_group_name_is_bounded_utf8() {
        let long = "n".repeat(MAX_GROUP_NAME_LEN + 1);
        assert!(sample(FactValue::GroupName(&long)).to_vec().is_err());
        let ok = "n".repeat(MAX_GROUP_NAME_LEN);
        let mut bytes = sample(FactValue::GroupName(&ok)).to_vec().unwrap();
        assert_eq!(
            Fact::decode(&bytes).unwrap().value,
            FactValue::GroupName(&ok)
        );
        bytes[39] = 0xFF;
        assert!(Fact::decode(&bytes).is_err());
        // 129 bytes with a length that says so: valid UTF-8, still too long.
        let mut over = sample(FactValue::Topic(&long)).to_vec().unwrap();
        over[0] = FactKind::GroupName as u8;
        assert!(Fact::decode(&over).is_err());
    }

    #[test]
    fn lists_hold_whole_facts() {
        let mut bytes = sample(FactValue::Topic("a")).to_vec().unwrap();
        bytes.extend(sample(FactValue::PeerLimit(3)).to_vec().unwrap());
        let list = FactList::new(&bytes).unwrap();
        let kinds: Vec<FactKind> = list.iter().map(|(f, _)| f.kind()).collect();
        assert_eq!(kinds, [FactKind::Topic, FactKind::PeerLimit]);
        assert!(FactList::new(&[]).is_err());
        assert!(FactList::new(&bytes[..bytes.len() - 2]).is_err());
    }
}
