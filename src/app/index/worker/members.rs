//! The member list and the name of a group-chat window.
//!
//! - Members: the head epoch's member keys (from the chat's signed records), named through
//!   the index (request kind 29, PROTOCOL.md §8.10) and sent to the window whenever the list
//!   changes, so the window shows who is in the chat and how many. Names are cached for the
//!   session (at most [`MAX_NAMES`]); a key the index does not name is shown by its first
//!   hex digits.
//! - Name: `/gc rename` (an admin's signed name, §8.12); a name taken from another admin's
//!   name message is sent to the window when it differs from the one it shows.

use std::collections::HashMap;

use super::Worker;
use crate::app::index::gc_window::{GcDone, GcMember};
use crate::index::client::ChatError;
use crate::index::groupkey::{ChatId, GroupKeySchedule, MemberKey, ScheduleError};

/// Most usernames kept (cleared when full, then asked again).
pub(super) const MAX_NAMES: usize = 4096;

/// What the windows were last told, and the names learned.
#[derive(Debug, Default)]
pub(super) struct MemberLists {
    /// Chat → (member key, admin) as last sent to its window.
    sent: HashMap<ChatId, Vec<(MemberKey, bool)>>,
    /// Account key → username.
    names: HashMap<MemberKey, String>,
    /// Chat → the name its window shows.
    titles: HashMap<ChatId, String>,
}

impl MemberLists {
    fn unchanged(&self, chat: &ChatId, members: &[(MemberKey, bool)]) -> bool {
        self.sent.get(chat).is_some_and(|m| m == members)
    }

    fn unnamed(&self, members: &[(MemberKey, bool)]) -> Vec<MemberKey> {
        (members.iter())
            .map(|m| m.0)
            .filter(|k| !self.names.contains_key(k))
            .collect()
    }

    fn learn(&mut self, keys: &[MemberKey], names: Vec<String>) {
        if self.names.len() + keys.len() > MAX_NAMES {
            self.names.clear();
        }
        self.names.extend(keys.iter().copied().zip(names));
    }

    fn name(&self, key: &MemberKey) -> String {
        match self.names.get(key) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => hex::encode(&key[..4]),
        }
    }

    fn sent(&mut self, chat: ChatId, members: Vec<(MemberKey, bool)>) {
        self.sent.insert(chat, members);
    }

    /// True if `name` is new for `chat`'s window (the first name seen is the one the window
    /// opened with).
    fn retitle(&mut self, chat: ChatId, name: &str) -> bool {
        match self.titles.insert(chat, name.to_owned()) {
            Some(old) => old != name,
            None => false,
        }
    }
}

impl Worker {
    /// Sends `chat`'s member list to its window if it changed since last sent. A failed
    /// lookup leaves it for the next poll.
    pub(super) async fn gc_members(&mut self, chat: ChatId) {
        let Some(chats) = self.gc_chats() else {
            return;
        };
        let name = chats.chats().get(&chat).map(|c| c.name.clone());
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            if self.members.retitle(chat, &name) {
                self.send(super::Done::Gc(GcDone::Named { chat, name }))
                    .await;
            }
        }
        let Some(chats) = self.gc_chats() else {
            return;
        };
        let keyring = chats.schedule();
        let members = keyring.members(&chat);
        let creator = keyring.head(&chat).map(|h| *h.creator());
        let me = keyring.member_key();
        if members.is_empty() || self.members.unchanged(&chat, &members) {
            return;
        }
        let unnamed = self.members.unnamed(&members);
        if !unnamed.is_empty() {
            match self.client.user_names(&unnamed).await {
                Ok(names) => self.members.learn(&unnamed, names),
                Err(e) => return tracing::debug!(error = %e, "member names failed"),
            }
        }
        let list = (members.iter())
            .map(|(key, admin)| GcMember {
                key: *key,
                name: self.members.name(key),
                creator: Some(*key) == creator,
                admin: *admin,
                me: *key == me,
            })
            .collect();
        self.members.sent(chat, members);
        self.send(super::Done::Gc(GcDone::Members {
            chat,
            members: list,
        }))
        .await;
    }
}

impl Worker {
    /// `/gc rename NAME`: an admin posts the chat's new signed name; the window is retitled.
    pub(super) async fn gc_rename(&mut self, chat: ChatId, name: &str) {
        let Some(chats) = self.gc.chats.as_mut() else {
            return;
        };
        let text = match chats.rename(&mut self.client, &chat, name).await {
            Ok(()) => {
                self.members.retitle(chat, name);
                let name = name.to_owned();
                self.send(super::Done::Gc(GcDone::Named { chat, name }))
                    .await;
                return;
            }
            Err(ChatError::Schedule(ScheduleError::NotAllowed)) => {
                "not allowed: only an admin of the chat may rename it".to_owned()
            }
            Err(ChatError::Client(e)) => self.describe(&e),
            Err(e) => e.to_string(),
        };
        let error = GcDone::Error {
            at: None,
            chat: Some(chat),
            text,
        };
        self.send(super::Done::Gc(error)).await;
    }
}
