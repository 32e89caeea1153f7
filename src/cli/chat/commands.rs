//! What each line of chat input does: text is sent to the active group, `/commands` act on
//! the session. Every failure becomes one error line for the person, never a crash.

use anyhow::{Context, anyhow};

use super::session::Session;
use crate::app::command::{ChatCommand, Input};
use crate::app::event::{ChatEvent, Peer};
use crate::net::Outgoing;
use crate::proto::{Dialect, GroupId, JoinString, MemberInfo, Privacy};
use crate::wire::{PublicKey, Status};

/// What the front end does after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// Leave every group and exit.
    Quit,
}

impl Session {
    /// Carries out one parsed line; errors become error lines.
    pub(crate) async fn execute(&mut self, input: Input) -> Flow {
        let result = match input {
            Input::Empty => Ok(Flow::Continue),
            Input::Text(text) => self.say(Outgoing::Chat(text.into_bytes())).await,
            Input::Command(c) => self.command(c).await,
        };
        result.unwrap_or_else(|e| {
            self.error(format!("{e:#}"));
            Flow::Continue
        })
    }

    async fn command(&mut self, c: ChatCommand) -> anyhow::Result<Flow> {
        match c {
            ChatCommand::Me(text) => return self.say(Outgoing::Action(text.into_bytes())).await,
            ChatCommand::Nick(nick) => self.nick(nick).await?,
            ChatCommand::Status(p) => {
                let group = self.active_group()?;
                let status: Status = p.into();
                self.handle
                    .call(move |n, now| n.set_status(now, group, status))
                    .await??;
                self.info(format!("you are now {}", p.as_str()));
            }
            ChatCommand::Topic(None) => self.show_topic().await?,
            ChatCommand::Topic(Some(topic)) => {
                let group = self.active_group()?;
                self.handle
                    .call(move |n, now| n.set_topic(now, group, &topic))
                    .await??;
            }
            ChatCommand::Names => self.names().await?,
            ChatCommand::Whois(target) => self.whois(&target).await?,
            ChatCommand::ChatId => self.chat_id()?,
            ChatCommand::Join(join) => {
                let join: JoinString = join.parse().map_err(|e| anyhow!("bad join string: {e}"))?;
                let nick = self.current_nick();
                self.join(&join, &nick).await?;
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
                let nick = self.current_nick();
                self.create(&name, dialect, privacy, &nick).await?;
            }
            ChatCommand::Part(reason) => self.part(reason).await?,
            ChatCommand::Quit(_) => {
                self.quitting = true;
                return Ok(Flow::Quit);
            }
            ChatCommand::Invite(key) => {
                let group = self.active_group()?;
                let key: PublicKey = key
                    .parse()
                    .map_err(|_| anyhow!("usage: /invite KEY (64 hex digits)"))?;
                self.handle
                    .call(move |n, now| n.invite(now, group, key))
                    .await??;
                self.info(format!("invited {key}"));
            }
            ChatCommand::Help(topic) => self.help(topic.as_deref()),
            ChatCommand::Msg { target, text } => self.private(&target, text).await?,
            other => self.moderate(other).await?,
        }
        Ok(Flow::Continue)
    }

    /// `/help` in `--plain` mode (the terminal view answers it itself): one INFO line per
    /// command, or the one asked about.
    fn help(&mut self, topic: Option<&str>) {
        match topic.map(crate::app::command::help_for) {
            Some(Some(line)) => self.info(line),
            Some(None) => self.error("no such command; /help lists them"),
            None => {
                for line in crate::app::command::help_lines() {
                    self.info(*line);
                }
            }
        }
    }

    /// Sends text to the active group and echoes it (as the other members will see it).
    async fn say(&mut self, message: Outgoing) -> anyhow::Result<Flow> {
        let group = self.active_group()?;
        let action = matches!(message, Outgoing::Action(_));
        let text = match &message {
            Outgoing::Chat(t) | Outgoing::Action(t) | Outgoing::Name(t) => {
                String::from_utf8_lossy(t).into_owned()
            }
        };
        let number = self.handle.send(group, message).await?;
        self.spent(group, number);
        let at = self.now();
        let from = self.own_peer(group);
        self.push(if action {
            ChatEvent::Action { at, from, text }
        } else {
            ChatEvent::Message { at, from, text }
        });
        Ok(Flow::Continue)
    }

