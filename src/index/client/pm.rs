//! Offline private messages from the client's side (PROTOCOL.md §8.10): the body is sealed
//! here with crypto_box from our identity to the recipient's (the X25519 forms of the
//! accounts' Ed25519 keys), so the index stores only ciphertext.

use rand::RngCore;

use super::{ClientError, IndexClient};
use crate::crypto::{self, Identity};
use crate::index::names::normalize_username;
use crate::index::wire::mailbox::{MAX_NAME_KEYS, MAX_PM_BODY, MAX_PM_PAGE};
use crate::index::wire::{BOX_OVERHEAD, MailboxReply, MailboxRequest, ReplyBody, Request};
use crate::wire::{MAC_LEN, NONCE_LEN, PublicKey};

/// Longest PM text: the sealed body's limit less nonce and MAC (4,056 bytes).
pub const MAX_PM_TEXT: usize = MAX_PM_BODY - BOX_OVERHEAD;

/// A PM fetched from the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPm {
    /// Its id, to acknowledge it.
    pub id: u64,
    /// The sender's username.
    pub sender: String,
    /// When the index stored it, Unix seconds.
    pub at: u64,
    /// The text, or `None` if the body did not open (acknowledge it anyway).
    pub text: Option<String>,
    /// The sealed body's nonce: the same in a direct copy of this PM (PROTOCOL.md §8.14),
    /// so the recipient shows it once.
    pub nonce: [u8; NONCE_LEN],
}

/// Seals `text` from `ours` to the Ed25519 key `to`: `[nonce 24][mac 16][ciphertext]`.
pub fn seal_pm(
    ours: &Identity,
    to: &[u8; 32],
    nonce: [u8; NONCE_LEN],
    text: &str,
) -> Option<Vec<u8>> {
    let theirs = crypto::x25519_of(to).filter(crypto::is_acceptable_key)?;
    let shared = crypto::precompute(ours.keypair(), &theirs);
    let mut buf = text.as_bytes().to_vec();
    let mac = crypto::seal_in_place(&shared, &nonce, &mut buf);
    let mut out = Vec::with_capacity(BOX_OVERHEAD + buf.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&mac);
    out.extend_from_slice(&buf);
    Some(out)
}

