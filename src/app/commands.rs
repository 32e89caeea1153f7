//! What each input does: text goes to the window's group, `/commands` act on it. Every
//! failure becomes one error line in the window it was typed in, never a crash.
//!
//! Text and `/me` longer than the group's message limit are sent in numbered parts
//! ([`split_text`]); nothing is sent (or echoed) before a member answered our join.

use anyhow::{Context, anyhow};

use super::command::{ChatCommand, Input};
use super::event::{ChatEvent, Peer, Role};
use super::moderation::view_role;
use super::runtime::{Flow, Runtime};
use super::text::{check_nick, split_text};
use crate::net::Outgoing;
use crate::proto::{Dialect, GroupId, JoinString, MemberInfo, Privacy};
use crate::wire::{MAX_BROADCAST_PAYLOAD, MAX_SIGNED_PAYLOAD, PublicKey};

impl Runtime {
    /// Carries out one input typed in the window of `group` (`None`: the status window).
    pub async fn input(&mut self, group: Option<GroupId>, input: Input) -> Flow {
        let Some(input) = self.gc_input(group, input).await else {
            return Flow::Continue;
        };
        let input = match self.room_of(group) {
            Some(room) => match self.room_input(room, input).await {
                Some(other) => other,
                None => return Flow::Continue,
            },
            None => input,
        };
        let result = match input {
            Input::Empty => Ok(Flow::Continue),
            Input::Text(text) => self.say(group, text, false).await.map(|()| Flow::Continue),
            Input::Command(c) => self.command(group, c).await,
        };
        result.unwrap_or_else(|e| {
            self.error(group, format!("{e:#}"));
            Flow::Continue
        })
    }

    async fn command(&mut self, at: Option<GroupId>, c: ChatCommand) -> anyhow::Result<Flow> {
        match c {
            ChatCommand::Quit(reason) => return Ok(Flow::Quit(reason)),
            ChatCommand::Me(text) => self.say(at, text, true).await?,
            ChatCommand::Nick(nick) => self.nick(at, &nick).await?,
            ChatCommand::Join(join) => {
                let join: JoinString = join.parse().map_err(|e| anyhow!("bad join string: {e}"))?;
                self.carry_nick(at);
                self.join(&join).await?;
            }
            ChatCommand::Create {
                name,
                legacy,
                private,
            } => {
                let dialect = if legacy {
                    Dialect::Legacy
                } else {
                    Dialect::Secure
                };
                let privacy = if private {
                    Privacy::Private
                } else {
                    Privacy::Public
                };
                self.carry_nick(at);
                self.create(&name, dialect, privacy).await?;
            }
            ChatCommand::Help(topic) => self.help(at, topic.as_deref()),
            c @ (ChatCommand::Register(_)
            | ChatCommand::Login(_)
            | ChatCommand::Logout
            | ChatCommand::Passwd
            | ChatCommand::Rooms
            | ChatCommand::Room(_)
            | ChatCommand::AdminSay { .. }) => return self.index_command(at, c).await,
            c @ (ChatCommand::Gc(_) | ChatCommand::Pm { .. }) => {
                return self.gc_command(at, c).await;
            }
            c => self.group_command(self.in_group(at)?, c).await?,
        }
        Ok(Flow::Continue)
    }

    /// The commands that need a group.
    async fn group_command(&mut self, group: GroupId, c: ChatCommand) -> anyhow::Result<()> {
        match c {
            ChatCommand::Status(p) => {
                self.handle.set_status(group, p.into()).await?;
                let peer = self.own_peer(group);
                if let Some(j) = self.groups.get_mut(&group) {
                    j.status = p;
                }
                self.members_dirty.insert(group);
                let at = self.now();
                let status = p;
                self.push(Some(group), ChatEvent::Status { at, peer, status });
            }
            ChatCommand::Topic(None) => self.show_topic(group).await?,
            ChatCommand::Topic(Some(topic)) => {
                self.handle.set_topic(group, topic).await?;
            }
            ChatCommand::History(keep) => self.history_command(group, keep).await?,
            ChatCommand::Names => self.names(group).await?,
            ChatCommand::Whois(target) => self.whois(group, &target).await?,
            ChatCommand::ChatId => self.chat_id(group)?,
            ChatCommand::Part(reason) => self.part(group, reason).await?,
            ChatCommand::Invite(None) => self.show_invite(group)?,
            ChatCommand::Invite(Some(key)) => {
                let key: PublicKey = key
                    .parse()
                    .map_err(|_| anyhow!("usage: /invite [KEY] (64 hex digits)"))?;
                self.handle.invite(group, key).await?;
                self.info(Some(group), format!("invited {key}"));
            }
            ChatCommand::Msg { target, text } => self.private(group, &target, text).await?,
            other => self.moderate(group, other).await?,
        }
        Ok(())
    }

