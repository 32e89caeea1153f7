//! Starting the driver for a runtime: the node seed from the store, the socket bound as
//! the options ask (the well-known port or the next free one), the driver task spawned.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::options::{DEFAULT_PORT, Options, PORT_TRIES, advertised_addr};
use crate::net::{
    Driver, DriverError, DriverOptions, DriverStats, Handle, NodeEvent, now, os_seed,
};
use crate::proto::Config;
use crate::store::Store;

/// A running driver: its task, the handle and event channel, and the advertised address.
#[derive(Debug)]
pub(super) struct Started {
    pub(super) task: JoinHandle<DriverStats>,
    pub(super) handle: Handle,
    pub(super) events: mpsc::Receiver<NodeEvent>,
    pub(super) advertised: SocketAddr,
}

/// Loads (or creates) the node seed, binds the socket and spawns the driver.
pub(super) async fn start_driver(options: &Options, store: &Store) -> anyhow::Result<Started> {
    let seed = store.load_or_create_node_seed(|| os_seed().unwrap_or_else(|_| fallback_seed()))?;
    let mut config = Config::new(*seed);
    // One deadline for joins: the runtime's, which applies to the joins a person asked for
    // (`--join`, `/join`). The node's own would also drop restored groups whose remembered
    // peers are all offline for a while, which must keep trying instead.
    config.join_timeout = std::time::Duration::MAX;
    config.history = options.history;
    let (driver, handle, events) = bind(options.bind, &options.driver, config).await?;
    let advertised = advertised_addr(options.advertise, handle.local_addr());
    // `dhtchat id` reads it (read-only, while we run) to print the port actually bound.
    store.set_advertised_addr(advertised)?;
    let task = tokio::spawn(driver.run());
    Ok(Started {
        task,
        handle,
        events,
        advertised,
    })
}

/// Binds the socket: `addr` if given, else the default port or the next free one.
async fn bind(
    addr: Option<SocketAddr>,
    options: &DriverOptions,
    config: Config,
) -> anyhow::Result<(Driver, Handle, mpsc::Receiver<NodeEvent>)> {
    if let Some(addr) = addr {
        return Driver::bind(addr, config, options)
            .await
            .with_context(|| format!("cannot bind {addr}"));
    }
    for port in DEFAULT_PORT..DEFAULT_PORT + PORT_TRIES {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        match Driver::bind(addr, config.clone(), options).await {
            Err(DriverError::Io(e)) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            other => return other.with_context(|| format!("cannot bind {addr}")),
        }
    }
    bail!(
        "ports {DEFAULT_PORT}..{} are all in use; pick one with --bind IP:PORT",
        DEFAULT_PORT + PORT_TRIES - 1
    )
}

/// A seed from the clock and the process id, only if the OS random source fails (it is
/// used for the node's RNG seed, never for keys when the OS source works).
fn fallback_seed() -> [u8; 32] {
    use sha2::Digest;
    let t = format!("{:?}{}", now(), std::process::id());
    sha2::Sha256::digest(t.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_address_is_named_once_in_the_error() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind(Some(addr), &DriverOptions::default(), Config::new([7; 32]))
            .await
            .unwrap_err();
        let text = format!("{e:#}");
        assert!(text.starts_with(&format!("cannot bind {addr}: ")), "{text}");
        assert_eq!(text.matches("in use").count(), 1, "{text}");
    }
}
