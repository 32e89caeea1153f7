//! Group-chat keys in epochs: a client-made key that rotates on every membership change
//! (issue #14; PROTOCOL.md "Appendix B: group-chat key epochs (index part 2)").
//!
//! - A chat starts at epoch 0 with a **create record** signed by its creator; every add, remove
//!   or leave starts epoch e+1 with a fresh random 32-byte [`EpochKey`] in a **rotation record**
//!   ([`RotationRecord`]): the key wrapped with crypto_box to each remaining member (never in
//!   plaintext), the chat id, the epoch, the hash of the sorted member set, the previous
//!   record's hash (a chain), a key commitment, and an Ed25519 signature of the rotating member.
//! - [`ChainHead`] is the ordering rule the index runs ([`ChainHead::judge`]): the first valid
//!   record for e+1 wins; anything else is a typed [`Reject`] (stale epoch, wrong previous
//!   hash, bad signature, signer not allowed, …). A client whose rotation lost accepts the
//!   winner and redoes its [`Change`] on it.
//! - A new member or a second device starts from one record trusted by hash
//!   ([`Keyring::join`]) instead of replaying the chain from epoch 0.
//! - Message bodies are sealed under the epoch key ([`message`]): XSalsa20-Poly1305 with a
//!   random nonce and a per-(chat, epoch) message key, so relays and the index see ciphertext.
//! - [`GroupKeySchedule`] is the one seam the rest of the system uses; [`Keyring`] is the
//!   implementation (per-member wraps, no forward secrecy inside an epoch). A forward-secret
//!   scheme (MLS) can replace it behind the same trait.
//!
//! Sans-IO: no clock, no IO; randomness is an argument (`&mut impl CryptoRng`).
//!
//! # Who may rotate (PROTOCOL.md appendix, rule G5)
//!
//! The signer of record e+1 must be a member of epoch e **and** of epoch e+1 (the key maker
//! always stays, so a leaver never makes the key that shuts it out). Adds and rekeys: any member.
//! Removing others: an admin of epoch e. A leave: any remaining member, carrying the leaver's
//! signed [`LeaveNote`] for epoch e. Admins are the creator plus the members whose admin flag is
//! set; only the creator's records may change admin flags.

mod chain;
mod keyring;
pub mod message;
mod record;

pub use chain::{ChainHead, Reject};
pub use keyring::{Accepted, Change, Created, Keyring, LeaveNote, ScheduleError};
pub use record::{
    ENTRY_LEN, Entry, MAX_RECORD_LEN, RECORD_HEADER_LEN, RECORD_VERSION, RecordError, RecordKind,
    RotationRecord, SEALED_KEY_LEN, SIGNATURE_LEN, members_hash,
};

use std::fmt;

use rand::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A chat id: 32 bytes, SHA-256 of the creator's key and a random salt (rule G1).
pub type ChatId = [u8; 32];

/// A member's name in a chat: its Ed25519 public key (its X25519 key is derived from it).
pub type MemberKey = [u8; 32];

/// Most members a chat (and so one record) may have.
pub const MAX_MEMBERS: usize = 256;

/// Most epoch keys a [`Keyring`] keeps per chat; older ones are dropped first.
pub const MAX_KEPT_EPOCHS: usize = 1024;

/// Most chats one [`Keyring`] holds.
pub const MAX_CHATS: usize = 4096;

/// Flag bit of a record entry: the member is an admin of the chat.
pub const FLAG_ADMIN: u8 = 0x01;

/// Domain of the chat id derivation.
const CHAT_ID_DOMAIN: &[u8] = b"dhtchat/gkey/chat-id/v1";
/// Domain of the key commitment.
const KEY_CHECK_DOMAIN: &[u8] = b"dhtchat/gkey/key-check/v1";
/// Domain of the per-epoch message key.
const MESSAGE_KEY_DOMAIN: &[u8] = b"dhtchat/gkey/message-key/v1";

/// The one seam between the key schedule and the rest of the system (client side).
///
/// Flow: `create_chat` → send the record to the index; `rotate` → send; the index answers with
/// the winning record, which every member (the rotator too) passes to `accept`; `seal` and
/// `open` message bodies; `readable_epochs` says what history this member can read.
pub trait GroupKeySchedule {
    /// Starts a chat with us as creator and the given members (we are added if missing),
    /// `admins` among them; adopts epoch 0 at once and returns its record for the index.
    fn create_chat(
        &mut self,
        rng: &mut impl CryptoRng,
        members: &[MemberKey],
        admins: &[MemberKey],
    ) -> Result<Created, ScheduleError>;

