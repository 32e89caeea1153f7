//! Join strings: how a person names a group and one member to bootstrap from (PROTOCOL.md
//! §6.3).
//!
//! `Display` writes the **compact form**, `dhtchat:` and the base64url (no padding) of one
//! binary record: `[version 1 | flags][chat id 32][member key 32][IPv4 4 | IPv6 16][port 2]
//! [check 2]`. The chat id is there in secure groups only, and the member key is left out when
//! the member is the founder (its X25519 key is derived from the chat id), so a founder's
//! invite is 63 characters over IPv4. Parsing also accepts the **long forms** that earlier
//! versions wrote (stores keep them):
//!
//! - Secure group: `dhtchat:<public|private>:<CHAT ID hex>:<MEMBER KEY hex>@<IP:PORT>`
//! - Legacy group: `<MEMBER KEY hex>@<IP:PORT>`, as with the 2014 code.
//!
//! [`JoinString::long_form`] still writes them. IPv6 addresses are bracketed there:
//! `...@[::1]:33445`. Parsing never panics; each failure is one [`JoinStringError`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::crypto::x25519_of;
use crate::wire::{KEY_LEN, NodeInfo, PublicKey};

/// What every dhtchat join string starts with (except a legacy long form).
pub(crate) const PREFIX: &str = "dhtchat:";
/// The compact record's format version (high nibble of its first byte).
pub(crate) const FORMAT_VERSION: u8 = 1;
/// Longest text [`JoinString::from_str`] looks at; anything longer is refused unread.
pub(crate) const MAX_TEXT_LEN: usize = 512;

/// Flag: secure dialect (a chat id follows the first byte).
const FLAG_SECURE: u8 = 0x01;
/// Flag: private (invite-only) group.
const FLAG_PRIVATE: u8 = 0x02;
/// Flag: the member is the founder; its key is derived from the chat id and left out.
const FLAG_FOUNDER: u8 = 0x04;
/// Flag: the address is IPv6 (16 bytes), else IPv4 (4 bytes).
const FLAG_IPV6: u8 = 0x08;
/// Length of the check: the first bytes of SHA-256 over the record before it.
const CHECK_LEN: usize = 2;
/// Longest compact record: flags, chat id, key, IPv6, port, check.
const MAX_RECORD_LEN: usize = 1 + 2 * KEY_LEN + 16 + 2 + CHECK_LEN;

/// Which dialect a group speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// The 2014 dialect: unsigned broadcasts (inner id 50).
    Legacy,
    /// Signed broadcasts (inner id 51) under a chat id.
    Secure,
}

/// Who may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privacy {
    /// Anyone holding a join string.
    Public,
    /// Only keys a member invited (announced with new_peer).
    Private,
}

/// A parsed join string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinString {
    /// The group's dialect.
    pub dialect: Dialect,
    /// Public or private (a legacy long form says nothing and parses as public).
    pub privacy: Privacy,
    /// The chat id (founder's Ed25519 key); `None` for legacy groups.
    pub chat_id: Option<[u8; KEY_LEN]>,
    /// The member to bootstrap from.
    pub contact: NodeInfo,
}

/// A join string that does not parse: one line for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinStringError {
    /// Neither `dhtchat:…` nor a legacy `KEY@IP:PORT`.
    #[error("not a join string: expected dhtchat:… (or KEY@IP:PORT for a legacy group)")]
    NotAJoinString,
    /// Longer than 512 characters.
    #[error("the join string is longer than {MAX_TEXT_LEN} characters")]
    TooLong,
    /// Long form: no `@` between key and address.
    #[error("expected KEY@IP:PORT after the chat id")]
    MissingAddress,
    /// Long form: the address part is not `IP:PORT`.
    #[error("the address is not IP:PORT (IPv6 in brackets)")]
    BadAddress,
    /// Long form: a key or chat id is not 64 hex digits.
    #[error("a key or chat id is not 64 hex digits")]
    BadKey,
    /// Long form: the privacy word is not `public` or `private`.
    #[error("expected dhtchat:public:… or dhtchat:private:…")]
    BadPrivacy,
    /// Compact form: a character outside base64url, or stray bits at the end.
    #[error("the text after dhtchat: is not base64url (A-Z a-z 0-9 - _): a character is wrong")]
    BadEncoding,
    /// Compact form: a version this build does not read.
    #[error("join string format version {0}; this dhtchat reads version 1: upgrade dhtchat")]
    UnknownVersion(u8),
    /// Compact form: too short or too long for what its first byte announces.
    #[error(
        "the join string has {found} characters after dhtchat:, expected {expected}: \
         was it cut or wrapped?"
    )]
    BadLength {
        /// Characters found after the prefix.
        found: usize,
        /// Characters the record's flags call for.
        expected: usize,
    },
    /// Compact form: the check bytes do not match.
    #[error("the join string's check does not match: a character is wrong")]
    BadCheck,
    /// Compact form: a founder flag without a chat id (legacy group).
    #[error("the join string's flags contradict each other (founder of a legacy group)")]
    BadFlags,
    /// Compact form: a founder's chat id that is not a usable Ed25519 key.
    #[error("the chat id is not a valid Ed25519 public key")]
    BadChatId,
}

