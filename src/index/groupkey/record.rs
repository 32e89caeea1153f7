//! The rotation record: byte-exact codec, signing, key wraps (PROTOCOL.md appendix, G2–G4).
//!
//! | Length | Content |
//! | --- | --- |
//! | 1 | version, 1 |
//! | 1 | kind: 0 create, 1 change, 2 leave |
//! | 32 | chat id |
//! | 8 | epoch, u64 big-endian |
//! | 32 | previous record's hash (create: the chat-id salt) |
//! | 32 | member-set hash |
//! | 32 | key check (commitment to the epoch key) |
//! | 32 | signer (Ed25519) |
//! | 32 | ephemeral X25519 public key of the wraps |
//! | 2 | member count n, u16 big-endian, 1..=256 |
//! | 81·n | entries, members strictly ascending: member (32), flags (1), sealed key (16 MAC + 32) |
//! | 64 | leave note signature (kind 2 only) |
//! | 64 | Ed25519 signature over `"dhtchat/gkey/record/v1"` ‖ all bytes before it |
//!
//! Decoding checks the syntax only (lengths, order, flags, no trailing bytes) and never panics;
//! [`super::ChainHead`] checks keys, signatures and rules.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::{ChatId, EpochKey, FLAG_ADMIN, MAX_MEMBERS, MemberKey, hash_parts};
use crate::crypto::{self, BoxKeypair, Identity};
use crate::wire::PublicKey;

/// Record format version.
pub const RECORD_VERSION: u8 = 1;
/// Bytes before the entries.
pub const RECORD_HEADER_LEN: usize = 1 + 1 + 32 + 8 + 32 + 32 + 32 + 32 + 32 + 2;
/// Bytes of one entry: member, flags, sealed key (MAC + key).
pub const ENTRY_LEN: usize = 32 + 1 + SEALED_KEY_LEN;
/// Bytes of a sealed epoch key: 16-byte MAC then 32 encrypted bytes.
pub const SEALED_KEY_LEN: usize = 16 + 32;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// The largest record: 256 members and a leave note.
pub const MAX_RECORD_LEN: usize = RECORD_HEADER_LEN + MAX_MEMBERS * ENTRY_LEN + 2 * SIGNATURE_LEN;

const SIGN_DOMAIN: &[u8] = b"dhtchat/gkey/record/v1";
const HASH_DOMAIN: &[u8] = b"dhtchat/gkey/record-hash/v1";
const MEMBERS_DOMAIN: &[u8] = b"dhtchat/gkey/members/v1";
const WRAP_NONCE_DOMAIN: &[u8] = b"dhtchat/gkey/wrap-nonce/v1";
const LEAVE_DOMAIN: &[u8] = b"dhtchat/gkey/leave/v1";

/// Why record bytes are malformed, or a record cannot be built. No payload copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the layout needs.
    #[error("record too short: need {need}, got {got}")]
    TooShort {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// More bytes than the largest record.
    #[error("record too long: {len} bytes")]
    TooLong {
        /// Bytes present.
        len: usize,
    },
    /// Unknown version byte.
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    /// Unknown kind byte.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// No members, or more than [`MAX_MEMBERS`].
    #[error("bad member count {n}")]
    MemberCount {
        /// The count.
        n: usize,
    },
    /// Members not strictly ascending (unsorted or duplicated).
    #[error("members not strictly ascending")]
    Unsorted,
    /// Undefined flag bits set.
    #[error("undefined flag bits {0:#04x}")]
    UnknownFlags(u8),
    /// Bytes left after the signature.
    #[error("{extra} trailing bytes")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A member key is not a valid Ed25519 key (building only).
    #[error("member key is not a valid Ed25519 key")]
    BadMemberKey,
}

/// What a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Epoch 0 of a new chat.
    Create = 0,
    /// Adds, removals, admin changes or a plain rekey.
    Change = 1,
    /// One member's own leave, carrying its leave note.
    Leave = 2,
}

