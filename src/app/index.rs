//! The chat front end of the index (PROTOCOL.md §8, issue #13 item 6): `--index KEY@IP:PORT`
//! and the commands `/register`, `/login`, `/logout`, `/passwd`, `/rooms`, `/room`,
//! `/admin say`.
//!
//! [`IndexLink`] is the runtime's side: it hands [`worker::Job`]s to a task of its own that
//! owns the [`crate::index::client::IndexClient`], and the runtime's loop takes the
//! [`worker::Done`]s back and turns them into events. Nothing here waits on the index.
//!
//! Each open room gets a window: a [`GroupId`] from [`FIRST_ROOM_ID`] up (the node numbers
//! its groups from 0, far below), `Opened` with the room's name, its history as
//! [`ChatEvent::RoomMessage`]s marked `history`, then new messages polled every
//! [`ROOM_POLL`] while the window is open. Text typed there is posted to the room; `/part`
//! leaves it. The rooms opened are kept in the account's room list on the index, so a login
//! (on any device) opens them again.

pub(super) mod gc_window;
mod worker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use tokio::sync::mpsc;

use super::command::{ChatCommand, Input, Password, room_error};
use super::event::ChatEvent;
use super::runtime::{Flow, Runtime};
use crate::index::wire::RoomMessage;
use crate::proto::GroupId;
use crate::wire::PublicKey;
pub(super) use worker::{Done, Job};

/// How often the history of each open room is polled for new messages.
pub const ROOM_POLL: Duration = Duration::from_secs(2);
/// The first window id of an index room.
pub const FIRST_ROOM_ID: u32 = 0x8000_0000;
/// Jobs and results queued between the runtime and the worker.
const QUEUE: usize = 64;
/// How long a quit waits for the worker to leave the rooms and log out.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(4);

/// An index's address as `--index` takes it: `KEY@IP:PORT`, KEY its 64-hex-digit X25519 key
/// (the `key=` that `dhtchat index` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexTarget {
    /// The index's key.
    pub key: PublicKey,
    /// Its UDP address.
    pub addr: SocketAddr,
}

impl FromStr for IndexTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("{s:?} is not KEY@IP:PORT (KEY: 64 hex digits)");
        let (key, addr) = s.trim().split_once('@').ok_or_else(usage)?;
        let key = key.parse().map_err(|_| usage())?;
        let addr = addr.parse().map_err(|_| usage())?;
        Ok(Self { key, addr })
    }
}

/// The runtime's side of the index session. See the module docs.
#[derive(Debug)]
pub(super) struct IndexLink {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    /// Open (or opening) room windows.
    rooms: BTreeMap<GroupId, String>,
    next_id: u32,
    /// The account logged in, if any.
    account: Option<String>,
    /// Group-chat and PM windows.
    gc: gc_window::Windows,
}

impl IndexLink {
    /// Starts the worker; `floor`: new passwords use the weakest Argon2id parameters the
    /// index accepts (tests), not the ~1 s calibration.
    pub(super) fn start(target: IndexTarget, floor: bool) -> Self {
        let (jobs, job_rx) = mpsc::channel(QUEUE);
        let (done_tx, done) = mpsc::channel(QUEUE);
        tokio::spawn(worker::run(target, floor, job_rx, done_tx));
        Self {
            jobs,
            done,
            rooms: BTreeMap::new(),
            next_id: FIRST_ROOM_ID,
            account: None,
            gc: gc_window::Windows::default(),
        }
    }

    /// The next result, for the runtime's `select!` (cancel-safe).
    pub(super) async fn next(link: Option<&mut Self>) -> Option<Done> {
        match link {
            Some(l) => l.done.recv().await,
            None => std::future::pending().await,
        }
    }

    fn room_id(&self, room: &str) -> Option<GroupId> {
        self.rooms.iter().find(|(_, r)| *r == room).map(|(g, _)| *g)
    }

