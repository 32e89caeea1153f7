//! Presence and direct PMs (PROTOCOL.md §8.14, issue #14 item 1).
//!
//! A logged-in client publishes where its **direct endpoint** listens: the endpoint's
//! X25519 node key and UDP address, with an expiry, signed by the account's Ed25519
//! identity. Another logged-in account looks the presence up by username and sends a PM
//! straight to that address (inner ids 54 and 55, [`direct`]); the index is then not
//! needed until the next lookup.
//!
//! | kind | request  | body                                              | ok reply body |
//! |------|----------|---------------------------------------------------|---------------|
//! | 26   | publish  | `[entry]` (below)                                  | (empty)       |
//! | 27   | lookup   | `[name]`                                           | `[n 1]`, n ≤ 4, then n × `[entry]` |
//! | 28   | withdraw | `[node key 32]`                                    | (empty)       |
//!
//! entry = `[node key 32][addr][expires u64][signature 64]`, addr = `[4][IPv4 4][port u16]`
//! or `[6][IPv6 16][port u16]`, expires in Unix seconds. The signature is Ed25519 by the
//! account identity over [`signing_input`]. All three need a session.
//!
//! The index keeps presence in memory only ([`table`]): an index restart forgets it and the
//! clients publish again within [`REFRESH`].

pub mod direct;
pub mod table;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::names::MAX_USERNAME;
use super::wire::{put_name, read_name};
use crate::crypto::Identity;
use crate::wire::{DecodeError, Reader};

/// Most presence entries per account (devices online at once).
pub const MAX_DEVICES: usize = 4;
/// How long the index keeps an entry after its publish, and how far ahead a client signs
/// its expiry.
pub const PRESENCE_TTL: Duration = Duration::from_secs(120);
/// A client publishes again this often while logged in.
pub const REFRESH: Duration = Duration::from_secs(30);
/// Domain separation of the signed presence.
const DOMAIN: &[u8] = b"dhtchat presence v1\0";

/// Where one device of an account takes direct PMs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PresenceEntry {
    /// The X25519 key of the device's direct endpoint (envelope receiver key).
    pub node_key: [u8; 32],
    /// Its UDP address.
    pub addr: SocketAddr,
    /// Unix seconds after which the entry is not to be used.
    pub expires: u64,
    /// Ed25519 by the account identity over [`signing_input`].
    pub signature: [u8; 64],
}

impl std::fmt::Debug for PresenceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceEntry")
            .field("node_key", &hex::encode(&self.node_key[..4]))
            .field("addr", &self.addr)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// What the account signs: `DOMAIN ‖ len(name) 1 ‖ name ‖ node key 32 ‖ addr ‖ expires u64
/// ‖ index key 32` (name normalised; index key = the X25519 key the client addresses).
pub fn signing_input(
    name: &str,
    node_key: &[u8; 32],
    addr: &SocketAddr,
    expires: u64,
    index: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 1 + name.len() + 32 + 19 + 8 + 32);
    m.extend_from_slice(DOMAIN);
    put_name(&mut m, name);
    m.extend_from_slice(node_key);
    put_addr(&mut m, addr);
    m.extend_from_slice(&expires.to_be_bytes());
    m.extend_from_slice(index);
    m
}

impl PresenceEntry {
    /// A signed entry for the account `name` whose identity is `identity`.
    pub fn sign(
        identity: &Identity,
        name: &str,
        node_key: [u8; 32],
        addr: SocketAddr,
        expires: u64,
        index: &[u8; 32],
    ) -> Self {
        let input = signing_input(name, &node_key, &addr, expires, index);
        let signature = SigningKey::from_bytes(&identity.seed())
            .sign(&input)
            .to_bytes();
        Self {
            node_key,
            addr,
            expires,
            signature,
        }
    }

    /// True if the account `name` with Ed25519 key `account` signed this entry for `index`.
    pub fn verify(&self, name: &str, account: &[u8; 32], index: &[u8; 32]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(account) else {
            return false;
        };
        let input = signing_input(name, &self.node_key, &self.addr, self.expires, index);
        key.verify_strict(&input, &Signature::from_bytes(&self.signature))
            .is_ok()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.node_key);
        put_addr(out, &self.addr);
        out.extend_from_slice(&self.expires.to_be_bytes());
        out.extend_from_slice(&self.signature);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            node_key: r.array()?,
            addr: read_addr(r)?,
            expires: r.u64_be()?,
            signature: r.array()?,
        })
    }
}

