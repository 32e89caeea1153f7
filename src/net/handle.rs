//! [`Handle`]: the cloneable, typed way to talk to one [`Driver`](super::Driver). Every
//! method sends one [`Command`] and waits for its answer.

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use super::DriverStats;
use super::command::{
    Command, DriverError, FactSet, GroupSnapshot, Outgoing, PersistSnapshot, Reply, Resume,
};
use crate::proto::{GroupId, GroupInfo, GroupSpec, JoinString, MemberInfo, Moderation};
use crate::wire::{PublicKey, Role, Status};

/// A cloneable way to talk to one driver. Every method waits for the driver's answer; all
/// fail with [`DriverError::Stopped`] once the driver has stopped.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
}

impl Handle {
    pub(super) fn new(commands: mpsc::Sender<Command>, local_addr: SocketAddr) -> Self {
        Self {
            commands,
            local_addr,
        }
    }

    /// The address the driver's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sends the command that `make` builds around a reply channel; waits for the answer.
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| DriverError::Stopped)?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    /// Founds a new group.
    pub async fn create_group(&self, spec: GroupSpec) -> Result<GroupId, DriverError> {
        Ok(self
            .ask(|reply| Command::CreateGroup { spec, reply })
            .await??)
    }

    /// Joins a group through the member in `join`; `Joined` arrives as an event later.
    pub async fn join_group(
        &self,
        join: JoinString,
        spec: GroupSpec,
    ) -> Result<GroupId, DriverError> {
        Ok(self
            .ask(|reply| Command::JoinGroup { join, spec, reply })
            .await??)
    }

    /// Restores a group after a restart: the stored marks, our numbers resumed past the
    /// stored ones, and the stored peers asked to let us in (PROTOCOL.md §6.9).
    pub async fn rejoin(&self, group: GroupId, resume: Resume) -> Result<(), DriverError> {
        Ok(self
            .ask(|reply| Command::Rejoin {
                group,
                resume,
                reply,
            })
            .await??)
    }

    /// Broadcasts a text message; returns its number.
    pub async fn send(&self, group: GroupId, message: Outgoing) -> Result<u32, DriverError> {
        Ok(self
            .ask(|reply| Command::Send {
                group,
                message,
                reply,
            })
            .await??)
    }

    /// Broadcasts a chat message; returns its number.
    pub async fn send_chat(
        &self,
        group: GroupId,
        text: impl Into<Vec<u8>>,
    ) -> Result<u32, DriverError> {
        self.send(group, Outgoing::Chat(text.into())).await
    }

    /// Broadcasts a /me action; returns its number.
    pub async fn send_action(
        &self,
        group: GroupId,
        text: impl Into<Vec<u8>>,
    ) -> Result<u32, DriverError> {
        self.send(group, Outgoing::Action(text.into())).await
    }

    /// Sets our nick in the group and broadcasts it; returns the message number.
    pub async fn set_name(
        &self,
        group: GroupId,
        name: impl Into<Vec<u8>>,
    ) -> Result<u32, DriverError> {
        self.send(group, Outgoing::Name(name.into())).await
    }

    /// Sends a private message to member `to`; returns its number.
    pub async fn send_direct(
        &self,
        group: GroupId,
        to: PublicKey,
        text: Vec<u8>,
    ) -> Result<u32, DriverError> {
        Ok(self
            .ask(|reply| Command::SendDirect {
                group,
                to,
                text,
                reply,
            })
            .await??)
    }

    /// Sets our presence and broadcasts it; returns the message number.
    pub async fn set_status(&self, group: GroupId, status: Status) -> Result<u32, DriverError> {
        Ok(self
            .ask(|reply| Command::SetStatus {
                group,
                status,
                reply,
            })
            .await??)
    }

    /// Sets the topic (empty clears it); returns the message number.
    pub async fn set_topic(&self, group: GroupId, topic: String) -> Result<u32, DriverError> {
        Ok(self
            .ask(|reply| Command::SetTopic {
                group,
                topic,
                reply,
            })
            .await??)
    }

    /// Sets the group's signed name (founder of a secure group); returns the message number.
    pub async fn set_group_name(&self, group: GroupId, name: String) -> Result<u32, DriverError> {
        Ok(self
            .ask(|reply| Command::SetGroupName { group, name, reply })
            .await??)
    }

    /// Sets how much history `group` keeps (PROTOCOL.md §6.13).
    pub async fn set_history_limits(
        &self,
        group: GroupId,
        limits: crate::proto::HistoryLimits,
    ) -> Result<(), DriverError> {
        Ok(self
            .ask(|reply| Command::SetHistoryLimits {
                group,
                limits,
                reply,
            })
            .await??)
    }

    /// Lets `key` into a private group; returns the message number.
    pub async fn invite(&self, group: GroupId, key: PublicKey) -> Result<u32, DriverError> {
        Ok(self
            .ask(|reply| Command::Invite { group, key, reply })
            .await??)
    }

    /// Signs, applies and broadcasts a moderation fact; returns the message number.
    pub async fn moderate(&self, group: GroupId, action: Moderation) -> Result<u32, DriverError> {
        Ok(self
            .ask(|reply| Command::Moderate {
                group,
                action,
                reply,
            })
            .await??)
    }

    /// Hands stored facts to a group; returns how many were taken.
    pub async fn restore_facts(
        &self,
        group: GroupId,
        facts: Vec<Vec<u8>>,
    ) -> Result<usize, DriverError> {
        self.ask(|reply| Command::RestoreFacts {
            group,
            facts,
            reply,
        })
        .await
    }

    /// Broadcasts quit to the group (with `reason` where the dialect carries one) and
    /// forgets it.
    pub async fn leave_group(&self, group: GroupId, reason: &str) -> Result<(), DriverError> {
        let reason = reason.as_bytes().to_vec();
        Ok(self
            .ask(|reply| Command::LeaveGroup {
                group,
                reason,
                reply,
            })
            .await??)
    }

    /// A summary of one group and its join string through this node; `None` if unknown.
    pub async fn group(&self, group: GroupId) -> Result<Option<GroupSnapshot>, DriverError> {
        self.ask(|reply| Command::GroupInfo { group, reply }).await
    }

    /// Every hosted group's summary.
    pub async fn groups(&self) -> Result<Vec<(GroupId, GroupInfo)>, DriverError> {
        self.ask(|reply| Command::Groups { reply }).await
    }

    /// The members of a group.
    pub async fn members(&self, group: GroupId) -> Result<Vec<MemberInfo>, DriverError> {
        self.ask(|reply| Command::Members { group, reply }).await
    }

    /// One member of a group, if known.
    pub async fn member(
        &self,
        group: GroupId,
        key: PublicKey,
    ) -> Result<Option<MemberInfo>, DriverError> {
        self.ask(|reply| Command::Member { group, key, reply })
            .await
    }

    /// The role of `key` in a group; `None` if there is no such group.
    pub async fn role(&self, group: GroupId, key: PublicKey) -> Result<Option<Role>, DriverError> {
        self.ask(|reply| Command::Role { group, key, reply }).await
    }

    /// The banned keys of a group.
    pub async fn bans(&self, group: GroupId) -> Result<Vec<PublicKey>, DriverError> {
        self.ask(|reply| Command::Bans { group, reply }).await
    }

    /// The chat id and the current signed facts of a group, to be stored.
    pub async fn facts(&self, group: GroupId) -> Result<FactSet, DriverError> {
        self.ask(|reply| Command::Facts { group, reply }).await
    }

    /// The state to store of each of `groups` (with its last store's history cursor), all
    /// at one instant.
    pub async fn persisted(
        &self,
        groups: Vec<(GroupId, (u32, u64))>,
    ) -> Result<PersistSnapshot, DriverError> {
        self.ask(|reply| Command::Persisted { groups, reply }).await
    }

    /// The driver's and the node's counters.
    pub async fn stats(&self) -> Result<DriverStats, DriverError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Leaves every group and stops the driver; returns the final counters.
    pub async fn quit(&self) -> Result<DriverStats, DriverError> {
        self.ask(|reply| Command::Quit { reply }).await
    }
}