    /// Leaves the rooms and logs out, waiting at most [`SHUTDOWN_WAIT`].
    pub(super) async fn shutdown(mut self) {
        if self.jobs.send(Job::Shutdown).await.is_err() {
            return;
        }
        let wait = async {
            while let Some(d) = self.done.recv().await {
                if matches!(d, Done::Stopped) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, wait).await;
    }
}

impl Runtime {
    /// The room whose window is `group`, if it is one.
    pub(super) fn room_of(&self, group: Option<GroupId>) -> Option<String> {
        let link = self.index.as_ref()?;
        link.rooms.get(&group?).cloned()
    }

    fn link(&mut self) -> anyhow::Result<&mut IndexLink> {
        self.index
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no index: start with --index KEY@IP:PORT"))
    }

    async fn job(&mut self, job: Job) -> anyhow::Result<()> {
        self.link()?
            .jobs
            .send(job)
            .await
            .map_err(|_| anyhow::anyhow!("the index connection has stopped"))
    }

    /// Input typed in a room's window: text is posted, `/part` leaves, other commands go
    /// their usual way.
    pub(super) async fn room_input(&mut self, room: String, input: Input) -> Option<Input> {
        match input {
            Input::Text(text) => {
                let _ = self.job(Job::Post { room, text }).await;
                None
            }
            Input::Command(ChatCommand::Part(_)) => {
                let _ = self.job(Job::Leave { room }).await;
                None
            }
            other => Some(other),
        }
    }

    /// `/logout`, `/rooms`, `/room`, `/admin say`.
    pub(super) async fn index_command(
        &mut self,
        at: Option<GroupId>,
        c: ChatCommand,
    ) -> anyhow::Result<Flow> {
        match c {
            ChatCommand::Logout => self.job(Job::Logout { at }).await?,
            ChatCommand::Rooms => self.job(Job::Rooms { at }).await?,
            ChatCommand::Room(room) => self.open_room(at, room)?,
            ChatCommand::AdminSay { room, text } => {
                self.job(Job::AdminSay { at, room, text }).await?;
            }
            _ => anyhow::bail!("this command asks for a password: use dhtchat chat"),
        }
        Ok(Flow::Continue)
    }

    /// `/register`, `/login` and `/passwd` with the password read at the prompt.
    pub(super) async fn index_password(
        &mut self,
        at: Option<GroupId>,
        c: ChatCommand,
        password: Password,
    ) -> anyhow::Result<()> {
        let job = match c {
            ChatCommand::Register(name) => {
                let rooms = self.link()?.rooms.values().cloned().collect();
                Job::Register {
                    at,
                    name,
                    password,
                    rooms,
                }
            }
            ChatCommand::Login(name) => Job::Login { at, name, password },
            ChatCommand::Passwd => Job::Passwd { at, password },
            _ => anyhow::bail!("no password is needed for that"),
        };
        self.link()?;
        self.info(at, "deriving keys (Argon2id, about a second)…");
        self.job(job).await
    }

    /// Opens a window for `room` and asks the worker to join it (the window shows once the
    /// index answered).
    fn open_room(&mut self, at: Option<GroupId>, room: String) -> anyhow::Result<()> {
        if let Some(e) = room_error(&room) {
            anyhow::bail!(e);
        }
        let link = self.link()?;
        if link.account.is_none() {
            anyhow::bail!("log in first: /login NAME (or /register NAME)");
        }
        if link.room_id(&room).is_some() {
            self.info(at, format!("room {room} is open already"));
            return Ok(());
        }
        let id = GroupId(link.next_id);
        link.next_id = link.next_id.wrapping_add(1).max(FIRST_ROOM_ID);
        link.jobs
            .try_send(Job::Open { room: room.clone() })
            .map_err(|_| anyhow::anyhow!("the index connection is busy or stopped"))?;
        link.rooms.insert(id, room);
        Ok(())
    }