/// Opens a body sealed by the Ed25519 key `from` to `ours`.
pub fn open_pm(ours: &Identity, from: &[u8; 32], body: &[u8]) -> Option<String> {
    let theirs: PublicKey = crypto::x25519_of(from).filter(crypto::is_acceptable_key)?;
    if body.len() < BOX_OVERHEAD {
        return None;
    }
    let nonce: [u8; NONCE_LEN] = body[..NONCE_LEN].try_into().ok()?;
    let mac: [u8; MAC_LEN] = body[NONCE_LEN..BOX_OVERHEAD].try_into().ok()?;
    let mut buf = body[BOX_OVERHEAD..].to_vec();
    let shared = crypto::precompute(ours.keypair(), &theirs);
    crypto::open_in_place(&shared, &nonce, &mac, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

impl IndexClient {
    /// The Ed25519 public key of the account `name`.
    pub async fn user_key(&mut self, name: &str) -> Result<[u8; 32], ClientError> {
        let name = normalize_username(name).ok_or(ClientError::BadName)?;
        match self.mailbox(MailboxRequest::UserKey { name }).await? {
            MailboxReply::UserKey(key) => Ok(key),
            _ => Err(ClientError::Protocol),
        }
    }

    /// The usernames of the accounts with these keys, in order (empty for a key no account
    /// has), asked in pages of [`MAX_NAME_KEYS`].
    pub async fn user_names(&mut self, keys: &[[u8; 32]]) -> Result<Vec<String>, ClientError> {
        let mut names = Vec::with_capacity(keys.len());
        for page in keys.chunks(usize::from(MAX_NAME_KEYS)) {
            let request = MailboxRequest::UserNames {
                keys: page.to_vec(),
            };
            match self.mailbox(request).await? {
                MailboxReply::UserNames(got) if got.len() == page.len() => names.extend(got),
                _ => return Err(ClientError::Protocol),
            }
        }
        Ok(names)
    }

    /// Stores a PM for `to` with a fresh random client message id; returns the PM's id.
    pub async fn send_pm(&mut self, to: &str, text: &str) -> Result<u64, ClientError> {
        let client_id = self.rng.next_u64();
        self.send_pm_with_id(to, client_id, text).await
    }

    /// Stores a PM for `to` under `client_id`: sending the same id again (a retry after a
    /// lost reply, a restart) stores nothing new and returns the first copy's id.
    pub async fn send_pm_with_id(
        &mut self,
        to: &str,
        client_id: u64,
        text: &str,
    ) -> Result<u64, ClientError> {
        if text.is_empty() || text.len() > MAX_PM_TEXT {
            return Err(ClientError::Protocol);
        }
        let recipient = normalize_username(to).ok_or(ClientError::BadName)?;
        let key = self.user_key(&recipient).await?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nonce);
        let identity = self.identity.as_ref().ok_or(ClientError::NotLoggedIn)?;
        let body = seal_pm(identity, &key, nonce, text).ok_or(ClientError::Protocol)?;
        self.store_sealed_pm(&recipient, client_id, body).await
    }

    /// Stores an already sealed body for `to` under `client_id`: the mailbox fallback of a
    /// direct PM nobody acknowledged keeps its body (and nonce), so it is shown once.
    pub async fn store_sealed_pm(
        &mut self,
        to: &str,
        client_id: u64,
        body: Vec<u8>,
    ) -> Result<u64, ClientError> {
        let recipient = normalize_username(to).ok_or(ClientError::BadName)?;
        let request = MailboxRequest::StorePm {
            recipient,
            client_id,
            body,
        };
        match self.mailbox(request).await? {
            MailboxReply::Stored(id) => Ok(id),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Every PM waiting for us, oldest first, opened (paged; nothing is deleted until
    /// [`Self::ack_pms`]).
    pub async fn fetch_pms(&mut self) -> Result<Vec<ReceivedPm>, ClientError> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let request = MailboxRequest::FetchPms {
                after,
                max: MAX_PM_PAGE,
            };
            let MailboxReply::Pms(page) = self.mailbox(request).await? else {
                return Err(ClientError::Protocol);
            };
            let Some(last) = page.last() else {
                return Ok(out);
            };
            after = last.id;
            let identity = self.identity.as_ref().ok_or(ClientError::NotLoggedIn)?;
            out.extend(page.into_iter().map(|pm| {
                ReceivedPm {
                    text: open_pm(identity, &pm.sender_key, &pm.body),
                    nonce: pm
                        .body
                        .get(..NONCE_LEN)
                        .and_then(|n| n.try_into().ok())
                        .unwrap_or_default(),
                    id: pm.id,
                    sender: pm.sender,
                    at: pm.at,
                }
            }));
        }
    }

    /// Deletes delivered PMs; returns how many the index deleted.
    pub async fn ack_pms(&mut self, ids: &[u64]) -> Result<u32, ClientError> {
        let mut deleted = 0;
        for chunk in ids.chunks(usize::from(MAX_PM_PAGE)) {
            let request = MailboxRequest::AckPms {
                ids: chunk.to_vec(),
            };
            match self.mailbox(request).await? {
                MailboxReply::Acked(n) => deleted += n,
                _ => return Err(ClientError::Protocol),
            }
        }
        Ok(deleted)
    }

    async fn mailbox(&mut self, request: MailboxRequest) -> Result<MailboxReply, ClientError> {
        match self.ok(&Request::Mailbox(request)).await? {
            ReplyBody::Mailbox(reply) => Ok(reply),
            _ => Err(ClientError::Protocol),
        }
    }
}
