//! Presence from the client's side (PROTOCOL.md §8.14): publish this device's direct
//! endpoint, look another account up, withdraw at logout.

use std::net::SocketAddr;

use super::{ClientError, IndexClient};
use crate::index::names::normalize_username;
use crate::index::presence::{PresenceEntry, PresenceReply, PresenceRequest};
use crate::index::wire::{ReplyBody, Request};

impl IndexClient {
    /// Publishes (or refreshes) that this device takes direct PMs on `node_key` at `addr`
    /// until `expires` (Unix seconds), signed by the logged-in account's identity.
    pub async fn publish_presence(
        &mut self,
        node_key: [u8; 32],
        addr: SocketAddr,
        expires: u64,
    ) -> Result<(), ClientError> {
        let (Some(name), Some(identity)) = (self.name.as_deref(), self.identity.as_ref()) else {
            return Err(ClientError::NotLoggedIn);
        };
        let entry = PresenceEntry::sign(identity, name, node_key, addr, expires, &self.index.0);
        self.presence(PresenceRequest::Publish(entry))
            .await
            .map(|_| ())
    }

    /// The live direct endpoints of the account `name` (none: offline). Not verified here:
    /// [`crate::index::presence::direct::DirectPms::learn`] checks each signature.
    pub async fn lookup_presence(&mut self, name: &str) -> Result<Vec<PresenceEntry>, ClientError> {
        let name = normalize_username(name).ok_or(ClientError::BadName)?;
        match self.presence(PresenceRequest::Lookup { name }).await? {
            PresenceReply::Entries(e) => Ok(e),
            PresenceReply::Done => Err(ClientError::Protocol),
        }
    }

    /// Removes this device's entry (`node_key`) before a logout.
    pub async fn withdraw_presence(&mut self, node_key: [u8; 32]) -> Result<(), ClientError> {
        self.presence(PresenceRequest::Withdraw { node_key })
            .await
            .map(|_| ())
    }

    async fn presence(&mut self, request: PresenceRequest) -> Result<PresenceReply, ClientError> {
        match self.ok(&Request::Presence(request)).await? {
            ReplyBody::Presence(reply) => Ok(reply),
            _ => Err(ClientError::Protocol),
        }
    }
}
