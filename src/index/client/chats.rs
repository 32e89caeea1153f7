//! Group chats on an index, client side (issue #14, PROTOCOL.md §8.12 and Appendix B G8):
//! the flows on top of one [`GroupKeySchedule`] (the seam an MLS schedule could fill).
//!
//! - **create**: the schedule makes the chat id, the first epoch key and the create record
//!   (the key wrapped to each member); the index stores it; a first message tells the
//!   members the chat's name.
//! - **add / remove**: a rotation record for epoch e+1 (a fresh key wrapped to every
//!   remaining member, signed). If the index answers that another record won e+1, accept
//!   the winner, catch up, and make the change again on the new head (at most
//!   [`MAX_REDO`] times); a change the winner already made is done.
//! - **sync**: fetch the records after our head and accept each one (keys come only for
//!   epochs we belong to); a chat we do not know yet is followed from its create record.
//! - **post / read**: bodies sealed under the current epoch key; read what the index kept,
//!   opening each message with the key of its own epoch.
//!
//! - **leave**: sign a leave note for the head epoch and post it ([`meta`]); any remaining
//!   member that reads it makes the leave record (Appendix B G5.4), like a removal. While the
//!   note is void because the head moved on, the leaver signs and posts a new one.
//!
//! A message whose body starts with [`META`] carries the chat's name signed by an admin, one
//! starting with [`meta::META_LEAVE`] a leave note; neither is text ([`meta`]).

pub mod meta;

use std::collections::BTreeMap;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

use super::gc::PutOutcome;
use super::{ClientError, IndexClient};
use crate::index::account::ChatEntry;
use crate::index::groupkey::{
    Change, ChatId, GroupKeySchedule, Keyring, LeaveNote, MemberKey, ScheduleError,
};
use crate::index::wire::chats::MAX_CHAT_TEXT;
use meta::{META_LEAVE, SignedName, decode_leave, encode_leave};

/// How often a change is made again after losing the race for its epoch.
pub const MAX_REDO: usize = 8;
/// First byte of a message body that names the chat instead of carrying text.
pub const META: u8 = 0x01;
/// Longest chat name.
pub const MAX_CHAT_NAME: usize = 64;
/// Leave notes read and not yet applied, at most.
pub const MAX_LEAVES: usize = 64;

/// Why a group-chat flow failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The index request failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The key schedule refused (not allowed, unknown chat, bad record…).
    #[error("group key: {0}")]
    Schedule(#[from] ScheduleError),
    /// Log in first: the member key is the account's identity.
    #[error("not logged in")]
    NotLoggedIn,
    /// The rotation kept losing to other members' rotations.
    #[error("the chat keeps changing; try again")]
    Contended,
    /// The user is not a member of the chat.
    #[error("{0} is not a member of this chat")]
    NotMember(String),
    /// Text or name too long or empty.
    #[error("message must have 1 to {MAX_CHAT_TEXT} bytes")]
    BadText,
}

/// One message read from a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// The index's message id.
    pub id: u64,
    /// The sender's username.
    pub sender: String,
    /// When the index stored it, Unix seconds.
    pub at: u64,
    /// The epoch it was sealed in.
    pub epoch: u64,
    /// The text, or `None` if we hold no key for its epoch (or it does not open).
    pub text: Option<String>,
}

/// One chat as this client follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatInfo {
    /// The chat's name ("" until a name message is read).
    pub name: String,
    /// The newest message id read.
    pub seen: u64,
    /// Serial of the name taken (0: none signed yet).
    pub name_serial: u64,
    /// The signed name message taken, posted again after an add (by any member).
    pub name_message: Vec<u8>,
}

/// The group chats of one logged-in account; see the module docs.
#[derive(Debug)]
pub struct GroupChats<S> {
    schedule: S,
    rng: ChaCha20Rng,
    chats: BTreeMap<ChatId, ChatInfo>,
    /// Leave notes read (with the sender's username), for [`GroupChats::apply_leaves`].
    leaves: Vec<(LeaveNote, String)>,
    /// Chats we left: the epoch of our last note.
    left: BTreeMap<ChatId, u64>,
}

impl<S: GroupKeySchedule> GroupChats<S> {
    /// Follows no chat yet; `seed` feeds the keys, nonces and client message ids.
    pub fn new(schedule: S, seed: [u8; 32]) -> Self {
        Self {
            schedule,
            rng: ChaCha20Rng::from_seed(seed),
            chats: BTreeMap::new(),
            leaves: Vec::new(),
            left: BTreeMap::new(),
        }
    }

    /// The key schedule (for tests and inspection).
    pub fn schedule(&self) -> &S {
        &self.schedule
    }

