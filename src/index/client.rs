//! The client library of the index: what `/register`, `/login`, `/passwd` and `/rooms` will
//! call (PROTOCOL.md §8.6–§8.7).
//!
//! An [`IndexClient`] owns one UDP socket and a fresh envelope key (the index learns no
//! long-term key from it). Each request gets a new request id; it is sent (fragmented when
//! long), and re-sent with the **same** id every `retry` until a reply arrives or `attempts`
//! run out ([`ClientError::Unreachable`]). The index answers a retried id from its reply
//! cache, so a retry never runs twice. A `busy` answer is retried after 50 ms.
//!
//! Argon2id runs on a blocking thread ([`tokio::task::spawn_blocking`]); the password is held
//! in a `Zeroizing` buffer, never logged, and never sent: only the verifier's public key, a
//! signature and boxes sealed under keys derived from it leave the client.

pub mod chats;
mod devices;
mod gc;
mod pm;
mod presence;

pub use chats::{ChatError, ChatInfo, ChatLine, GroupChats};
pub use gc::PutOutcome;
pub use pm::{MAX_PM_TEXT, ReceivedPm, open_pm, seal_pm};

use std::net::SocketAddr;
use std::time::Duration;

use crypto_box::SalsaBox;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::net::UdpSocket;
use zeroize::Zeroizing;

use super::account::{self, AccountError, AccountKey, KdfParams, Lists, Opened, PasswordKeys};
use super::names::{normalize_username, room_name_problem};
use super::wire::request::MAX_HISTORY;
use super::wire::{
    self, Fragment, Registration, Reply, ReplyBody, Request, RoomInfo, RoomJoin, RoomMessage,
    Status,
};
use crate::crypto::{self, BoxKeypair, Identity};
use crate::net::os_seed;
use crate::wire::{Envelope, MAX_PLAINTEXT, PublicKey};

/// Wait after a `busy` answer before sending the request again.
const BUSY_BACKOFF: Duration = Duration::from_millis(50);

