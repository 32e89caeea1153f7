//! The worker's group chats and private messages (issue #14 item 3): `/gc` and `/pm` run
//! here, on the task that owns the [`IndexClient`].
//!
//! - At login the chats of the account's encrypted list are followed again from the index
//!   (their records, so the keys of every epoch we belonged to), chats others added us to are
//!   discovered, and each one's stored messages are reported (marked as stored, with their
//!   send time); then the PM mailbox is read and acknowledged.
//! - Every poll ([`super::GC_POLL`]): new chats, new records (a removal closes the
//!   window), new messages, new PMs. Delivery of group-chat messages and of PMs while both
//!   sides are online goes through the index too (this poll), not peer to peer.
//! - The account's chat list on the index is rewritten whenever a chat or an epoch changes.

use super::{Done, Worker};
use crate::app::index::gc_window::{GcDone, GcJob};
use crate::index::client::{ChatError, ChatLine, GroupChats};
use crate::index::groupkey::{ChatId, GroupKeySchedule, Keyring, ScheduleError};
use crate::net::os_seed;
use crate::proto::GroupId;

/// The membership changes of `/gc add`, `/gc remove` and `/gc admin`.
#[derive(Debug, Clone, Copy)]
enum Rotation {
    Add,
    Remove,
    Admin,
}

/// The group chats of the logged-in account and what was last saved to its list.
#[derive(Debug, Default)]
pub(super) struct GcState {
    pub(super) chats: Option<GroupChats<Keyring>>,
    saved: Vec<(ChatId, u64)>,
}

impl Worker {
    async fn gc_send(&self, d: GcDone) {
        self.send(Done::Gc(d)).await;
    }

    async fn gc_error(&self, at: Option<GroupId>, chat: Option<ChatId>, e: &ChatError) {
        let text = match e {
            ChatError::Client(c) => self.describe(c),
            ChatError::Schedule(ScheduleError::NotAllowed) => {
                "not allowed: only an admin of the chat may remove members, and only its \
                 creator may make admins"
                    .into()
            }
            other => other.to_string(),
        };
        self.gc_send(GcDone::Error { at, chat, text }).await;
    }

    /// Follows the account's chats after a login; reports their windows and backlog.
    pub(super) async fn gc_login(&mut self) {
        let Some(me) = self.client.identity() else {
            return;
        };
        let keyring = Keyring::new(crate::crypto::Identity::from_seed(&me.seed()));
        let Ok(seed) = os_seed() else { return };
        let mut chats = GroupChats::new(keyring, seed);
        for entry in self.lists.iter().flat_map(|l| l.chats.iter()) {
            chats.remember(entry.chat_id, &entry.name);
        }
        self.members = super::members::MemberLists::default();
        self.gc = GcState {
            chats: Some(chats),
            saved: Vec::new(),
        };
        let known: Vec<ChatId> = self
            .gc_chats()
            .map(|c| c.chats().keys().copied().collect())
            .unwrap_or_default();
        for chat in known {
            self.gc_follow(chat, true).await;
        }
        self.gc_discover(true).await;
        self.pm_poll().await;
    }

    pub(super) fn gc_chats(&self) -> Option<&GroupChats<Keyring>> {
        self.gc.chats.as_ref()
    }