    /// The chats followed, with their names.
    pub fn chats(&self) -> &BTreeMap<ChatId, ChatInfo> {
        &self.chats
    }

    /// The chat whose name is `name` (the first one, if several share it).
    pub fn by_name(&self, name: &str) -> Option<ChatId> {
        self.chats
            .iter()
            .find(|(_, c)| c.name == name)
            .map(|(id, _)| *id)
    }

    /// The id and current epoch key of every chat we hold a key of, for the account's
    /// encrypted group-chat list.
    pub fn entries(&self) -> Vec<ChatEntry> {
        let mut out = Vec::new();
        for (chat, info) in &self.chats {
            let Some(epoch) = self.schedule.current_epoch(chat) else {
                continue;
            };
            if let Some(key) = self.schedule.epoch_key(chat, epoch) {
                out.push(ChatEntry {
                    chat_id: *chat,
                    key: *key.expose(),
                    epoch,
                    name: info.name.clone(),
                });
            }
        }
        out
    }

    /// Starts following a chat known from the account's list (its records are fetched by
    /// the next [`Self::sync`]).
    pub fn remember(&mut self, chat: ChatId, name: &str) {
        let info = self.chats.entry(chat).or_default();
        if info.name.is_empty() {
            info.name = name.to_owned();
        }
    }

    /// Creates a chat named `name` with us and the accounts `members`; returns its id.
    pub async fn create(
        &mut self,
        client: &mut IndexClient,
        name: &str,
        members: &[&str],
    ) -> Result<ChatId, ChatError> {
        if name.is_empty() || name.len() > MAX_CHAT_NAME {
            return Err(ChatError::BadText);
        }
        let mut keys = Vec::with_capacity(members.len());
        for m in members {
            keys.push(client.user_key(m).await?);
        }
        let created = self.schedule.create_chat(&mut self.rng, &keys, &[])?;
        match client.put_record(&created.record).await? {
            PutOutcome::Stored(_) => {}
            PutOutcome::Lost(_) => return Err(ClientError::BadRecord.into()),
        }
        self.chats.insert(created.chat_id, ChatInfo::default());
        self.set_name(client, &created.chat_id, name).await?;
        Ok(created.chat_id)
    }

    /// Posts the chat's name for the members of the current epoch (new members cannot read
    /// older epochs, so it is posted again after an add).
    async fn set_name(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        name: &str,
    ) -> Result<(), ChatError> {
        let serial = self.chats.get(chat).map_or(0, |c| c.name_serial) + 1;
        let body = SignedName::sign(&self.schedule, chat, serial, name).encode();
        self.post_body(client, chat, &body).await?;
        if let Some(info) = self.chats.get_mut(chat) {
            info.name = name.to_owned();
            info.name_serial = serial;
            info.name_message = body;
        }
        Ok(())
    }

    /// Adds the account `user` (a rotation: a new key wrapped to every member).
    pub async fn add(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        user: &str,
    ) -> Result<u64, ChatError> {
        let key = client.user_key(user).await?;
        let epoch = self.change(client, chat, &Change::Add(vec![key])).await?;
        let info = self.chats.get(chat).cloned().unwrap_or_default();
        if !info.name_message.is_empty() {
            // The admin's signed name again, for the new member (who cannot read older
            // epochs); any member may repost it.
            self.post_body(client, chat, &info.name_message).await?;
        } else if !info.name.is_empty() {
            self.set_name(client, chat, &info.name).await?;
        }
        Ok(epoch)
    }

    /// Removes the account `user` (an admin's rotation: the new key is not wrapped to it).
    pub async fn remove(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        user: &str,
    ) -> Result<u64, ChatError> {
        let key = client.user_key(user).await?;
        self.sync(client, chat).await?;
        if !self.is_member(chat, &key) {
            return Err(ChatError::NotMember(user.to_owned()));
        }
        self.change(client, chat, &Change::Remove(vec![key])).await
    }

    /// Makes the account `user` an admin of the chat (a rotation signed by the creator, the
    /// only one who may change admin flags); an admin may remove members.
    pub async fn make_admin(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        user: &str,
    ) -> Result<u64, ChatError> {
        let member = client.user_key(user).await?;
        self.sync(client, chat).await?;
        if !self.is_member(chat, &member) {
            return Err(ChatError::NotMember(user.to_owned()));
        }
        let change = Change::SetAdmin {
            member,
            admin: true,
        };
        self.change(client, chat, &change).await
    }

    fn is_member(&self, chat: &ChatId, key: &MemberKey) -> bool {
        self.schedule.members(chat).iter().any(|(m, _)| m == key)
    }

