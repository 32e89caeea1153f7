//! Roles, bans and the other signed facts of secure groups, as the runtime sees them: the
//! moderation commands (`/kick /ban /unban /mod /unmod /silence /unsilence /locktopic
//! /voice /peerlimit`), the events they cause, and storing the facts so bans survive
//! restarts and the group becoming empty (PROTOCOL.md §6.8).

use anyhow::anyhow;

use super::command::{ChatCommand, VoiceLevel as CmdVoice};
use super::event::{ChatEvent, Role as ViewRole};
use super::runtime::Runtime;
use crate::net::FactSet;
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

impl Runtime {
    /// Carries out a moderation command in `group`.
    pub(super) async fn moderate(&mut self, group: GroupId, c: ChatCommand) -> anyhow::Result<()> {
        if let Some(done) = self.moderate_account(group, &c).await {
            return done;
        }
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
            .moderate(group, action)
            .await
            .map_err(|e| anyhow!("{what}: {e}"))?;
        self.members_dirty.insert(group);
        Ok(())
    }

    /// In an index room, `/kick NAME` and `/ban NAME` with an account name reach every
    /// member with that nick: each device of the account is a member of its own (PROTOCOL.md
    /// §8.13) and all show the account name. `None` when this is no such command in a room,
    /// or the name is one member or none (the ordinary path then answers).
    async fn moderate_account(
        &mut self,
        group: GroupId,
        c: &ChatCommand,
    ) -> Option<anyhow::Result<()>> {
        let (name, ban) = match c {
            ChatCommand::Kick { target, .. } => (target, false),
            ChatCommand::Ban { target, .. } => (target, true),
            _ => return None,
        };
        self.room_of(Some(group))?;
        let members = self.handle.members(group).await.ok()?;
        let keys: Vec<PublicKey> = members
            .iter()
            .filter(|m| m.name == name.as_bytes())
            .map(|m| m.key)
            .collect();
        if keys.len() < 2 {
            return None;
        }
        for key in keys {
            let action = if ban {
                Moderation::Ban(key)
            } else {
                Moderation::Kick(key)
            };
            if let Err(e) = self.handle.moderate(group, action).await {
                return Some(Err(anyhow!("{}: {e}", if ban { "ban" } else { "kick" })));
            }
        }
        self.members_dirty.insert(group);
        Some(Ok(()))
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
        let bans = self.handle.bans(group).await?;
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
        let group = ev.group();
        let at = self.now();
        self.members_dirty.insert(group);
        let out = match ev {
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
                let ev = ChatEvent::Ban {
                    at,
                    peer: self.peer(group, &peer),
                    by: self.peer(group, &by),
                    reason: String::new(),
                };
                self.push(Some(group), ev);
                return self.evicted(group, &peer, true);
            }
            Event::Kicked { group, peer, by } => {
                let ev = ChatEvent::Kick {
                    at,
                    peer: self.peer(group, &peer),
                    by: self.peer(group, &by),
                    reason: String::new(),
                };
                self.push(Some(group), ev);
                return self.evicted(group, &peer, false);
            }
            Event::FactsChanged { group } => {
                self.facts_dirty.insert(group);
                return;
            }
            other => return self.fact_notice(other),
        };
        self.push(Some(group), out);
    }

    /// The group-wide facts (unban, topic lock, voice, peer limit) as notices.
    fn fact_notice(&mut self, ev: Event) {
        let name =
            |rt: &Self, group, key: &PublicKey| rt.peer(group, key).display_name().to_owned();
        let (group, text) = match ev {
            Event::Unbanned { group, peer, by } => {
                let text = format!(
                    "{} was unbanned by {}",
                    name(self, group, &peer),
                    name(self, group, &by)
                );
                (group, text)
            }
            Event::TopicLocked { group, locked, by } => {
                let state = if locked { "locked" } else { "unlocked" };
                let by = name(self, group, &by);
                (group, format!("the topic was {state} by {by}"))
            }
            Event::VoiceChanged { group, level, by } => {
                let who = match level {
                    VoiceLevel::All => "everyone",
                    VoiceLevel::Moderators => "moderators",
                    VoiceLevel::Founder => "the founder",
                };
                let by = name(self, group, &by);
                (group, format!("{by} set voice: {who} may speak"))
            }
            Event::PeerLimitChanged { group, limit, by } => {
                let by = name(self, group, &by);
                (group, format!("{by} set the peer limit to {limit}"))
            }
            _ => return,
        };
        self.info(Some(group), text);
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
        let how = if banned { "banned" } else { "kicked" };
        let text = format!("you were {how} from {}", j.label);
        self.info(Some(group), text.clone());
        self.close(group, &text, banned);
    }

    /// Writes the facts of every group whose facts changed.
    pub(super) async fn store_facts(&mut self) {
        for group in std::mem::take(&mut self.facts_dirty) {
            let Ok(FactSet {
                chat_id: Some(chat_id),
                facts,
            }) = self.handle.facts(group).await
            else {
                continue;
            };
            let pairs: Vec<(&[u8], &[u8])> = facts
                .iter()
                .filter(|f| f.len() >= FACT_KEY_LEN)
                .map(|f| (&f[..FACT_KEY_LEN], &f[..]))
                .collect();
            if let Err(e) = self.store.put_facts(&chat_id, &pairs) {
                self.error(Some(group), format!("cannot store moderation facts: {e}"));
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
            self.handle.restore_facts(group, facts).await?;
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
