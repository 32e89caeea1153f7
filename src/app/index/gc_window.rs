//! The runtime's side of `/gc` and `/pm` (issue #14 item 3): one window per group chat and
//! one per private conversation, numbered from [`FIRST_GC_ID`] and [`FIRST_PM_ID`] (above
//! the rooms' [`super::FIRST_ROOM_ID`]). Text typed in such a window is posted to its chat or
//! sent as a PM; `/gc add` and `/gc remove` act on the chat of the window they are typed in.
//! Everything that talks to the index runs in the worker ([`GcJob`] in, [`GcDone`] out).

use std::collections::BTreeMap;

use super::Job;
use crate::app::command::{ChatCommand, GcCommand, Input};
use crate::app::event::{ChatEvent, LocalTime, MemberView, Peer, Role};
use crate::app::runtime::{Flow, Runtime};
use crate::index::client::ChatLine;
use crate::index::groupkey::ChatId;
use crate::proto::GroupId;

/// The first window id of a group chat.
pub(crate) const FIRST_GC_ID: u32 = 0xA000_0000;
/// The first window id of a private conversation.
pub(crate) const FIRST_PM_ID: u32 = 0xC000_0000;

/// A `/gc` or `/pm` job for the worker.
#[derive(Debug)]
pub(in crate::app) enum GcJob {
    Create { at: Option<GroupId>, name: String },
    Add { chat: ChatId, user: String },
    Remove { chat: ChatId, user: String },
    Admin { chat: ChatId, user: String },
    List { at: Option<GroupId> },
    Post { chat: ChatId, text: String },
    Pm { to: String, text: String },
    Leave { chat: ChatId },
    Rename { chat: ChatId, name: String },
}

impl GcJob {
    /// The window that asked, for an error line.
    pub(in crate::app) fn at(&self) -> Option<GroupId> {
        match self {
            Self::Create { at, .. } | Self::List { at } => *at,
            _ => None,
        }
    }
}

/// What the worker reports about group chats and PMs.
#[derive(Debug)]
pub(in crate::app) enum GcDone {
    /// We follow this chat: open its window (if not open).
    Opened { chat: ChatId, name: String },
    /// Messages read from the chat; `stored`: backlog read at login.
    Lines {
        chat: ChatId,
        lines: Vec<ChatLine>,
        stored: bool,
    },
    /// A PM from the mailbox (`stored`), one that came direct, or our own, sent. `nonce`:
    /// its sealed body's nonce, to show a PM that came both ways once (PROTOCOL.md §8.14).
    Pm {
        peer: String,
        author: String,
        text: Option<String>,
        sent: u64,
        stored: bool,
        nonce: Option<[u8; 24]>,
    },
    /// A line for the chat's window.
    Info { chat: ChatId, text: String },
    /// An error, in the chat's window if there is one.
    Error {
        at: Option<GroupId>,
        chat: Option<ChatId>,
        text: String,
    },
    /// We are no longer a member: close the window.
    Closed { chat: ChatId, reason: String },
    /// The chat has a new name (ours, or an admin's signed name read).
    Named { chat: ChatId, name: String },
    /// The chat's members changed (or are known for the first time).
    Members {
        chat: ChatId,
        members: Vec<GcMember>,
    },
}

/// One member of a group chat, as its window lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::app) struct GcMember {
    /// The account's Ed25519 key.
    pub(in crate::app) key: [u8; 32],
    /// Its username (the first hex digits of the key when the index names none).
    pub(in crate::app) name: String,
    /// It created the chat.
    pub(in crate::app) creator: bool,
    /// It may add and remove members.
    pub(in crate::app) admin: bool,
    /// It is us.
    pub(in crate::app) me: bool,
}

impl GcMember {
    /// The sidebar row: the creator as founder, admins as moderators.
    fn view(&self) -> MemberView {
        let role = match (self.creator, self.admin) {
            (true, _) => Role::Founder,
            (false, true) => Role::Moderator,
            _ => Role::User,
        };
        MemberView {
            peer: Peer::new(hex::encode(self.key), self.name.clone()),
            role,
            is_self: self.me,
            ..MemberView::default()
        }
    }
}

/// The open group-chat and PM windows.
#[derive(Debug, Default)]
pub(super) struct Windows {
    chats: BTreeMap<GroupId, (ChatId, String)>,
    pms: BTreeMap<GroupId, String>,
    next_gc: u32,
    next_pm: u32,
    /// PMs shown, by (peer, nonce), oldest first; at most [`SEEN_PMS`].
    seen: std::collections::VecDeque<(String, [u8; 24])>,
}

/// PMs remembered for de-duplication across the direct and mailbox paths.
const SEEN_PMS: usize = 4096;

impl Windows {
    fn chat_window(&self, chat: &ChatId) -> Option<GroupId> {
        self.chats
            .iter()
            .find(|(_, c)| c.0 == *chat)
            .map(|(g, _)| *g)
    }

