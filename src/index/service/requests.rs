//! One handler per request kind, and the replies built from storage outcomes.

use std::net::SocketAddr;
use std::time::Instant;

use rand::RngCore;

use super::{Challenge, Pending, RoomAction, Service, Session};
use crate::index::account::verify_login;
use crate::index::names::{is_valid_room_name, normalize_username};
use crate::index::store::{Op, Outcome};
use crate::index::wire::{Kind, MailboxReply, MailboxRequest, Reply, ReplyBody, Request, Status};
use crate::wire::PublicKey;

type Handled = Result<(), &'static str>;

impl Service {
    /// Dispatches a decoded request. `Err` is a drop reason (no reply).
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        client: PublicKey,
        request_id: u64,
        request: Request,
    ) -> Handled {
        let p = Pending {
            peer,
            client,
            request_id,
            kind: request.kind(),
            name: String::new(),
            login: None,
            then: None,
        };
        match request {
            Request::Register(mut reg) => {
                reg.name = normalize_username(&reg.name).ok_or("bad_name")?;
                reg.credentials.params.check().map_err(|_| "bad_params")?;
                self.submit(p, Op::Register(reg));
                Ok(())
            }
            Request::Prelogin { name } => {
                let name = normalize_username(&name).ok_or("bad_name")?;
                let op = Op::LookupAuth { name: name.clone() };
                self.submit(Pending { name, ..p }, op);
                Ok(())
            }
            Request::Login { name, signature } => self.on_login(now, p, &name, &signature),
            Request::SetPrivilege { .. } => {
                self.stats.privilege_refused += 1;
                self.answer(&p, Status::Forbidden);
                Ok(())
            }
            Request::ListRooms => {
                self.submit(p, Op::ListRooms);
                Ok(())
            }
            other => self.on_session_request(now, p, other),
        }
    }

    /// Requests that need a session (and the room requests, whose names are checked first).
    fn on_session_request(&mut self, now: Instant, p: Pending, request: Request) -> Handled {
        if let Request::JoinRoom { room }
        | Request::LeaveRoom { room }
        | Request::PostRoom { room, .. } = &request
        {
            if !is_valid_room_name(room) {
                return Err("bad_room_name");
            }
            if !self.room_allowed(room) {
                self.answer(&p, Status::Forbidden);
                return Ok(());
            }
        }
        let Some(account) = self.session(now, p.client) else {
            self.answer(&p, Status::NotLoggedIn);
            return Ok(());
        };
        let op = match request {
            Request::Fetch => Op::Fetch { account },
            Request::UpdateLists { rooms, chats } => Op::UpdateLists {
                account,
                rooms,
                chats,
            },
            Request::ChangePassword {
                credentials,
                wrapped_key,
            } => {
                credentials.params.check().map_err(|_| "bad_params")?;
                Op::ChangePassword {
                    account,
                    credentials,
                    wrapped_key,
                }
            }
            Request::JoinRoom { room } => {
                let then = Some(RoomAction::Found(room.clone()));
                self.submit(Pending { then, ..p }, Op::JoinRoom { account, room });
                return Ok(());
            }
            Request::LeaveRoom { room } => {
                let then = Some(RoomAction::Found(room.clone()));
                self.submit(Pending { then, ..p }, Op::LeaveRoom { account, room });
                return Ok(());
            }
            Request::PostRoom { room, text } => Op::PostRoom {
                account,
                room,
                text,
            },
            Request::RoomHistory { room, before, max } => Op::RoomHistory { room, before, max },
            Request::ServerMessage { room, text } => {
                let then = Some(RoomAction::Say {
                    room: room.clone(),
                    text: text.clone(),
                });
                let op = Op::ServerMessage {
                    account,
                    room,
                    text,
                };
                self.submit(Pending { then, ..p }, op);
                return Ok(());
            }
            Request::Mailbox(m) => mailbox_op(account, m).ok_or("bad_name")?,
            Request::Chat(c) => super::chats::op(account, c),
            Request::Presence(req) => {
                self.on_presence(now, &p, account, req);
                return Ok(());
            }
            Request::Device(d) => super::devices::op(account, d, self.public_key().0),
            Request::Logout => {
                self.sessions.pop(&p.client);
                self.answer(&p, Status::Ok);
                return Ok(());
            }
            _ => return Err("bad_request"),
        };
        self.submit(p, op);
        Ok(())
    }

    /// Checks the login signature against the challenge from prelogin. Unknown names, missing
    /// or expired challenges verify against a dummy key, so every failure costs the same.
    fn on_login(&mut self, now: Instant, p: Pending, name: &str, signature: &[u8; 64]) -> Handled {
        let name = normalize_username(name).ok_or("bad_name")?;
        if !self.login_limits.has(name.clone(), now) {
            self.answer(&p, Status::RateLimited);
            return Ok(());
        }
        let challenge = self.challenges.pop(&p.client);
        let usable = challenge.filter(|c| c.name == name && now < c.expires);
        let (account, verifier, bytes) = match &usable {
            Some(Challenge {
                account: Some((id, v)),
                bytes,
                ..
            }) => (Some(*id), *v, *bytes),
            Some(c) => (None, self.dummy_verifier, c.bytes),
            None => (None, self.dummy_verifier, [0; 32]),
        };
        let index = self.public_key().0;
        let ok = verify_login(&verifier, &bytes, &name, &index, signature);
        match account.filter(|_| ok) {
            Some(account) => {
                let op = Op::Fetch { account };
                self.submit(
                    Pending {
                        login: Some(account),
                        name,
                        ..p
                    },
                    op,
                );
            }
            None => {
                self.login_limits.take(name, now);
                self.stats.login_failures += 1;
                self.answer(&p, Status::AuthFailed);
            }
        }
        Ok(())
    }

    /// The reply for a request whose storage operation finished.
    pub(super) fn on_outcome(&mut self, now: Instant, p: &Pending, outcome: Outcome) -> Reply {
        let ok = |body| Reply {
            kind: p.kind,
            status: Status::Ok,
            body,
        };
        match outcome {
            Outcome::Done => ok(ReplyBody::Empty),
            Outcome::NameTaken => Reply::status(p.kind, Status::NameTaken),
            Outcome::Full => Reply::status(p.kind, Status::Full),
            Outcome::Failed => Reply::status(p.kind, Status::Unavailable),
            Outcome::Auth(record) => ok(self.prelogin_body(now, p, record)),
            Outcome::Account(Some(bundle)) => {
                if let Some(account) = p.login {
                    self.stats.logins += 1;
                    self.sessions.put(p.client, Session { account, last: now });
                    self.presence
                        .note_login(account, &p.name, bundle.public_key);
                }
                ok(ReplyBody::Account(bundle))
            }
            Outcome::Account(None) => Reply::status(p.kind, Status::AuthFailed),
            Outcome::Rooms(mut rooms) => {
                self.live_counts(&mut rooms);
                ok(ReplyBody::Rooms(rooms))
            }
            Outcome::Members(n) => match p.then.clone() {
                Some(RoomAction::Found(room)) if p.kind == Kind::JoinRoom => {
                    self.room_action(RoomAction::Found(room.clone()));
                    ok(ReplyBody::RoomJoin(self.room_join(&room, n)))
                }
                Some(RoomAction::Found(room)) => {
                    ok(ReplyBody::Members(self.live_members(&room, n)))
                }
                _ => ok(ReplyBody::Members(n)),
            },
            Outcome::Posted(id) => ok(ReplyBody::Posted(id)),
            Outcome::History(messages) => ok(ReplyBody::History(messages)),
            Outcome::Delivered(n) => {
                if let Some(say) = p.then.clone() {
                    self.room_action(say);
                }
                ok(ReplyBody::Delivered(n))
            }
            Outcome::Moderators(_) => Reply::status(p.kind, Status::Unavailable),
            Outcome::Forbidden => Reply::status(p.kind, Status::Forbidden),
            Outcome::UserKey(key) => ok(ReplyBody::Mailbox(MailboxReply::UserKey(key))),
            Outcome::UserNames(names) => ok(ReplyBody::Mailbox(MailboxReply::UserNames(names))),
            Outcome::NoSuchUser => Reply::status(p.kind, Status::NoSuchUser),
            Outcome::PmStored(id) => ok(ReplyBody::Mailbox(MailboxReply::Stored(id))),
            Outcome::MailboxFull => Reply::status(p.kind, Status::MailboxFull),
            Outcome::Pms(pms) => ok(ReplyBody::Mailbox(MailboxReply::Pms(pms))),
            Outcome::Acked(n) => ok(ReplyBody::Mailbox(MailboxReply::Acked(n))),
            Outcome::Chat(c) => super::chats::reply(p.kind, c),
            Outcome::Device(d) => super::devices::reply(p.kind, d),
        }
    }

    /// Prelogin: real or fake parameters and salt, and a fresh challenge bound to the client.
    fn prelogin_body(
        &mut self,
        now: Instant,
        p: &Pending,
        record: Option<crate::index::store::AuthRecord>,
    ) -> ReplyBody {
        let mut bytes = [0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        let (params, salt, account) = match record {
            Some(r) => (
                r.credentials.params,
                r.credentials.salt,
                Some((r.account, r.credentials.verifier)),
            ),
            None => {
                let (params, salt) = self.fake_credentials(&p.name);
                (params, salt, None)
            }
        };
        let challenge = Challenge {
            name: p.name.clone(),
            bytes,
            expires: now + self.config.challenge_ttl,
            account,
        };
        self.challenges.put(p.client, challenge);
        ReplyBody::Prelogin {
            params,
            salt,
            challenge: bytes,
        }
    }

    /// The account of the client's live session, refreshing it.
    fn session(&mut self, now: Instant, client: PublicKey) -> Option<i64> {
        let idle = self.config.session_idle;
        let s = self.sessions.get_mut(&client)?;
        if now.saturating_duration_since(s.last) > idle {
            self.sessions.pop(&client);
            return None;
        }
        s.last = now;
        Some(s.account)
    }

    fn room_allowed(&self, room: &str) -> bool {
        self.config
            .allowed_rooms
            .as_ref()
            .is_none_or(|list| list.iter().any(|r| r == room))
    }

    /// Answers with a status and no body.
    fn answer(&mut self, p: &Pending, status: Status) {
        let reply = Reply::status(p.kind, status);
        self.reply(&p.peer, p.client, p.request_id, &reply);
    }
}

/// The storage operation of a mailbox request; `None` for a username that breaks the rule.
fn mailbox_op(account: i64, request: MailboxRequest) -> Option<Op> {
    Some(match request {
        MailboxRequest::UserKey { name } => Op::UserKey {
            name: normalize_username(&name)?,
        },
        MailboxRequest::StorePm {
            recipient,
            client_id,
            body,
        } => Op::StorePm {
            sender: account,
            recipient: normalize_username(&recipient)?,
            client_id,
            body,
        },
        MailboxRequest::FetchPms { after, max } => Op::FetchPms {
            account,
            after,
            max,
        },
        MailboxRequest::AckPms { ids } => Op::AckPms { account, ids },
        MailboxRequest::UserNames { keys } => Op::UserNames { keys },
    })
}

#[cfg(test)]
mod tests;
