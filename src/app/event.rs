//! The front-end-neutral chat events: what the runtime hands to either front end.
//!
//! The runtime turns protocol events ([`crate::proto::Event`]) and command results into
//! [`ChatEvent`]s; the terminal UI (`cli::tui::ChatView::apply`) renders them and the plain
//! mode ([`super::plain::format_plain`]) prints one line each. Times are local wall-clock
//! [`LocalTime`] values computed by the runtime: nothing here reads a clock.

use std::fmt;
use std::net::SocketAddr;

pub use crate::proto::GroupId;
use crate::wire::Status;

/// A local wall-clock time of day, shown as `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LocalTime {
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
}

impl LocalTime {
    /// A time of day; `None` when the hour or minute is out of range.
    pub fn new(hour: u8, minute: u8) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(Self { hour, minute })
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// A group member as the front ends name it: its group key (hex) and its current nick.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Peer {
    /// The member's key in the group, 64 lowercase hex digits.
    pub key_hex: String,
    /// The member's nick (may be empty before the peer announced one).
    pub nick: String,
}

impl Peer {
    /// A peer from its key (hex) and nick.
    pub fn new(key_hex: impl Into<String>, nick: impl Into<String>) -> Self {
        Self {
            key_hex: key_hex.into(),
            nick: nick.into(),
        }
    }

    /// The first 8 hex digits of the key, for display next to a nick.
    pub fn short_key(&self) -> &str {
        self.key_hex.get(..8).unwrap_or(&self.key_hex)
    }

    /// The nick, or the short key when the peer has no nick yet.
    pub fn display_name(&self) -> &str {
        match self.nick.is_empty() {
            true => self.short_key(),
            false => &self.nick,
        }
    }
}

/// A member's presence (`/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Presence {
    /// Available.
    #[default]
    Online,
    /// Away from the keyboard.
    Away,
    /// Do not disturb.
    Busy,
}

impl Presence {
    /// The lowercase word used by `/status` and the plain format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Busy => "busy",
        }
    }
}

impl From<Status> for Presence {
    fn from(s: Status) -> Self {
        match s {
            Status::Online => Self::Online,
            Status::Away => Self::Away,
            Status::Busy => Self::Busy,
        }
    }
}

impl From<Presence> for Status {
    fn from(p: Presence) -> Self {
        match p {
            Presence::Online => Self::Online,
            Presence::Away => Self::Away,
            Presence::Busy => Self::Busy,
        }
    }
}

/// A member's role in the group, highest first (the derived order sorts founders first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Role {
    /// Created the group; can do everything.
    Founder,
    /// Can kick, ban, silence and set the topic.
    Moderator,
    /// An ordinary member.
    #[default]
    User,
    /// Silenced: may read but not speak.
    Observer,
}

impl Role {
    /// The IRC-style sigil shown before the nick: `~` founder, `@` moderator, `-` observer,
    /// none for a user.
    pub fn sigil(self) -> &'static str {
        match self {
            Self::Founder => "~",
            Self::Moderator => "@",
            Self::User => "",
            Self::Observer => "-",
        }
    }

    /// The lowercase word used by the plain format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Founder => "founder",
            Self::Moderator => "moderator",
            Self::User => "user",
            Self::Observer => "observer",
        }
    }
}

/// One row of the member list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberView {
    /// Who.
    pub peer: Peer,
    /// Their role.
    pub role: Role,
    /// Their presence.
    pub status: Presence,
    /// Whether this row is us.
    pub is_self: bool,
}

