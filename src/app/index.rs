//! The chat front end of the index (PROTOCOL.md §8, issue #13 item 6): `--index KEY@IP:PORT`
//! and the commands `/register`, `/login`, `/logout`, `/passwd`, `/rooms`, `/room`,
//! `/admin say`.
//!
//! [`IndexLink`] is the runtime's side: it hands [`worker::Job`]s to a task of its own that
//! owns the [`crate::index::client::IndexClient`], and the runtime's loop takes the
//! [`worker::Done`]s back and turns them into events. Nothing here waits on the index.
//!
//! A room is a public group in the overlay founded by the index's node (PROTOCOL.md §8.11).
//! `/room NAME` asks the index for the group (its chat id and the port of the index's node,
//! on the index's IP address) and the stored history; the runtime then joins the group with
//! this device's key, certified by the account at login (PROTOCOL.md §8.13: two devices of
//! one account are two members; moderator roles appointed by account reach every device),
//! and the account name as nick. The window is an ordinary group window: messages go peer to
//! peer, the history comes first as [`ChatEvent::RoomMessage`]s marked `history`, and the
//! founder's messages (an admin's server message) show as server messages. `/part` leaves
//! the group and the room. The rooms opened are kept in the account's room list on the
//! index, so a login (on any device) opens them again.

mod direct;
pub(super) mod gc_window;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::command::{ChatCommand, Input, Password, room_error};
use super::event::ChatEvent;
use super::runtime::{Flow, Runtime};
use crate::index::roomkey::founder_key;
use crate::index::wire::{RoomJoin, RoomMessage};
use crate::proto::{Dialect, GroupId, JoinString, Privacy};
use crate::wire::{NodeInfo, PublicKey};
pub(super) use worker::{Done, Job};

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
    /// The index's address (its node listens on the same IP).
    addr: SocketAddr,
    /// The groups of open rooms.
    rooms: BTreeMap<GroupId, String>,
    /// Rooms asked for, not open yet.
    opening: BTreeSet<String>,
    /// The account logged in, if any.
    account: Option<String>,
    /// Our seed in the rooms' groups: this device's (§8.13), or the account's when the
    /// device could not be registered.
    seed: Option<Zeroizing<[u8; 32]>>,
    /// Group-chat and PM windows.
    gc: gc_window::Windows,
    /// The direct PM endpoint's queue (PROTOCOL.md §8.14); `None` if it could not bind.
    direct: Option<mpsc::Sender<direct::DirectIn>>,
}