    fn pm_window(&self, peer: &str) -> Option<GroupId> {
        self.pms.iter().find(|(_, p)| *p == peer).map(|(g, _)| *g)
    }

    /// True the first time (`peer`, `nonce`) is shown.
    fn first_sight(&mut self, peer: &str, nonce: [u8; 24]) -> bool {
        if self.seen.iter().any(|(p, n)| *n == nonce && p == peer) {
            return false;
        }
        if self.seen.len() >= SEEN_PMS {
            self.seen.pop_front();
        }
        self.seen.push_back((peer.to_owned(), nonce));
        true
    }

    fn next(counter: &mut u32, first: u32) -> GroupId {
        let id = GroupId(first.wrapping_add(*counter));
        *counter = counter.wrapping_add(1) % 0x2000_0000;
        id
    }
}

/// Unix seconds as a local `HH:MM`.
fn local(unix: u64, offset: time::UtcOffset) -> LocalTime {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    LocalTime::new(t.hour(), t.minute()).unwrap_or_default()
}

impl Runtime {
    fn windows(&mut self) -> Option<&mut Windows> {
        self.index.as_mut().map(|l| &mut l.gc)
    }

    /// Input typed in a group-chat or PM window: text goes to the chat or the peer; other
    /// input is handed back.
    pub(in crate::app) async fn gc_input(
        &mut self,
        group: Option<GroupId>,
        input: Input,
    ) -> Option<Input> {
        let (Some(g), Some(w)) = (group, self.index.as_ref().map(|l| &l.gc)) else {
            return Some(input);
        };
        let job = match (&input, w.chats.get(&g), w.pms.get(&g)) {
            (Input::Text(text), Some((chat, _)), _) => GcJob::Post {
                chat: *chat,
                text: text.clone(),
            },
            (Input::Text(text), None, Some(peer)) => GcJob::Pm {
                to: peer.clone(),
                text: text.clone(),
            },
            (Input::Command(ChatCommand::Part(_)), _, Some(_)) => {
                self.gc_close_window(g, "closed");
                return None;
            }
            _ => return Some(input),
        };
        if let Err(e) = self.gc_job(job).await {
            self.error(group, format!("{e:#}"));
        }
        None
    }

    /// Hands a job to the worker; a PM goes to the direct endpoint (which falls back to the
    /// worker's mailbox path itself).
    async fn gc_job(&mut self, job: GcJob) -> anyhow::Result<()> {
        match (job, self.index.as_ref().and_then(|l| l.direct.clone())) {
            (GcJob::Pm { to, text }, Some(direct)) => direct
                .send(super::direct::DirectIn::Send { to, text })
                .await
                .map_err(|_| anyhow::anyhow!("the direct PM endpoint has stopped")),
            (job, _) => self.job(Job::Gc(job)).await,
        }
    }

    /// `/gc …` and `/pm …`.
    pub(in crate::app) async fn gc_command(
        &mut self,
        at: Option<GroupId>,
        c: ChatCommand,
    ) -> anyhow::Result<Flow> {
        let here = at.and_then(|g| self.index.as_ref()?.gc.chats.get(&g).map(|c| c.0));
        let need_chat = || {
            anyhow::anyhow!(
                "type /gc add, remove, admin, leave or rename in the group chat's window"
            )
        };
        let job = match c {
            ChatCommand::Gc(GcCommand::Create(name)) => GcJob::Create { at, name },
            ChatCommand::Gc(GcCommand::List) => GcJob::List { at },
            ChatCommand::Gc(GcCommand::Add(user)) => GcJob::Add {
                chat: here.ok_or_else(need_chat)?,
                user,
            },
            ChatCommand::Gc(GcCommand::Remove(user)) => GcJob::Remove {
                chat: here.ok_or_else(need_chat)?,
                user,
            },
            ChatCommand::Gc(GcCommand::Admin(user)) => GcJob::Admin {
                chat: here.ok_or_else(need_chat)?,
                user,
            },
            ChatCommand::Gc(GcCommand::Leave) => GcJob::Leave {
                chat: here.ok_or_else(need_chat)?,
            },
            ChatCommand::Gc(GcCommand::Rename(name)) => GcJob::Rename {
                chat: here.ok_or_else(need_chat)?,
                name,
            },
            ChatCommand::Pm { to, text } => GcJob::Pm { to, text },
            _ => anyhow::bail!("not a group chat command"),
        };
        self.gc_job(job).await?;
        Ok(Flow::Continue)
    }