    /// Makes `change` the next epoch, redoing it on the winner when another rotation came
    /// first; returns the epoch that holds it.
    pub async fn change(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        change: &Change,
    ) -> Result<u64, ChatError> {
        for _ in 0..MAX_REDO {
            let record = match self.schedule.rotate(&mut self.rng, chat, change) {
                Ok(r) => r,
                Err(ScheduleError::NoChange) => return Ok(self.epoch(chat)),
                Err(e) => return Err(e.into()),
            };
            match client.put_record(&record).await? {
                PutOutcome::Stored(_) => return Ok(self.schedule.accept(&record)?.epoch),
                PutOutcome::Lost(winner) => {
                    // Behind by more than one epoch, the winner does not follow our head
                    // yet: the sync fetches it in order.
                    let _ = self.schedule.accept(&winner);
                    self.sync(client, chat).await?;
                }
            }
        }
        Err(ChatError::Contended)
    }

    fn epoch(&self, chat: &ChatId) -> u64 {
        self.schedule.current_epoch(chat).unwrap_or(0)
    }

    /// Accepts every record after our head of `chat` (from its create record for a chat we
    /// do not follow yet); returns the head epoch.
    pub async fn sync(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
    ) -> Result<u64, ChatError> {
        loop {
            let from = self.schedule.current_epoch(chat).map_or(0, |e| e + 1);
            let records = client.fetch_records(chat, from).await?;
            if records.is_empty() {
                break;
            }
            for r in &records {
                self.schedule.accept(r)?;
            }
        }
        self.chats.entry(*chat).or_default();
        Ok(self.epoch(chat))
    }

    /// Follows every chat the index lists us in that we did not follow; returns them.
    pub async fn discover(&mut self, client: &mut IndexClient) -> Result<Vec<ChatId>, ChatError> {
        let mut new = Vec::new();
        for (chat, epoch) in client.my_chats().await? {
            if self.left.contains_key(&chat) {
                continue;
            }
            let known = self.chats.contains_key(&chat);
            if !known || self.schedule.current_epoch(&chat) < Some(epoch) {
                self.sync(client, &chat).await?;
            }
            if !known {
                new.push(chat);
            }
        }
        Ok(new)
    }

    /// Seals `text` under the current epoch key and stores it; returns its id.
    pub async fn post(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        text: &str,
    ) -> Result<u64, ChatError> {
        if text.is_empty()
            || text.len() > MAX_CHAT_TEXT
            || [META, META_LEAVE].contains(&text.as_bytes()[0])
        {
            return Err(ChatError::BadText);
        }
        self.post_body(client, chat, text.as_bytes()).await
    }

    async fn post_body(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        body: &[u8],
    ) -> Result<u64, ChatError> {
        let sealed = self.schedule.seal(&mut self.rng, chat, body)?;
        let client_id = self.rng.next_u64();
        Ok(client.post_chat(client_id, &sealed).await?)
    }

    /// Reads the messages stored since the last read, opening each with its epoch's key;
    /// name messages update the chat's name and are not returned.
    pub async fn read(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
    ) -> Result<Vec<ChatLine>, ChatError> {
        let mut out = Vec::new();
        loop {
            let seen = self.chats.get(chat).map_or(0, |c| c.seen);
            let page = client.fetch_chat(chat, seen).await?;
            let Some(last) = page.last().map(|m| m.id) else {
                return Ok(out);
            };
            for m in page {
                let opened = self.schedule.open(&m.sealed);
                let epoch = opened.as_ref().map_or(0, |o| o.1);
                let body = opened.ok().map(|o| o.2);
                if let Some(line) = self.line(chat, m.id, m.sender, m.at, epoch, body) {
                    out.push(line);
                }
            }
            self.chats.entry(*chat).or_default().seen = last;
        }
    }

