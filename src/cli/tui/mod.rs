//! The interactive terminal chat (`dhtchat chat`) as a pure model, renderer and key handler.
//!
//! [`ChatView`] holds everything on screen: irssi-style windows (window 1 is the status
//! window, each group gets the next number when it opens), each with its own bounded
//! scrollback ([`MAX_LINES`]), scroll position, title, topic and member sidebar; the input line
//! with its history is shared. The runtime feeds it [`AppEvent`]s with [`ChatView::apply`],
//! which routes each to its group's window; keys with [`ChatView::handle_key`] and pastes with
//! [`ChatView::handle_paste`], which return the [`UiAction`]s the runtime must carry out (a
//! submitted line goes with the active window's group). It is rendered with [`draw`] on every
//! change. Nothing here does IO or reads a clock, so ratatui's `TestBackend` can check whole
//! screens (`tests.rs`, `tests_windows.rs`); [`TerminalGuard`] is the one piece that touches
//! the real terminal (raw mode, bracketed paste, OSC 52 clipboard).
//!
//! Handled locally, never returned as actions: `/help`, `/win`, `/wc` (and `/close` of a window
//! whose group is gone), scrolling, input editing and history, window switching, Ctrl-B
//! (toggle the sidebar). A bad command line shows a one-line error and returns no action.
//! Lines the view writes itself (errors, help) carry the time of the latest event it was
//! given. [`KEY_BINDINGS`] lists every key, for `/help` and `dhtchat chat --help`.

mod draw;
mod input;
mod keys;
mod lines;
mod terminal;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_index;
#[cfg(test)]
mod tests_windows;
mod window;

use std::cell::Cell;
use std::collections::HashSet;

pub use draw::{SIDEBAR_MIN_TERMINAL_WIDTH, SIDEBAR_WIDTH, draw};
pub use input::{HISTORY_LEN, InputLine, MAX_INPUT_BYTES};
pub use keys::{KEY_BINDINGS, UiAction};
pub use lines::{nick_colour, sanitise};
pub use terminal::TerminalGuard;
pub use window::{Activity, MAX_LINES, MAX_MEMBERS, Membership};

use crate::app::command::ChatCommand;
use crate::app::event::{AppEvent, ChatEvent, GroupId, LocalTime, MemberView};
use window::Window;

/// The most windows open at once (the status window included); events of further groups go
/// to the status window.
pub const MAX_WINDOWS: usize = 100;

/// The whole chat screen's state.
#[derive(Debug)]
pub struct ChatView {
    /// Window 1 (index 0) is the status window and is never closed.
    windows: Vec<Window>,
    /// Index of the window shown.
    active: usize,
    /// Groups whose windows the person closed: their late events go to the status window.
    closed: HashSet<GroupId>,
    input: InputLine,
    show_sidebar: bool,
    /// The time of the latest event, for lines the view writes itself.
    now: LocalTime,
    /// Message-pane height at the last draw: the PgUp/PgDn step.
    page: Cell<usize>,
    /// Text to put on the clipboard (an `Invite`), taken by the terminal loop.
    clipboard: Option<String>,
    /// The person asked for a group (`/join`, `/create`): its window is shown when it opens.
    awaiting_open: bool,
    /// A command waiting for its password: the next line is read masked, outside history.
    prompt: Option<(Option<GroupId>, ChatCommand)>,
}

impl Default for ChatView {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatView {
    /// A view with only the status window.
    pub fn new() -> Self {
        Self {
            windows: vec![Window::status()],
            active: 0,
            closed: HashSet::new(),
            input: InputLine::default(),
            show_sidebar: true,
            now: LocalTime::default(),
            page: Cell::new(10),
            clipboard: None,
            awaiting_open: false,
            prompt: None,
        }
    }

    /// Shows one event in its group's window (`group: None`: the status window). A group's
    /// window opens on `Opened`, or on the first event of a group not seen before; it is
    /// shown at once when it opens after the person's `/join` or `/create`, or while the
    /// status window is shown (start-up). An `Invite` also queues its join string for the
    /// clipboard ([`Self::take_clipboard`]).
    pub fn apply(&mut self, ev: AppEvent) {
        let AppEvent { group, event } = ev;
        if let Some(at) = event_time(&event) {
            self.now = at;
        }
        if let ChatEvent::Invite { join, .. } = &event {
            self.clipboard = Some(join.clone());
        }
        let idx = self.window_for(group, &event);
        if matches!(event, ChatEvent::Opened { .. })
            && idx > 0
            && (self.awaiting_open || self.active == 0)
        {
            self.awaiting_open = false;
            self.switch_to(idx + 1);
        }
        let gone = matches!(event, ChatEvent::Closed { .. });
        self.windows[idx].apply(event, idx == self.active);
        if gone && self.windows[idx].close_when_gone {
            self.remove_window(idx);
        }
    }