/// Writes `[4][IPv4 4][port u16]` or `[6][IPv6 16][port u16]`.
pub fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Reads an address written by [`put_addr`]; port 0 and unspecified IPs are refused.
pub(crate) fn read_addr(r: &mut Reader<'_>) -> Result<SocketAddr, DecodeError> {
    let ip = match r.u8()? {
        4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
        6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
        _ => return Err(DecodeError::BadValue("address family")),
    };
    let port = r.u16_be()?;
    if port == 0 || ip.is_unspecified() {
        return Err(DecodeError::BadValue("presence address"));
    }
    Ok(SocketAddr::new(ip, port))
}

/// A presence request (kinds 26–28).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceRequest {
    /// Kind 26: this device is online at the entry's address.
    Publish(PresenceEntry),
    /// Kind 27: where the account `name` is online.
    Lookup {
        /// Username.
        name: String,
    },
    /// Kind 28: this device (its node key) is going offline.
    Withdraw {
        /// The node key published.
        node_key: [u8; 32],
    },
}

impl PresenceRequest {
    /// The wire kind byte.
    pub fn kind_byte(&self) -> u8 {
        match self {
            Self::Publish(_) => 26,
            Self::Lookup { .. } => 27,
            Self::Withdraw { .. } => 28,
        }
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Publish(e) => e.encode(out),
            Self::Lookup { name } => put_name(out, name),
            Self::Withdraw { node_key } => out.extend_from_slice(node_key),
        }
    }

    /// Decodes the body of kind `kind` (26–28).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match kind {
            26 => Self::Publish(PresenceEntry::decode(r)?),
            27 => Self::Lookup {
                name: read_name(r, MAX_USERNAME)?,
            },
            28 => Self::Withdraw {
                node_key: r.array()?,
            },
            other => return Err(DecodeError::UnknownPayloadId(other)),
        })
    }
}

/// An ok reply body of kinds 26–28.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceReply {
    /// Kinds 26 and 28.
    Done,
    /// Kind 27: the account's live entries (none: offline).
    Entries(Vec<PresenceEntry>),
}

impl PresenceReply {
    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        if let Self::Entries(entries) = self {
            let entries = &entries[..entries.len().min(MAX_DEVICES)];
            out.push(entries.len() as u8); // at most MAX_DEVICES after the line above
            for e in entries {
                e.encode(out);
            }
        }
    }

    /// Decodes the ok body of kind `kind` (26–28).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if kind != 27 {
            return Ok(Self::Done);
        }
        let n = usize::from(r.u8()?);
        if n > MAX_DEVICES {
            return Err(DecodeError::BadValue("presence count"));
        }
        let entries = (0..n)
            .map(|_| PresenceEntry::decode(r))
            .collect::<Result<_, _>>()?;
        Ok(Self::Entries(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> (Identity, PresenceEntry) {
        let id = Identity::from_seed(&[7; 32]);
        let addr: SocketAddr = "127.0.0.9:4000".parse().unwrap();
        let e = PresenceEntry::sign(&id, "alice", [5; 32], addr, 1_800_000_000, &[9; 32]);
        (id, e)
    }

    #[test]
    fn entries_round_trip_and_verify_only_for_their_name_and_index() {
        let (id, e) = entry();
        let req = PresenceRequest::Publish(e);
        let mut body = Vec::new();
        req.encode_body(&mut body);
        assert_eq!(body.len(), 32 + 7 + 8 + 64);
        let back = PresenceRequest::decode_body(26, &mut Reader::new(&body)).unwrap();
        assert_eq!(back, req);
        let key = id.signing_key();
        assert!(e.verify("alice", &key, &[9; 32]));
        assert!(!e.verify("bob", &key, &[9; 32]), "bound to the name");
        assert!(!e.verify("alice", &key, &[8; 32]), "bound to the index");
        let other = Identity::from_seed(&[8; 32]).signing_key();
        assert!(!e.verify("alice", &other, &[9; 32]), "bound to the account");
        let mut moved = e;
        moved.addr = "127.0.0.10:4000".parse().unwrap();
        assert!(
            !moved.verify("alice", &key, &[9; 32]),
            "the address is signed"
        );
    }

    #[test]
    fn bad_addresses_and_counts_are_refused() {
        let (_, e) = entry();
        let mut body = Vec::new();
        e.encode(&mut body);
        body[32] = 5; // address family
        assert!(PresenceEntry::decode(&mut Reader::new(&body)).is_err());
        let mut zero = Vec::new();
        put_addr(&mut zero, &"127.0.0.1:0".parse().unwrap());
        assert!(read_addr(&mut Reader::new(&zero)).is_err());
        let reply = [5u8];
        assert!(PresenceReply::decode_body(27, &mut Reader::new(&reply)).is_err());
    }
}