    /// Syncs `chat`, reports its window (if we are a member) and its unread messages.
    async fn gc_follow(&mut self, chat: ChatId, stored: bool) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        let result = chats.sync(&mut self.client, &chat).await;
        let me = chats.schedule().member_key();
        let member = chats
            .schedule()
            .members(&chat)
            .iter()
            .any(|(m, _)| *m == me);
        if let Err(e) = result {
            return self.gc_error(None, Some(chat), &e).await;
        }
        if !member {
            let reason = "you are not a member of this group chat (removed)".to_owned();
            return self.gc_send(GcDone::Closed { chat, reason }).await;
        }
        let lines = chats.read(&mut self.client, &chat).await;
        if chats.left_by_note(&chat) {
            return;
        }
        let name = chats
            .chats()
            .get(&chat)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        self.gc_send(GcDone::Opened { chat, name }).await;
        self.gc_members(chat).await;
        match lines {
            Ok(lines) => self.gc_lines(chat, lines, stored).await,
            Err(e) => self.gc_error(None, Some(chat), &e).await,
        }
    }

    async fn gc_lines(&self, chat: ChatId, lines: Vec<ChatLine>, stored: bool) {
        if !lines.is_empty() {
            self.gc_send(GcDone::Lines {
                chat,
                lines,
                stored,
            })
            .await;
        }
    }

    /// Follows the chats the index lists us in that we did not follow yet.
    async fn gc_discover(&mut self, stored: bool) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        match chats.discover(&mut self.client).await {
            Ok(new) => {
                for chat in new {
                    self.gc_follow(chat, stored).await;
                }
            }
            Err(e) => tracing::debug!(error = %e, "group chat discovery failed"),
        }
        self.gc_save().await;
    }

    /// Rewrites the account's chat list if a chat or an epoch changed since the last save.
    async fn gc_save(&mut self) {
        let (Some(chats), Some(lists)) = (self.gc.chats.as_ref(), self.lists.as_mut()) else {
            return;
        };
        let entries = chats.entries();
        let now: Vec<(ChatId, u64)> = entries.iter().map(|e| (e.chat_id, e.epoch)).collect();
        if now == self.gc.saved {
            return;
        }
        lists.chats = entries;
        let lists = lists.clone();
        match self.client.update_lists(&lists).await {
            Ok(()) => self.gc.saved = now,
            Err(e) => {
                let line = format!("group chat list not saved: {}", self.describe(&e));
                self.send(Done::Error(None, line)).await;
            }
        }
    }

    /// Every poll: new chats, then each chat's records and messages, then PMs.
    pub(super) async fn gc_poll(&mut self) {
        let Some(chats) = self.gc.chats.as_ref() else {
            return;
        };
        let known: Vec<ChatId> = chats.chats().keys().copied().collect();
        self.gc_discover(false).await;
        for chat in known {
            self.gc_refresh(chat).await;
            self.gc_members(chat).await;
        }
        self.gc_apply_leaves().await;
        self.gc_save().await;
        self.pm_poll().await;
    }

    /// Makes the leave records of the leave notes read, and renews our own void notes.
    async fn gc_apply_leaves(&mut self) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        let done = chats.apply_leaves(&mut self.client).await;
        if let Err(e) = chats.renew_leaves(&mut self.client).await {
            tracing::debug!(error = %e, "leave notes not renewed");
        }
        for (chat, name, epoch) in done {
            let text = format!("{name} left: the chat's key rotated to epoch {epoch}");
            self.gc_send(GcDone::Info { chat, text }).await;
        }
    }

    async fn gc_leave(&mut self, chat: ChatId) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        match chats.leave(&mut self.client, &chat).await {
            Ok(()) => {
                let reason = "you left this group chat; the others rotate its key".to_owned();
                self.gc_send(GcDone::Closed { chat, reason }).await;
                self.gc_save().await;
            }
            Err(e) => self.gc_error(None, Some(chat), &e).await,
        }
    }

    /// New records and messages of a followed chat.
    async fn gc_refresh(&mut self, chat: ChatId) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        let me = chats.schedule().member_key();
        let was = chats
            .schedule()
            .members(&chat)
            .iter()
            .any(|(m, _)| *m == me);
        if chats.sync(&mut self.client, &chat).await.is_err() {
            return;
        }
        let is = chats
            .schedule()
            .members(&chat)
            .iter()
            .any(|(m, _)| *m == me);
        let lines = chats.read(&mut self.client, &chat).await;
        if let Ok(lines) = lines {
            self.gc_lines(chat, lines, false).await;
        }
        if was && !is {
            let reason = "you were removed from this group chat".to_owned();
            self.gc_send(GcDone::Closed { chat, reason }).await;
        }
    }

    /// Reads, reports and acknowledges the PMs waiting in our mailbox.
    async fn pm_poll(&mut self) {
        let Ok(pms) = self.client.fetch_pms().await else {
            return;
        };
        if pms.is_empty() {
            return;
        }
        let ids: Vec<u64> = pms.iter().map(|p| p.id).collect();
        for pm in pms {
            let peer = pm.sender.clone();
            self.gc_send(GcDone::Pm {
                peer,
                author: pm.sender,
                text: pm.text,
                sent: pm.at,
                stored: true,
                nonce: Some(pm.nonce),
            })
            .await;
        }
        if let Err(e) = self.client.ack_pms(&ids).await {
            tracing::debug!(error = %e, "PM acknowledgement failed");
        }
    }

    pub(super) async fn gc_job(&mut self, job: GcJob) {
        if self.gc.chats.is_none() {
            let text = "log in first: /login NAME (or /register NAME)".to_owned();
            let at = job.at();
            return self
                .gc_send(GcDone::Error {
                    at,
                    chat: None,
                    text,
                })
                .await;
        }
        match job {
            GcJob::Create { at, name } => self.gc_create(at, &name).await,
            GcJob::Add { chat, user } => self.gc_rotate(chat, &user, Rotation::Add).await,
            GcJob::Remove { chat, user } => self.gc_rotate(chat, &user, Rotation::Remove).await,
            GcJob::Admin { chat, user } => self.gc_rotate(chat, &user, Rotation::Admin).await,
            GcJob::List { at } => self.gc_list(at).await,
            GcJob::Post { chat, text } => self.gc_post(chat, &text).await,
            GcJob::Pm { to, text } => self.pm_send(&to, &text).await,
            GcJob::Leave { chat } => self.gc_leave(chat).await,
            GcJob::Rename { chat, name } => self.gc_rename(chat, &name).await,
        }
    }

    async fn gc_create(&mut self, at: Option<GroupId>, name: &str) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        match chats.create(&mut self.client, name, &[]).await {
            Ok(chat) => {
                let text = format!(
                    "group chat {name} created (end-to-end encrypted, key epoch 0): \
                     /gc add USER here to add members"
                );
                let name = name.to_owned();
                self.gc_send(GcDone::Opened { chat, name }).await;
                self.gc_send(GcDone::Info { chat, text }).await;
                self.gc_members(chat).await;
                self.gc_save().await;
            }
            Err(e) => self.gc_error(at, None, &e).await,
        }
    }

    async fn gc_rotate(&mut self, chat: ChatId, user: &str, how: Rotation) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        let client = &mut self.client;
        let result = match how {
            Rotation::Add => chats.add(client, &chat, user).await,
            Rotation::Remove => chats.remove(client, &chat, user).await,
            Rotation::Admin => chats.make_admin(client, &chat, user).await,
        };
        match result {
            Ok(epoch) => {
                let what = match how {
                    Rotation::Add => "added",
                    Rotation::Remove => "removed",
                    Rotation::Admin => "made admin:",
                };
                let text = format!("{what} {user}: the chat's key rotated to epoch {epoch}");
                self.gc_send(GcDone::Info { chat, text }).await;
                self.gc_members(chat).await;
                self.gc_save().await;
            }
            Err(e) => self.gc_error(None, Some(chat), &e).await,
        }
    }

    async fn gc_list(&mut self, at: Option<GroupId>) {
        let Some(chats) = self.gc.chats.as_ref() else {
            return;
        };
        let mut lines = Vec::new();
        for (chat, info) in chats.chats() {
            let s = chats.schedule();
            let members = s.members(chat).len();
            let epoch = s.current_epoch(chat).unwrap_or(0);
            let name = if info.name.is_empty() {
                "?"
            } else {
                &info.name
            };
            lines.push(format!("{name} ({members} members, key epoch {epoch})"));
        }
        if lines.is_empty() {
            lines.push("no group chats yet: /gc create NAME".into());
        }
        for text in lines {
            self.send(Done::Info(at, text)).await;
        }
    }

    async fn gc_post(&mut self, chat: ChatId, text: &str) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        let posted = chats.post(&mut self.client, &chat, text).await;
        let lines = chats.read(&mut self.client, &chat).await;
        if let Err(e) = posted {
            return self.gc_error(None, Some(chat), &e).await;
        }
        if let Ok(lines) = lines {
            self.gc_lines(chat, lines, false).await;
        }
    }

    async fn pm_send(&mut self, to: &str, text: &str) {
        let me = self.client.username().unwrap_or_default().to_owned();
        match self.client.send_pm(to, text).await {
            Ok(_) => {
                self.gc_send(GcDone::Pm {
                    peer: to.to_ascii_lowercase(),
                    author: me,
                    text: Some(text.to_owned()),
                    sent: 0,
                    stored: false,
                    nonce: None,
                })
                .await;
            }
            Err(e) => {
                let text = format!("PM to {to} not sent: {}", self.describe(&e));
                self.gc_send(GcDone::Error {
                    at: None,
                    chat: None,
                    text,
                })
                .await;
            }
        }
    }
}