impl JoinString {
    /// Whether the member is the founder: its key is the X25519 form of the chat id, so the
    /// compact form leaves it out.
    pub fn contact_is_founder(&self) -> bool {
        match self.secure_chat_id() {
            Some(chat) => x25519_of(&chat) == Some(self.contact.key),
            None => false,
        }
    }

    /// The compact binary record (PROTOCOL.md §6.3), check included, without prefix or base64.
    pub fn to_record(&self) -> Vec<u8> {
        let founder = self.contact_is_founder();
        let chat = self.secure_chat_id();
        let mut out = Vec::with_capacity(MAX_RECORD_LEN);
        out.push(self.flags(founder));
        out.extend_from_slice(chat.as_ref().map_or(&[][..], |c| &c[..]));
        if !founder {
            out.extend_from_slice(self.contact.key.as_bytes());
        }
        match self.contact.addr.ip() {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        }
        out.extend_from_slice(&self.contact.addr.port().to_be_bytes());
        let check = check_of(&out);
        out.extend_from_slice(&check);
        out
    }

    /// Decodes a compact binary record (check included).
    pub fn from_record(record: &[u8]) -> Result<Self, JoinStringError> {
        let expected = expected_len(record)?;
        if record.len() != expected {
            return Err(JoinStringError::BadLength {
                found: base64_len(record.len()),
                expected: base64_len(expected),
            });
        }
        let (body, check) = record.split_at(expected - CHECK_LEN);
        if check_of(body) != check {
            return Err(JoinStringError::BadCheck);
        }
        decode_body(body)
    }

    /// The long form earlier versions wrote (`dhtchat:public:<hex>:<hex>@IP:PORT`, or
    /// `<hex>@IP:PORT` for a legacy group); it still parses.
    pub fn long_form(&self) -> LongForm<'_> {
        LongForm(self)
    }

    /// The chat id, when the group is secure (a legacy group's is ignored).
    fn secure_chat_id(&self) -> Option<[u8; KEY_LEN]> {
        self.chat_id.filter(|_| self.dialect == Dialect::Secure)
    }

    fn flags(&self, founder: bool) -> u8 {
        let mut flags = FORMAT_VERSION << 4;
        let set = [
            (self.secure_chat_id().is_some(), FLAG_SECURE),
            (self.privacy == Privacy::Private, FLAG_PRIVATE),
            (founder, FLAG_FOUNDER),
            (self.contact.addr.is_ipv6(), FLAG_IPV6),
        ];
        for (on, flag) in set {
            if on {
                flags |= flag;
            }
        }
        flags
    }
}

/// The record length the first byte calls for; checks the version first.
fn expected_len(record: &[u8]) -> Result<usize, JoinStringError> {
    let Some(&flags) = record.first() else {
        return Err(JoinStringError::BadLength {
            found: 0,
            expected: base64_len(1 + KEY_LEN + 4 + 2 + CHECK_LEN),
        });
    };
    if flags >> 4 != FORMAT_VERSION {
        return Err(JoinStringError::UnknownVersion(flags >> 4));
    }
    let has = |flag| flags & flag != 0;
    let chat = if has(FLAG_SECURE) { KEY_LEN } else { 0 };
    let key = if has(FLAG_FOUNDER) { 0 } else { KEY_LEN };
    let ip = if has(FLAG_IPV6) { 16 } else { 4 };
    Ok(1 + chat + key + ip + 2 + CHECK_LEN)
}

/// Decodes a record whose length and check are already verified.
fn decode_body(body: &[u8]) -> Result<JoinString, JoinStringError> {
    let mut r = Cursor(body);
    let flags = r.take::<1>()[0];
    let has = |flag| flags & flag != 0;
    let chat_id = has(FLAG_SECURE).then(|| r.take::<KEY_LEN>());
    let key = match (has(FLAG_FOUNDER), chat_id) {
        (true, Some(chat)) => x25519_of(&chat).ok_or(JoinStringError::BadChatId)?,
        (true, None) => return Err(JoinStringError::BadFlags),
        (false, _) => PublicKey(r.take::<KEY_LEN>()),
    };
    let ip = if has(FLAG_IPV6) {
        IpAddr::V6(Ipv6Addr::from(r.take::<16>()))
    } else {
        IpAddr::V4(Ipv4Addr::from(r.take::<4>()))
    };
    let port = u16::from_be_bytes(r.take::<2>());
    Ok(JoinString {
        dialect: if chat_id.is_some() {
            Dialect::Secure
        } else {
            Dialect::Legacy
        },
        privacy: if has(FLAG_PRIVATE) {
            Privacy::Private
        } else {
            Privacy::Public
        },
        chat_id,
        contact: NodeInfo {
            key,
            addr: SocketAddr::new(ip, port),
        },
    })
}

