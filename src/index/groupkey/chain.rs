//! The ordering rule: "the first valid record for e+1 wins" (PROTOCOL.md appendix, G5–G6).
//!
//! [`ChainHead`] is the state of one chat after its last accepted record: epoch, record hash,
//! creator, members and admin flags. [`ChainHead::check`] is a pure verdict on a candidate
//! record; the index calls it under its per-chat lock, stores the record if it passes and
//! answers anything else with the [`Reject`], so the loser can fetch the winner and redo its
//! change. Clients run the same check before they trust a record.
//!
//! Checks run cheapest first: chat, epoch, previous hash, member-set hash, membership and
//! authority, key validity, and the signatures last.

use super::record::{RecordError, RecordKind, RotationRecord, leave_input, members_hash, verify};
use super::{ChatId, FLAG_ADMIN, MemberKey, chat_id_for};
use crate::crypto;
use crate::wire::PublicKey;

/// Why a record is not the next one of a chain. No payload copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// The bytes are not a well-formed record.
    #[error("malformed record: {0}")]
    Malformed(#[from] RecordError),
    /// The record is for another chat.
    #[error("record is for another chat")]
    WrongChat,
    /// The epoch is at or below the head: a replay or a lost race.
    #[error("stale epoch {got}: head is at {head}")]
    StaleEpoch {
        /// The head epoch.
        head: u64,
        /// The record's epoch.
        got: u64,
    },
    /// The epoch skips ahead: earlier records are missing.
    #[error("epoch {got} skips ahead of head {head}")]
    FutureEpoch {
        /// The head epoch.
        head: u64,
        /// The record's epoch.
        got: u64,
    },
    /// The record does not name the head's hash as its previous record (a fork).
    #[error("record does not follow the head record")]
    WrongPrevious,
    /// A create record where a change was expected, or the reverse.
    #[error("wrong record kind here")]
    WrongKind,
    /// A create record's chat id is not derived from its creator and salt.
    #[error("chat id does not match creator and salt")]
    BadChatId,
    /// The member-set hash does not match the entries.
    #[error("member-set hash does not match the members")]
    MemberSetHash,
    /// The signer is not a member of the head epoch.
    #[error("signer is not a member of the current epoch")]
    SignerNotMember,
    /// The signer would not be a member of the new epoch.
    #[error("signer is not a member of the new epoch")]
    SignerLeaves,
    /// The signer may not make this change (removal by a non-admin).
    #[error("signer may not make this change")]
    NotAllowed,
    /// Admin flags changed by someone other than the creator.
    #[error("only the creator may change admin flags")]
    AdminChange,
    /// A leave record that removes other than exactly one member, adds, or has a bad note.
    #[error("bad leave note")]
    BadLeave,
    /// A member or ephemeral key is invalid, of small order or not canonical.
    #[error("invalid member or ephemeral key")]
    BadKey,
    /// The record signature is wrong.
    #[error("bad signature")]
    BadSignature,
}

/// One chat's state after its last accepted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    chat_id: ChatId,
    creator: MemberKey,
    epoch: u64,
    hash: [u8; 32],
    members: Vec<(MemberKey, u8)>,
}

impl ChainHead {
    /// Checks a create record (rule G1) and returns the head at epoch 0.
    pub fn genesis(record: &RotationRecord) -> Result<Self, Reject> {
        if record.kind != RecordKind::Create || record.epoch != 0 {
            return Err(Reject::WrongKind);
        }
        if chat_id_for(&record.signer, &record.prev) != record.chat_id {
            return Err(Reject::BadChatId);
        }
        Self::check_standalone(record)?;
        Ok(Self::after(record.signer, record))
    }

    /// The index's one entry point: decodes `bytes` and judges them against `head` (or as a
    /// create record when the chat has no head yet). On success returns the record (store it
    /// with its wraps) and the new head; the index must apply both in one transaction.
    pub fn judge(head: Option<&Self>, bytes: &[u8]) -> Result<(RotationRecord, Self), Reject> {
        let record = RotationRecord::decode(bytes)?;
        let next = match head {
            Some(head) => {
                head.check(&record)?;
                Self::after(head.creator, &record)
            }
            None => Self::genesis(&record)?,
        };
        Ok((record, next))
    }

    /// Checks a record on its own, without its chain: member-set hash, signer among the
    /// members, keys, signature. For a record trusted by hash (an invite, the account's
    /// chat list); the head is then [`ChainHead::resume`].
    pub fn check_standalone(record: &RotationRecord) -> Result<(), Reject> {
        check_members_hash(record)?;
        if record.entry(&record.signer).is_none() {
            return Err(Reject::SignerLeaves);
        }
        check_keys(record)?;
        if !record.signature_ok() {
            return Err(Reject::BadSignature);
        }
        Ok(())
    }

    /// The head after `latest`, a record already checked (for an index reloading its store).
    pub fn resume(creator: MemberKey, latest: &RotationRecord) -> Self {
        Self::after(creator, latest)
    }

