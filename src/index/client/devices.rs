//! Device keys from the client's side (PROTOCOL.md §8.13): after login, the device's key for
//! this account and index is certified by the account's identity and registered (kind 24);
//! that key, not the account's, is then the client's member key in the rooms' groups.

use super::{ClientError, IndexClient};
use crate::crypto::Identity;
use crate::index::devices::{Certificate, device_identity};
use crate::index::wire::{DeviceReply, DeviceRequest, ReplyBody, Request};

impl IndexClient {
    /// Registers this device for the logged-in account: derives its key from the data dir's
    /// device `seed`, signs the certificate (issued at `now`, Unix seconds) and sends it.
    /// Returns the device's identity and the account's device count.
    pub async fn register_device(
        &mut self,
        seed: &[u8; 32],
        now: u64,
    ) -> Result<(Identity, u8), ClientError> {
        let name = self.name.clone().ok_or(ClientError::NotLoggedIn)?;
        let account = self.identity.as_ref().ok_or(ClientError::NotLoggedIn)?;
        let device = device_identity(seed, &self.index.0, &name);
        let cert = Certificate::sign(&name, account, &device, now, &self.index.0);
        let devices = self.register_certificate(cert).await?;
        Ok((device, devices))
    }

    /// Sends a prepared certificate as it is (tests of the index's checks).
    pub async fn register_certificate(&mut self, cert: Certificate) -> Result<u8, ClientError> {
        let body = self
            .ok(&Request::Device(DeviceRequest::Register(cert)))
            .await?;
        match body {
            ReplyBody::Device(DeviceReply::Registered { devices, .. }) => Ok(devices),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Removes a device key of the logged-in account; true if it was one.
    pub async fn remove_device(&mut self, device: [u8; 32]) -> Result<bool, ClientError> {
        let body = self
            .ok(&Request::Device(DeviceRequest::Remove { device }))
            .await?;
        match body {
            ReplyBody::Device(DeviceReply::Removed(n)) => Ok(n == 1),
            _ => Err(ClientError::Protocol),
        }
    }
}
