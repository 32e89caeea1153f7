//! The task that owns the [`IndexClient`]: every index request runs here, never on the
//! runtime's loop (a request may wait up to 6 × 500 ms for an unreachable index, and
//! Argon2id runs about a second on a blocking thread inside the client).
//!
//! It takes [`Job`]s in order and answers with [`Done`]s. A room's messages do not pass
//! through here: opening a room asks the index for its group (chat id and the port of the
//! index's node) and its stored history, and the runtime joins the group (PROTOCOL.md §8.11).
//! Every [`GC_POLL`] it reads new group-chat records and messages and the PM mailbox
//! ([`gc`]). Passwords arrive in [`Password`]s and go only into the client's key derivation.

mod direct;
mod gc;
mod members;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::IndexTarget;
use crate::app::command::Password;
use crate::crypto::Identity;
use crate::index::account::{KdfParams, Lists};
use crate::index::client::{ClientError, IndexClient, calibrate};
use crate::index::devices::load_or_create_seed;
use crate::index::wire::{RoomJoin, RoomMessage};
use crate::index::writer::unix_now;
use crate::net::os_seed;
use crate::proto::GroupId;

/// How often group chats and the PM mailbox are read.
const GC_POLL: Duration = Duration::from_secs(2);

/// Most history messages read when a room opens.
const HISTORY: u8 = 50;

/// One thing for the worker to do; `at` is the window that asked (for its answer lines).
#[derive(Debug)]
pub(in crate::app) enum Job {
    Register {
        at: Option<GroupId>,
        name: String,
        password: Password,
        rooms: Vec<String>,
    },
    Login {
        at: Option<GroupId>,
        name: String,
        password: Password,
    },
    Passwd {
        at: Option<GroupId>,
        password: Password,
    },
    Logout {
        at: Option<GroupId>,
    },
    Rooms {
        at: Option<GroupId>,
    },
    Open {
        room: String,
    },
    Leave {
        room: String,
    },
    AdminSay {
        at: Option<GroupId>,
        room: Option<String>,
        text: String,
    },
    /// A group-chat or PM command.
    Gc(super::gc_window::GcJob),
    /// Leave the open rooms (the account's list keeps them) and log out.
    Shutdown,
    /// Look up an account's key and presence for the direct endpoint (PROTOCOL.md §8.14).
    Resolve {
        name: String,
    },
    /// A direct PM nobody acknowledged: store its sealed body in the mailbox.
    StoreSealed {
        to: String,
        client_id: u64,
        body: Vec<u8>,
    },
}

/// What a job (or a poll) came to.
#[derive(Debug)]
pub(in crate::app) enum Done {
    Info(Option<GroupId>, String),
    Error(Option<GroupId>, String),
    LoggedIn {
        at: Option<GroupId>,
        name: String,
        key: String,
        admin: bool,
        lists: Lists,
        /// Our key in every room's group: this device's (§8.13), else the account's.
        seed: Zeroizing<[u8; 32]>,
    },
    LoggedOut,
    Opened {
        room: String,
        join: RoomJoin,
        history: Vec<RoomMessage>,
    },
    OpenFailed {
        room: String,
        error: String,
    },
    RoomError {
        room: String,
        error: String,
    },
    Left {
        room: String,
    },
    Gc(super::gc_window::GcDone),
    Stopped,
}

/// The worker's state: the client, the lists of the logged-in account, the open rooms.
struct Worker {
    client: IndexClient,
    target: IndexTarget,
    floor: bool,
    /// Where this device's seed is kept (none: rooms use the account key).
    data_dir: Option<PathBuf>,
    lists: Option<Lists>,
    rooms: BTreeSet<String>,
    done: mpsc::Sender<Done>,
    gc: gc::GcState,
    direct: direct::DirectState,
    members: members::MemberLists,
}

/// Runs until the job channel closes or a [`Job::Shutdown`] is done.
pub(super) async fn run(
    target: IndexTarget,
    floor: bool,
    data_dir: Option<PathBuf>,
    mut jobs: mpsc::Receiver<Job>,
    done: mpsc::Sender<Done>,
    link: Option<super::direct::DirectLink>,
) {
    let client = match IndexClient::connect(target.key, target.addr).await {
        Ok(c) => c,
        Err(e) => {
            let _ = done
                .send(Done::Error(None, format!("index {}: {e}", target.addr)))
                .await;
            return;
        }
    };
    let mut w = Worker {
        client,
        target,
        floor,
        data_dir,
        lists: None,
        rooms: BTreeSet::new(),
        done,
        gc: gc::GcState::default(),
        direct: direct::DirectState::new(link),
        members: members::MemberLists::default(),
    };
    // Group chats and PMs are read through the index (PROTOCOL.md §8.10, §8.12); rooms are
    // groups and need no poll.
    let mut poll = tokio::time::interval(GC_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                None => return,
                Some(Job::Shutdown) => {
                    w.shutdown().await;
                    return;
                }
                Some(job) => w.job(job).await,
            },
            _ = poll.tick() => {
                w.presence_refresh().await;
                w.gc_poll().await;
            }
        }
    }
}

