//! Group-chat requests (kinds 19–23, PROTOCOL.md §8.12): their storage operations and the
//! replies built from the outcomes. Every check that needs the chain or the member sets runs
//! in the writer's transaction ([`crate::index::store::chats`]); here there is nothing to
//! check but the session, which the caller did.

use crate::index::store::Op;
use crate::index::store::chats::{ChatOp, ChatOutcome};
use crate::index::wire::{ChatReply, ChatRequest, Kind, Reply, ReplyBody, Status};

/// The storage operation of a group-chat request from the logged-in `account`.
pub(super) fn op(account: i64, request: ChatRequest) -> Op {
    Op::Chat(match request {
        ChatRequest::PutRecord { record } => ChatOp::PutRecord { account, record },
        ChatRequest::FetchRecords { chat, from, max } => ChatOp::FetchRecords {
            account,
            chat,
            from,
            max,
        },
        ChatRequest::PostChat { client_id, message } => ChatOp::Post {
            account,
            client_id,
            message,
        },
        ChatRequest::FetchChat { chat, after, max } => ChatOp::Fetch {
            account,
            chat,
            after,
            max,
        },
        ChatRequest::MyChats => ChatOp::Mine { account },
    })
}

/// The reply for a group-chat outcome.
pub(super) fn reply(kind: Kind, outcome: ChatOutcome) -> Reply {
    let (status, body) = match outcome {
        ChatOutcome::Stored(epoch) => (Status::Ok, ChatReply::Stored(epoch)),
        ChatOutcome::Lost(winner) => (Status::RotationLost, ChatReply::Lost(winner)),
        ChatOutcome::BadRecord => return Reply::status(kind, Status::BadRecord),
        ChatOutcome::Records(r) => (Status::Ok, ChatReply::Records(r)),
        ChatOutcome::Posted(id) => (Status::Ok, ChatReply::Posted(id)),
        ChatOutcome::Messages(m) => (Status::Ok, ChatReply::Messages(m)),
        ChatOutcome::Chats(c) => (Status::Ok, ChatReply::Chats(c)),
    };
    Reply {
        kind,
        status,
        body: ReplyBody::Chat(body),
    }
}
