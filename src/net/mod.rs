//! The tokio driver: one task owns one UDP socket and one [`Node`](crate::proto::Node).
//!
//! The protocol lives in [`crate::proto`] and never does IO or reads a clock. This module is
//! the thin shell around it (docs/style.md §4.2): a [`Driver`] receives datagrams, fires the
//! node's timers, executes [`Command`]s from a front end, and after every input sends what the
//! node queued and forwards its events. Front ends hold a cloneable [`Handle`] and read
//! [`NodeEvent`]s from a bounded channel; nothing outside the driver task touches the `Node`.
//!
//! ```no_run
//! # async fn example() -> Result<(), dhtchat::net::DriverError> {
//! use dhtchat::net::{Driver, DriverOptions};
//! use dhtchat::proto::{Config, GroupSpec};
//!
//! let config = Config::new(dhtchat::net::os_seed()?);
//! let addr = "127.0.0.1:0".parse().expect("literal address");
//! let (driver, handle, mut events) = Driver::bind(addr, config, &DriverOptions::default()).await?;
//! tokio::spawn(driver.run());
//! let group = handle.create_group(GroupSpec::default()).await?;
//! handle.send_chat(group, "hello").await?;
//! while let Some(e) = events.recv().await {
//!     println!("{:?}", e.event);
//! }
//! # Ok(()) }
//! ```
//!
//! - `driver`: the [`Driver`] task and its loop.
//! - `command`: the typed [`Command`]s it accepts.
//! - `handle`: the [`Handle`] that sends them and waits for the answers.
//! - `clock`: [`now`], the one clock read of the crate, and [`os_seed`].
//! - [`udp`]: batched socket I/O (`recvmmsg`/`sendmmsg` on Linux) for the driver.

mod clock;
mod command;
mod driver;
mod handle;
pub mod udp;

pub use clock::{now, os_seed};
pub use command::{
    Command, DriverError, FactSet, GroupSnapshot, Outgoing, PersistSnapshot, PersistState, Resume,
};
pub use driver::{Driver, DriverOptions, DriverStats, NodeEvent};
pub use handle::Handle;
