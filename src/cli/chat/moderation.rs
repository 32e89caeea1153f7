//! Roles, bans and the other signed facts of secure groups, as the chat runtime sees them:
//! the moderation commands (`/kick /ban /unban /mod /unmod /silence /unsilence /locktopic
//! /voice /peerlimit`), the events they cause, and storing the facts so bans survive
//! restarts and the group becoming empty (PROTOCOL.md §6.8).

use anyhow::anyhow;

use super::session::Session;
use crate::app::command::{ChatCommand, VoiceLevel as CmdVoice};
use crate::app::event::{ChatEvent, Role as ViewRole};
use crate::proto::{Event, GroupId, Moderation};
use crate::wire::{PublicKey, Role, VoiceLevel};

/// Bytes of a stored fact's key: its kind and subject (a newer version replaces it).
const FACT_KEY_LEN: usize = 33;

/// The front end's role for a protocol role.
pub(super) fn view_role(role: Role) -> ViewRole {
    match role {
        Role::Founder => ViewRole::Founder,
        Role::Moderator => ViewRole::Moderator,
        Role::User => ViewRole::User,
        Role::Observer => ViewRole::Observer,
    }
}

impl Session {
    /// Carries out a moderation command in the active group.
    pub(super) async fn moderate(&mut self, c: ChatCommand) -> anyhow::Result<()> {
        let group = self.active_group()?;
        let (action, what) = match c {
            ChatCommand::Kick { target, .. } => {
                (Moderation::Kick(self.target(group, &target).await?), "kick")
            }
            ChatCommand::Ban { target, .. } => {
                (Moderation::Ban(self.target(group, &target).await?), "ban")
            }
            ChatCommand::Unban(target) => (
                Moderation::Unban(self.banned(group, &target).await?),
                "unban",
            ),
            ChatCommand::Mod(t) => (
                Moderation::SetRole(self.target(group, &t).await?, Role::Moderator),
                "mod",
            ),
            ChatCommand::Unmod(t) | ChatCommand::Unsilence(t) => (
                Moderation::SetRole(self.target(group, &t).await?, Role::User),
                "role change",
            ),
            ChatCommand::Silence(t) => (
                Moderation::SetRole(self.target(group, &t).await?, Role::Observer),
                "silence",
            ),
            ChatCommand::LockTopic(on) => (Moderation::LockTopic(on), "topic lock"),
            ChatCommand::Voice(v) => (Moderation::Voice(voice(v)), "voice"),
            ChatCommand::PeerLimit(n) => (Moderation::PeerLimit(n), "peer limit"),
            other => anyhow::bail!("{other:?} is not a moderation command"),
        };
        self.handle
            .call(move |n, now| n.moderate(now, group, action))
            .await?
            .map_err(|e| anyhow!("{what}: {e}"))?;
        self.members_dirty = true;
        Ok(())
    }

    /// A member named by nick or key.
    async fn target(&self, group: GroupId, name: &str) -> anyhow::Result<PublicKey> {
        if let Ok(key) = name.parse::<PublicKey>() {
            return Ok(key);
        }
        Ok(self.find_member(group, name).await?.key)
    }