    fn line(
        &mut self,
        chat: &ChatId,
        id: u64,
        sender: String,
        at: u64,
        epoch: u64,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Option<ChatLine> {
        if let Some(signed) = body.as_ref().and_then(|b| b.strip_prefix(&[META])) {
            self.take_name(chat, signed);
            return None;
        }
        if let Some(note) = body.as_ref().and_then(|b| b.strip_prefix(&[META_LEAVE])) {
            if let Some(note) = decode_leave(chat, note) {
                if self.leaves.len() < MAX_LEAVES {
                    self.leaves.push((note, sender));
                }
            }
            return None;
        }
        let text = body.map(|b| String::from_utf8_lossy(&b).into_owned());
        Some(ChatLine {
            id,
            sender,
            at,
            epoch,
            text,
        })
    }

    /// Takes a name message if an admin of our head epoch signed it with a higher serial.
    fn take_name(&mut self, chat: &ChatId, signed: &[u8]) {
        let Some(n) = SignedName::decode(chat, signed) else {
            return;
        };
        let admin = self
            .schedule
            .members(chat)
            .iter()
            .any(|(m, admin)| *m == n.signer && *admin);
        let info = self.chats.entry(*chat).or_default();
        if admin && n.serial > info.name_serial {
            info.name_serial = n.serial;
            info.name_message = [&[META][..], signed].concat();
            info.name = n.name;
        }
    }

    /// Makes the leave record for each leave note read whose epoch is our head's (another
    /// member may come first: then the note is void or already applied); returns the
    /// leavers (username as the index named the note's sender) removed by our records, with
    /// the new epoch.
    pub async fn apply_leaves(&mut self, client: &mut IndexClient) -> Vec<(ChatId, String, u64)> {
        let mut out = Vec::new();
        for (note, name) in std::mem::take(&mut self.leaves) {
            let chat = note.chat_id;
            let member = note.member;
            if !self.is_member(&chat, &member) || self.current(&chat) != Some(note.epoch) {
                continue;
            }
            if let Ok(epoch) = self.change(client, &chat, &Change::Leave(note)).await {
                if !self.is_member(&chat, &member) {
                    out.push((chat, name, epoch));
                }
            }
        }
        out
    }

    fn current(&self, chat: &ChatId) -> Option<u64> {
        self.schedule.current_epoch(chat)
    }
}

impl GroupChats<Keyring> {
    /// Names the chat (`/gc rename`): an admin of our head epoch only, 1 to
    /// [`MAX_CHAT_NAME`] bytes. The signed name carries the next serial, so it wins over
    /// every earlier one at each member.
    pub async fn rename(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
        name: &str,
    ) -> Result<(), ChatError> {
        if name.is_empty() || name.len() > MAX_CHAT_NAME {
            return Err(ChatError::BadText);
        }
        let me = self.schedule.member_key();
        let admin = (self.schedule.members(chat).iter()).any(|(m, admin)| *m == me && *admin);
        if !admin {
            return Err(ChatError::Schedule(ScheduleError::NotAllowed));
        }
        self.set_name(client, chat, name).await
    }

    /// Leaves `chat`: posts a signed leave note for its head epoch and stops following it;
    /// a remaining member makes the leave record (a rotation we are not in).
    pub async fn leave(
        &mut self,
        client: &mut IndexClient,
        chat: &ChatId,
    ) -> Result<(), ChatError> {
        self.sync(client, chat).await?;
        let note = self.schedule.leave_note(chat)?;
        self.post_body(client, chat, &encode_leave(&note)).await?;
        self.left.insert(*chat, note.epoch);
        self.chats.remove(chat);
        Ok(())
    }

    /// For each chat we left that the index still lists us in at a newer epoch (our note was
    /// void: the head moved on before a member applied it), posts a new note.
    pub async fn renew_leaves(&mut self, client: &mut IndexClient) -> Result<(), ChatError> {
        if self.left.is_empty() {
            return Ok(());
        }
        let listed = client.my_chats().await?;
        self.left
            .retain(|chat, _| listed.iter().any(|(c, _)| c == chat));
        for (chat, head) in listed {
            let Some(noted) = self.left.get(&chat).copied() else {
                continue;
            };
            if head > noted {
                self.sync(client, &chat).await?;
                self.chats.remove(&chat);
                let note = self.schedule.leave_note(&chat)?;
                self.post_body(client, &chat, &encode_leave(&note)).await?;
                self.left.insert(chat, note.epoch);
            }
        }
        Ok(())
    }

    /// True if the messages read from `chat` hold our own leave note for its head epoch: we
    /// left it (before a restart, or on another device) and no remaining member has made the
    /// leave record yet. The chat is then treated as left (not shown, not followed again,
    /// the note renewed if the head moves on) rather than opened again.
    pub fn left_by_note(&mut self, chat: &ChatId) -> bool {
        let me = self.schedule.member_key();
        let head = self.schedule.current_epoch(chat);
        let ours = |(n, _): &(LeaveNote, String)| n.chat_id == *chat && n.member == me;
        let Some(epoch) = (self.leaves.iter().filter(|l| ours(l)))
            .map(|(n, _)| n.epoch)
            .find(|e| Some(*e) == head)
        else {
            return false;
        };
        self.leaves.retain(|l| !ours(l));
        self.left.insert(*chat, epoch);
        self.chats.remove(chat);
        true
    }

    /// True if we left `chat` (it is not followed again by [`Self::discover`]).
    pub fn has_left(&self, chat: &ChatId) -> bool {
        self.left.contains_key(chat)
    }
}

#[cfg(test)]
mod tests;
