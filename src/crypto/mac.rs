//! mac1, mac2 and cookie replies: the cheap checks in front of every secure-dialect datagram
//! (PROTOCOL.md §2.1), after WireGuard's.
//!
//! In the secure dialect the 24-byte nonce is `[counter 8][mac2 8][mac1 8]`:
//! - mac1: keyed BLAKE2s-64 under `BLAKE2s-256("mac1----" ‖ receiver key)` over the first 81
//!   bytes (outer id, receiver, sender, counter, mac2). Checked before any X25519, so a
//!   datagram from someone who never learned the receiver's key costs one hash.
//! - mac2: keyed BLAKE2s-64 under a *cookie* over the first 73 bytes, or zeros. A cookie is
//!   a MAC of the sender's address under the receiver's rotating secret; a node under load
//!   sends it back (a cookie reply, outer id 49) instead of doing an X25519, so only senders
//!   that receive at their address cost one.
//!
//! The envelope's size and layout do not change; legacy groups never stamp nor check these.

use std::net::{IpAddr, SocketAddr};

use blake2::digest::consts::{U8, U16};
use blake2::digest::{FixedOutput, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};

use crate::wire::{KEY_LEN, NONCE_LEN, PublicKey};

/// Label of the mac1 key (as WireGuard's).
const LABEL_MAC1: &[u8; 8] = b"mac1----";
/// Label of the cookie-reply key (as WireGuard's).
const LABEL_COOKIE: &[u8; 8] = b"cookie--";
/// Bytes of the nonce's counter (unique per sender process and key pair).
pub const NONCE_RANDOM_LEN: usize = 8;
/// Bytes of mac1 and of mac2.
pub const MAC1_LEN: usize = 8;
/// Bytes a mac2 covers: outer id, receiver, sender, counter.
pub const MAC2_COVERS: usize = 1 + 2 * KEY_LEN + NONCE_RANDOM_LEN;
/// Bytes a mac1 covers: the same and mac2.
pub const MAC1_COVERS: usize = MAC2_COVERS + MAC1_LEN;
/// A cookie.
pub const COOKIE_LEN: usize = 16;
/// Outer id of a cookie reply.
pub const COOKIE_REPLY_ID: u8 = 49;
/// Bytes of a cookie reply: id, receiver key, nonce, sealed cookie (MAC 16 + 16).
pub const COOKIE_REPLY_LEN: usize = 1 + KEY_LEN + NONCE_LEN + 16 + COOKIE_LEN;

fn blake2s64(key: &[u8], data: &[&[u8]]) -> [u8; MAC1_LEN] {
    // Keys of 1..=32 bytes are always accepted by BLAKE2s; ours are 16 or 32.
    let mut m = <Blake2sMac<U8> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for d in data {
        Mac::update(&mut m, d);
    }
    m.finalize_fixed().into()
}

/// The mac1 key of `receiver`: BLAKE2s-256("mac1----" ‖ receiver).
pub fn mac1_key(receiver: &PublicKey) -> [u8; 32] {
    let mut h = Blake2s256::new();
    h.update(LABEL_MAC1);
    h.update(receiver.0);
    h.finalize().into()
}

/// mac1 over `covered` (the first [`MAC1_COVERS`] bytes of a datagram) for `receiver`.
pub fn mac1(receiver: &PublicKey, covered: &[u8]) -> [u8; MAC1_LEN] {
    blake2s64(&mac1_key(receiver), &[covered])
}

/// Bytes at the start of what a mac1 covers that depend only on the receiver: the outer id
/// and the receiver key.
const MAC1_PREFIX: usize = 1 + KEY_LEN;

/// The mac1 of one receiver, prepared: its key derived and the key block and the covered
/// bytes' fixed prefix (outer id, receiver key) absorbed, so a mac1 costs two BLAKE2s
/// compressions instead of four (key derivation, key block, two data blocks). Same result
/// as [`mac1`].
#[derive(Clone)]
pub struct Mac1Key {
    state: Blake2sMac<U8>,
    prefix: [u8; MAC1_PREFIX],
}

