//! Presence requests (kinds 26–28, PROTOCOL.md §8.14): answered from the in-memory
//! [`PresenceTable`](crate::index::presence::table::PresenceTable), no storage operation.

use std::time::Instant;

use super::{Pending, Service};
use crate::index::names::normalize_username;
use crate::index::presence::table::{PresenceStats, Refused};
use crate::index::presence::{PresenceReply, PresenceRequest};
use crate::index::wire::{Reply, ReplyBody, Status};

impl Service {
    /// Publish, look up or withdraw for the session's `account`; always one reply.
    pub(super) fn on_presence(
        &mut self,
        now: Instant,
        p: &Pending,
        account: i64,
        request: PresenceRequest,
    ) {
        let result = match request {
            PresenceRequest::Publish(entry) => self
                .presence
                .publish(now, account, entry)
                .map(|()| PresenceReply::Done),
            PresenceRequest::Withdraw { node_key } => {
                self.presence.withdraw(account, &node_key);
                Ok(PresenceReply::Done)
            }
            PresenceRequest::Lookup { name } => match normalize_username(&name) {
                Some(name) => self
                    .presence
                    .lookup(now, account, &name)
                    .map(PresenceReply::Entries),
                None => Ok(PresenceReply::Entries(Vec::new())),
            },
        };
        let reply = match result {
            Ok(body) => Reply {
                kind: p.kind,
                status: Status::Ok,
                body: ReplyBody::Presence(body),
            },
            Err(Refused::RateLimited) => Reply::status(p.kind, Status::RateLimited),
            Err(Refused::BadSignature | Refused::Unknown) => {
                Reply::status(p.kind, Status::Forbidden)
            }
        };
        self.reply(&p.peer, p.client, p.request_id, &reply);
    }

    /// The presence table's counters.
    pub fn presence_stats(&self) -> PresenceStats {
        self.presence.stats()
    }
}
