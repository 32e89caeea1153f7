//! What a front end asks of a [`Driver`](super::Driver): [`Command`]s over a bounded channel,
//! each with a oneshot reply, and the [`Handle`] that wraps them in async methods.

use std::io;
use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use super::DriverStats;
use crate::proto::{GroupError, GroupId, GroupInfo, GroupSpec, JoinString, Node, SendError};
use std::time::Instant;

/// Where a command's answer goes. A front end that does not care drops the receiver.
type Reply<T> = oneshot::Sender<T>;

/// An own broadcast that carries text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A chat message (id 64).
    Chat(Vec<u8>),
    /// A /me action (id 63).
    Action(Vec<u8>),
    /// A new nick for us (id 48), remembered by the node and re-broadcast periodically.
    Name(Vec<u8>),
}

/// A call on the driver's [`Node`], run inside the driver task (the node's one owner) with the
/// current time; how front ends reach the node API that has no [`Command`] of its own.
pub struct NodeCall(pub(super) Box<CallFn>);

/// The closure inside a [`NodeCall`].
type CallFn = dyn FnOnce(&mut Node, Instant) + Send;

impl std::fmt::Debug for NodeCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCall")
    }
}

/// One request to the driver task. Each becomes one `Node` call (or a query of its state).
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Found a new group.
    CreateGroup {
        /// How to set it up.
        spec: GroupSpec,
        /// The new group's id.
        reply: Reply<Result<GroupId, GroupError>>,
    },
    /// Join a group through one of its members.
    JoinGroup {
        /// The group and the member to ask.
        join: JoinString,
        /// Our identity and nick in it.
        spec: GroupSpec,
        /// The group's local id (joining goes on in the background; watch for `Joined`).
        reply: Reply<Result<GroupId, GroupError>>,
    },
    /// Broadcast a chat message, an action or a nick change.
    Send {
        /// The group.
        group: GroupId,
        /// What to send.
        message: Outgoing,
        /// The message number spent.
        reply: Reply<Result<u32, SendError>>,
    },
    /// Run a call on the node (its answer travels through the call's own channel).
    Call(NodeCall),
    /// Broadcast quit and forget the group.
    LeaveGroup {
        /// The group.
        group: GroupId,
        /// Done (the quit datagrams are sent before the next input is read).
        reply: Reply<Result<(), SendError>>,
    },
    /// A summary of one group and the join string that points at this node.
    GroupInfo {
        /// The group.
        group: GroupId,
        /// `None` if there is no such group.
        reply: Reply<Option<GroupSnapshot>>,
    },
    /// The counters so far.
    Stats {
        /// The counters.
        reply: Reply<DriverStats>,
    },
    /// Leave every group (quit broadcasts are sent) and stop the driver.
    Quit {
        /// The final counters, sent once the quit datagrams are out.
        reply: Reply<DriverStats>,
    },
}

/// One group as seen from outside the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The node's summary of the group.
    pub info: GroupInfo,
    /// The join string through this node, with the socket's local address (which is only
    /// useful to others if the socket is bound to a specific IP, not `0.0.0.0` or `[::]`).
    pub join: JoinString,
}

/// Why a driver could not be started or a command not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Binding the socket (or reading the OS random source) failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The node's configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::proto::ConfigError),
    /// The driver task has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The node refused to create or join the group.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// The node refused to send.
    #[error(transparent)]
    Send(#[from] SendError),
}

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

    /// Runs `f` on the node inside the driver task and returns its result. Datagrams and
    /// events that `f` causes are sent and delivered as for any command. `f` must be quick:
    /// the driver reads no datagram while it runs.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DriverError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Node, Instant) -> T + Send + 'static,
    {
        self.ask(|reply| {
            Command::Call(NodeCall(Box::new(move |node, now| {
                let _ = reply.send(f(node, now));
            })))
        })
        .await
    }

    /// Broadcasts quit to the group and forgets it.
    pub async fn leave_group(&self, group: GroupId) -> Result<(), DriverError> {
        Ok(self
            .ask(|reply| Command::LeaveGroup { group, reply })
            .await??)
    }

    /// A summary of one group and its join string through this node; `None` if unknown.
    pub async fn group(&self, group: GroupId) -> Result<Option<GroupSnapshot>, DriverError> {
        self.ask(|reply| Command::GroupInfo { group, reply }).await
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
