//! Join strings: how a person names a group and one member to bootstrap from (PROTOCOL.md
//! §6.3).
//!
//! - Secure group: `dhtchat:<public|private>:<CHAT ID hex>:<MEMBER KEY hex>@<IP:PORT>`
//! - Legacy group: `<MEMBER KEY hex>@<IP:PORT>`, as with the 2014 code.
//!
//! IPv6 addresses are written in brackets: `...@[::1]:33445`.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use crate::wire::{KEY_LEN, NodeInfo, PublicKey};

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
    /// Public or private (secure groups; legacy strings say nothing and parse as public).
    pub privacy: Privacy,
    /// The chat id (founder's Ed25519 key); `None` for legacy groups.
    pub chat_id: Option<[u8; KEY_LEN]>,
    /// The member to bootstrap from.
    pub contact: NodeInfo,
}

/// A join string that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinStringError {
    /// No `@` between key and address.
    #[error("expected KEY@IP:PORT after the chat id")]
    MissingAddress,
    /// The address part is not `IP:PORT`.
    #[error("the address is not IP:PORT (IPv6 in brackets)")]
    BadAddress,
    /// A key or chat id is not 64 hex digits.
    #[error("a key or chat id is not 64 hex digits")]
    BadKey,
    /// The privacy word is not `public` or `private`.
    #[error("expected dhtchat:public:… or dhtchat:private:…")]
    BadPrivacy,
}

impl FromStr for JoinString {
    type Err = JoinStringError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (head, addr) = s.rsplit_once('@').ok_or(JoinStringError::MissingAddress)?;
        let addr: SocketAddr = addr.parse().map_err(|_| JoinStringError::BadAddress)?;
        let Some(rest) = s.strip_prefix("dhtchat:") else {
            let key = head.parse().map_err(|_| JoinStringError::BadKey)?;
            return Ok(Self {
                dialect: Dialect::Legacy,
                privacy: Privacy::Public,
                chat_id: None,
                contact: NodeInfo { key, addr },
            });
        };
        let head = rest.rsplit_once('@').map_or(rest, |(h, _)| h);
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
        Ok(Self {
            dialect: Dialect::Secure,
            privacy,
            chat_id: Some(chat.0),
            contact: NodeInfo { key, addr },
        })
    }
}

fn parse_key(part: Option<&str>) -> Result<PublicKey, JoinStringError> {
    part.ok_or(JoinStringError::BadKey)?
        .parse()
        .map_err(|_| JoinStringError::BadKey)
}

impl fmt::Display for JoinString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let NodeInfo { key, addr } = self.contact;
        match (self.dialect, self.chat_id) {
            (Dialect::Secure, Some(chat)) => {
                let privacy = match self.privacy {
                    Privacy::Public => "public",
                    Privacy::Private => "private",
                };
                write!(f, "dhtchat:{privacy}:{}:{key}@{addr}", PublicKey(chat))
            }
            _ => write!(f, "{key}@{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_round_trip() {
        let s = format!("{}@127.0.0.1:33445", PublicKey([0xAB; 32]));
        let j: JoinString = s.parse().unwrap();
        assert_eq!(j.dialect, Dialect::Legacy);
        assert_eq!(j.contact.addr, "127.0.0.1:33445".parse().unwrap());
        assert_eq!(j.to_string(), s);
    }

    #[test]
    fn secure_round_trip_with_ipv6() {
        let s = format!(
            "dhtchat:private:{}:{}@[::1]:4000",
            PublicKey([1; 32]),
            PublicKey([2; 32])
        );
        let j: JoinString = s.parse().unwrap();
        assert_eq!(j.dialect, Dialect::Secure);
        assert_eq!(j.privacy, Privacy::Private);
        assert_eq!(j.chat_id, Some([1; 32]));
        assert_eq!(j.contact.key, PublicKey([2; 32]));
        assert_eq!(j.to_string(), s);
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(
            "abc".parse::<JoinString>(),
            Err(JoinStringError::MissingAddress)
        );
        assert_eq!(
            "abc@nowhere".parse::<JoinString>(),
            Err(JoinStringError::BadAddress)
        );
        assert_eq!(
            "abc@127.0.0.1:1".parse::<JoinString>(),
            Err(JoinStringError::BadKey)
        );
        assert_eq!(
            "dhtchat:open:aa:bb@127.0.0.1:1".parse::<JoinString>(),
            Err(JoinStringError::BadPrivacy)
        );
    }
}