impl IndexLink {
    /// Starts the worker; `floor`: new passwords use the weakest Argon2id parameters the
    /// index accepts (tests), not the ~1 s calibration.
    /// `ip`: where the direct PM endpoint binds (the node's address); `data_dir` keeps this
    /// device's seed (PROTOCOL.md §8.13).
    pub(super) fn start(
        target: IndexTarget,
        floor: bool,
        ip: std::net::IpAddr,
        data_dir: Option<PathBuf>,
    ) -> Self {
        let (jobs, job_rx) = mpsc::channel(QUEUE);
        let (done_tx, done) = mpsc::channel(QUEUE);
        let link = direct::start(ip, target.key, target.addr, jobs.clone(), done_tx.clone())
            .map_err(|e| tracing::warn!(error = %e, "no direct PM endpoint: PMs use the mailbox"))
            .ok();
        let direct = link.as_ref().map(|l| l.tx.clone());
        tokio::spawn(worker::run(target, floor, data_dir, job_rx, done_tx, link));
        Self {
            jobs,
            done,
            addr: target.addr,
            rooms: BTreeMap::new(),
            opening: BTreeSet::new(),
            account: None,
            seed: None,
            gc: gc_window::Windows::default(),
            direct,
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

    /// Input typed in a room's window: `/part` also leaves the room on the index (the
    /// group is left the usual way); everything else goes the usual way.
    pub(super) async fn room_input(&mut self, room: String, input: Input) -> Option<Input> {
        if let Input::Command(ChatCommand::Part(_)) = &input {
            if let Some(l) = self.index.as_mut() {
                l.rooms.retain(|_, r| *r != room);
            }
            let _ = self.job(Job::Leave { room }).await;
        }
        Some(input)
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
        if link.room_id(&room).is_some() || link.opening.contains(&room) {
            self.info(at, format!("room {room} is open already"));
            return Ok(());
        }
        link.jobs
            .try_send(Job::Open { room: room.clone() })
            .map_err(|_| anyhow::anyhow!("the index connection is busy or stopped"))?;
        link.opening.insert(room);
        Ok(())
    }

    /// Shows what the worker reports.
    pub(super) async fn on_index(&mut self, done: Done) {
        match done {
            Done::Info(at, text) => self.info(at, text),
            Done::Error(at, text) => self.error(at, text),
            Done::LoggedIn {
                at,
                name,
                key,
                admin,
                lists,
                seed,
            } => {
                if let Some(l) = self.index.as_mut() {
                    l.seed = Some(seed);
                }
                self.logged_in(at, name, &key, admin, lists.rooms, lists.chats.len());
            }
            Done::LoggedOut => self.logged_out().await,
            Done::Opened {
                room,
                join,
                history,
            } => {
                if let Err(e) = self.room_opened(&room, join, history).await {
                    self.error(None, format!("room {room}: {e:#}"));
                }
            }
            Done::OpenFailed { room, error } => {
                if let Some(l) = self.index.as_mut() {
                    l.opening.remove(&room);
                }
                self.error(None, format!("room {room}: {error}"));
            }
            Done::RoomError { room, error } => {
                let at = self.index.as_ref().and_then(|l| l.room_id(&room));
                self.error(at, error);
            }
            Done::Left { room } => self.info(None, format!("left room {room}")),
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

    /// Leaves the rooms' groups and forgets them, and closes the group-chat and PM windows.
    async fn logged_out(&mut self) {
        self.gc_logged_out();
        let Some(l) = self.index.as_mut() else { return };
        l.account = None;
        l.seed = None;
        l.opening.clear();
        let rooms = std::mem::take(&mut l.rooms);
        for group in rooms.into_keys() {
            let _ = self.handle.leave_group(group, "logged out").await;
            self.close(group, "logged out", true);
        }
        self.info(None, "logged out of the index");
    }

    /// The index answered `/room`: joins the room's group through the index's node with the
    /// account's identity, then shows the stored history.
    async fn room_opened(
        &mut self,
        room: &str,
        join: RoomJoin,
        history: Vec<RoomMessage>,
    ) -> anyhow::Result<()> {
        let Some(l) = self.index.as_mut() else {
            return Ok(());
        };
        l.opening.remove(room);
        let (Some(nick), Some(seed)) = (l.account.clone(), l.seed.clone()) else {
            anyhow::bail!("logged out before the room opened");
        };
        if join.port == 0 {
            anyhow::bail!("this index runs no node for its rooms");
        }
        let founder = founder_key(&join.chat_id)
            .ok_or_else(|| anyhow::anyhow!("the index sent a bad chat id"))?;
        let contact = NodeInfo {
            key: founder,
            addr: SocketAddr::new(l.addr.ip(), join.port),
        };
        let string = JoinString {
            dialect: Dialect::Secure,
            privacy: Privacy::Public,
            chat_id: Some(join.chat_id),
            contact,
        };
        let open = self
            .groups
            .iter()
            .find(|(_, j)| j.join.chat_id == Some(join.chat_id))
            .map(|(g, _)| *g);
        let group = match open {
            Some(g) => g,
            None => self.join_as(&string, &seed, &nick, room).await?,
        };
        if let Some(l) = self.index.as_mut() {
            l.rooms.insert(group, room.to_owned());
        }
        let line = format!(
            "room {room}: {} clients; joining its group through the index's node at {}; {} \
             earlier messages follow",
            join.members,
            contact.addr,
            history.len()
        );
        self.info(Some(group), line);
        for m in history {
            let ev = ChatEvent::RoomMessage {
                at: self.now(),
                room: room.to_owned(),
                author: m.author,
                text: m.text,
                server: m.server,
                history: true,
                sent: m.at,
            };
            self.push(Some(group), ev);
        }
        Ok(())
    }

    /// A chat from the founder of a room's group (the index's node): an admin's server
    /// message, shown as one. `None` if `group` is no room or `origin` not its founder.
    pub(super) fn server_message(
        &self,
        group: GroupId,
        origin: &PublicKey,
        text: &str,
    ) -> Option<ChatEvent> {
        let room = self.room_of(Some(group))?;
        let chat_id = self.groups.get(&group)?.join.chat_id?;
        if founder_key(&chat_id)? != *origin {
            return None;
        }
        Some(ChatEvent::RoomMessage {
            at: self.now(),
            room,
            author: "index".to_owned(),
            text: text.to_owned(),
            server: true,
            history: false,
            sent: crate::index::writer::unix_now().try_into().unwrap_or(0),
        })
    }

    /// The store records of the rooms' groups: a quit forgets them (a login opens the rooms
    /// again), so a restart does not rejoin them as plain groups.
    pub(super) fn room_records(&self) -> Vec<u64> {
        let Some(l) = self.index.as_ref() else {
            return Vec::new();
        };
        l.rooms
            .keys()
            .filter_map(|g| self.groups.get(g).map(|j| j.record))
            .collect()
    }
}