    /// Makes the record for epoch e+1 applying `change` to our head of `chat`. Changes no
    /// state: the record counts once the index orders it and it comes back through `accept`.
    fn rotate(
        &self,
        rng: &mut impl CryptoRng,
        chat: &ChatId,
        change: &Change,
    ) -> Result<Vec<u8>, ScheduleError>;

    /// Checks a record against our head of its chat (or as a create record for a new chat),
    /// advances the head and keeps the epoch key if the record wraps one for us.
    fn accept(&mut self, record: &[u8]) -> Result<Accepted, ScheduleError>;

    /// Seals a message body under the current epoch key of `chat`.
    fn seal(
        &self,
        rng: &mut impl CryptoRng,
        chat: &ChatId,
        body: &[u8],
    ) -> Result<Vec<u8>, ScheduleError>;

    /// Opens a sealed message of any epoch we hold the key of; returns (chat, epoch, body).
    fn open(&self, sealed: &[u8]) -> Result<(ChatId, u64, Zeroizing<Vec<u8>>), ScheduleError>;

    /// The epochs of `chat` whose messages we can read, ascending.
    fn readable_epochs(&self, chat: &ChatId) -> Vec<u64>;

    /// Our head epoch of `chat`, if we know the chat.
    fn current_epoch(&self, chat: &ChatId) -> Option<u64>;

    /// The members of our head epoch of `chat` with their admin flag, ascending by key.
    fn members(&self, chat: &ChatId) -> Vec<(MemberKey, bool)>;

    /// Our key of (chat, epoch), for the account's encrypted chat list only.
    fn epoch_key(&self, chat: &ChatId, epoch: u64) -> Option<EpochKey>;

    /// Signs `input` with our member identity: (our member key, Ed25519 signature). For the
    /// admin-signed chat names of PROTOCOL.md §8.12.
    fn sign_as_member(&self, input: &[u8]) -> (MemberKey, [u8; 64]);
}

/// The secret key of one epoch: 32 random bytes. Zeroized on drop; `Debug` prints nothing.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EpochKey([u8; 32]);

impl EpochKey {
    /// A fresh random key.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut key = Self([0; 32]);
        rng.fill_bytes(&mut key.0);
        key
    }

    /// The key from its bytes (persistence in the account's encrypted chat list).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for persistence under the account key only.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The public commitment to this key for (chat, epoch): SHA-256 of domain, chat id,
    /// epoch and key. Lets each member check it got the same key as everyone else.
    pub fn check_value(&self, chat: &ChatId, epoch: u64) -> [u8; 32] {
        hash_parts(&[KEY_CHECK_DOMAIN, chat, &epoch.to_be_bytes(), &self.0])
    }

    /// The XSalsa20-Poly1305 key of messages of (chat, epoch): binds both to every message.
    fn message_key(&self, chat: &ChatId, epoch: u64) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(hash_parts(&[
            MESSAGE_KEY_DOMAIN,
            chat,
            &epoch.to_be_bytes(),
            &self.0,
        ]))
    }
}

impl PartialEq for EpochKey {
    /// Compares without an early exit.
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for EpochKey {}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKey(..)")
    }
}

/// The chat id a creator gets for a salt (rule G1): SHA-256(domain ‖ creator ‖ salt).
pub fn chat_id_for(creator: &MemberKey, salt: &[u8; 32]) -> ChatId {
    hash_parts(&[CHAT_ID_DOMAIN, creator, salt])
}

/// SHA-256 of the concatenation of `parts`.
fn hash_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn epoch_key_debug_prints_no_bytes() {
        let key = EpochKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "EpochKey(..)");
    }

    #[test]
    fn message_key_differs_per_chat_and_epoch() {
        let key = EpochKey::random(&mut ChaCha20Rng::from_seed([1; 32]));
        let a = key.message_key(&[1; 32], 1);
        assert_ne!(*a, *key.message_key(&[1; 32], 2));
        assert_ne!(*a, *key.message_key(&[2; 32], 1));
        assert_ne!(&*a, key.expose());
    }

    #[test]
    fn epoch_keys_compare_by_value() {
        assert_eq!(EpochKey::from_bytes([3; 32]), EpochKey::from_bytes([3; 32]));
        assert_ne!(EpochKey::from_bytes([3; 32]), EpochKey::from_bytes([4; 32]));
    }
}
