//! What the runtime needs from a front end ([`Front`]) and what it gives back: the input a
//! front end hands over ([`FrontInput`]), the periodic [`Report`] a headless node logs, and
//! [`Focus`], the "current group" of a front end without windows.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use super::command::Input;
use super::event::{AppEvent, ChatEvent};
use crate::net::DriverStats;
use crate::proto::{GroupId, GroupInfo};

/// One thing a person (or script) asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontInput {
    /// A parsed line, typed in the window of `group` (`None`: the status window).
    Line {
        /// The window's group.
        group: Option<GroupId>,
        /// What was typed.
        input: Input,
    },
    /// A line that could not be read or parsed: shown as one error line, nothing else.
    Bad {
        /// The window's group.
        group: Option<GroupId>,
        /// The one-line explanation.
        error: String,
    },
    /// A command that needs a password (`/register`, `/login`, `/passwd`) and the password
    /// read for it at a prompt (without echo, outside the input history).
    Password {
        /// The window's group.
        group: Option<GroupId>,
        /// The command.
        command: super::command::ChatCommand,
        /// What was typed at the prompt.
        password: super::command::Password,
    },
    /// Leave every group and exit (Ctrl-C, end of input), with an optional reason.
    Quit(Option<String>),
}

/// A front end: a thin view over the runtime. The runtime's loop calls it from one task.
pub trait Front {
    /// Waits for the next input. Must be cancel-safe: the runtime waits on it in a
    /// `select!` with the node's events and drops the future when something else comes first.
    /// A front end with no input returns a future that never resolves.
    fn next_input(&mut self) -> impl Future<Output = FrontInput>;

    /// Shows a batch of events (in order). An error ends the runtime's loop.
    fn show(&mut self, events: Vec<AppEvent>) -> anyhow::Result<()>;

    /// The socket is bound; called once, before any group is opened.
    fn started(&mut self, bound: SocketAddr, advertised: SocketAddr) {
        let _ = (bound, advertised);
    }

    /// How often [`Front::report`] is wanted (`None`: never).
    fn report_every(&self) -> Option<Duration> {
        None
    }

    /// The counters and group summaries, every [`Front::report_every`] and once at the end.
    fn report(&mut self, report: &Report) {
        let _ = report;
    }
}

/// The node's counters and a summary of each group, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The driver's and the node's counters.
    pub driver: DriverStats,
    /// Each hosted group's label and summary (empty in the final report).
    pub groups: Vec<(String, GroupInfo)>,
    /// True for the final report, after every group was left.
    pub last: bool,
}

/// The group a front end without windows (`--plain`) sends its input to: the one opened
/// last, or after it closes the one opened before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    open: Vec<GroupId>,
}

impl Focus {
    /// Follows `Opened` and `Closed` events.
    pub fn follow(&mut self, ev: &AppEvent) {
        let Some(group) = ev.group else {
            return;
        };
        match ev.event {
            ChatEvent::Opened { .. } => {
                self.open.retain(|g| *g != group);
                self.open.push(group);
            }
            ChatEvent::Closed { .. } => self.open.retain(|g| *g != group),
            _ => {}
        }
    }

    /// The current group, if any is open.
    pub fn current(&self) -> Option<GroupId> {
        self.open.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::event::LocalTime;

    fn ev(group: u32, event: ChatEvent) -> AppEvent {
        AppEvent {
            group: Some(GroupId(group)),
            event,
        }
    }

    fn opened() -> ChatEvent {
        ChatEvent::Opened {
            at: LocalTime::default(),
            label: "x".into(),
            join: "j".into(),
            nick: "n".into(),
            ready: true,
        }
    }

    fn closed() -> ChatEvent {
        ChatEvent::Closed {
            at: LocalTime::default(),
            reason: "left".into(),
        }
    }

    #[test]
    fn focus_is_the_last_opened_group_still_open() {
        let mut f = Focus::default();
        assert_eq!(f.current(), None);
        f.follow(&ev(1, opened()));
        f.follow(&ev(2, opened()));
        assert_eq!(f.current(), Some(GroupId(2)));
        f.follow(&ev(2, closed()));
        assert_eq!(f.current(), Some(GroupId(1)));
        f.follow(&ev(1, closed()));
        assert_eq!(f.current(), None);
    }
}