impl Worker {
    async fn send(&self, d: Done) {
        let _ = self.done.send(d).await;
    }

    /// One line for a failed request.
    fn describe(&self, e: &ClientError) -> String {
        let tries = self.client.attempts;
        let wait = self.client.retry * tries;
        match e {
            ClientError::Unreachable => format!(
                "index unreachable: no answer from {} after {tries} tries ({} s)",
                self.target.addr,
                wait.as_secs_f32()
            ),
            ClientError::AuthFailed => "login failed: wrong username or password".into(),
            ClientError::NameTaken => "name taken: that username has an account already".into(),
            ClientError::RateLimited => {
                "rate limited: too many attempts, try again in a minute".into()
            }
            ClientError::Forbidden => "not allowed by the index".into(),
            ClientError::NotLoggedIn => "not logged in: /login NAME first".into(),
            other => other.to_string(),
        }
    }

    async fn job(&mut self, job: Job) {
        match job {
            Job::Register {
                at,
                name,
                password,
                rooms,
            } => self.register(at, &name, &password, rooms).await,
            Job::Login { at, name, password } => self.login(at, &name, &password).await,
            Job::Passwd { at, password } => self.passwd(at, &password).await,
            Job::Logout { at } => self.logout(at).await,
            Job::Rooms { at } => self.list(at).await,
            Job::Open { room } => self.open(room).await,
            Job::Leave { room } => self.leave(room).await,
            Job::AdminSay { at, room, text } => self.admin_say(at, room, &text).await,
            Job::Gc(job) => self.gc_job(job).await,
            Job::Resolve { name } => self.resolve(name).await,
            Job::StoreSealed {
                to,
                client_id,
                body,
            } => self.store_sealed(&to, client_id, body).await,
            Job::Shutdown => {}
        }
    }

    /// The Argon2id parameters of a new password: the floor when asked (tests), else
    /// calibrated to about 1 s on this machine.
    async fn params(&self) -> Result<KdfParams, ClientError> {
        if self.floor {
            return Ok(KdfParams::FLOOR);
        }
        let measured = tokio::task::spawn_blocking(|| calibrate(Duration::from_secs(1)))
            .await
            .map_err(std::io::Error::other)??;
        Ok(measured.0)
    }

    async fn register(
        &mut self,
        at: Option<GroupId>,
        name: &str,
        password: &Password,
        rooms: Vec<String>,
    ) {
        let lists = Lists {
            rooms,
            chats: Vec::new(),
        };
        let result = async {
            let params = self.params().await?;
            let mut rng = ChaCha20Rng::from_seed(os_seed()?);
            let identity = Identity::generate(&mut rng);
            self.client
                .register(name, password.expose(), params, &identity, &lists)
                .await
        }
        .await;
        match result {
            Ok(()) => {
                self.send(Done::Info(at, format!("registered {name}; logging in")))
                    .await;
                self.login(at, name, password).await;
            }
            Err(e) => self.send(Done::Error(at, self.describe(&e))).await,
        }
    }

    async fn login(&mut self, at: Option<GroupId>, name: &str, password: &Password) {
        match self.client.login(name, password.expose()).await {
            Ok(opened) => {
                self.lists = Some(opened.lists.clone());
                let key = hex::encode(opened.identity.signing_key());
                let name = name.to_ascii_lowercase();
                let (admin, lists) = (opened.admin, opened.lists.clone());
                let seed = match self.device(at).await {
                    Some(device) => device.seed(),
                    None => opened.identity.seed(),
                };
                self.send(Done::LoggedIn {
                    at,
                    name,
                    key,
                    admin,
                    lists,
                    seed,
                })
                .await;
                self.direct_login().await;
                self.gc_login().await;
            }
            Err(e) => self.send(Done::Error(at, self.describe(&e))).await,
        }
    }

