//! The worker's part in direct PMs (PROTOCOL.md §8.14): it publishes this device's presence
//! at login and every [`REFRESH`], withdraws it at logout, looks accounts up for the direct
//! endpoint, and stores in the mailbox the direct PMs nobody acknowledged.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Done, Worker};
use crate::app::index::direct::{DirectIn, DirectLink};
use crate::app::index::gc_window::GcDone;
use crate::index::presence::{PRESENCE_TTL, REFRESH};
use crate::index::writer::unix_now;
use crate::net::now;

/// How long a logout waits for the endpoint's unacknowledged PMs.
const LOGOUT_WAIT: Duration = Duration::from_secs(1);

/// The endpoint (if it started) and when our presence was last published.
#[derive(Debug)]
pub(super) struct DirectState {
    link: Option<DirectLink>,
    published: Option<Instant>,
}

impl DirectState {
    pub(super) fn new(link: Option<DirectLink>) -> Self {
        Self {
            link,
            published: None,
        }
    }
}

impl Worker {
    async fn to_direct(&self, m: DirectIn) {
        if let Some(l) = &self.direct.link {
            let _ = l.tx.send(m).await;
        }
    }

    /// Tells the endpoint who we are and publishes our presence.
    pub(super) async fn direct_login(&mut self) {
        let (Some(name), Some(id)) = (self.client.username(), self.client.identity()) else {
            return;
        };
        let m = DirectIn::LoggedIn {
            name: name.to_owned(),
            seed: id.seed(),
        };
        self.to_direct(m).await;
        self.direct.published = None;
        self.presence_refresh().await;
    }

    /// Publishes our presence if it is older than [`REFRESH`] (while logged in).
    pub(super) async fn presence_refresh(&mut self) {
        let Some(l) = self.direct.link.clone() else {
            return;
        };
        if self.lists.is_none() || self.direct.published.is_some_and(|t| now() < t + REFRESH) {
            return;
        }
        let expires = u64::try_from(unix_now()).unwrap_or(0) + PRESENCE_TTL.as_secs();
        match self
            .client
            .publish_presence(l.node_key.0, l.addr, expires)
            .await
        {
            Ok(()) => self.direct.published = Some(now()),
            Err(e) => tracing::debug!(error = %e, "presence not published"),
        }
    }

    /// Withdraws our presence, logs the endpoint out and stores in the mailbox the direct
    /// PMs still waiting for an ack (waiting at most [`LOGOUT_WAIT`] for the endpoint).
    pub(super) async fn direct_logout(&mut self) {
        let Some(l) = self.direct.link.clone() else {
            return;
        };
        if self.direct.published.take().is_some() {
            let _ = self.client.withdraw_presence(l.node_key.0).await;
        }
        let (tx, rx) = oneshot::channel();
        self.to_direct(DirectIn::LoggedOut { undelivered: tx })
            .await;
        if let Ok(Ok(left)) = tokio::time::timeout(LOGOUT_WAIT, rx).await {
            for (to, client_id, body) in left {
                self.store_sealed(&to, client_id, body).await;
            }
        }
    }

    /// The key and presence of `name`, for the endpoint.
    pub(super) async fn resolve(&mut self, name: String) {
        let result = async {
            let key = self.client.user_key(&name).await?;
            let entries = self.client.lookup_presence(&name).await?;
            Ok::<_, crate::index::client::ClientError>((key, entries))
        }
        .await;
        let m = match result {
            Ok((key, entries)) => DirectIn::Resolved { name, key, entries },
            Err(e) => DirectIn::ResolveFailed {
                name,
                error: self.describe(&e),
            },
        };
        self.to_direct(m).await;
    }

    /// Stores a direct PM that no device acknowledged, with its sealed body unchanged.
    pub(super) async fn store_sealed(&mut self, to: &str, client_id: u64, body: Vec<u8>) {
        if let Err(e) = self.client.store_sealed_pm(to, client_id, body).await {
            let text = format!("PM to {to} not delivered: {}", self.describe(&e));
            let d = GcDone::Error {
                at: None,
                chat: None,
                text,
            };
            self.send(Done::Gc(d)).await;
        }
    }
}