    /// The index of `group`'s window, opened if needed.
    fn window_for(&mut self, group: Option<GroupId>, ev: &ChatEvent) -> usize {
        let Some(id) = group else { return 0 };
        if let Some(i) = self.windows.iter().position(|w| w.group == Some(id)) {
            return i;
        }
        let opening = matches!(ev, ChatEvent::Opened { .. });
        if (!opening && self.closed.contains(&id)) || self.windows.len() >= MAX_WINDOWS {
            return 0;
        }
        self.closed.remove(&id);
        self.windows
            .push(Window::group(id, format!("group {}", id.0)));
        self.windows.len() - 1
    }

    /// Closes window `idx` (never the status window); the one before it becomes active if it
    /// was, and later windows move down one number, as in irssi.
    fn remove_window(&mut self, idx: usize) {
        if idx == 0 || idx >= self.windows.len() {
            return;
        }
        let w = self.windows.remove(idx);
        if let Some(id) = w.group {
            self.closed.insert(id);
        }
        if self.active >= idx {
            self.active -= 1;
            self.windows[self.active].activity = Activity::None;
        }
    }

    /// Shows window `n` (1-based, as numbered on screen); `false` when there is none.
    pub fn switch_to(&mut self, n: usize) -> bool {
        match n.checked_sub(1).filter(|&i| i < self.windows.len()) {
            Some(i) => {
                self.active = i;
                self.windows[i].activity = Activity::None;
                true
            }
            None => false,
        }
    }

    /// Shows the next window (`forward`) or the previous one, wrapping around.
    pub fn cycle(&mut self, forward: bool) {
        let n = self.windows.len();
        let next = match forward {
            true => (self.active + 1) % n,
            false => (self.active + n - 1) % n,
        };
        self.switch_to(next + 1);
    }

    /// The number of the window shown (1 = status).
    pub fn active_window(&self) -> usize {
        self.active + 1
    }

    /// The group of the window shown (`None` for the status window).
    pub fn active_group(&self) -> Option<GroupId> {
        self.win().group
    }

    /// How many windows are open, the status window included.
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    /// Each window's number, title and activity, in order.
    pub fn window_list(&self) -> Vec<(usize, String, Activity)> {
        self.windows
            .iter()
            .enumerate()
            .map(|(i, w)| (i + 1, sanitise(&w.label), w.activity))
            .collect()
    }

    /// The active window's membership state.
    pub fn membership(&self) -> &Membership {
        &self.win().membership
    }

    /// The join string of the latest `Invite`, to copy to the clipboard (OSC 52); taking it
    /// clears it.
    pub fn take_clipboard(&mut self) -> Option<String> {
        self.clipboard.take()
    }

    fn win(&self) -> &Window {
        &self.windows[self.active]
    }

    fn win_mut(&mut self) -> &mut Window {
        &mut self.windows[self.active]
    }

    /// Shows a one-line error (a refused command) in the active window.
    pub fn push_error(&mut self, text: &str) {
        let line = lines::error(self.now, text);
        self.win_mut().push(line.into());
    }

    /// Shows a one-line notice in the active window.
    pub fn push_info(&mut self, text: &str) {
        let now = self.now;
        self.win_mut().push_info(now, text);
    }

    /// Scrolls the active window `n` messages back in time.
    pub fn scroll_up(&mut self, n: usize) {
        self.win_mut().scroll_up(n);
    }

    /// Scrolls the active window `n` messages towards the newest.
    pub fn scroll_down(&mut self, n: usize) {
        self.win_mut().scroll_down(n);
    }

    /// Jumps back to the newest messages.
    pub fn to_live(&mut self) {
        self.scroll_down(usize::MAX);
    }

    /// How many messages the active window keeps.
    pub fn line_count(&self) -> usize {
        self.win().lines.len()
    }

    /// Messages scrolled back from the newest in the active window (0 = live).
    pub fn scroll(&self) -> usize {
        self.win().scroll
    }

    /// The active window's member list, sorted by role then nick.
    pub fn members(&self) -> &[MemberView] {
        &self.win().members
    }

    /// The active window's topic.
    pub fn topic(&self) -> &str {
        &self.win().topic
    }

    /// The input line.
    pub fn input(&self) -> &InputLine {
        &self.input
    }

    /// True while the input line is a password prompt (shown as `*`).
    pub fn masked(&self) -> bool {
        self.prompt.is_some()
    }

    /// The input line as drawn: its text, or one `*` per character at a password prompt.
    pub fn shown_input(&self) -> std::borrow::Cow<'_, str> {
        match self.masked() {
            true => "*".repeat(self.input.text().chars().count()).into(),
            false => self.input.text().into(),
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
        | E::History { at, .. }
        | E::HistoryEnd { at, .. }
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
        | E::Invite { at, .. }
        | E::RoomMessage { at, .. }
        | E::IndexChat { at, .. } => Some(*at),
        E::Members(_) => None,
    }
}
