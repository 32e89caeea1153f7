//! The member list of a group-chat window: the head epoch's member keys (from the chat's
//! signed records), named through the index (request kind 29, PROTOCOL.md §8.10) and sent
//! to the window whenever the list changes, so the window shows who is in the chat and how
//! many. Names are cached for the session (at most [`MAX_NAMES`]); a key the index does not
//! name is shown by its first hex digits.

use std::collections::HashMap;

use super::Worker;
use crate::app::index::gc_window::{GcDone, GcMember};
use crate::index::groupkey::{ChatId, GroupKeySchedule, MemberKey};

/// Most usernames kept (cleared when full, then asked again).
pub(super) const MAX_NAMES: usize = 4096;

/// What the windows were last told, and the names learned.
#[derive(Debug, Default)]
pub(super) struct MemberLists {
    /// Chat → (member key, admin) as last sent to its window.
    sent: HashMap<ChatId, Vec<(MemberKey, bool)>>,
    /// Account key → username.
    names: HashMap<MemberKey, String>,
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
}

impl Worker {
    /// Sends `chat`'s member list to its window if it changed since last sent. A failed
    /// lookup leaves it for the next poll.
    pub(super) async fn gc_members(&mut self, chat: ChatId) {
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