    /// This device's identity for the account just logged in, registered with the index
    /// (PROTOCOL.md §8.13): its key is ours in the rooms' groups. `None`, after one error
    /// line, when there is no data dir or the index refuses: the rooms then use the
    /// account's key, as before device keys.
    async fn device(&mut self, at: Option<GroupId>) -> Option<Identity> {
        let dir = self.data_dir.clone()?;
        let seed = load_or_create_seed(&dir, || os_seed().unwrap_or_default());
        let result = match seed {
            Ok(seed) if *seed != [0; 32] => {
                let now = u64::try_from(unix_now()).unwrap_or(0);
                self.client.register_device(&seed, now).await
            }
            Ok(_) => Err(ClientError::Io(std::io::Error::other(
                "no random device seed",
            ))),
            Err(e) => Err(ClientError::Io(e)),
        };
        match result {
            Ok((device, n)) => {
                let key = hex::encode(device.signing_key());
                let line = format!("device key {key} registered ({n} devices on this account)");
                self.send(Done::Info(at, line)).await;
                Some(device)
            }
            Err(e) => {
                let line = format!(
                    "device key not registered ({}): rooms use the account key",
                    self.describe(&e)
                );
                self.send(Done::Error(at, line)).await;
                None
            }
        }
    }

    async fn passwd(&mut self, at: Option<GroupId>, password: &Password) {
        let result = async {
            let params = self.params().await?;
            self.client.change_password(password.expose(), params).await
        }
        .await;
        match result {
            Ok(()) => self.send(Done::Info(at, "password changed".into())).await,
            Err(e) => self.send(Done::Error(at, self.describe(&e))).await,
        }
    }

    async fn logout(&mut self, at: Option<GroupId>) {
        self.leave_all().await;
        self.direct_logout().await;
        self.lists = None;
        self.gc = gc::GcState::default();
        match self.client.logout().await {
            Ok(()) => self.send(Done::LoggedOut).await,
            Err(e) => self.send(Done::Error(at, self.describe(&e))).await,
        }
    }

    /// Leaves every open room on the index (the account's list keeps them).
    async fn leave_all(&mut self) {
        for room in std::mem::take(&mut self.rooms) {
            let _ = self.client.leave_room(&room).await;
        }
    }

    async fn shutdown(&mut self) {
        self.leave_all().await;
        if self.lists.is_some() {
            self.direct_logout().await;
        }
        if self.lists.take().is_some() {
            let _ = self.client.logout().await;
        }
        self.send(Done::Stopped).await;
    }

    async fn list(&mut self, at: Option<GroupId>) {
        match self.client.list_rooms().await {
            Ok(rooms) if rooms.is_empty() => {
                self.send(Done::Info(at, "no rooms yet: /room NAME opens one".into()))
                    .await;
            }
            Ok(rooms) => {
                for r in rooms {
                    let line = format!("{} ({} clients)", r.name, r.members);
                    self.send(Done::Info(at, line)).await;
                }
            }
            Err(e) => self.send(Done::Error(at, self.describe(&e))).await,
        }
    }

    async fn open(&mut self, room: String) {
        let result = async {
            let join = self.client.join_room(&room).await?;
            let history = self.client.room_history(&room, 0, HISTORY).await?;
            Ok::<_, ClientError>((join, history))
        }
        .await;
        match result {
            Ok((join, history)) => {
                self.rooms.insert(room.clone());
                self.remember(&room, true).await;
                self.send(Done::Opened {
                    room,
                    join,
                    history,
                })
                .await;
            }
            Err(e) => {
                let error = self.describe(&e);
                self.send(Done::OpenFailed { room, error }).await;
            }
        }
    }

    async fn leave(&mut self, room: String) {
        self.rooms.remove(&room);
        self.remember(&room, false).await;
        match self.client.leave_room(&room).await {
            Ok(_) => self.send(Done::Left { room }).await,
            Err(e) => {
                let error = self.describe(&e);
                self.send(Done::RoomError { room, error }).await;
            }
        }
    }

    /// Adds `room` to (or removes it from) the account's room list, stored on the index.
    async fn remember(&mut self, room: &str, keep: bool) {
        let Some(lists) = &mut self.lists else {
            return;
        };
        let has = lists.rooms.iter().any(|r| r == room);
        match (keep, has) {
            (true, false) => lists.rooms.push(room.to_owned()),
            (false, true) => lists.rooms.retain(|r| r != room),
            _ => return,
        }
        let lists = lists.clone();
        if let Err(e) = self.client.update_lists(&lists).await {
            let line = format!("room list not saved: {}", self.describe(&e));
            self.send(Done::Error(None, line)).await;
        }
    }

    async fn admin_say(&mut self, at: Option<GroupId>, room: Option<String>, text: &str) {
        match self.client.server_message(room.as_deref(), text).await {
            Ok(n) => {
                let line = format!("server message stored in {n} room(s)");
                self.send(Done::Info(at, line)).await;
            }
            Err(ClientError::Forbidden) => {
                let line = "not allowed: only an index admin may send server messages";
                self.send(Done::Error(at, line.into())).await;
            }
            Err(e) => self.send(Done::Error(at, self.describe(&e))).await,
        }
    }
}
