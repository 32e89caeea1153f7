//! Message bodies sealed under an epoch key (PROTOCOL.md appendix, G7).
//!
//! | Length | Content |
//! | --- | --- |
//! | 32 | chat id |
//! | 8 | epoch, u64 big-endian |
//! | 24 | nonce (random) |
//! | 16 | Poly1305 MAC |
//! | ≤ 65,535 | XSalsa20 ciphertext of the body |
//!
//! The key is SHA-256(`"dhtchat/gkey/message-key/v1"` ‖ chat id ‖ epoch ‖ epoch key), so a
//! header that names another chat or epoch opens under another key and fails: the header is
//! authenticated without associated data (NaCl secretbox has none).

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Key, Nonce, Tag, XSalsa20Poly1305};
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::{ChatId, EpochKey};

/// Bytes before the ciphertext: chat id, epoch, nonce, MAC.
pub const MESSAGE_HEADER_LEN: usize = 32 + 8 + 24 + 16;
/// The longest body.
pub const MAX_MESSAGE_BODY: usize = 65_535;

/// Why a sealed message cannot be made or opened. No detail about the key on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Shorter than the header.
    #[error("sealed message too short")]
    TooShort,
    /// Body longer than [`MAX_MESSAGE_BODY`].
    #[error("message body too long: {len} bytes")]
    TooLong {
        /// The body length.
        len: usize,
    },
    /// The MAC does not check out under this key, chat and epoch.
    #[error("cannot open the message")]
    Open,
}

/// The clear header of a sealed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// The chat.
    pub chat_id: ChatId,
    /// The epoch whose key sealed the body.
    pub epoch: u64,
}

impl MessageHeader {
    /// Reads the header of a sealed message without opening it.
    pub fn peek(sealed: &[u8]) -> Result<Self, MessageError> {
        let (chat, rest) = sealed
            .split_first_chunk::<32>()
            .ok_or(MessageError::TooShort)?;
        let (epoch, rest) = rest
            .split_first_chunk::<8>()
            .ok_or(MessageError::TooShort)?;
        if rest.len() < 24 + 16 {
            return Err(MessageError::TooShort);
        }
        if rest.len() - 40 > MAX_MESSAGE_BODY {
            return Err(MessageError::TooLong {
                len: rest.len() - 40,
            });
        }
        Ok(Self {
            chat_id: *chat,
            epoch: u64::from_be_bytes(*epoch),
        })
    }
}

/// Seals `body` for (chat, epoch) under `key` with a random nonce from `rng`.
pub fn seal(
    rng: &mut impl CryptoRng,
    key: &EpochKey,
    chat: &ChatId,
    epoch: u64,
    body: &[u8],
) -> Result<Vec<u8>, MessageError> {
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    seal_with_nonce(key, chat, epoch, &nonce, body)
}

/// Seals with a given nonce (golden vectors; otherwise use [`seal`]). Never reuse a nonce.
pub fn seal_with_nonce(
    key: &EpochKey,
    chat: &ChatId,
    epoch: u64,
    nonce: &[u8; 24],
    body: &[u8],
) -> Result<Vec<u8>, MessageError> {
    if body.len() > MAX_MESSAGE_BODY {
        return Err(MessageError::TooLong { len: body.len() });
    }
    let mut out = Vec::with_capacity(MESSAGE_HEADER_LEN + body.len());
    out.extend_from_slice(chat);
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(body);
    let cipher = cipher(key, chat, epoch);
    let (head, plain) = out.split_at_mut(MESSAGE_HEADER_LEN);
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", plain)
        // XSalsa20-Poly1305 fails only past 2^38 bytes; the body is at most 65,535.
        .unwrap_or_default();
    head[64..].copy_from_slice(&tag);
    Ok(out)
}

/// Opens a sealed message with the key of its header's epoch; returns the header and body.
pub fn open(
    key: &EpochKey,
    sealed: &[u8],
) -> Result<(MessageHeader, Zeroizing<Vec<u8>>), MessageError> {
    let header = MessageHeader::peek(sealed)?;
    let (head, cipher_text) = sealed.split_at(MESSAGE_HEADER_LEN);
    let nonce = Nonce::from_slice(&head[40..64]);
    let tag = Tag::from_slice(&head[64..]);
    let mut body = Zeroizing::new(cipher_text.to_vec());
    cipher(key, &header.chat_id, header.epoch)
        .decrypt_in_place_detached(nonce, b"", &mut body, tag)
        .map_err(|_| MessageError::Open)?;
    Ok((header, body))
}

fn cipher(key: &EpochKey, chat: &ChatId, epoch: u64) -> XSalsa20Poly1305 {
    let k = key.message_key(chat, epoch);
    XSalsa20Poly1305::new(Key::from_slice(k.as_ref()))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn sealed() -> (EpochKey, Vec<u8>) {
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let key = EpochKey::random(&mut rng);
        let msg = seal(&mut rng, &key, &[7; 32], 3, b"hello").unwrap();
        (key, msg)
    }

    #[test]
    fn seal_then_open_round_trips() {
        let (key, msg) = sealed();
        assert_eq!(msg.len(), MESSAGE_HEADER_LEN + 5);
        let (h, body) = open(&key, &msg).unwrap();
        assert_eq!(
            (h.chat_id, h.epoch, body.as_slice()),
            ([7; 32], 3, &b"hello"[..])
        );
    }

    #[test]
    fn header_changed_to_another_epoch_or_chat_fails() {
        let (key, msg) = sealed();
        let mut other_epoch = msg.clone();
        other_epoch[39] ^= 1;
        assert_eq!(open(&key, &other_epoch), Err(MessageError::Open));
        let mut other_chat = msg;
        other_chat[0] ^= 1;
        assert_eq!(open(&key, &other_chat), Err(MessageError::Open));
    }

    #[test]
    fn wrong_key_or_flipped_byte_fails() {
        let (key, msg) = sealed();
        assert!(open(&EpochKey::from_bytes([0; 32]), &msg).is_err());
        for i in 40..msg.len() {
            let mut bad = msg.clone();
            bad[i] ^= 0x80;
            assert_eq!(open(&key, &bad), Err(MessageError::Open), "byte {i}");
        }
        let _ = key;
    }

    #[test]
    fn short_and_oversized_messages_are_rejected() {
        let (key, msg) = sealed();
        for n in 0..MESSAGE_HEADER_LEN {
            assert_eq!(open(&key, &msg[..n]), Err(MessageError::TooShort));
        }
        let big = vec![0u8; MAX_MESSAGE_BODY + 1];
        assert!(
            seal(
                &mut ChaCha20Rng::from_seed([0; 32]),
                &key,
                &[0; 32],
                0,
                &big
            )
            .is_err()
        );
        let mut long = msg;
        long.resize(MESSAGE_HEADER_LEN + MAX_MESSAGE_BODY + 1, 0);
        assert!(matches!(
            open(&key, &long),
            Err(MessageError::TooLong { .. })
        ));
    }
}