impl std::fmt::Debug for Mac1Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mac1Key").finish_non_exhaustive()
    }
}

impl Mac1Key {
    /// The prepared mac1 of `receiver`.
    pub fn new(receiver: &PublicKey) -> Self {
        let mut prefix = [0u8; MAC1_PREFIX];
        prefix[0] = crate::wire::ENVELOPE_ID;
        prefix[1..].copy_from_slice(&receiver.0);
        let key = mac1_key(receiver);
        let mut state =
            <Blake2sMac<U8> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
        Mac::update(&mut state, &prefix);
        Self { state, prefix }
    }

    /// mac1 over `covered` (the first [`MAC1_COVERS`] bytes of a datagram), as [`mac1`]
    /// computes it for this receiver.
    pub fn mac(&self, covered: &[u8]) -> [u8; MAC1_LEN] {
        match covered.split_at_checked(MAC1_PREFIX) {
            Some((prefix, rest)) if prefix == self.prefix => {
                let mut m = self.state.clone();
                Mac::update(&mut m, rest);
                m.finalize_fixed().into()
            }
            _ => blake2s64(&mac1_key(&self.receiver()), &[covered]),
        }
    }

    /// True if `datagram` carries a good mac1 for this receiver, as [`check_mac1`].
    pub fn check(&self, datagram: &[u8]) -> bool {
        let (Some(covered), Some(got)) = (
            datagram.get(..MAC1_COVERS),
            datagram.get(MAC1_COVERS..MAC1_COVERS + MAC1_LEN),
        ) else {
            return false;
        };
        same(&self.mac(covered), got)
    }

    fn receiver(&self) -> PublicKey {
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&self.prefix[1..]);
        PublicKey(key)
    }
}

/// A secure-dialect nonce for a datagram from `sender` to `receiver`: `counter`, then mac2
/// under `cookie` (zeros without one), then mac1.
pub fn mac1_nonce(
    counter: &[u8; NONCE_RANDOM_LEN],
    cookie: Option<&[u8; COOKIE_LEN]>,
    receiver: &PublicKey,
    sender: &PublicKey,
) -> [u8; NONCE_LEN] {
    mac1_nonce_with(&Mac1Key::new(receiver), counter, cookie, sender)
}

/// [`mac1_nonce`] with the receiver's prepared mac1.
pub fn mac1_nonce_with(
    receiver: &Mac1Key,
    counter: &[u8; NONCE_RANDOM_LEN],
    cookie: Option<&[u8; COOKIE_LEN]>,
    sender: &PublicKey,
) -> [u8; NONCE_LEN] {
    let mut covered = [0u8; MAC1_COVERS];
    covered[..MAC1_PREFIX].copy_from_slice(&receiver.prefix);
    covered[33..65].copy_from_slice(&sender.0);
    covered[65..MAC2_COVERS].copy_from_slice(counter);
    if let Some(c) = cookie {
        let mac2 = blake2s64(c, &[&covered[..MAC2_COVERS]]);
        covered[MAC2_COVERS..].copy_from_slice(&mac2);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..16].copy_from_slice(&covered[65..]);
    nonce[16..].copy_from_slice(&receiver.mac(&covered));
    nonce
}

/// True if `datagram` carries a good mac1 for `receiver` (constant-time compare).
pub fn check_mac1(receiver: &PublicKey, datagram: &[u8]) -> bool {
    let (Some(covered), Some(got)) = (
        datagram.get(..MAC1_COVERS),
        datagram.get(MAC1_COVERS..MAC1_COVERS + MAC1_LEN),
    ) else {
        return false;
    };
    same(&mac1(receiver, covered), got)
}

