//! [`Keyring`]: the client-side [`GroupKeySchedule`] with per-member wraps.
//!
//! - One [`Identity`] (the member), and per chat its [`ChainHead`] and the epoch keys it was
//!   given (at most [`MAX_KEPT_EPOCHS`], oldest dropped first; at most [`MAX_CHATS`] chats).
//! - `rotate` turns a [`Change`] into a signed record against the current head without
//!   changing state; when the index says the record lost, `accept` the winner and call
//!   `rotate` again with the same `Change` (it answers [`ScheduleError::NoChange`] if the
//!   winner already did it).

use std::collections::BTreeMap;

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::chain::{ChainHead, Reject};
use super::message::{self, MessageError, MessageHeader};
use super::record::{Draft, RecordError, RecordKind, RotationRecord, SIGNATURE_LEN};
use super::{
    ChatId, EpochKey, FLAG_ADMIN, GroupKeySchedule, MAX_CHATS, MAX_KEPT_EPOCHS, MAX_MEMBERS,
    MemberKey, chat_id_for,
};
use crate::crypto::Identity;

/// Why a schedule operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// Record bytes are malformed, or a record cannot be built from these members.
    #[error("record: {0}")]
    Record(#[from] RecordError),
    /// The record is not the valid next record of its chat.
    #[error("rejected: {0}")]
    Rejected(#[from] Reject),
    /// We do not know this chat.
    #[error("unknown chat")]
    UnknownChat,
    /// We already hold [`MAX_CHATS`] chats.
    #[error("too many chats")]
    TooManyChats,
    /// The change would leave the member set as it is (perhaps the winner already made it).
    #[error("nothing to change")]
    NoChange,
    /// The change would exceed [`MAX_MEMBERS`] members.
    #[error("too many members")]
    TooManyMembers,
    /// We may not make this change (not a member, or removal without being an admin, or an
    /// admin change without being the creator, or a leave note for another epoch).
    #[error("not allowed")]
    NotAllowed,
    /// A record given as trusted does not have the trusted hash.
    #[error("record does not match the trusted hash")]
    Untrusted,
    /// We hold no key for the message's epoch.
    #[error("no key for epoch {epoch}")]
    NoKey {
        /// The epoch.
        epoch: u64,
    },
    /// A message could not be sealed or opened.
    #[error("message: {0}")]
    Message(#[from] MessageError),
}

/// A membership change to turn into a record for epoch e+1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add these members (members already in are skipped).
    Add(Vec<MemberKey>),
    /// Remove these members (admins only; non-members are skipped).
    Remove(Vec<MemberKey>),
    /// Remove the member who signed this note (any remaining member may make the record).
    Leave(LeaveNote),
    /// Set or clear a member's admin flag (creator only).
    SetAdmin {
        /// The member.
        member: MemberKey,
        /// Admin or not.
        admin: bool,
    },
    /// A fresh key for the same members.
    Rekey,
}

/// A member's signed wish to leave a chat at an epoch (rule G5).
#[derive(Clone, PartialEq, Eq)]
pub struct LeaveNote {
    /// The chat.
    pub chat_id: ChatId,
    /// The epoch being left (the head the leave record follows).
    pub epoch: u64,
    /// The leaver.
    pub member: MemberKey,
    /// The leaver's signature over `"dhtchat/gkey/leave/v1"` ‖ chat ‖ epoch ‖ member.
    pub signature: [u8; SIGNATURE_LEN],
}

impl LeaveNote {
    /// Signs a leave note for `chat` at `epoch`.
    pub fn sign(me: &Identity, chat: &ChatId, epoch: u64) -> Self {
        let member = me.signing_key();
        let input = super::record::leave_input(chat, epoch, &member);
        Self {
            chat_id: *chat,
            epoch,
            member,
            signature: super::record::sign(me, &input),
        }
    }
}

impl std::fmt::Debug for LeaveNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaveNote")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// A new chat: its id and its create record for the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The chat id.
    pub chat_id: ChatId,
    /// The create record (epoch 0).
    pub record: Vec<u8>,
}