    async fn nick(&mut self, nick: String) -> anyhow::Result<()> {
        let group = self.active_group()?;
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
        let record = j.record;
        let peer = Peer::new(j.own().to_string(), nick.clone());
        self.store.set_nick(record, &nick)?;
        self.push(ChatEvent::Nick {
            at,
            peer,
            old,
            new: nick,
        });
        Ok(())
    }

    /// `/msg`: sends `text` to one member only and echoes `-> nick: text`.
    async fn private(&mut self, target: &str, text: String) -> anyhow::Result<()> {
        let group = self.active_group()?;
        let m = self.find_member(group, target).await?;
        let (to, bytes) = (m.key, text.clone().into_bytes());
        self.handle
            .call(move |n, now| n.send_direct(now, group, to, &bytes))
            .await??;
        self.info(format!("-> {}: {text}", self.label_of(group, &m)));
        Ok(())
    }

    async fn show_topic(&mut self) -> anyhow::Result<()> {
        let group = self.active_group()?;
        let info = self.handle.call(move |n, _| n.group_info(group)).await?;
        match info.and_then(|i| i.topic) {
            Some(t) if !t.is_empty() => self.info(format!("topic: {t}")),
            _ => self.info("no topic is set"),
        }
        Ok(())
    }

    async fn names(&mut self) -> anyhow::Result<()> {
        let group = self.active_group()?;
        let members = self.members(group).await?;
        let mut names: Vec<String> = members.iter().map(|m| self.label_of(group, m)).collect();
        names.push(format!("{} (you)", self.own_peer(group).display_name()));
        names.sort();
        self.info(format!("{} members: {}", names.len(), names.join(", ")));
        Ok(())
    }

    async fn whois(&mut self, target: &str) -> anyhow::Result<()> {
        let group = self.active_group()?;
        let m = self.find_member(group, target).await?;
        let nick = String::from_utf8_lossy(&m.name).into_owned();
        let status = match m.status {
            Status::Online => "online",
            Status::Away => "away",
            Status::Busy => "busy",
        };
        let table = if m.in_table { ", in our DHT table" } else { "" };
        self.info(format!("{nick} key={} status={status}{table}", m.key));
        Ok(())
    }

    fn chat_id(&mut self) -> anyhow::Result<()> {
        let group = self.active_group()?;
        let join = self
            .groups
            .get(&group)
            .map(|j| j.join)
            .context("no such group")?;
        let id = join
            .chat_id
            .map(hex::encode)
            .unwrap_or_else(|| "none (legacy group)".into());
        self.info(format!("chat id {id}"));
        self.info(format!("join string {join}"));
        Ok(())
    }

    /// Leaves the active group for good: quit is broadcast and the group is forgotten by
    /// the store (its bans are kept).
    async fn part(&mut self, reason: Option<String>) -> anyhow::Result<()> {
        let group = self.active_group()?;
        self.handle.leave_group(group).await?;
        if let Some(j) = self.groups.remove(&group) {
            self.store.remove_group(j.record)?;
            let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
            self.info(format!("left {}{why}", j.label));
        }
        self.active = self.groups.keys().next_back().copied();
        Ok(())
    }

    /// The members of `group` as the node knows them.
    async fn members(&self, group: GroupId) -> anyhow::Result<Vec<MemberInfo>> {
        Ok(self.handle.call(move |n, _| n.members(group)).await?)
    }

    /// A member by nick (exact), key, or key prefix of at least 4 hex digits.
    pub(super) async fn find_member(
        &self,
        group: GroupId,
        target: &str,
    ) -> anyhow::Result<MemberInfo> {
        let members = self.members(group).await?;
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
        if nick.is_empty() {
            self.peer(group, &m.key).display_name().to_owned()
        } else {
            nick.into_owned()
        }
    }

    fn own_peer(&self, group: GroupId) -> Peer {
        match self.groups.get(&group) {
            Some(j) => Peer::new(j.own().to_string(), j.nick.clone()),
            None => Peer::new(String::new(), String::new()),
        }
    }

    fn current_nick(&self) -> String {
        self.active
            .and_then(|g| self.groups.get(&g))
            .map(|j| j.nick.clone())
            .unwrap_or_default()
    }

    pub(super) fn active_group(&self) -> anyhow::Result<GroupId> {
        self.active
            .filter(|g| self.groups.contains_key(g))
            .ok_or_else(|| anyhow!("not in a group: /join JOIN_STRING or /create NAME"))
    }
}