/// True if `datagram` carries a good mac2 under `cookie`.
pub fn check_mac2(cookie: &[u8; COOKIE_LEN], datagram: &[u8]) -> bool {
    let (Some(covered), Some(got)) = (
        datagram.get(..MAC2_COVERS),
        datagram.get(MAC2_COVERS..MAC1_COVERS),
    ) else {
        return false;
    };
    same(&blake2s64(cookie, &[covered]), got)
}

/// The mac1 a datagram carries (to bind a cookie reply to it).
pub fn mac1_of(datagram: &[u8]) -> Option<[u8; MAC1_LEN]> {
    datagram
        .get(MAC1_COVERS..MAC1_COVERS + MAC1_LEN)?
        .try_into()
        .ok()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cookie of `addr` under `secret`: BLAKE2s-128 keyed by the secret over the IPv6 form
/// of the address (IPv4 mapped) and the port, big-endian.
pub fn cookie(secret: &[u8; 32], addr: SocketAddr) -> [u8; COOKIE_LEN] {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let mut m = <Blake2sMac<U16> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    Mac::update(&mut m, &ip);
    Mac::update(&mut m, &addr.port().to_be_bytes());
    m.finalize_fixed().into()
}

/// The key that seals a cookie reply from the node whose key is `node` to the sender of the
/// datagram whose mac1 is `mac1`: BLAKE2s-256("cookie--" ‖ node ‖ mac1).
fn cookie_key(node: &PublicKey, mac1: &[u8; MAC1_LEN]) -> XSalsa20Poly1305 {
    let mut h = Blake2s256::new();
    h.update(LABEL_COOKIE);
    h.update(node.0);
    h.update(mac1);
    XSalsa20Poly1305::new(&h.finalize())
}

/// A cookie reply (PROTOCOL.md §2.1): `[49][receiver 32][nonce 24][sealed cookie 32]`, sealed
/// under [`cookie_key`]. `receiver` is the sender key of the datagram it answers, `mac1` its
/// mac1, `node` our key (that datagram's receiver).
pub fn seal_cookie_reply(
    node: &PublicKey,
    (receiver, mac1): (&PublicKey, &[u8; MAC1_LEN]),
    nonce: &[u8; NONCE_LEN],
    cookie: &[u8; COOKIE_LEN],
) -> Vec<u8> {
    let mut sealed = *cookie;
    let n = GenericArray::from_slice(nonce);
    let tag = cookie_key(node, mac1)
        .encrypt_in_place_detached(n, b"", &mut sealed)
        .unwrap_or_else(|_| unreachable!("16 bytes always seal"));
    let mut out = Vec::with_capacity(COOKIE_REPLY_LEN);
    out.push(COOKIE_REPLY_ID);
    out.extend_from_slice(&receiver.0);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&sealed);
    out
}

/// Opens a cookie reply from the node whose key is `node`, answering our datagram whose mac1
/// was `mac1`; `None` if it is not one or does not open.
pub fn open_cookie_reply(
    node: &PublicKey,
    mac1: &[u8; MAC1_LEN],
    reply: &[u8],
) -> Option<[u8; COOKIE_LEN]> {
    if reply.len() != COOKIE_REPLY_LEN || reply[0] != COOKIE_REPLY_ID {
        return None;
    }
    let nonce = GenericArray::from_slice(&reply[33..57]);
    let tag = GenericArray::from_slice(&reply[57..73]);
    let mut cookie: [u8; COOKIE_LEN] = reply[73..].try_into().ok()?;
    cookie_key(node, mac1)
        .decrypt_in_place_detached(nonce, b"", &mut cookie, tag)
        .ok()?;
    Some(cookie)
}

/// The receiver key a cookie reply names (bytes 1..33), if it is one.
pub fn cookie_reply_receiver(reply: &[u8]) -> Option<PublicKey> {
    if reply.len() != COOKIE_REPLY_LEN || reply[0] != COOKIE_REPLY_ID {
        return None;
    }
    Some(PublicKey(reply[1..33].try_into().ok()?))
}