/// Reads fixed-size fields from a record of already-checked length.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// The next `N` bytes. The caller checked the record's length against its flags, so a
    /// short read is a bug; it yields zeros rather than panicking.
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
}

/// The check of a record body: the first [`CHECK_LEN`] bytes of its SHA-256.
fn check_of(body: &[u8]) -> [u8; CHECK_LEN] {
    let digest = Sha256::digest(body);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&digest[..CHECK_LEN]);
    out
}

impl FromStr for JoinString {
    type Err = JoinStringError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() > MAX_TEXT_LEN {
            return Err(JoinStringError::TooLong);
        }
        match s.strip_prefix(PREFIX) {
            Some(rest) if rest.contains([':', '@']) => parse_long_secure(rest),
            Some(rest) => parse_compact(rest),
            None if s.contains('@') => parse_long_legacy(s),
            None => Err(JoinStringError::NotAJoinString),
        }
    }
}

/// The base64url text after the prefix. A cut or padded text is [`JoinStringError::BadLength`]
/// and a wrong character [`JoinStringError::BadCheck`]; stray bits at the end (a text that
/// does not re-encode to itself) are [`JoinStringError::BadEncoding`].
fn parse_compact(text: &str) -> Result<JoinString, JoinStringError> {
    let record = base64url_decode(text).ok_or(JoinStringError::BadEncoding)?;
    let expected = base64_len(expected_len(&record)?);
    if text.len() != expected {
        return Err(JoinStringError::BadLength {
            found: text.len(),
            expected,
        });
    }
    let join = JoinString::from_record(&record)?;
    if base64url_encode(&record) != text {
        return Err(JoinStringError::BadEncoding);
    }
    Ok(join)
}

/// `<public|private>:<chat id>:<key>@<addr>` (after the prefix).
fn parse_long_secure(rest: &str) -> Result<JoinString, JoinStringError> {
    let (head, addr) = rest
        .rsplit_once('@')
        .ok_or(JoinStringError::MissingAddress)?;
    let addr: SocketAddr = addr.parse().map_err(|_| JoinStringError::BadAddress)?;
    let mut parts = head.split(':');
    let privacy = match parts.next() {
        Some("public") => Privacy::Public,
        Some("private") => Privacy::Private,
        _ => return Err(JoinStringError::BadPrivacy),
    };
    let chat: PublicKey = parse_key(parts.next())?;
    let key: PublicKey = parse_key(parts.next())?;
    if parts.next().is_some() {
        return Err(JoinStringError::BadKey);
    }
    Ok(JoinString {
        dialect: Dialect::Secure,
        privacy,
        chat_id: Some(chat.0),
        contact: NodeInfo { key, addr },
    })
}

/// `<key>@<addr>`: a legacy group, public.
fn parse_long_legacy(s: &str) -> Result<JoinString, JoinStringError> {
    let (head, addr) = s.rsplit_once('@').ok_or(JoinStringError::MissingAddress)?;
    let addr: SocketAddr = addr.parse().map_err(|_| JoinStringError::BadAddress)?;
    let key = parse_key(Some(head))?;
    Ok(JoinString {
        dialect: Dialect::Legacy,
        privacy: Privacy::Public,
        chat_id: None,
        contact: NodeInfo { key, addr },
    })
}

fn parse_key(part: Option<&str>) -> Result<PublicKey, JoinStringError> {
    part.ok_or(JoinStringError::BadKey)?
        .parse()
        .map_err(|_| JoinStringError::BadKey)
}

impl fmt::Display for JoinString {
    /// The compact form: `dhtchat:` and the base64url of [`JoinString::to_record`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        f.write_str(&base64url_encode(&self.to_record()))
    }
}

/// The long text form of a join string ([`JoinString::long_form`]).
#[derive(Debug, Clone, Copy)]
pub struct LongForm<'a>(&'a JoinString);

impl fmt::Display for LongForm<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let NodeInfo { key, addr } = self.0.contact;
        let Some(chat) = self.0.secure_chat_id() else {
            return write!(f, "{key}@{addr}");
        };
        let privacy = match self.0.privacy {
            Privacy::Public => "public",
            Privacy::Private => "private",
        };
        write!(f, "{PREFIX}{privacy}:{}:{key}@{addr}", PublicKey(chat))
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Characters of the unpadded base64 of `n` bytes.
fn base64_len(n: usize) -> usize {
    (n * 8).div_ceil(6)
}