    /// Shows what the worker reports.
    pub(super) fn on_index(&mut self, done: Done) {
        match done {
            Done::Info(at, text) => self.info(at, text),
            Done::Error(at, text) => self.error(at, text),
            Done::LoggedIn {
                at,
                name,
                key,
                admin,
                lists,
            } => self.logged_in(at, name, &key, admin, lists.rooms, lists.chats.len()),
            Done::LoggedOut => self.logged_out(),
            Done::Opened {
                room,
                members,
                history,
            } => self.room_opened(&room, members, history),
            Done::OpenFailed { room, error } => {
                if let Some(l) = self.index.as_mut() {
                    l.rooms.retain(|_, r| *r != room);
                }
                self.error(None, format!("room {room}: {error}"));
            }
            Done::Messages { room, messages } => self.room_messages(&room, messages, false),
            Done::RoomError { room, error } => {
                let at = self.index.as_ref().and_then(|l| l.room_id(&room));
                self.error(at, error);
            }
            Done::Left { room, members } => self.room_left(&room, members),
            Done::Gc(d) => self.on_gc(d),
            Done::Stopped => {}
        }
    }

    fn logged_in(
        &mut self,
        at: Option<GroupId>,
        name: String,
        key: &str,
        admin: bool,
        rooms: Vec<String>,
        chats: usize,
    ) {
        let role = if admin { " (admin)" } else { "" };
        let list = if rooms.is_empty() {
            "none".to_owned()
        } else {
            rooms.join(", ")
        };
        let line = format!(
            "logged in as {name}{role}: account key {key}; rooms: {list}; group chats: {chats}"
        );
        self.info(at, line);
        if let Some(l) = self.index.as_mut() {
            l.account = Some(name);
        }
        for room in rooms {
            if let Err(e) = self.open_room(at, room) {
                self.error(at, format!("{e:#}"));
            }
        }
    }

    fn logged_out(&mut self) {
        self.gc_logged_out();
        let Some(l) = self.index.as_mut() else { return };
        l.account = None;
        let rooms = std::mem::take(&mut l.rooms);
        for id in rooms.into_keys() {
            let at = self.now();
            let reason = "logged out".to_owned();
            self.push(Some(id), ChatEvent::Closed { at, reason });
        }
        self.info(None, "logged out of the index");
    }

    fn room_opened(&mut self, room: &str, members: u32, history: Vec<RoomMessage>) {
        let Some(l) = self.index.as_ref() else { return };
        let (Some(id), nick) = (l.room_id(room), l.account.clone().unwrap_or_default()) else {
            return;
        };
        let at = self.now();
        let label = room.to_owned();
        let join = String::new();
        let ready = true;
        self.push(
            Some(id),
            ChatEvent::Opened {
                at,
                label,
                join,
                nick,
                ready,
            },
        );
        let poll = ROOM_POLL.as_secs();
        let line = format!(
            "room {room}: {members} clients; {} earlier messages follow; new ones are read every {poll} s",
            history.len()
        );
        self.info(Some(id), line);
        self.room_messages(room, history, true);
    }

    fn room_messages(&mut self, room: &str, messages: Vec<RoomMessage>, history: bool) {
        let id = self.index.as_ref().and_then(|l| l.room_id(room));
        let Some(id) = id else { return };
        for m in messages {
            let ev = ChatEvent::RoomMessage {
                at: self.now(),
                room: room.to_owned(),
                author: m.author,
                text: m.text,
                server: m.server,
                history,
                sent: m.at,
            };
            self.push(Some(id), ev);
        }
    }

    fn room_left(&mut self, room: &str, members: u32) {
        let Some(l) = self.index.as_mut() else { return };
        let Some(id) = l.room_id(room) else { return };
        l.rooms.remove(&id);
        let at = self.now();
        let reason = format!("left room {room} ({members} clients now)");
        self.info(Some(id), reason.clone());
        self.push(Some(id), ChatEvent::Closed { at, reason });
    }
}