/// What accepting a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The chat.
    pub chat_id: ChatId,
    /// The new head epoch.
    pub epoch: u64,
    /// True if the record wrapped a key for us (we are a member of the epoch).
    pub got_key: bool,
}

/// One chat as this member sees it.
#[derive(Debug)]
struct ChatState {
    head: ChainHead,
    keys: BTreeMap<u64, EpochKey>,
}

/// The client-side key schedule of one member (see the module docs).
#[derive(Debug)]
pub struct Keyring {
    me: Identity,
    chats: BTreeMap<ChatId, ChatState>,
}

impl Keyring {
    /// An empty keyring for `me`.
    pub fn new(me: Identity) -> Self {
        Self {
            me,
            chats: BTreeMap::new(),
        }
    }

    /// Our member key.
    pub fn member_key(&self) -> MemberKey {
        self.me.signing_key()
    }

    /// The chain head of `chat`.
    pub fn head(&self, chat: &ChatId) -> Option<&ChainHead> {
        self.chats.get(chat).map(|c| &c.head)
    }

    /// The key of (chat, epoch), if we hold it (for the account's encrypted chat list).
    pub fn epoch_key(&self, chat: &ChatId, epoch: u64) -> Option<&EpochKey> {
        self.chats.get(chat)?.keys.get(&epoch)
    }

    /// Starts (or jumps) following a chat from one record trusted by its hash instead of its
    /// chain: the record that added us, named in the invite, or the last record kept in our
    /// own encrypted chat list (another device). `creator` comes from the same trusted
    /// source. The record is checked on its own ([`ChainHead::check_standalone`]); later
    /// records go through `accept`.
    pub fn join(
        &mut self,
        creator: MemberKey,
        record: &[u8],
        trusted_hash: &[u8; 32],
    ) -> Result<Accepted, ScheduleError> {
        let record = RotationRecord::decode(record)?;
        if record.hash() != *trusted_hash {
            return Err(ScheduleError::Untrusted);
        }
        ChainHead::check_standalone(&record)?;
        let head = ChainHead::resume(creator, &record);
        let full = self.chats.len() >= MAX_CHATS;
        match self.chats.get_mut(&record.chat_id) {
            Some(state) if state.head.epoch() >= record.epoch => {
                let (head, got) = (state.head.epoch(), record.epoch);
                return Err(Reject::StaleEpoch { head, got }.into());
            }
            Some(state) => state.head = head,
            None if full => return Err(ScheduleError::TooManyChats),
            None => {
                let keys = BTreeMap::new();
                self.chats.insert(record.chat_id, ChatState { head, keys });
            }
        }
        Ok(self.keep_key(&record))
    }

    /// Puts back the key of an older epoch from our own encrypted chat list (another
    /// device). The chat must be known (`join` first).
    pub fn restore_key(
        &mut self,
        chat: &ChatId,
        epoch: u64,
        key: EpochKey,
    ) -> Result<(), ScheduleError> {
        let state = self.chats.get_mut(chat).ok_or(ScheduleError::UnknownChat)?;
        insert_bounded(&mut state.keys, epoch, key);
        Ok(())
    }

    /// Signs a leave note for our current epoch of `chat`.
    pub fn leave_note(&self, chat: &ChatId) -> Result<LeaveNote, ScheduleError> {
        let head = self.head(chat).ok_or(ScheduleError::UnknownChat)?;
        Ok(LeaveNote::sign(&self.me, chat, head.epoch()))
    }

    fn state(&self, chat: &ChatId) -> Result<&ChatState, ScheduleError> {
        self.chats.get(chat).ok_or(ScheduleError::UnknownChat)
    }

    fn accept_record(&mut self, record: &RotationRecord) -> Result<Accepted, ScheduleError> {
        match self.chats.get_mut(&record.chat_id) {
            Some(state) => state.head.advance(record)?,
            None => {
                let head = ChainHead::genesis(record)?;
                if self.chats.len() >= MAX_CHATS {
                    return Err(ScheduleError::TooManyChats);
                }
                let keys = BTreeMap::new();
                self.chats.insert(record.chat_id, ChatState { head, keys });
            }
        }
        Ok(self.keep_key(record))
    }

