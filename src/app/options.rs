//! What a front end tells the runtime at start: which groups to create, join or restore,
//! our nick, where to bind and what to advertise, where the store is, how long a join may
//! take. Plain data: the command-line (clap) and config-file layers fill it in.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::app::text::check_nick;
use crate::store::default_data_dir;

/// The port a node binds by default; the next free one is taken if it is busy.
pub const DEFAULT_PORT: u16 = 33445;
/// How many ports past [`DEFAULT_PORT`] are tried.
pub const PORT_TRIES: u16 = 100;
/// How long a join may wait for a member to answer before it is given up.
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The runtime's start-up options. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Found a new group with this name.
    pub create: Option<String>,
    /// Join a group through this join string.
    pub join: Option<String>,
    /// With `create`: the unsigned 2014 dialect.
    pub legacy: bool,
    /// With `create`: an invite-only group.
    pub private: bool,
    /// Our nick in the groups we create or join (`None`: the stored one, else none).
    pub nick: Option<String>,
    /// Address to bind (`None`: [`DEFAULT_PORT`] on all interfaces, or the next free port).
    pub bind: Option<SocketAddr>,
    /// Address put into join strings (`None`: see [`advertised_addr`]).
    pub advertise: Option<SocketAddr>,
    /// Where identity and groups are kept (`None`: the XDG default).
    pub data_dir: Option<PathBuf>,
    /// How long an explicit join waits for a member (`None`: [`DEFAULT_JOIN_TIMEOUT`]).
    pub join_timeout: Option<Duration>,
    /// The index to use for accounts and rooms (`--index KEY@IP:PORT`).
    pub index: Option<crate::app::index::IndexTarget>,
    /// New index passwords use the weakest Argon2id parameters the index accepts instead of
    /// the ~1 s calibration (tests only).
    pub index_floor: bool,
    /// The driver's channel sizes and receive buffer (the config file's `[limits]`).
    pub driver: crate::net::DriverOptions,
    /// How much signed history each group keeps (`--history`, `--history-days`,
    /// PROTOCOL.md §6.13).
    pub history: crate::proto::HistoryLimits,
}

impl Options {
    /// The data dir given, else the XDG default.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        data_dir_or_default(self.data_dir.as_ref())
    }

    /// The join timeout given, else [`DEFAULT_JOIN_TIMEOUT`].
    pub fn join_timeout(&self) -> Duration {
        self.join_timeout.unwrap_or(DEFAULT_JOIN_TIMEOUT)
    }

    /// The nick given, checked against the one nick rule (trimmed); `""` when none.
    pub fn checked_nick(&self) -> anyhow::Result<String> {
        match &self.nick {
            None => Ok(String::new()),
            Some(n) => Ok(check_nick(n).context("bad --nick")?.to_owned()),
        }
    }
}

/// The data dir given on the command line, else the XDG default.
pub fn data_dir_or_default(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(d) => Ok(d.clone()),
        None => default_data_dir().context("no data dir: set --data-dir, XDG_DATA_HOME or HOME"),
    }
}

/// The address to put in join strings: `explicit`, else the bound address, with an
/// unspecified IP replaced by the one the routing table would use outwards (a UDP
/// `connect` sends nothing), or loopback if there is no route.
pub fn advertised_addr(explicit: Option<SocketAddr>, bound: SocketAddr) -> SocketAddr {
    if let Some(a) = explicit {
        return a;
    }
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let probe = || -> std::io::Result<IpAddr> {
        let s = StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
        Ok(s.local_addr()?.ip())
    };
    let ip = probe().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, bound.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_option_follows_the_one_nick_rule() {
        let with = |n: &str| Options {
            nick: Some(n.into()),
            ..Options::default()
        };
        assert_eq!(Options::default().checked_nick().unwrap(), "");
        assert_eq!(with(" zoë ").checked_nick().unwrap(), "zoë");
        let e = with(&"x".repeat(200)).checked_nick().unwrap_err();
        assert!(format!("{e:#}").contains("at most 128 bytes"), "{e:#}");
        let e = with("a\u{1b}b").checked_nick().unwrap_err();
        assert!(format!("{e:#}").contains("U+001B"), "{e:#}");
    }

    #[test]
    fn explicit_or_specific_addresses_are_advertised_as_given() {
        let a: SocketAddr = "192.0.2.7:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert_eq!(advertised_addr(Some(a), b), a);
        assert_eq!(advertised_addr(None, b), b);
        let any: SocketAddr = "0.0.0.0:3".parse().unwrap();
        assert_eq!(advertised_addr(None, any).port(), 3);
    }
}