    /// `/help` (the terminal view answers it itself): one INFO line per command, or the one
    /// asked about.
    fn help(&mut self, at: Option<GroupId>, topic: Option<&str>) {
        match topic.map(super::command::help_for) {
            Some(Some(line)) => self.info(at, line),
            Some(None) => self.error(at, "no such command; /help lists them"),
            None => {
                for line in super::command::help_lines() {
                    self.info(at, *line);
                }
            }
        }
    }

    /// Sends text (or an action) to the group, in numbered parts if it is longer than the
    /// group's limit, and echoes each part as the other members will see it.
    async fn say(&mut self, at: Option<GroupId>, text: String, action: bool) -> anyhow::Result<()> {
        let group = self.in_group(at)?;
        let j = self.joined(group)?;
        if !j.ready {
            anyhow::bail!(
                "not sent: still joining {} (no member has answered yet)",
                j.label
            );
        }
        let limit = match j.join.dialect {
            Dialect::Secure => MAX_SIGNED_PAYLOAD,
            Dialect::Legacy => MAX_BROADCAST_PAYLOAD,
        };
        for part in split_text(&text, limit) {
            let message = match action {
                true => Outgoing::Action(part.clone().into_bytes()),
                false => Outgoing::Chat(part.clone().into_bytes()),
            };
            let number = self.handle.send(group, message).await?;
            self.spent(group, number);
            let (at, from, text) = (self.now(), self.own_peer(group), part);
            self.push(
                Some(group),
                match action {
                    true => ChatEvent::Action { at, from, text },
                    false => ChatEvent::Message { at, from, text },
                },
            );
        }
        Ok(())
    }

    /// `/nick`: in a group, changes our nick there (broadcast, stored); either way it is
    /// the nick the next `/join` or `/create` uses.
    async fn nick(&mut self, at: Option<GroupId>, nick: &str) -> anyhow::Result<()> {
        let nick = check_nick(nick)?.to_owned();
        self.nick = nick.clone();
        let Some(group) = at.filter(|g| self.groups.contains_key(g)) else {
            self.info(None, format!("your nick in new groups is {nick}"));
            return Ok(());
        };
        let number = self
            .handle
            .set_name(group, nick.clone().into_bytes())
            .await?;
        self.spent(group, number);
        let at = self.now();
        let Some(j) = self.groups.get_mut(&group) else {
            return Ok(());
        };
        let old = std::mem::replace(&mut j.nick, nick.clone());
        j.nicks.insert(j.own(), nick.clone());
        let (record, peer) = (j.record, Peer::new(j.own().to_string(), nick.clone()));
        self.store.set_nick(record, &nick)?;
        self.members_dirty.insert(group);
        let ev = ChatEvent::Nick {
            at,
            peer,
            old,
            new: nick,
        };
        self.push(Some(group), ev);
        Ok(())
    }

    /// The nick of the window's group becomes the one the next group gets.
    fn carry_nick(&mut self, at: Option<GroupId>) {
        let nick = at.and_then(|g| self.groups.get(&g)).map(|j| &j.nick);
        if let Some(nick) = nick.filter(|n| !n.is_empty()) {
            self.nick = nick.clone();
        }
    }

    /// `/msg`: sends `text` to one member only (in parts if long) and echoes `-> nick: text`.
    async fn private(&mut self, group: GroupId, target: &str, text: String) -> anyhow::Result<()> {
        let m = self.find_member(group, target).await?;
        let label = self.label_of(group, &m);
        for part in split_text(&text, MAX_SIGNED_PAYLOAD) {
            let bytes = part.clone().into_bytes();
            self.handle.send_direct(group, m.key, bytes).await?;
            self.info(Some(group), format!("-> {label}: {part}"));
        }
        Ok(())
    }

    async fn show_topic(&mut self, group: GroupId) -> anyhow::Result<()> {
        let info = self.handle.group(group).await?.map(|s| s.info);
        match info.and_then(|i| i.topic) {
            Some(t) if !t.is_empty() => self.info(Some(group), format!("topic: {t}")),
            _ => self.info(Some(group), "no topic is set"),
        }
        Ok(())
    }

