//! The interactive terminal chat (`dhtchat chat`) as a pure model, renderer and key handler.
//!
//! [`ChatView`] holds everything on screen: a bounded scrollback of rendered lines
//! ([`MAX_LINES`]), the topic, the member sidebar, the input line with history. The runtime
//! feeds it [`ChatEvent`]s with [`ChatView::apply`], feeds it keys with
//! [`ChatView::handle_key`] (which returns a [`UiAction`] when the runtime must act), and
//! renders it with [`draw`] on every change. Nothing here does IO or reads a clock, so
//! ratatui's `TestBackend` can check whole screens (`tests.rs`); [`TerminalGuard`] is the one
//! piece that touches the real terminal.
//!
//! Handled locally, never returned as actions: `/help` (printed from
//! [`crate::app::command::help_lines`]), scrolling, input editing and history, Ctrl-B (toggle
//! the sidebar). A bad command line shows a one-line error and returns no action. Lines the
//! view writes itself (errors, help) carry the time of the latest event it was given.

mod draw;
mod input;
mod keys;
mod lines;
mod terminal;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::VecDeque;

use ratatui::text::Line;

pub use draw::{SIDEBAR_MIN_TERMINAL_WIDTH, SIDEBAR_WIDTH, draw};
pub use input::{HISTORY_LEN, InputLine};
pub use keys::UiAction;
pub use lines::{nick_colour, sanitise};
pub use terminal::TerminalGuard;

use crate::app::event::{ChatEvent, LocalTime, MemberView, Peer, Presence, Role};

/// Scrollback length, in messages; older lines are dropped.
pub const MAX_LINES: usize = 5_000;
/// The largest member list kept for the sidebar.
pub const MAX_MEMBERS: usize = 10_000;

/// The whole chat screen's state.
#[derive(Debug)]
pub struct ChatView {
    lines: VecDeque<Line<'static>>,
    /// Messages scrolled back from the newest (0 = live).
    scroll: usize,
    /// Lines that arrived while scrolled back.
    unseen: usize,
    members: Vec<MemberView>,
    topic: String,
    group: String,
    self_key: String,
    input: InputLine,
    show_sidebar: bool,
    /// The time of the latest event, for lines the view writes itself.
    now: LocalTime,
    /// Message-pane height at the last draw: the PgUp/PgDn step.
    page: Cell<usize>,
}

impl Default for ChatView {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatView {
    /// An empty view, not yet in a group.
    pub fn new() -> Self {
        Self {
            lines: VecDeque::new(),
            scroll: 0,
            unseen: 0,
            members: Vec::new(),
            topic: String::new(),
            group: String::new(),
            self_key: String::new(),
            input: InputLine::default(),
            show_sidebar: true,
            now: LocalTime::default(),
            page: Cell::new(10),
        }
    }

    /// Shows one event: adds its lines and updates the topic and member list.
    pub fn apply(&mut self, ev: ChatEvent) {
        if let Some(at) = event_time(&ev) {
            self.now = at;
        }
        for line in lines::event_lines(&ev) {
            self.push_line(line);
        }
        self.update_state(ev);
    }

    fn update_state(&mut self, ev: ChatEvent) {
        use ChatEvent as E;
        match ev {
            E::Ready { pk, group, .. } => {
                (self.self_key, self.group) = (pk, group);
                (self.members, self.topic) = (Vec::new(), String::new());
            }
            E::Join { peer, .. } => self.upsert(peer, |_| {}),
            E::Part { peer, .. } | E::Kick { peer, .. } | E::Ban { peer, .. } => {
                self.members.retain(|m| m.peer.key_hex != peer.key_hex);
            }
            E::Nick { peer, new, .. } => self.upsert(peer, |m| m.peer.nick = new),
            E::Status { peer, status, .. } => self.upsert(peer, |m| m.status = status),
            E::Role { peer, role, .. } => self.upsert(peer, |m| m.role = role),
            E::Topic { topic, .. } => self.topic = topic,
            E::Members(members) => self.members = members,
            _ => return,
        }
        self.sort_members();
    }