    /// A banned key named by key or key prefix (a banned key is no member any more).
    async fn banned(&self, group: GroupId, name: &str) -> anyhow::Result<PublicKey> {
        let bans = self.handle.call(move |n, _| n.bans(group)).await?;
        let lower = name.to_ascii_lowercase();
        let found: Vec<PublicKey> = bans
            .into_iter()
            .filter(|k| lower.len() >= 4 && k.to_string().starts_with(&lower))
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => anyhow::bail!("no banned key starts with {name:?}"),
            _ => anyhow::bail!(
                "{name:?} matches {} banned keys; use more of the key",
                found.len()
            ),
        }
    }

    /// Turns an authority event into front-end events.
    pub(super) fn on_authority_event(&mut self, ev: Event) {
        let at = self.now();
        self.members_dirty = true;
        let ev = match ev {
            Event::RoleChanged {
                group,
                peer,
                role,
                by,
            } => ChatEvent::Role {
                at,
                peer: self.peer(group, &peer),
                role: view_role(role),
                by: self.peer(group, &by),
            },
            Event::Banned { group, peer, by } => {
                self.evicted(group, &peer, true);
                ChatEvent::Ban {
                    at,
                    peer: self.peer(group, &peer),
                    by: self.peer(group, &by),
                    reason: String::new(),
                }
            }
            Event::Kicked { group, peer, by } => {
                self.evicted(group, &peer, false);
                ChatEvent::Kick {
                    at,
                    peer: self.peer(group, &peer),
                    by: self.peer(group, &by),
                    reason: String::new(),
                }
            }
            Event::Unbanned { group, peer, by } => {
                let (p, b) = (self.peer(group, &peer), self.peer(group, &by));
                return self.info(format!(
                    "{} was unbanned by {}",
                    p.display_name(),
                    b.display_name()
                ));
            }
            Event::TopicLocked { group, locked, by } => {
                let state = if locked { "locked" } else { "unlocked" };
                let by = self.peer(group, &by);
                return self.info(format!("the topic was {state} by {}", by.display_name()));
            }
            Event::VoiceChanged { group, level, by } => {
                let who = match level {
                    VoiceLevel::All => "everyone",
                    VoiceLevel::Moderators => "moderators",
                    VoiceLevel::Founder => "the founder",
                };
                let by = self.peer(group, &by);
                return self.info(format!("{} set voice: {who} may speak", by.display_name()));
            }
            Event::PeerLimitChanged { group, limit, by } => {
                let by = self.peer(group, &by);
                return self.info(format!(
                    "{} set the peer limit to {limit}",
                    by.display_name()
                ));
            }
            Event::FactsChanged { group } => return self.mark_facts(group),
            _ => return,
        };
        self.push(ev);
    }

    /// We were kicked or banned: the node dropped the group. A ban also forgets it in the
    /// store (its facts stay); after a kick a restart rejoins.
    fn evicted(&mut self, group: GroupId, peer: &PublicKey, banned: bool) {
        let Some(j) = self.groups.get(&group) else {
            return;
        };
        if j.own() != *peer {
            return;
        }
        let record = j.record;
        let label = j.label.clone();
        self.groups.remove(&group);
        if banned {
            let _ = self.store.remove_group(record);
        }
        self.active = self.groups.keys().next_back().copied();
        let how = if banned { "banned" } else { "kicked" };
        self.info(format!("you were {how} from {label}"));
    }

    /// Marks a group's facts for storing (the driver call happens in `store_facts`).
    fn mark_facts(&mut self, group: GroupId) {
        if !self.facts_dirty.contains(&group) {
            self.facts_dirty.push(group);
        }
    }

    /// Writes the facts of every group whose facts changed.
    pub(super) async fn store_facts(&mut self) {
        for group in std::mem::take(&mut self.facts_dirty) {
            let Ok(Some(info)) = self.handle.call(move |n, _| n.group_info(group)).await else {
                continue;
            };
            let Some(chat_id) = info.chat_id else {
                continue;
            };
            let Ok(facts) = self.handle.call(move |n, _| n.facts(group)).await else {
                continue;
            };
            let pairs: Vec<(&[u8], &[u8])> = facts
                .iter()
                .filter(|f| f.len() >= FACT_KEY_LEN)
                .map(|f| (&f[..FACT_KEY_LEN], &f[..]))
                .collect();
            if let Err(e) = self.store.put_facts(&chat_id, &pairs) {
                self.error(format!("cannot store moderation facts: {e}"));
            }
        }
    }

    /// Hands a group the facts stored for its chat id (bans survive restarts).
    pub(super) async fn restore_facts(
        &mut self,
        group: GroupId,
        chat_id: Option<[u8; 32]>,
    ) -> anyhow::Result<()> {
        let Some(chat_id) = chat_id else {
            return Ok(());
        };
        let facts: Vec<Vec<u8>> = self
            .store
            .facts(&chat_id)?
            .into_iter()
            .map(|(_, blob)| blob)
            .collect();
        if !facts.is_empty() {
            self.handle
                .call(move |n, now| n.restore_facts(now, group, &facts))
                .await?;
        }
        Ok(())
    }
}

fn voice(v: CmdVoice) -> VoiceLevel {
    match v {
        CmdVoice::All => VoiceLevel::All,
        CmdVoice::Moderators => VoiceLevel::Moderators,
        CmdVoice::Founder => VoiceLevel::Founder,
    }
}
