//! One window of the chat: the status window or one group's. Each has its own scrollback and
//! scroll position, title (the group's name), topic, member list, the state of our membership,
//! and the activity seen since the person last looked at it.

use std::collections::VecDeque;

use ratatui::text::Line;

use super::lines;
use crate::app::event::{ChatEvent, GroupId, LocalTime, MemberView, Peer, Presence, Role};

/// Scrollback length of one window, in messages; older lines are dropped.
pub const MAX_LINES: usize = 5_000;
/// The largest member list kept for one window's sidebar.
pub const MAX_MEMBERS: usize = 10_000;

/// One scrollback line. A `wide` line (a join string) is drawn across the whole width, with no
/// sidebar beside it, so a mouse selection of its row picks up nothing else.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) line: Line<'static>,
    pub(super) wide: bool,
}

impl From<Line<'static>> for Entry {
    fn from(line: Line<'static>) -> Self {
        Self { line, wide: false }
    }
}

/// Our membership of a window's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// Not a group's window (the status window): no sidebar.
    None,
    /// Joining: no member answered yet.
    Joining,
    /// In the group.
    Joined,
    /// The group is gone for us (parted, kicked, banned, failed join), with the reason.
    Gone(String),
}

/// What happened in a window the person is not looking at, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Activity {
    /// Nothing new (system lines do not count).
    #[default]
    None,
    /// New messages or actions.
    Messages,
    /// Our nick was mentioned, or a private message arrived.
    Highlight,
}

/// One window's state.
#[derive(Debug)]
pub(super) struct Window {
    /// The group shown here; `None` for the status window.
    pub(super) group: Option<GroupId>,
    /// The title: the group's name (or label), `status` for the status window.
    pub(super) label: String,
    pub(super) topic: String,
    pub(super) members: Vec<MemberView>,
    /// Our key in the group (hex), once known.
    pub(super) self_key: String,
    /// Our nick in the group as last announced by the runtime.
    pub(super) nick: String,
    pub(super) membership: Membership,
    pub(super) lines: VecDeque<Entry>,
    /// Messages scrolled back from the newest (0 = live).
    pub(super) scroll: usize,
    /// Lines that arrived while scrolled back.
    pub(super) unseen: usize,
    pub(super) activity: Activity,
    /// The join string last shown, so `Opened` and `Ready` do not print it twice.
    last_join: String,
    /// `/wc` on a live group: remove the window once the runtime says the group is gone.
    pub(super) close_when_gone: bool,
}

impl Window {
    /// The status window (window 1).
    pub(super) fn status() -> Self {
        Self::new(None, "status".into())
    }

    /// A group's window, before anything is known but its label.
    pub(super) fn group(id: GroupId, label: String) -> Self {
        let mut w = Self::new(Some(id), label);
        w.membership = Membership::Joining;
        w
    }

    fn new(group: Option<GroupId>, label: String) -> Self {
        Self {
            group,
            label,
            topic: String::new(),
            members: Vec::new(),
            self_key: String::new(),
            nick: String::new(),
            membership: Membership::None,
            lines: VecDeque::new(),
            scroll: 0,
            unseen: 0,
            activity: Activity::None,
            last_join: String::new(),
            close_when_gone: false,
        }
    }

    /// Shows one event: its lines, the activity it brings (when not `active`), and what it
    /// changes (title, topic, members, membership).
    pub(super) fn apply(&mut self, ev: ChatEvent, active: bool) {
        if !active {
            self.activity = self.activity.max(self.activity_of(&ev));
        }
        for line in lines::event_lines(&ev) {
            self.push(line.into());
        }
        self.show_join(&ev);
        self.update_state(ev);
    }

    /// The join-string lines of `Opened`, `Ready` (once per string) and `Invite` (always).
    fn show_join(&mut self, ev: &ChatEvent) {
        let (at, join, always) = match ev {
            ChatEvent::Opened { at, join, .. } | ChatEvent::Ready { at, join, .. } => {
                (*at, join, false)
            }
            ChatEvent::Invite { at, join } => (*at, join, true),
            _ => return,
        };
        if join.is_empty() || (!always && *join == self.last_join) {
            return;
        }
        self.last_join.clone_from(join);
        self.push(lines::info(at, "others can join with this join string:").into());
        self.push(Entry {
            line: lines::join_line(join),
            wide: true,
        });
    }

    fn activity_of(&self, ev: &ChatEvent) -> Activity {
        match ev {
            ChatEvent::Private { from, .. } if !self.is_me(from) => Activity::Highlight,
            ChatEvent::Message { from, text, .. } | ChatEvent::Action { from, text, .. }
                if !self.is_me(from) =>
            {
                match mentions(text, self.my_nick()) {
                    true => Activity::Highlight,
                    false => Activity::Messages,
                }
            }
            _ => Activity::None,
        }
    }