/// RFC 4648 §5 base64url without padding.
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(base64_len(bytes.len()));
    for chunk in bytes.chunks(3) {
        let mut buf = [0u8; 3];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
        for i in 0..=chunk.len() {
            let sextet = (n >> (18 - 6 * i)) & 0x3F;
            out.push(char::from(BASE64URL[sextet as usize]));
        }
    }
    out
}

/// base64url without padding, `None` for a character outside the alphabet. Lenient about
/// the end (a lone last character and stray bits are dropped): [`parse_compact`] judges the
/// length first, then requires the text to be canonical.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = BASE64URL.iter().position(|&a| a == c)?;
            n |= u32::try_from(v).ok()? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;

    const V4: &str = "192.0.2.7:33445";
    const V6: &str = "[2001:db8::7]:33445";

    /// The §6.3 vectors: the chat of seed `44`×32, its founder, and the member of seed `33`×32.
    fn vector(founder: bool, dialect: Dialect, privacy: Privacy, addr: &str) -> JoinString {
        let chat = Identity::from_seed(&[0x44; 32]);
        let member = Identity::from_seed(&[0x33; 32]);
        let key = if founder { &chat } else { &member }.public_key();
        JoinString {
            dialect,
            privacy,
            chat_id: (dialect == Dialect::Secure).then(|| chat.signing_key()),
            contact: NodeInfo {
                key,
                addr: addr.parse().unwrap(),
            },
        }
    }

    #[test]
    fn golden_vectors_and_their_lengths() {
        use Dialect::{Legacy, Secure};
        use Privacy::{Private, Public};
        let cases = [
            (
                true,
                Secure,
                Public,
                V4,
                63,
                "dhtchat:FddZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxIwAACB4KlH_4",
            ),
            (
                true,
                Secure,
                Private,
                V4,
                63,
                "dhtchat:F9dZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxIwAACB4Kl6l0",
            ),
            (
                true,
                Secure,
                Public,
                V6,
                79,
                "dhtchat:HddZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxIIAENuAAAAAAAAAAAAAAAB4KlG28",
            ),
            (
                false,
                Secure,
                Public,
                V4,
                106,
                "dhtchat:EddZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxITrT6_uK9MBiiTjEN6BBjM8KzZOrtApp_Bde0XMx3aDrAAAIHgqX7Ug",
            ),
            (
                false,
                Secure,
                Public,
                V6,
                122,
                "dhtchat:GddZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxITrT6_uK9MBiiTjEN6BBjM8KzZOrtApp_Bde0XMx3aDogAQ24AAAAAAAAAAAAAAAHgqURkg",
            ),
            (
                false,
                Legacy,
                Public,
                V4,
                63,
                "dhtchat:EE60-v7ivTAYok4xDegQYzPCs2Tq7QKafwXXtFzMd2g6wAACB4Kl6Vo",
            ),
            (
                false,
                Legacy,
                Public,
                V6,
                79,
                "dhtchat:GE60-v7ivTAYok4xDegQYzPCs2Tq7QKafwXXtFzMd2g6IAENuAAAAAAAAAAAAAAAB4Klwlg",
            ),
        ];
        for (founder, dialect, privacy, addr, len, text) in cases {
            let join = vector(founder, dialect, privacy, addr);
            assert_eq!(join.to_string(), text);
            assert_eq!(text.len(), len);
            assert_eq!(text.parse::<JoinString>(), Ok(join));
            assert_eq!(join.contact_is_founder(), founder);
        }
    }

    #[test]
    fn founder_flag_needs_a_valid_chat_id() {
        let with_check = |body: Vec<u8>| {
            let mut record = body;
            let check = check_of(&record);
            record.extend_from_slice(&check);
            JoinString::from_record(&record)
        };
        let legacy_founder = [vec![0x14], vec![1, 2, 3, 4, 0, 80]].concat();
        assert_eq!(with_check(legacy_founder), Err(JoinStringError::BadFlags));
        // y = 2 is not on the curve, so it is no Ed25519 key.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        let founder = [vec![0x15], bad.to_vec(), vec![1, 2, 3, 4, 0, 80]].concat();
        assert_eq!(with_check(founder), Err(JoinStringError::BadChatId));
    }

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (&[0xFB, 0xFF, 0xBF], "-_-_"),
        ];
        for (bytes, text) in cases {
            assert_eq!(base64url_encode(bytes), text);
            assert_eq!(base64url_decode(text).as_deref(), Some(bytes));
        }
        assert_eq!(base64url_decode("Zm9v+"), None, "standard alphabet");
        assert_eq!(base64url_decode("Zm8="), None, "padding");
    }
}