    /// The verdict on a candidate for epoch e+1: `Ok` if it is the valid next record.
    pub fn check(&self, record: &RotationRecord) -> Result<(), Reject> {
        self.check_position(record)?;
        check_members_hash(record)?;
        self.check_authority(record)?;
        check_keys(record)?;
        if !record.signature_ok() {
            return Err(Reject::BadSignature);
        }
        Ok(())
    }

    /// Checks `record` and, if it is valid, makes it the head.
    pub fn advance(&mut self, record: &RotationRecord) -> Result<(), Reject> {
        self.check(record)?;
        *self = Self::after(self.creator, record);
        Ok(())
    }

    /// The chat.
    pub fn chat_id(&self) -> &ChatId {
        &self.chat_id
    }

    /// The creator (always an admin while a member).
    pub fn creator(&self) -> &MemberKey {
        &self.creator
    }

    /// The head epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The head record's hash.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Members of the head epoch with their flags, ascending.
    pub fn members(&self) -> &[(MemberKey, u8)] {
        &self.members
    }

    /// The flags of `member`, if it is a member of the head epoch.
    pub fn flags(&self, member: &MemberKey) -> Option<u8> {
        let i = self.members.binary_search_by(|m| m.0.cmp(member)).ok()?;
        self.members.get(i).map(|m| m.1)
    }

    /// True if `member` is a member of the head epoch.
    pub fn is_member(&self, member: &MemberKey) -> bool {
        self.flags(member).is_some()
    }

    /// True if `member` is an admin of the head epoch: the creator, or flagged admin.
    pub fn is_admin(&self, member: &MemberKey) -> bool {
        self.flags(member)
            .is_some_and(|f| f & FLAG_ADMIN != 0 || *member == self.creator)
    }

    fn after(creator: MemberKey, record: &RotationRecord) -> Self {
        Self {
            chat_id: record.chat_id,
            creator,
            epoch: record.epoch,
            hash: record.hash(),
            members: record.members().collect(),
        }
    }

    fn check_position(&self, record: &RotationRecord) -> Result<(), Reject> {
        if record.chat_id != self.chat_id {
            return Err(Reject::WrongChat);
        }
        let (head, got) = (self.epoch, record.epoch);
        if got <= head {
            return Err(Reject::StaleEpoch { head, got });
        }
        if got != head.saturating_add(1) {
            return Err(Reject::FutureEpoch { head, got });
        }
        if record.kind == RecordKind::Create {
            return Err(Reject::WrongKind);
        }
        if record.prev != self.hash {
            return Err(Reject::WrongPrevious);
        }
        Ok(())
    }

    /// Rule G5: who may rotate, and who may change admin flags.
    fn check_authority(&self, record: &RotationRecord) -> Result<(), Reject> {
        if !self.is_member(&record.signer) {
            return Err(Reject::SignerNotMember);
        }
        if record.entry(&record.signer).is_none() {
            return Err(Reject::SignerLeaves);
        }
        let removed: Vec<MemberKey> = self
            .members
            .iter()
            .map(|m| m.0)
            .filter(|m| record.entry(m).is_none())
            .collect();
        match record.kind {
            RecordKind::Leave => self.check_leave(record, &removed)?,
            _ if !removed.is_empty() && !self.is_admin(&record.signer) => {
                return Err(Reject::NotAllowed);
            }
            _ => {}
        }
        if record.signer != self.creator && !self.flags_kept(record) {
            return Err(Reject::AdminChange);
        }
        Ok(())
    }

    /// A leave removes exactly the leaver, adds no one, and carries the leaver's note for
    /// the head epoch.
    fn check_leave(&self, record: &RotationRecord, removed: &[MemberKey]) -> Result<(), Reject> {
        let [leaver] = removed else {
            return Err(Reject::BadLeave);
        };
        let adds = record.entries.iter().any(|e| !self.is_member(&e.member));
        let note = record.leave_signature.as_ref().ok_or(Reject::BadLeave)?;
        if adds
            || !verify(
                leaver,
                &leave_input(&self.chat_id, self.epoch, leaver),
                note,
            )
        {
            return Err(Reject::BadLeave);
        }
        Ok(())
    }

    /// True if every old member keeps its flags and every new member has none.
    fn flags_kept(&self, record: &RotationRecord) -> bool {
        record
            .entries
            .iter()
            .all(|e| e.flags == self.flags(&e.member).unwrap_or(0))
    }
}

fn check_members_hash(record: &RotationRecord) -> Result<(), Reject> {
    if members_hash(record.members()) != record.members_hash {
        return Err(Reject::MemberSetHash);
    }
    Ok(())
}

/// Every member key must be a valid Ed25519 key with an acceptable X25519 form, and the
/// ephemeral key acceptable: a small-order key would make the wraps readable by anyone.
fn check_keys(record: &RotationRecord) -> Result<(), Reject> {
    if !crypto::is_acceptable_key(&PublicKey(record.ephemeral)) {
        return Err(Reject::BadKey);
    }
    let ok = record
        .entries
        .iter()
        .all(|e| crypto::x25519_of(&e.member).is_some_and(|x| crypto::is_acceptable_key(&x)));
    if ok { Ok(()) } else { Err(Reject::BadKey) }
}

#[cfg(test)]
mod tests;
