//! mac1: the cheap check in front of every secure-dialect datagram (PROTOCOL.md §2.1).
//!
//! In the secure dialect the 24-byte nonce is `[random 16][mac1 8]`, where mac1 is keyed
//! BLAKE2s-64 under `BLAKE2s-256("mac1----" ‖ receiver key)` over the datagram's first 81
//! bytes (outer id, receiver, sender, the nonce's random part). A receiver checks it before
//! it looks up or computes a shared key, so a datagram from someone who never learned the
//! receiver's key (random bytes, a generic flood) costs one BLAKE2s, not an X25519. The
//! envelope's size and layout do not change, and legacy groups never stamp nor check it.

use blake2::digest::consts::U8;
use blake2::digest::{FixedOutput, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};

use crate::wire::{KEY_LEN, NONCE_LEN, PublicKey};

/// Label of the mac1 key (as WireGuard's).
const LABEL_MAC1: &[u8; 8] = b"mac1----";
/// Bytes of the nonce chosen at random; mac1 fills the rest.
pub const NONCE_RANDOM_LEN: usize = 16;
/// Bytes of mac1.
pub const MAC1_LEN: usize = NONCE_LEN - NONCE_RANDOM_LEN;
/// Bytes of a datagram that mac1 covers: outer id, receiver, sender, random nonce part.
pub const MAC1_COVERS: usize = 1 + 2 * KEY_LEN + NONCE_RANDOM_LEN;

/// The mac1 key of `receiver`: BLAKE2s-256("mac1----" ‖ receiver).
pub fn mac1_key(receiver: &PublicKey) -> [u8; 32] {
    let mut h = Blake2s256::new();
    h.update(LABEL_MAC1);
    h.update(receiver.0);
    h.finalize().into()
}

/// mac1 over `covered` (the first [`MAC1_COVERS`] bytes of a datagram) for `receiver`.
pub fn mac1(receiver: &PublicKey, covered: &[u8]) -> [u8; MAC1_LEN] {
    let key = mac1_key(receiver);
    // A 32-byte key is always accepted by BLAKE2s (keys of 1..=32 bytes).
    let mut m = <Blake2sMac<U8> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
    Mac::update(&mut m, covered);
    m.finalize_fixed().into()
}

/// A secure-dialect nonce: `random` (16 bytes), then the mac1 of a datagram from `sender` to
/// `receiver` with that nonce.
pub fn mac1_nonce(
    random: &[u8; NONCE_RANDOM_LEN],
    receiver: &PublicKey,
    sender: &PublicKey,
) -> [u8; NONCE_LEN] {
    let mut covered = [0u8; MAC1_COVERS];
    covered[0] = crate::wire::ENVELOPE_ID;
    covered[1..33].copy_from_slice(&receiver.0);
    covered[33..65].copy_from_slice(&sender.0);
    covered[65..].copy_from_slice(random);
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..NONCE_RANDOM_LEN].copy_from_slice(random);
    nonce[NONCE_RANDOM_LEN..].copy_from_slice(&mac1(receiver, &covered));
    nonce
}

/// True if `datagram` (at least [`NONCE_LEN`] + 65 bytes, receiver key at 1..33) carries a
/// good mac1 for `receiver`. Compares in constant time.
pub fn check_mac1(receiver: &PublicKey, datagram: &[u8]) -> bool {
    let (Some(covered), Some(got)) = (
        datagram.get(..MAC1_COVERS),
        datagram.get(MAC1_COVERS..MAC1_COVERS + MAC1_LEN),
    ) else {
        return false;
    };
    let want = mac1(receiver, covered);
    want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