    /// Shows what the worker reports about group chats and PMs.
    pub(in crate::app) fn on_gc(&mut self, done: GcDone) {
        match done {
            GcDone::Opened { chat, name } => {
                self.gc_open(chat, &name);
            }
            GcDone::Lines {
                chat,
                lines,
                stored,
            } => self.gc_lines(chat, lines, stored),
            GcDone::Pm {
                peer,
                author,
                text,
                sent,
                stored,
                nonce,
            } => {
                let fresh = match (nonce, self.windows()) {
                    (Some(n), Some(w)) => w.first_sight(&peer, n),
                    _ => true,
                };
                if fresh {
                    self.pm_line(&peer, author, text, sent, stored);
                }
            }
            GcDone::Info { chat, text } => {
                let at = self.windows().and_then(|w| w.chat_window(&chat));
                self.info(at, text);
            }
            GcDone::Error { at, chat, text } => {
                let window = chat.and_then(|c| self.windows()?.chat_window(&c));
                self.error(window.or(at), text);
            }
            GcDone::Closed { chat, reason } => {
                if let Some(g) = self.windows().and_then(|w| w.chat_window(&chat)) {
                    self.gc_close_window(g, &reason);
                }
            }
            GcDone::Named { chat, name } => self.gc_named(chat, name),
            GcDone::Members { chat, members } => {
                if let Some(g) = self.windows().and_then(|w| w.chat_window(&chat)) {
                    let views = members.iter().map(GcMember::view).collect();
                    self.push(Some(g), ChatEvent::Members(views));
                }
            }
        }
    }

    /// The window of `chat`, opened (with `name`) if it is not open yet.
    fn gc_open(&mut self, chat: ChatId, name: &str) -> Option<GroupId> {
        let w = self.windows()?;
        if let Some(g) = w.chat_window(&chat) {
            return Some(g);
        }
        let g = Windows::next(&mut w.next_gc, FIRST_GC_ID);
        let label = if name.is_empty() {
            format!("gc {}", hex::encode(&chat[..4]))
        } else {
            name.to_owned()
        };
        w.chats.insert(g, (chat, label.clone()));
        self.opened(g, label);
        Some(g)
    }

    fn opened(&mut self, g: GroupId, label: String) {
        let nick = self
            .index
            .as_ref()
            .and_then(|l| l.account.clone())
            .unwrap_or_default();
        let at = self.now();
        let ev = ChatEvent::Opened {
            at,
            label,
            join: String::new(),
            nick,
            ready: true,
        };
        self.push(Some(g), ev);
    }

    fn gc_lines(&mut self, chat: ChatId, lines: Vec<ChatLine>, stored: bool) {
        let Some(g) = self.gc_open(chat, "") else {
            return;
        };
        let name = self
            .windows()
            .and_then(|w| w.chats.get(&g).map(|c| c.1.clone()))
            .unwrap_or_default();
        for l in lines {
            let ev = ChatEvent::IndexChat {
                at: self.now(),
                private: false,
                chat: name.clone(),
                author: l.sender,
                text: l.text,
                sent: l.at,
                stored: stored.then(|| local(l.at, self.offset())),
            };
            self.push(Some(g), ev);
        }
    }

    fn pm_line(
        &mut self,
        peer: &str,
        author: String,
        text: Option<String>,
        sent: u64,
        stored: bool,
    ) {
        let Some(w) = self.windows() else { return };
        let g = match w.pm_window(peer) {
            Some(g) => g,
            None => {
                let g = Windows::next(&mut w.next_pm, FIRST_PM_ID);
                w.pms.insert(g, peer.to_owned());
                self.opened(g, format!("pm {peer}"));
                g
            }
        };
        let ev = ChatEvent::IndexChat {
            at: self.now(),
            private: true,
            chat: peer.to_owned(),
            author,
            text,
            sent,
            stored: stored.then(|| local(sent, self.offset())),
        };
        self.push(Some(g), ev);
    }

    /// Retitles `chat`'s window: its lines carry the new name from now on.
    fn gc_named(&mut self, chat: ChatId, name: String) {
        let Some(w) = self.windows() else { return };
        let Some(g) = w.chat_window(&chat) else {
            return;
        };
        if let Some(entry) = w.chats.get_mut(&g) {
            entry.1.clone_from(&name);
        }
        let at = self.now();
        self.push(Some(g), ChatEvent::GroupName { at, name });
    }

    fn gc_close_window(&mut self, g: GroupId, reason: &str) {
        let Some(w) = self.windows() else { return };
        w.chats.remove(&g);
        w.pms.remove(&g);
        let at = self.now();
        let reason = reason.to_owned();
        self.push(Some(g), ChatEvent::Closed { at, reason });
    }

    /// Closes every group-chat and PM window (logout).
    pub(in crate::app) fn gc_logged_out(&mut self) {
        let Some(w) = self.windows() else { return };
        let ids: Vec<GroupId> = w.chats.keys().chain(w.pms.keys()).copied().collect();
        for g in ids {
            self.gc_close_window(g, "logged out");
        }
    }
}
