//! Group-chat requests from the client's side (kinds 19–23, PROTOCOL.md §8.12): one call per
//! request, no key logic. The key schedule and the flows (create, rotate and redo on a lost
//! race, post, read) are in [`super::chats`].

use super::{ClientError, IndexClient};
use crate::crypto::Identity;
use crate::index::groupkey::ChatId;
use crate::index::wire::StoredChatMessage;
use crate::index::wire::chats::{MAX_CHAT_PAGE, MAX_RECORD_PAGE};
use crate::index::wire::{ChatReply, ChatRequest, Reply, ReplyBody, Request, Status};

/// What the index did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored: the record is the head at this epoch.
    Stored(u64),
    /// Another record won this epoch; here are its bytes.
    Lost(Vec<u8>),
}

impl IndexClient {
    /// The logged-in account's identity (its Ed25519 key is its member key in group chats).
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The logged-in account's username.
    pub fn username(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Sends a create or rotation record for the index to order.
    pub async fn put_record(&mut self, record: &[u8]) -> Result<PutOutcome, ClientError> {
        let request = ChatRequest::PutRecord {
            record: record.to_vec(),
        };
        let reply = self.request(&Request::Chat(request)).await?;
        match reply {
            Reply {
                status: Status::Ok,
                body: ReplyBody::Chat(ChatReply::Stored(epoch)),
                ..
            } => Ok(PutOutcome::Stored(epoch)),
            Reply {
                status: Status::RotationLost,
                body: ReplyBody::Chat(ChatReply::Lost(winner)),
                ..
            } => Ok(PutOutcome::Lost(winner)),
            Reply {
                status: Status::Ok, ..
            } => Err(ClientError::Protocol),
            other => Err(super::status_error(other.status)),
        }
    }

    /// Up to 16 records of `chat` from epoch `from` on, by epoch.
    pub async fn fetch_records(
        &mut self,
        chat: &ChatId,
        from: u64,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let request = ChatRequest::FetchRecords {
            chat: *chat,
            from,
            max: MAX_RECORD_PAGE,
        };
        match self.chat(request).await? {
            ChatReply::Records(r) => Ok(r),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Stores a sealed message under the sender's `client_id`; returns its id.
    pub async fn post_chat(&mut self, client_id: u64, sealed: &[u8]) -> Result<u64, ClientError> {
        let request = ChatRequest::PostChat {
            client_id,
            message: sealed.to_vec(),
        };
        match self.chat(request).await? {
            ChatReply::Posted(id) => Ok(id),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Up to 50 stored messages of `chat` with ids above `after`, oldest first (only of
    /// epochs this account belonged to).
    pub async fn fetch_chat(
        &mut self,
        chat: &ChatId,
        after: u64,
    ) -> Result<Vec<StoredChatMessage>, ClientError> {
        let request = ChatRequest::FetchChat {
            chat: *chat,
            after,
            max: MAX_CHAT_PAGE,
        };
        match self.chat(request).await? {
            ChatReply::Messages(m) => Ok(m),
            _ => Err(ClientError::Protocol),
        }
    }

    /// The chats whose current epoch has this account as a member, with their head epochs.
    pub async fn my_chats(&mut self) -> Result<Vec<(ChatId, u64)>, ClientError> {
        match self.chat(ChatRequest::MyChats).await? {
            ChatReply::Chats(c) => Ok(c),
            _ => Err(ClientError::Protocol),
        }
    }

    async fn chat(&mut self, request: ChatRequest) -> Result<ChatReply, ClientError> {
        match self.ok(&Request::Chat(request)).await? {
            ReplyBody::Chat(reply) => Ok(reply),
            _ => Err(ClientError::Protocol),
        }
    }
}