/// What a client call can fail with: one line each, for the front end.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No reply after every retry.
    #[error("index unreachable")]
    Unreachable,
    /// Wrong password or unknown user (the index does not say which).
    #[error("wrong username or password")]
    AuthFailed,
    /// The name is taken.
    #[error("name taken")]
    NameTaken,
    /// Too many attempts.
    #[error("rate limited, try again later")]
    RateLimited,
    /// The index is overloaded.
    #[error("index busy, try again")]
    Busy,
    /// Log in first.
    #[error("not logged in")]
    NotLoggedIn,
    /// Refused by the index.
    #[error("not allowed")]
    Forbidden,
    /// The recipient's mailbox (or this sender's share of it) is full.
    #[error("mailbox full")]
    MailboxFull,
    /// No account has that name.
    #[error("no such user")]
    NoSuchUser,
    /// A group-chat record lost its epoch to another member's (handled by the chat code).
    #[error("another member's key rotation came first")]
    RotationLost,
    /// The index refused a group-chat record (not the valid next one).
    #[error("the index refused the key rotation record")]
    BadRecord,
    /// The index refused this device's certificate (PROTOCOL.md §8.13).
    #[error("the index refused the device certificate (is this machine's clock right?)")]
    BadCertificate,
    /// Another account holds this device key.
    #[error("this device key belongs to another account")]
    DeviceTaken,
    /// The index's database failed.
    #[error("index storage unavailable")]
    Unavailable,
    /// A table of the index is full, or the room is not allowed.
    #[error("index full")]
    Full,
    /// The username breaks the rule (PROTOCOL.md §8.2).
    #[error("a username has 1 to 32 letters, digits, '_', '-' or '.'")]
    BadName,
    /// The room name breaks the rule.
    #[error("{0}")]
    BadRoom(&'static str),
    /// Key derivation or decryption on this side.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The reply does not match the request.
    #[error("unexpected reply from the index")]
    Protocol,
    /// Socket or thread.
    #[error("index connection: {0}")]
    Io(#[from] std::io::Error),
}

fn status_error(status: Status) -> ClientError {
    match status {
        Status::Ok => ClientError::Protocol,
        Status::AuthFailed => ClientError::AuthFailed,
        Status::NameTaken => ClientError::NameTaken,
        Status::RateLimited => ClientError::RateLimited,
        Status::Busy => ClientError::Busy,
        Status::NotLoggedIn => ClientError::NotLoggedIn,
        Status::Forbidden => ClientError::Forbidden,
        Status::Unavailable => ClientError::Unavailable,
        Status::Full => ClientError::Full,
        Status::MailboxFull => ClientError::MailboxFull,
        Status::NoSuchUser => ClientError::NoSuchUser,
        Status::RotationLost => ClientError::RotationLost,
        Status::BadRecord => ClientError::BadRecord,
        Status::BadCertificate => ClientError::BadCertificate,
        Status::DeviceTaken => ClientError::DeviceTaken,
    }
}

/// A connection to one index.
pub struct IndexClient {
    socket: UdpSocket,
    index: PublicKey,
    addr: SocketAddr,
    keypair: BoxKeypair,
    shared: SalsaBox,
    rng: ChaCha20Rng,
    next_id: u64,
    /// Wait this long for a reply before re-sending. Default 500 ms.
    pub retry: Duration,
    /// Sends per request. Default 6.
    pub attempts: u32,
    name: Option<String>,
    account_key: Option<AccountKey>,
    identity: Option<Identity>,
    capture: Option<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for IndexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexClient")
            .field("index", &self.index.fmt_short())
            .field("addr", &self.addr)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl IndexClient {
    /// Binds a local socket (any port, the index's address family) and a fresh envelope key.
    pub async fn connect(index: PublicKey, addr: SocketAddr) -> Result<Self, ClientError> {
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        let mut rng = ChaCha20Rng::from_seed(os_seed()?);
        let keypair = Identity::generate(&mut rng).keypair().secret_bytes();
        let keypair = BoxKeypair::from_secret_bytes(*keypair);
        if !crypto::is_acceptable_key(&index) {
            return Err(ClientError::Protocol);
        }
        let shared = crypto::precompute(&keypair, &index);
        Ok(Self {
            socket,
            index,
            addr,
            keypair,
            shared,
            rng,
            next_id: 1,
            retry: Duration::from_millis(500),
            attempts: 6,
            name: None,
            account_key: None,
            identity: None,
            capture: None,
        })
    }

    /// Records every datagram sent and received, and every request and reply message in the
    /// clear, from now on (for tests that look for secrets on the wire).
    pub fn capture(&mut self) {
        self.capture = Some(Vec::new());
    }

    /// What [`Self::capture`] recorded.
    pub fn captured(&self) -> &[Vec<u8>] {
        self.capture.as_deref().unwrap_or(&[])
    }

    /// Sends one request and waits for its reply (retrying with the same request id).
    pub async fn request(&mut self, request: &Request) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let message = request.encode();
        let parts = wire::fragment(false, id, &message).map_err(|_| ClientError::Protocol)?;
        let datagrams: Vec<Vec<u8>> = parts.iter().map(|p| self.seal(p)).collect();
        self.record(&message);
        let mut busy = false;
        for _ in 0..self.attempts.max(1) {
            for d in &datagrams {
                self.record(d);
                self.socket.send_to(d, self.addr).await?;
            }
            if let Ok(reply) = tokio::time::timeout(self.retry, self.receive(id)).await {
                let reply = reply?;
                if reply.kind != request.kind() {
                    return Err(ClientError::Protocol);
                }
                if reply.status == Status::Busy {
                    // Not cached by the index: the same id is run when re-sent.
                    tokio::time::sleep(BUSY_BACKOFF).await;
                    busy = true;
                    continue;
                }
                return Ok(reply);
            }
        }
        Err(if busy {
            ClientError::Busy
        } else {
            ClientError::Unreachable
        })
    }

    fn seal(&mut self, plain: &[u8]) -> Vec<u8> {
        let nonce = crypto::random_nonce(&mut self.rng);
        wire::seal(
            &self.shared,
            &self.index,
            &self.keypair.public_key(),
            &nonce,
            plain,
        )
    }

    fn record(&mut self, bytes: &[u8]) {
        if let Some(c) = &mut self.capture {
            c.push(bytes.to_vec());
        }
    }

    /// Reads datagrams until the reply to `id` is complete; anything else is ignored.
    async fn receive(&mut self, id: u64) -> Result<Reply, ClientError> {
        let mut buf = vec![0u8; 2048];
        let mut parts: Vec<Option<Vec<u8>>> = Vec::new();
        loop {
            let (len, from) = self.socket.recv_from(&mut buf).await?;
            if from.port() != self.addr.port() {
                continue;
            }
            let mut scratch = [0u8; MAX_PLAINTEXT];
            let Ok(env) = Envelope::new_checked(&buf[..len]) else {
                continue;
            };
            if env.sender() != self.index || env.receiver() != self.keypair.public_key() {
                continue;
            }
            let Ok(plain) = crypto::open_packet(&self.shared, &env, &mut scratch) else {
                continue;
            };
            let Ok(f) = Fragment::decode(plain) else {
                continue;
            };
            if !f.reply || f.request_id != id {
                continue;
            }
            if parts.len() != usize::from(f.count) {
                parts = vec![None; usize::from(f.count)];
            }
            parts[usize::from(f.index)] = Some(f.data.to_vec());
            if parts.iter().all(Option::is_some) {
                let message: Vec<u8> = parts.into_iter().flatten().flatten().collect();
                self.record(&buf[..len]);
                self.record(&message);
                return Reply::decode(&message).map_err(|_| ClientError::Protocol);
            }
        }
    }

    /// Sends a request and returns the ok body, or the status as an error.
    async fn ok(&mut self, request: &Request) -> Result<ReplyBody, ClientError> {
        let reply = self.request(request).await?;
        match reply.status {
            Status::Ok => Ok(reply.body),
            other => Err(status_error(other)),
        }
    }

    /// Registers `name` with a new account for `identity` and `lists`; the password keys are
    /// derived here with `params` (see [`calibrate`]).
    pub async fn register(
        &mut self,
        name: &str,
        password: &str,
        params: KdfParams,
        identity: &Identity,
        lists: &Lists,
    ) -> Result<(), ClientError> {
        let name = normalize_username(name).ok_or(ClientError::BadName)?;
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let seed = identity.seed();
        let lists = lists.clone();
        let mut rng = ChaCha20Rng::from_seed(os_seed()?);
        let (registration, key) = tokio::task::spawn_blocking(move || {
            let identity = Identity::from_seed(&seed);
            account::register(&name, &password, &params, &identity, &lists, &mut rng)
        })
        .await
        .map_err(std::io::Error::other)??;
        self.register_prepared(&registration).await?;
        self.name = Some(registration.name.clone());
        self.account_key = Some(key);
        Ok(())
    }

    /// Sends a registration built by [`account::register`].
    pub async fn register_prepared(
        &mut self,
        registration: &Registration,
    ) -> Result<(), ClientError> {
        self.ok(&Request::Register(Box::new(registration.clone())))
            .await
            .map(|_| ())
    }

    /// Logs in: prelogin, Argon2id on this machine, signature over the challenge. Returns the
    /// decrypted identity and lists; a wrong password is [`ClientError::AuthFailed`].
    pub async fn login(&mut self, name: &str, password: &str) -> Result<Opened, ClientError> {
        let name = normalize_username(name).ok_or(ClientError::BadName)?;
        let ReplyBody::Prelogin {
            params,
            salt,
            challenge,
        } = self.ok(&Request::Prelogin { name: name.clone() }).await?
        else {
            return Err(ClientError::Protocol);
        };
        params.check()?;
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let keys =
            tokio::task::spawn_blocking(move || PasswordKeys::derive(&password, &salt, &params))
                .await
                .map_err(std::io::Error::other)??;
        let signature = keys.sign_login(&challenge, &name, &self.index.0);
        let body = self
            .ok(&Request::Login {
                name: name.clone(),
                signature,
            })
            .await?;
        let ReplyBody::Account(bundle) = body else {
            return Err(ClientError::Protocol);
        };
        let opened = account::open(&bundle, &keys).map_err(|_| ClientError::AuthFailed)?;
        self.name = Some(name);
        self.account_key = Some(opened.account_key.clone());
        self.identity = Some(Identity::from_seed(&opened.identity.seed()));
        Ok(opened)
    }

    /// Changes the password of the logged-in account: new salt, the same account key
    /// re-wrapped; nothing else is re-encrypted.
    pub async fn change_password(
        &mut self,
        new_password: &str,
        params: KdfParams,
    ) -> Result<(), ClientError> {
        let key = self.account_key.as_ref().ok_or(ClientError::NotLoggedIn)?;
        let key = key.clone();
        let password = Zeroizing::new(new_password.as_bytes().to_vec());
        let mut rng = ChaCha20Rng::from_seed(os_seed()?);
        let (credentials, wrapped_key) = tokio::task::spawn_blocking(move || {
            account::rewrap(&key, &password, &params, &mut rng)
        })
        .await
        .map_err(std::io::Error::other)??;
        self.ok(&Request::ChangePassword {
            credentials,
            wrapped_key,
        })
        .await
        .map(|_| ())
    }

    /// Fetches the logged-in account again and decrypts its lists with the account key kept
    /// since login (another device may have changed them); no password needed.
    pub async fn refresh_lists(&mut self) -> Result<Lists, ClientError> {
        let ReplyBody::Account(bundle) = self.ok(&Request::Fetch).await? else {
            return Err(ClientError::Protocol);
        };
        let key = self.account_key.as_ref().ok_or(ClientError::NotLoggedIn)?;
        Ok(key.open_lists(&bundle.rooms, &bundle.chats)?)
    }

    /// Replaces the stored lists of the logged-in account.
    pub async fn update_lists(&mut self, lists: &Lists) -> Result<(), ClientError> {
        let key = self.account_key.as_ref().ok_or(ClientError::NotLoggedIn)?;
        let (rooms, chats) = key.seal_lists(lists, &mut self.rng)?;
        self.ok(&Request::UpdateLists { rooms, chats })
            .await
            .map(|_| ())
    }

    /// Rooms with their member counts.
    pub async fn list_rooms(&mut self) -> Result<Vec<RoomInfo>, ClientError> {
        match self.ok(&Request::ListRooms).await? {
            ReplyBody::Rooms(r) => Ok(r),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Joins a room: the index founds its group if needed (§8.11); returns the group's chat
    /// id, the port of the index's node and the clients in the group.
    pub async fn join_room(&mut self, room: &str) -> Result<RoomJoin, ClientError> {
        check_room(room)?;
        match self.ok(&Request::JoinRoom { room: room.into() }).await? {
            ReplyBody::RoomJoin(j) => Ok(j),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Leaves a room; returns its member count.
    pub async fn leave_room(&mut self, room: &str) -> Result<u32, ClientError> {
        check_room(room)?;
        members(self.ok(&Request::LeaveRoom { room: room.into() }).await?)
    }

    /// Stores a message in a room; returns its id.
    pub async fn post_room(&mut self, room: &str, text: &str) -> Result<u64, ClientError> {
        check_room(room)?;
        match self
            .ok(&Request::PostRoom {
                room: room.into(),
                text: text.into(),
            })
            .await?
        {
            ReplyBody::Posted(id) => Ok(id),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Up to `max` (1..=50) messages of a room with ids below `before` (0: the newest),
    /// oldest first: the history a joiner reads.
    pub async fn room_history(
        &mut self,
        room: &str,
        before: u64,
        max: u8,
    ) -> Result<Vec<RoomMessage>, ClientError> {
        check_room(room)?;
        let max = max.clamp(1, MAX_HISTORY);
        let request = Request::RoomHistory {
            room: room.into(),
            before,
            max,
        };
        match self.ok(&request).await? {
            ReplyBody::History(m) => Ok(m),
            _ => Err(ClientError::Protocol),
        }
    }

    /// An admin's server message to `room`, or to every room when `None`; returns the
    /// number of rooms it went to. A non-admin gets [`ClientError::Forbidden`].
    pub async fn server_message(
        &mut self,
        room: Option<&str>,
        text: &str,
    ) -> Result<u32, ClientError> {
        if let Some(room) = room {
            check_room(room)?;
        }
        let request = Request::ServerMessage {
            room: room.map(str::to_owned),
            text: text.into(),
        };
        match self.ok(&request).await? {
            ReplyBody::Delivered(n) => Ok(n),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Ends the session.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        self.ok(&Request::Logout).await?;
        self.account_key = None;
        self.identity = None;
        self.name = None;
        Ok(())
    }
}

fn check_room(room: &str) -> Result<(), ClientError> {
    match room_name_problem(room) {
        Some(why) => Err(ClientError::BadRoom(why)),
        None => Ok(()),
    }
}

fn members(body: ReplyBody) -> Result<u32, ClientError> {
    match body {
        ReplyBody::Members(n) => Ok(n),
        _ => Err(ClientError::Protocol),
    }
}

/// Finds Argon2id parameters that take about `target` on this machine (RFC 9106 §4): 64 MiB
/// and one lane, passes raised (up to four re-measurements) until one hash takes at least 90 %
/// of `target`; on a machine where two passes already take twice the target, memory is lowered
/// instead, never below the floor. Returns the parameters and the last measured time.
pub fn calibrate(target: Duration) -> Result<(KdfParams, Duration), AccountError> {
    let mut params = KdfParams {
        m_kib: 64 * 1024,
        t: 2,
        p: 1,
    };
    let mut measured = time_hash(&params)?;
    if measured > target * 2 {
        let scaled = u128::from(params.m_kib) * target.as_nanos() / measured.as_nanos().max(1);
        params.m_kib = u32::try_from(scaled)
            .unwrap_or(u32::MAX)
            .max(KdfParams::FLOOR.m_kib);
        return Ok((params, time_hash(&params)?));
    }
    for _ in 0..4 {
        if measured >= target.mul_f64(0.9) || params.t >= KdfParams::MAX_T {
            break;
        }
        let scale = target.as_secs_f64() / measured.as_secs_f64().max(1e-6);
        let next = (f64::from(params.t) * scale).ceil() as u32;
        params.t = next.clamp(params.t + 1, KdfParams::MAX_T);
        measured = time_hash(&params)?;
    }
    Ok((params, measured))
}

/// The time of one Argon2id hash with `params`.
fn time_hash(params: &KdfParams) -> Result<Duration, AccountError> {
    let start = crate::net::now();
    PasswordKeys::derive(b"calibration", &[0; 16], params)?;
    Ok(crate::net::now().saturating_duration_since(start))
}