    fn update_state(&mut self, ev: ChatEvent) {
        use ChatEvent as E;
        match ev {
            E::Ready { pk, group, .. } => {
                // Untagged events (a single-group runtime) reuse window 1 for each group.
                if self.group.is_none() {
                    (self.members, self.topic) = (Vec::new(), String::new());
                }
                (self.self_key, self.label) = (pk, group);
                self.membership = Membership::Joined;
            }
            E::Opened {
                label, nick, ready, ..
            } => self.open(label, nick, ready),
            E::Closed { reason, .. } => self.close(reason),
            E::GroupName { name, .. } => self.label = name,
            E::Topic { topic, .. } => self.topic = topic,
            _ => self.update_members(ev),
        }
    }

    fn open(&mut self, label: String, nick: String, ready: bool) {
        (self.label, self.nick) = (label, nick);
        (self.members, self.topic) = (Vec::new(), String::new());
        self.membership = match ready {
            true => Membership::Joined,
            false => Membership::Joining,
        };
    }

    fn close(&mut self, reason: String) {
        self.members.clear();
        self.topic.clear();
        self.membership = Membership::Gone(reason);
    }

    fn update_members(&mut self, ev: ChatEvent) {
        use ChatEvent as E;
        match ev {
            E::Join {
                peer, role, status, ..
            } => self.upsert(peer, |m| (m.role, m.status) = (role, status)),
            E::Part { peer, .. } | E::Kick { peer, .. } | E::Ban { peer, .. } => {
                self.members.retain(|m| m.peer.key_hex != peer.key_hex);
            }
            E::Nick { peer, new, .. } => {
                if peer.key_hex == self.self_key {
                    self.nick.clone_from(&new);
                }
                self.upsert(peer, |m| m.peer.nick = new);
            }
            E::Status { peer, status, .. } => self.upsert(peer, |m| m.status = status),
            E::Role { peer, role, .. } => self.upsert(peer, |m| m.role = role),
            E::Members(members) => {
                self.members = members;
                if self.membership == Membership::None {
                    self.membership = Membership::Joined;
                }
            }
            _ => return,
        }
        self.sort_members();
    }

    /// Updates (or adds) a member, then applies `change`. A window whose group is gone keeps
    /// its sidebar empty.
    fn upsert(&mut self, peer: Peer, change: impl FnOnce(&mut MemberView)) {
        if matches!(self.membership, Membership::Gone(_)) {
            return;
        }
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

    /// Appends a line, dropping the oldest past [`MAX_LINES`]; a scrolled-back window stays
    /// on the lines it shows.
    pub(super) fn push(&mut self, entry: Entry) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(entry);
        if self.scroll > 0 {
            self.scroll = (self.scroll + 1).min(self.lines.len() - 1);
            self.unseen += 1;
        }
    }

    pub(super) fn scroll_up(&mut self, n: usize) {
        self.scroll = self
            .scroll
            .saturating_add(n)
            .min(self.lines.len().saturating_sub(1));
    }

    pub(super) fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
        if self.scroll == 0 {
            self.unseen = 0;
        }
    }

    /// Whether the sidebar belongs in this window (a group's window, or one that was given
    /// a member list).
    pub(super) fn has_sidebar(&self) -> bool {
        self.membership != Membership::None
    }

    /// Our own row in the member list, if known.
    pub(super) fn me(&self) -> Option<&MemberView> {
        self.members
            .iter()
            .find(|m| m.is_self || (!self.self_key.is_empty() && m.peer.key_hex == self.self_key))
    }

    fn is_me(&self, p: &Peer) -> bool {
        (!self.self_key.is_empty() && p.key_hex == self.self_key)
            || self.me().is_some_and(|m| m.peer.key_hex == p.key_hex)
    }

    /// Our nick here: the member list's, else the one the runtime announced.
    pub(super) fn my_nick(&self) -> &str {
        match self.me() {
            Some(m) if !m.peer.nick.is_empty() => &m.peer.nick,
            _ => &self.nick,
        }
    }

    /// Our nick, presence and role for the status line; `None` when nothing is known.
    pub(super) fn self_summary(&self) -> Option<(String, Presence, Role)> {
        if let Some(m) = self.me() {
            return Some((m.peer.display_name().to_owned(), m.status, m.role));
        }
        let name = match self.nick.is_empty() {
            true => lines::short(&self.self_key).to_owned(),
            false => self.nick.clone(),
        };
        (!name.is_empty()).then_some((name, Presence::Online, Role::User))
    }

    /// Appends a `-!-` notice line stamped `at`.
    pub(super) fn push_info(&mut self, at: LocalTime, text: &str) {
        self.push(lines::info(at, text).into());
    }
}

/// Whether `text` mentions `nick` as a whole word (case-insensitive): `alice:`, `hi alice!`,
/// but not `malice`.
pub(super) fn mentions(text: &str, nick: &str) -> bool {
    if nick.trim().is_empty() {
        return false;
    }
    let (text, nick) = (text.to_lowercase(), nick.to_lowercase());
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(&nick).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        !is_word(before) && !is_word(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_need_a_whole_word() {
        assert!(mentions("alice: hi", "alice"));
        assert!(mentions("hi ALICE!", "Alice"));
        assert!(mentions("zoë?", "Zoë"));
        assert!(!mentions("malice", "alice"));
        assert!(!mentions("alice_b", "alice"));
        assert!(!mentions("anything", ""));
    }
}