/// One member of the epoch and its wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The member's Ed25519 key.
    pub member: MemberKey,
    /// Flags ([`FLAG_ADMIN`]).
    pub flags: u8,
    /// The epoch key, crypto_box-sealed from the record's ephemeral key to the member's
    /// X25519 key: MAC then ciphertext.
    pub sealed_key: [u8; SEALED_KEY_LEN],
}

/// A decoded rotation (or create) record. Fields are as on the wire (see the module table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRecord {
    /// What the record does.
    pub kind: RecordKind,
    /// The chat.
    pub chat_id: ChatId,
    /// The epoch this record starts.
    pub epoch: u64,
    /// Hash of the previous record; for a create record, the chat-id salt.
    pub prev: [u8; 32],
    /// Hash of the sorted member set with flags ([`members_hash`]).
    pub members_hash: [u8; 32],
    /// Commitment to the epoch key ([`EpochKey::check_value`]).
    pub key_check: [u8; 32],
    /// The rotating member's Ed25519 key.
    pub signer: MemberKey,
    /// The ephemeral X25519 public key the wraps are sealed from.
    pub ephemeral: [u8; 32],
    /// The members of the new epoch, strictly ascending.
    pub entries: Vec<Entry>,
    /// The leaver's signature over its leave note (kind [`RecordKind::Leave`] only).
    pub leave_signature: Option<[u8; SIGNATURE_LEN]>,
    /// The signer's signature.
    pub signature: [u8; SIGNATURE_LEN],
}

/// What a new record says, before wrapping and signing.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub(crate) kind: RecordKind,
    pub(crate) chat_id: ChatId,
    pub(crate) epoch: u64,
    pub(crate) prev: [u8; 32],
    /// Members and flags; sorted by `seal`.
    pub(crate) members: Vec<(MemberKey, u8)>,
    pub(crate) leave_signature: Option<[u8; SIGNATURE_LEN]>,
}

impl RotationRecord {
    /// Wraps `key` to every member of `draft` from a fresh ephemeral key and signs the record.
    pub(crate) fn seal(
        rng: &mut impl CryptoRng,
        signer: &Identity,
        mut draft: Draft,
        key: &EpochKey,
    ) -> Result<Self, RecordError> {
        draft.members.sort_unstable();
        draft.members.dedup_by_key(|m| m.0);
        check_count(draft.members.len())?;
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        let eph = BoxKeypair::from_secret_bytes(*secret);
        let entries = draft
            .members
            .iter()
            .map(|&(member, flags)| wrap(&eph, &draft, member, flags, key))
            .collect::<Result<Vec<_>, _>>()?;
        let mut record = Self {
            kind: draft.kind,
            chat_id: draft.chat_id,
            epoch: draft.epoch,
            prev: draft.prev,
            members_hash: members_hash(draft.members.iter().copied()),
            key_check: key.check_value(&draft.chat_id, draft.epoch),
            signer: signer.signing_key(),
            ephemeral: eph.public_key().0,
            entries,
            leave_signature: draft.leave_signature,
            signature: [0; SIGNATURE_LEN],
        };
        let signing = SigningKey::from_bytes(&signer.seed());
        record.signature = signing.sign(&record.signing_input()).to_bytes();
        Ok(record)
    }