    /// `/names`: every member with its role sigil, founders first; us marked `(you)`.
    async fn names(&mut self, group: GroupId) -> anyhow::Result<()> {
        let j = self.joined(group)?;
        let (own, ready) = (j.own(), j.ready);
        let members = match ready {
            true => self.handle.members(group).await?,
            false => Vec::new(), // the contact asked is no known member yet
        };
        let own_role = self
            .handle
            .role(group, own)
            .await?
            .map_or(Role::User, view_role);
        let mut names: Vec<(Role, String)> = members
            .iter()
            .map(|m| (view_role(m.role), self.label_of(group, m)))
            .collect();
        let me = format!("{} (you)", self.own_peer(group).display_name());
        names.push((own_role, me));
        names.sort();
        let list: Vec<String> = names
            .iter()
            .map(|(role, name)| format!("{}{name}", role.sigil()))
            .collect();
        let text = format!("{} members: {}", list.len(), list.join(", "));
        self.info(Some(group), text);
        Ok(())
    }

    /// `/whois`: a member's nick, key, role and presence.
    async fn whois(&mut self, group: GroupId, target: &str) -> anyhow::Result<()> {
        let m = self.find_member(group, target).await?;
        let nick = String::from_utf8_lossy(&m.name).into_owned();
        let status = super::event::Presence::from(m.status).as_str();
        let role = view_role(m.role).as_str();
        let table = if m.in_table { ", in our DHT table" } else { "" };
        let text = format!("{nick} key={} role={role} status={status}{table}", m.key);
        self.info(Some(group), text);
        Ok(())
    }

    fn chat_id(&mut self, group: GroupId) -> anyhow::Result<()> {
        let join = self.joined(group)?.join;
        let id = join
            .chat_id
            .map(hex::encode)
            .unwrap_or_else(|| "none (legacy group)".into());
        self.info(Some(group), format!("chat id {id}"));
        self.info(Some(group), format!("join string {join}"));
        Ok(())
    }

    /// `/invite` with no key: the join string through us, on a line of its own.
    fn show_invite(&mut self, group: GroupId) -> anyhow::Result<()> {
        let join = self.joined(group)?.join.to_string();
        let at = self.now();
        self.push(Some(group), ChatEvent::Invite { at, join });
        Ok(())
    }

    /// `/part`: leaves the group for good: quit is broadcast (with the reason where the
    /// dialect carries one), the store forgets the group (its bans are kept), the window
    /// gets `Closed`.
    async fn part(&mut self, group: GroupId, reason: Option<String>) -> anyhow::Result<()> {
        let reason = reason.unwrap_or_default();
        self.handle.leave_group(group, &reason).await?;
        let label = self.joined(group)?.label.clone();
        let why = match reason.is_empty() {
            true => String::new(),
            false => format!(" ({reason})"),
        };
        self.info(Some(group), format!("left {label}{why}"));
        self.close(group, &reason, true);
        Ok(())
    }

    /// A member by nick (exact), key, or key prefix of at least 4 hex digits.
    pub(super) async fn find_member(
        &self,
        group: GroupId,
        target: &str,
    ) -> anyhow::Result<MemberInfo> {
        let members = self.handle.members(group).await?;
        let lower = target.to_ascii_lowercase();
        let found: Vec<&MemberInfo> = members
            .iter()
            .filter(|m| {
                m.name == target.as_bytes()
                    || (lower.len() >= 4 && m.key.to_string().starts_with(&lower))
            })
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => anyhow::bail!("no member called {target:?} (try /names)"),
            _ => anyhow::bail!(
                "{target:?} matches {} members; use more of the key",
                found.len()
            ),
        }
    }

    fn label_of(&self, group: GroupId, m: &MemberInfo) -> String {
        let nick = String::from_utf8_lossy(&m.name);
        match nick.is_empty() {
            true => self.peer(group, &m.key).display_name().to_owned(),
            false => nick.into_owned(),
        }
    }

    fn own_peer(&self, group: GroupId) -> Peer {
        match self.groups.get(&group) {
            Some(j) => Peer::new(j.own().to_string(), j.nick.clone()),
            None => Peer::default(),
        }
    }

    fn joined(&self, group: GroupId) -> anyhow::Result<&super::groups::Joined> {
        self.groups.get(&group).context("no such group")
    }

    /// The group a command typed in the window of `at` is about.
    fn in_group(&self, at: Option<GroupId>) -> anyhow::Result<GroupId> {
        match at {
            Some(g) if self.groups.contains_key(&g) => Ok(g),
            Some(_) if self.room_of(at).is_some() => {
                anyhow::bail!("an index room: type text to post, /part to leave")
            }
            Some(_) => anyhow::bail!("this window's group is closed: /join or /create another"),
            None => anyhow::bail!("not in a group: /join JOIN_STRING or /create NAME"),
        }
    }
}