/// One thing for a front end to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// We are in a group: the first event after create/join.
    Ready {
        /// When.
        at: LocalTime,
        /// The join string others can use.
        join: String,
        /// Our key in the group (hex).
        pk: String,
        /// Our nick in the group (empty when we have none).
        nick: String,
        /// The bound UDP address.
        addr: SocketAddr,
        /// A short label for the group (its name, or the chat id prefix).
        group: String,
    },
    /// A chat message.
    Message {
        /// When it arrived.
        at: LocalTime,
        /// Who sent it.
        from: Peer,
        /// The text.
        text: String,
    },
    /// A `/me` action.
    Action {
        /// When it arrived.
        at: LocalTime,
        /// Who sent it.
        from: Peer,
        /// The action text.
        text: String,
    },
    /// A message said before we joined or while we were away, fetched from a member and
    /// checked against its author's signature (PROTOCOL.md §6.13). Plain: `HIST`.
    History {
        /// When it arrived here (the fetch).
        at: LocalTime,
        /// Who said it.
        from: Peer,
        /// The text.
        text: String,
        /// True for a `/me` action.
        action: bool,
        /// About how long ago it was said, in seconds (the serving member's word).
        age_secs: u32,
    },
    /// A history fetch ended: what follows is live. Shown as "— new since you left —".
    HistoryEnd {
        /// When.
        at: LocalTime,
        /// Messages the fetch showed.
        messages: u32,
        /// Gaps in an author's numbers no member could fill.
        gaps: u32,
    },
    /// A private message (`/msg`), to or from us.
    Private {
        /// When it arrived.
        at: LocalTime,
        /// Who sent it.
        from: Peer,
        /// The text.
        text: String,
    },
    /// A member joined, with what is known of it (role and presence from the group's
    /// signed state, so a front end never has to ask).
    Join {
        /// When.
        at: LocalTime,
        /// Who.
        peer: Peer,
        /// Its role.
        role: Role,
        /// Its presence.
        status: Presence,
    },
    /// A member left.
    Part {
        /// When.
        at: LocalTime,
        /// Who.
        peer: Peer,
        /// Why (part message, `quit`, `timeout`, …); may be empty.
        reason: String,
    },
    /// A member was kicked.
    Kick {
        /// When.
        at: LocalTime,
        /// Who was kicked.
        peer: Peer,
        /// By whom.
        by: Peer,
        /// Why; may be empty.
        reason: String,
    },
    /// A member was banned.
    Ban {
        /// When.
        at: LocalTime,
        /// Who was banned.
        peer: Peer,
        /// By whom.
        by: Peer,
        /// Why; may be empty.
        reason: String,
    },
    /// A member changed nick.
    Nick {
        /// When.
        at: LocalTime,
        /// Who (with the new nick).
        peer: Peer,
        /// The old nick.
        old: String,
        /// The new nick.
        new: String,
    },
    /// The topic changed, or is shown on join.
    Topic {
        /// When.
        at: LocalTime,
        /// Who set it.
        by: Peer,
        /// The topic; empty when cleared.
        topic: String,
    },
    /// A member changed presence.
    Status {
        /// When.
        at: LocalTime,
        /// Who.
        peer: Peer,
        /// The new presence.
        status: Presence,
    },
    /// A member's role changed.
    Role {
        /// When.
        at: LocalTime,
        /// Whose role.
        peer: Peer,
        /// The new role.
        role: Role,
        /// Who changed it.
        by: Peer,
    },
    /// A system line: a command result, `/names` or `/whois` output, a notice.
    Info {
        /// When.
        at: LocalTime,
        /// The line.
        text: String,
    },
    /// A failure to show the person (a refused command, a failed join).
    Error {
        /// When.
        at: LocalTime,
        /// The one-line explanation.
        text: String,
    },
    /// The full member list (sidebar snapshot), replacing the previous one.
    Members(Vec<MemberView>),
    /// A window opens: we created, joined or restored a group. Joining may still be under
    /// way (`ready` false); [`ChatEvent::Ready`] follows once a member answered.
    Opened {
        /// When.
        at: LocalTime,
        /// The group's name as far as we know it (the chat id prefix until the signed name
        /// arrives).
        label: String,
        /// The join string through us.
        join: String,
        /// Our nick in the group.
        nick: String,
        /// True when we are already in (we founded it).
        ready: bool,
    },
    /// The window's group is gone: we parted, were kicked or banned, or the join failed.
    /// The front end keeps the window's scrollback until the person closes it.
    Closed {
        /// When.
        at: LocalTime,
        /// Why, one line.
        reason: String,
    },
    /// The group's signed name changed (or was first learnt).
    GroupName {
        /// When.
        at: LocalTime,
        /// The new name.
        name: String,
    },
    /// A message in an index room (`/room`): a post, or an admin's server message.
    RoomMessage {
        /// When it was shown (history keeps its own time in `sent`).
        at: LocalTime,
        /// The room's name.
        room: String,
        /// The author's account name (the admin's for a server message).
        author: String,
        /// The text.
        text: String,
        /// True for a server message (`/admin say`), shown distinctly.
        server: bool,
        /// True for history read when the room opened (sent before we joined).
        history: bool,
        /// When it was sent, unix seconds.
        sent: u64,
    },
    /// A message of an index group chat (`/gc`) or an index private conversation (`/pm`),
    /// end-to-end encrypted; `stored` when it was read from the index's storage (the
    /// mailbox or the chat's store) rather than typed here, shown with its send time.
    IndexChat {
        /// When it was shown.
        at: LocalTime,
        /// True for a private conversation, false for a group chat.
        private: bool,
        /// The chat's name, or the other account's name for a private conversation.
        chat: String,
        /// The author's account name.
        author: String,
        /// The text (`None`: sealed under an epoch key we do not hold).
        text: Option<String>,
        /// When it was sent, unix seconds.
        sent: u64,
        /// Delivered from the index's storage: the local time it was sent.
        stored: Option<LocalTime>,
    },
    /// The join string through us, to be shown on a line of its own (`/invite`), so a mouse
    /// selection or `tmux capture-pane` picks it up whole.
    Invite {
        /// When.
        at: LocalTime,
        /// The join string.
        join: String,
    },
}

/// A [`ChatEvent`] and the group it belongs to: `None` for the status window (start-up
/// notices, errors of commands that name no group). Front ends route on `group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEvent {
    /// The group's window, or `None` for the status window.
    pub group: Option<GroupId>,
    /// What happened.
    pub event: ChatEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_bounds_and_display() {
        assert_eq!(
            LocalTime::new(9, 5).map(|t| t.to_string()),
            Some("09:05".into())
        );
        assert_eq!(
            LocalTime::new(23, 59).map(|t| t.to_string()),
            Some("23:59".into())
        );
        assert_eq!(LocalTime::new(24, 0), None);
        assert_eq!(LocalTime::new(0, 60), None);
    }

    #[test]
    fn roles_sort_founder_first_and_have_sigils() {
        let mut roles = [Role::Observer, Role::User, Role::Founder, Role::Moderator];
        roles.sort();
        assert_eq!(
            roles,
            [Role::Founder, Role::Moderator, Role::User, Role::Observer]
        );
        let sigils: Vec<_> = roles.iter().map(|r| r.sigil()).collect();
        assert_eq!(sigils, ["~", "@", "", "-"]);
    }

    #[test]
    fn presence_maps_to_and_from_wire_status() {
        for p in [Presence::Online, Presence::Away, Presence::Busy] {
            assert_eq!(Presence::from(Status::from(p)), p);
        }
        assert_eq!(Presence::from(Status::Busy).as_str(), "busy");
    }

    #[test]
    fn peer_display_name_falls_back_to_short_key() {
        let p = Peer::new("0123456789abcdef", "");
        assert_eq!(p.display_name(), "01234567");
        assert_eq!(Peer::new("ab", "").short_key(), "ab");
        assert_eq!(Peer::new("ab", "zoë").display_name(), "zoë");
    }
}