    /// Decodes record bytes; checks syntax only (see the module docs).
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLong { len: bytes.len() });
        }
        let mut r = Reader { bytes, pos: 0 };
        let version = r.byte()?;
        if version != RECORD_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        let kind = match r.byte()? {
            0 => RecordKind::Create,
            1 => RecordKind::Change,
            2 => RecordKind::Leave,
            other => return Err(RecordError::UnknownKind(other)),
        };
        let chat_id = r.array()?;
        let epoch = u64::from_be_bytes(r.array()?);
        let (prev, members_hash, key_check) = (r.array()?, r.array()?, r.array()?);
        let (signer, ephemeral) = (r.array()?, r.array()?);
        let n = usize::from(u16::from_be_bytes(r.array()?));
        check_count(n)?;
        r.need(n * ENTRY_LEN)?;
        let entries = (0..n).map(|_| r.entry()).collect::<Result<Vec<_>, _>>()?;
        check_sorted(&entries)?;
        let leave_signature = match kind {
            RecordKind::Leave => Some(r.array()?),
            _ => None,
        };
        let signature = r.array()?;
        r.finish()?;
        Ok(Self {
            kind,
            chat_id,
            epoch,
            prev,
            members_hash,
            key_check,
            signer,
            ephemeral,
            entries,
            leave_signature,
            signature,
        })
    }

    /// The chat id of record bytes without decoding the rest (to find the chain head).
    pub fn peek_chat_id(bytes: &[u8]) -> Result<ChatId, RecordError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.byte()?;
        if version != RECORD_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        r.byte()?;
        r.array()
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        let leave = self.leave_signature.map_or(0, |_| SIGNATURE_LEN);
        RECORD_HEADER_LEN + self.entries.len() * ENTRY_LEN + leave + SIGNATURE_LEN
    }

    /// The wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.unsigned_bytes();
        out.extend_from_slice(&self.signature);
        out
    }

    /// The record's hash, which the next record names as `prev`.
    pub fn hash(&self) -> [u8; 32] {
        hash_parts(&[HASH_DOMAIN, &self.to_bytes()])
    }

    /// The member keys with their flags, ascending.
    pub fn members(&self) -> impl Iterator<Item = (MemberKey, u8)> + '_ {
        self.entries.iter().map(|e| (e.member, e.flags))
    }

    /// The entry of `member`, if it is in the record.
    pub fn entry(&self, member: &MemberKey) -> Option<&Entry> {
        let i = self
            .entries
            .binary_search_by(|e| e.member.cmp(member))
            .ok()?;
        self.entries.get(i)
    }

    /// True if the signer's signature checks out (`verify_strict`, weak keys refused).
    pub fn signature_ok(&self) -> bool {
        verify(&self.signer, &self.signing_input(), &self.signature)
    }

    /// Unwraps the epoch key for `me`; `None` if we are not a member, the box does not open
    /// or the key does not match the record's key check.
    pub fn unwrap_key(&self, me: &Identity) -> Option<EpochKey> {
        let entry = self.entry(&me.signing_key())?;
        let shared = crypto::precompute(me.keypair(), &PublicKey(self.ephemeral));
        let nonce = wrap_nonce(&self.chat_id, self.epoch, &entry.member);
        let (tag, cipher) = entry.sealed_key.split_at(16);
        let mut buf = Zeroizing::new([0u8; 32]);
        buf.copy_from_slice(cipher);
        let tag: &[u8; 16] = tag.try_into().ok()?;
        crypto::open_in_place(&shared, &nonce, tag, buf.as_mut()).ok()?;
        let key = EpochKey::from_bytes(*buf);
        (key.check_value(&self.chat_id, self.epoch) == self.key_check).then_some(key)
    }

    /// The bytes the signer signs, after the domain: everything but the signature.
    fn unsigned_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(RECORD_VERSION);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.chat_id);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        for field in [&self.prev, &self.members_hash, &self.key_check] {
            out.extend_from_slice(field);
        }
        out.extend_from_slice(&self.signer);
        out.extend_from_slice(&self.ephemeral);
        // At most MAX_MEMBERS (256) entries: checked by decode and seal.
        out.extend_from_slice(&(self.entries.len() as u16).to_be_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.member);
            out.push(e.flags);
            out.extend_from_slice(&e.sealed_key);
        }
        if let Some(sig) = &self.leave_signature {
            out.extend_from_slice(sig);
        }
        out
    }

    pub(crate) fn signing_input(&self) -> Vec<u8> {
        let mut input = SIGN_DOMAIN.to_vec();
        input.extend_from_slice(&self.unsigned_bytes());
        input
    }
}