    /// Unwraps and keeps our key of an accepted record. Only after the record checked out:
    /// one X25519 step per accepted record.
    fn keep_key(&mut self, record: &RotationRecord) -> Accepted {
        let key = record.unwrap_key(&self.me);
        let got_key = key.is_some();
        if let (Some(key), Some(state)) = (key, self.chats.get_mut(&record.chat_id)) {
            insert_bounded(&mut state.keys, record.epoch, key);
        }
        Accepted {
            chat_id: record.chat_id,
            epoch: record.epoch,
            got_key,
        }
    }
}

/// Keeps at most [`MAX_KEPT_EPOCHS`] keys, dropping the oldest epochs first.
fn insert_bounded(keys: &mut BTreeMap<u64, EpochKey>, epoch: u64, key: EpochKey) {
    keys.insert(epoch, key);
    while keys.len() > MAX_KEPT_EPOCHS {
        keys.pop_first();
    }
}

impl GroupKeySchedule for Keyring {
    fn create_chat(
        &mut self,
        rng: &mut impl CryptoRng,
        members: &[MemberKey],
        admins: &[MemberKey],
    ) -> Result<Created, ScheduleError> {
        let me = self.member_key();
        let mut set: BTreeMap<MemberKey, u8> = members.iter().map(|m| (*m, 0)).collect();
        set.insert(me, FLAG_ADMIN);
        for a in admins {
            if let Some(flags) = set.get_mut(a) {
                *flags |= FLAG_ADMIN;
            }
        }
        if set.len() > MAX_MEMBERS {
            return Err(ScheduleError::TooManyMembers);
        }
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        let chat_id = chat_id_for(&me, &salt);
        let draft = Draft {
            kind: RecordKind::Create,
            chat_id,
            epoch: 0,
            prev: salt,
            members: set.into_iter().collect(),
            leave_signature: None,
        };
        let key = EpochKey::random(rng);
        let record = RotationRecord::seal(rng, &self.me, draft, &key)?;
        self.accept_record(&record)?;
        let record = record.to_bytes();
        Ok(Created { chat_id, record })
    }

    fn rotate(
        &self,
        rng: &mut impl CryptoRng,
        chat: &ChatId,
        change: &Change,
    ) -> Result<Vec<u8>, ScheduleError> {
        let head = &self.state(chat)?.head;
        let (kind, members, leave_signature) = apply(head, &self.member_key(), change)?;
        let draft = Draft {
            kind,
            chat_id: *chat,
            epoch: head
                .epoch()
                .checked_add(1)
                .ok_or(ScheduleError::NotAllowed)?,
            prev: *head.hash(),
            members,
            leave_signature,
        };
        let key = EpochKey::random(rng);
        Ok(RotationRecord::seal(rng, &self.me, draft, &key)?.to_bytes())
    }

    fn accept(&mut self, record: &[u8]) -> Result<Accepted, ScheduleError> {
        self.accept_record(&RotationRecord::decode(record)?)
    }

    fn seal(
        &self,
        rng: &mut impl CryptoRng,
        chat: &ChatId,
        body: &[u8],
    ) -> Result<Vec<u8>, ScheduleError> {
        let state = self.state(chat)?;
        let epoch = state.head.epoch();
        let key = state
            .keys
            .get(&epoch)
            .ok_or(ScheduleError::NoKey { epoch })?;
        Ok(message::seal(rng, key, chat, epoch, body)?)
    }

    fn open(&self, sealed: &[u8]) -> Result<(ChatId, u64, Zeroizing<Vec<u8>>), ScheduleError> {
        let header = MessageHeader::peek(sealed)?;
        let epoch = header.epoch;
        let key = self
            .state(&header.chat_id)?
            .keys
            .get(&epoch)
            .ok_or(ScheduleError::NoKey { epoch })?;
        let (_, body) = message::open(key, sealed)?;
        Ok((header.chat_id, epoch, body))
    }

