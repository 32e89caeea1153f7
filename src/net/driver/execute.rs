//! How the driver carries out one [`Command`]: one `Node` call or query each, with the
//! instant the command was taken.

use std::ops::ControlFlow;
use std::time::Instant;

use tokio::sync::oneshot;

use super::Driver;
use crate::net::DriverStats;
use crate::net::command::{
    Command, FactSet, GroupSnapshot, Outgoing, PersistSnapshot, PersistState,
};
use crate::proto::{Dialect, GroupId, GroupInfo, SendError};

impl Driver {
    /// Runs one command. `Break` carries the reply of a quit command.
    pub(super) fn execute(
        &mut self,
        at: Instant,
        command: Command,
    ) -> ControlFlow<Option<oneshot::Sender<DriverStats>>> {
        match command {
            Command::Quit { reply } => return ControlFlow::Break(Some(reply)),
            Command::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
            c @ (Command::GroupInfo { .. }
            | Command::Groups { .. }
            | Command::Members { .. }
            | Command::Member { .. }
            | Command::Role { .. }
            | Command::Bans { .. }
            | Command::Facts { .. }
            | Command::Persisted { .. }) => self.query(at, c),
            c => self.act(at, c),
        }
        ControlFlow::Continue(())
    }

    /// Commands that change the node.
    fn act(&mut self, at: Instant, command: Command) {
        let node = &mut self.node;
        match command {
            Command::CreateGroup { spec, reply } => {
                let _ = reply.send(node.create_group(at, &spec));
            }
            Command::JoinGroup { join, spec, reply } => {
                let _ = reply.send(node.join_group(at, &join, &spec));
            }
            Command::Rejoin {
                group,
                resume,
                reply,
            } => {
                let done = node
                    .restore_marks(group, &resume.marks)
                    .and_then(|()| node.resume_numbers(group, resume.broadcast_after))
                    .and_then(|()| node.resume_direct_numbers(group, resume.direct_after))
                    .and_then(|()| node.restore_history(at, group, &resume.history).map(|_| ()))
                    .and_then(|()| node.restore_admissions(group, &resume.admissions))
                    .and_then(|()| node.restore_shown(group, &resume.shown))
                    .and_then(|()| node.add_contacts(at, group, &resume.contacts));
                let _ = reply.send(done);
            }
            Command::Send {
                group,
                message,
                reply,
            } => {
                let _ = reply.send(self.send(at, group, &message));
            }
            Command::SendDirect {
                group,
                to,
                text,
                reply,
            } => {
                let _ = reply.send(node.send_direct(at, group, to, &text));
            }
            Command::SetStatus {
                group,
                status,
                reply,
            } => {
                let _ = reply.send(node.set_status(at, group, status));
            }
            Command::SetTopic {
                group,
                topic,
                reply,
            } => {
                let _ = reply.send(node.set_topic(at, group, &topic));
            }
            Command::SetGroupName { group, name, reply } => {
                let _ = reply.send(node.set_group_name(at, group, &name));
            }
            Command::Invite { group, key, reply } => {
                let _ = reply.send(node.invite(at, group, key));
            }
            Command::SetHistoryLimits {
                group,
                limits,
                reply,
            } => {
                let _ = reply.send(node.set_history_limits(at, group, limits));
            }
            Command::Moderate {
                group,
                action,
                reply,
            } => {
                let _ = reply.send(node.moderate(at, group, action));
            }
            Command::RestoreFacts {
                group,
                facts,
                reply,
            } => {
                let _ = reply.send(node.restore_facts(at, group, &facts));
            }
            Command::LeaveGroup {
                group,
                reason,
                reply,
            } => {
                let _ = reply.send(node.leave_group_with_reason(at, group, &reason));
            }
            other => debug_assert!(false, "not an action: {other:?}"),
        }
    }

    /// Commands that only read the node.
    fn query(&self, at: Instant, command: Command) {
        let node = &self.node;
        match command {
            Command::GroupInfo { group, reply } => {
                let _ = reply.send(self.snapshot(group));
            }
            Command::Groups { reply } => {
                let all: Vec<(GroupId, GroupInfo)> = node
                    .groups()
                    .filter_map(|g| node.group_info(g).map(|i| (g, i)))
                    .collect();
                let _ = reply.send(all);
            }
            Command::Members { group, reply } => {
                let _ = reply.send(node.members(group));
            }
            Command::Member { group, key, reply } => {
                // One member only: the node keeps members in a map, but lists them whole.
                let found = node.members(group).into_iter().find(|m| m.key == key);
                let _ = reply.send(found);
            }
            Command::Role { group, key, reply } => {
                let _ = reply.send(node.role(group, &key));
            }
            Command::Bans { group, reply } => {
                let _ = reply.send(node.bans(group));
            }
            Command::Facts { group, reply } => {
                let chat_id = node
                    .group_info(group)
                    .filter(|i| i.dialect == Dialect::Secure)
                    .and_then(|i| i.chat_id);
                let facts = node.facts(group);
                let _ = reply.send(FactSet { chat_id, facts });
            }
            Command::Persisted { groups, reply } => {
                let states = (groups.into_iter())
                    .map(|(group, history_after)| {
                        node.last_number(group).map(|last_number| PersistState {
                            table: node.table(group),
                            last_number,
                            last_direct: node.last_direct_number(group).unwrap_or(0),
                            marks: node.marks(group).unwrap_or_default(),
                            history: (node.history_changes(group, history_after, at))
                                .unwrap_or_default(),
                        })
                    })
                    .collect();
                let events_before = self.events_made;
                let _ = reply.send(PersistSnapshot {
                    states,
                    events_before,
                });
            }
            other => debug_assert!(false, "not a query: {other:?}"),
        }
    }

    fn send(&mut self, at: Instant, group: GroupId, message: &Outgoing) -> Result<u32, SendError> {
        match message {
            Outgoing::Chat(text) => self.node.send_chat(at, group, text),
            Outgoing::Action(text) => self.node.send_action(at, group, text),
            Outgoing::Name(name) => self.node.set_name(at, group, name),
        }
    }

    fn snapshot(&self, group: GroupId) -> Option<GroupSnapshot> {
        Some(GroupSnapshot {
            info: self.node.group_info(group)?,
            join: self.node.join_string(group, self.local_addr)?,
        })
    }
}