/// The member-set hash: SHA-256(domain ‖ n (u16 BE) ‖ (member ‖ flags) ascending).
pub fn members_hash(sorted: impl Iterator<Item = (MemberKey, u8)>) -> [u8; 32] {
    let members: Vec<(MemberKey, u8)> = sorted.collect();
    let mut bytes = Vec::with_capacity(2 + members.len() * 33);
    bytes.extend_from_slice(&(members.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    for (m, f) in &members {
        bytes.extend_from_slice(m);
        bytes.push(*f);
    }
    hash_parts(&[MEMBERS_DOMAIN, &bytes])
}

/// The signing input of a leave note: domain ‖ chat ‖ epoch left (u64 BE) ‖ leaver.
pub(crate) fn leave_input(chat: &ChatId, epoch: u64, leaver: &MemberKey) -> Vec<u8> {
    [LEAVE_DOMAIN, chat, &epoch.to_be_bytes(), leaver].concat()
}

/// Signs `input` with `id`'s Ed25519 key.
pub(crate) fn sign(id: &Identity, input: &[u8]) -> [u8; SIGNATURE_LEN] {
    SigningKey::from_bytes(&id.seed()).sign(input).to_bytes()
}

/// `verify_strict` of `sig` by `key` over `input`; weak or invalid keys fail.
pub(crate) fn verify(key: &MemberKey, input: &[u8], sig: &[u8; SIGNATURE_LEN]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(key) else {
        return false;
    };
    !key.is_weak()
        && key
            .verify_strict(input, &Signature::from_bytes(sig))
            .is_ok()
}

/// The nonce of a member's wrap: the first 24 bytes of SHA-256(domain ‖ chat ‖ epoch ‖
/// member). Unique per (ephemeral key, member), as each record has a fresh ephemeral key.
fn wrap_nonce(chat: &ChatId, epoch: u64, member: &MemberKey) -> [u8; 24] {
    let h = hash_parts(&[WRAP_NONCE_DOMAIN, chat, &epoch.to_be_bytes(), member]);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&h[..24]);
    nonce
}

fn wrap(
    eph: &BoxKeypair,
    draft: &Draft,
    member: MemberKey,
    flags: u8,
    key: &EpochKey,
) -> Result<Entry, RecordError> {
    let theirs = crypto::x25519_of(&member)
        .filter(crypto::is_acceptable_key)
        .ok_or(RecordError::BadMemberKey)?;
    let shared = crypto::precompute(eph, &theirs);
    let nonce = wrap_nonce(&draft.chat_id, draft.epoch, &member);
    let mut sealed_key = [0u8; SEALED_KEY_LEN];
    let (tag, cipher) = sealed_key.split_at_mut(16);
    cipher.copy_from_slice(key.expose());
    tag.copy_from_slice(&crypto::seal_in_place(&shared, &nonce, cipher));
    Ok(Entry {
        member,
        flags,
        sealed_key,
    })
}

fn check_count(n: usize) -> Result<(), RecordError> {
    if n == 0 || n > MAX_MEMBERS {
        return Err(RecordError::MemberCount { n });
    }
    Ok(())
}

fn check_sorted(entries: &[Entry]) -> Result<(), RecordError> {
    if entries.windows(2).all(|w| w[0].member < w[1].member) {
        Ok(())
    } else {
        Err(RecordError::Unsorted)
    }
}

/// A bounds-checked cursor; every read fails with `TooShort` instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn need(&self, n: usize) -> Result<(), RecordError> {
        let need = self.pos.saturating_add(n);
        if need > self.bytes.len() {
            return Err(RecordError::TooShort {
                need,
                got: self.bytes.len(),
            });
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], RecordError> {
        self.need(n)?;
        let out = self.bytes.get(self.pos..self.pos + n).unwrap_or_default();
        self.pos += n;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn entry(&mut self) -> Result<Entry, RecordError> {
        let member = self.array()?;
        let flags = self.byte()?;
        if flags & !FLAG_ADMIN != 0 {
            return Err(RecordError::UnknownFlags(flags));
        }
        let sealed_key = self.array()?;
        Ok(Entry {
            member,
            flags,
            sealed_key,
        })
    }

    fn finish(&self) -> Result<(), RecordError> {
        match self.bytes.len().saturating_sub(self.pos) {
            0 => Ok(()),
            extra => Err(RecordError::TrailingBytes { extra }),
        }
    }
}

#[cfg(test)]
mod tests;