    fn readable_epochs(&self, chat: &ChatId) -> Vec<u64> {
        self.chats
            .get(chat)
            .map(|c| c.keys.keys().copied().collect())
            .unwrap_or_default()
    }

    fn current_epoch(&self, chat: &ChatId) -> Option<u64> {
        self.head(chat).map(ChainHead::epoch)
    }

    fn members(&self, chat: &ChatId) -> Vec<(MemberKey, bool)> {
        let Some(head) = self.head(chat) else {
            return Vec::new();
        };
        let admin = |m: &MemberKey| head.is_admin(m);
        head.members().iter().map(|(m, _)| (*m, admin(m))).collect()
    }

    fn epoch_key(&self, chat: &ChatId, epoch: u64) -> Option<EpochKey> {
        Self::epoch_key(self, chat, epoch).cloned()
    }

    fn sign_as_member(&self, input: &[u8]) -> (MemberKey, [u8; 64]) {
        (self.me.signing_key(), super::record::sign(&self.me, input))
    }
}

type Applied = (
    RecordKind,
    Vec<(MemberKey, u8)>,
    Option<[u8; SIGNATURE_LEN]>,
);

/// The next member set for `change` on `head`, made by `me`; checks what we can locally so
/// we do not send a record the index would reject.
fn apply(head: &ChainHead, me: &MemberKey, change: &Change) -> Result<Applied, ScheduleError> {
    if !head.is_member(me) {
        return Err(ScheduleError::NotAllowed);
    }
    let mut set: BTreeMap<MemberKey, u8> = head.members().iter().copied().collect();
    let mut kind = RecordKind::Change;
    let mut leave = None;
    match change {
        Change::Add(add) => add.iter().for_each(|m| {
            set.entry(*m).or_insert(0);
        }),
        Change::Remove(remove) => {
            if remove.iter().any(|m| set.contains_key(m)) && !head.is_admin(me) {
                return Err(ScheduleError::NotAllowed);
            }
            remove.iter().for_each(|m| {
                set.remove(m);
            });
        }
        Change::Leave(note) => {
            if note.chat_id != *head.chat_id() || note.epoch != head.epoch() {
                return Err(ScheduleError::NotAllowed);
            }
            if set.remove(&note.member).is_some() {
                kind = RecordKind::Leave;
                leave = Some(note.signature);
            }
        }
        Change::SetAdmin { member, admin } => set_admin(head, me, &mut set, member, *admin)?,
        Change::Rekey => {}
    }
    finish(head, me, change, kind, set, leave)
}

fn set_admin(
    head: &ChainHead,
    me: &MemberKey,
    set: &mut BTreeMap<MemberKey, u8>,
    member: &MemberKey,
    admin: bool,
) -> Result<(), ScheduleError> {
    if me != head.creator() {
        return Err(ScheduleError::NotAllowed);
    }
    if let Some(flags) = set.get_mut(member) {
        *flags = if admin { FLAG_ADMIN } else { 0 };
    }
    Ok(())
}

fn finish(
    head: &ChainHead,
    me: &MemberKey,
    change: &Change,
    kind: RecordKind,
    set: BTreeMap<MemberKey, u8>,
    leave: Option<[u8; SIGNATURE_LEN]>,
) -> Result<Applied, ScheduleError> {
    if !set.contains_key(me) {
        // The key maker always stays (rule G5): to leave, sign a LeaveNote instead.
        return Err(ScheduleError::NotAllowed);
    }
    if set.len() > MAX_MEMBERS {
        return Err(ScheduleError::TooManyMembers);
    }
    let members: Vec<(MemberKey, u8)> = set.into_iter().collect();
    if members.as_slice() == head.members() && *change != Change::Rekey {
        return Err(ScheduleError::NoChange);
    }
    Ok((kind, members, leave))
}

#[cfg(test)]
mod tests;