    /// Updates (or adds) a member, then applies `change`.
    fn upsert(&mut self, peer: Peer, change: impl FnOnce(&mut MemberView)) {
        let pos = self
            .members
            .iter()
            .position(|m| m.peer.key_hex == peer.key_hex);
        let idx = match pos {
            Some(i) => i,
            None if self.members.len() >= MAX_MEMBERS => return,
            None => {
                let is_self = peer.key_hex == self.self_key;
                self.members.push(MemberView {
                    peer,
                    is_self,
                    ..MemberView::default()
                });
                self.members.len() - 1
            }
        };
        change(&mut self.members[idx]);
    }

    fn sort_members(&mut self) {
        self.members.truncate(MAX_MEMBERS);
        self.members.sort_by(|a, b| {
            (a.role, a.peer.nick.to_lowercase(), &a.peer.key_hex).cmp(&(
                b.role,
                b.peer.nick.to_lowercase(),
                &b.peer.key_hex,
            ))
        });
    }

    /// Appends a line, dropping the oldest past [`MAX_LINES`]; a scrolled-back view stays on
    /// the lines it shows.
    pub fn push_line(&mut self, line: Line<'static>) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
        if self.scroll > 0 {
            self.scroll = (self.scroll + 1).min(self.lines.len() - 1);
            self.unseen += 1;
        }
    }

    /// Shows a one-line error (a refused command).
    pub fn push_error(&mut self, text: &str) {
        self.push_line(lines::error(self.now, text));
    }

    /// Shows a one-line notice.
    pub fn push_info(&mut self, text: &str) {
        self.push_line(lines::info(self.now, text));
    }

    /// Scrolls `n` messages back in time.
    pub fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.lines.len().saturating_sub(1));
    }

    /// Scrolls `n` messages towards the newest.
    pub fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
        if self.scroll == 0 {
            self.unseen = 0;
        }
    }

    /// Jumps back to the newest messages.
    pub fn to_live(&mut self) {
        self.scroll_down(usize::MAX);
    }

    /// How many messages are kept.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Messages scrolled back from the newest (0 = live).
    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// The member list, sorted by role then nick.
    pub fn members(&self) -> &[MemberView] {
        &self.members
    }

    /// The current topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The input line.
    pub fn input(&self) -> &InputLine {
        &self.input
    }

    /// Our own row in the member list, if known.
    fn me(&self) -> Option<&MemberView> {
        self.members
            .iter()
            .find(|m| m.is_self || m.peer.key_hex == self.self_key)
    }

    /// Our nick and presence for the status line.
    fn self_summary(&self) -> (String, Presence, Role) {
        match self.me() {
            Some(m) => (m.peer.display_name().to_owned(), m.status, m.role),
            None => (
                lines::short(&self.self_key).to_owned(),
                Presence::Online,
                Role::User,
            ),
        }
    }
}

/// The time an event carries, if any.
fn event_time(ev: &ChatEvent) -> Option<LocalTime> {
    use ChatEvent as E;
    match ev {
        E::Ready { at, .. }
        | E::Message { at, .. }
        | E::Action { at, .. }
        | E::Private { at, .. }
        | E::Join { at, .. }
        | E::Part { at, .. }
        | E::Kick { at, .. }
        | E::Ban { at, .. }
        | E::Nick { at, .. }
        | E::Topic { at, .. }
        | E::Status { at, .. }
        | E::Role { at, .. }
        | E::Info { at, .. }
        | E::Error { at, .. }
        | E::Opened { at, .. }
        | E::Closed { at, .. }
        | E::GroupName { at, .. }
        | E::Invite { at, .. } => Some(*at),
        E::Members(_) => None,
    }
}
