//! The identity of a room's group (PROTOCOL.md §8.11): every room is a public, secure group
//! in the overlay whose founder is the index's node. The founder's seed is derived from the
//! index's identity seed and the room name, so the chat id of a room is the same across
//! restarts and nothing needs storing:
//!
//! `seed = HKDF-SHA256(salt: none, ikm: index identity seed, info: "dhtchat index v1 room" ‖ 0x00 ‖ name)`,
//! chat id = the Ed25519 public key of that seed.

use zeroize::Zeroizing;

use crate::crypto::{Identity, x25519_of};
use crate::wire::PublicKey;

/// The HKDF info prefix of a room's founder seed.
const INFO: &[u8] = b"dhtchat index v1 room";

/// The founder seed of `room`'s group on the index whose identity seed is `index_seed`.
pub fn room_seed(index_seed: &[u8; 32], room: &str) -> Zeroizing<[u8; 32]> {
    let mut info = Vec::with_capacity(INFO.len() + 1 + room.len());
    info.extend_from_slice(INFO);
    info.push(0);
    info.extend_from_slice(room.as_bytes());
    let mut seed = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: expand cannot fail.
    let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, index_seed).expand(&info, seed.as_mut());
    seed
}

/// The chat id (the founder's Ed25519 key) of `room`'s group.
pub fn room_chat_id(index_seed: &[u8; 32], room: &str) -> [u8; 32] {
    Identity::from_seed(&room_seed(index_seed, room)).signing_key()
}

/// The founder's member key (X25519) in a group with this chat id; `None` for a chat id
/// that is no valid Ed25519 key.
pub fn founder_key(chat_id: &[u8; 32]) -> Option<PublicKey> {
    x25519_of(chat_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_depend_on_the_index_and_the_name_only() {
        let a = room_chat_id(&[0x22; 32], "LOBBY");
        assert_eq!(a, room_chat_id(&[0x22; 32], "LOBBY"));
        assert_ne!(a, room_chat_id(&[0x22; 32], "LOBBY2"));
        assert_ne!(a, room_chat_id(&[0x23; 32], "LOBBY"));
        assert!(founder_key(&a).is_some());
    }
}
