//! `dhtchat id`: prints this node's identity in each stored group and the join string others
//! can use to join through it.
//!
//! It opens the store read-only ([`Store::open_read_only`]), so it works while a `dhtchat
//! chat` or `dhtchat node` runs on the same data dir, and changes nothing. The public key in a
//! group is derived from the stored identity seed; the seed itself is never printed. The join
//! string's address is, in this order: `--advertise`; the address the running (or last) node
//! recorded in the store once it had bound its socket ([`Store::advertised_addr`]); else
//! `advertise` in the config file (`docs/config.md`); else the IP of the interface that
//! routes outwards with [`DEFAULT_PORT`](crate::app::options::DEFAULT_PORT) (what a node bound to the default
//! `0.0.0.0:33445` advertises). A data dir without a database is not created: the
//! command just says how to create or join a group.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::app::options::{self as chat, advertised_addr};
use crate::cli::config::FileConfig;
use crate::crypto::Identity;
use crate::proto::{Dialect, JoinString, Privacy};
use crate::store::{FILE_NAME, GroupRecord, Store};
use crate::wire::{NodeInfo, PublicKey};

/// Command line of `dhtchat id`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where identity and groups are kept (default: $XDG_DATA_HOME/dhtchat)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address to put into the join strings (default: the one the running node recorded,
    /// else `advertise` in the config file, else the IP of the interface that routes outwards
    /// with port 33445)
    #[arg(long, value_name = "IP:PORT")]
    pub advertise: Option<SocketAddr>,

    /// Config file (default: dhtchat.toml in the data dir, if there is one); only its
    /// `advertise` is used here
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Runs `dhtchat id`: prints each stored group, or a hint when there is none.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let dir = chat::data_dir_or_default(args.data_dir.as_ref())?;
    let file = FileConfig::load(&dir, args.config.as_deref())?;
    let mut out = std::io::stdout().lock();
    if !dir.join(FILE_NAME).exists() {
        writeln!(out, "{}", no_group_hint(&dir))?;
        return Ok(());
    }
    let store = Store::open_read_only(&dir)?;
    let groups = store.groups()?;
    if groups.is_empty() {
        writeln!(out, "{}", no_group_hint(&dir))?;
        return Ok(());
    }
    let configured = file.and_then(|f| f.advertise);
    let (advertised, source) = address(args.advertise, store.advertised_addr()?, configured);
    writeln!(out, "data dir {}", dir.display())?;
    writeln!(out, "address  {advertised} ({source})")?;
    for rec in &groups {
        writeln!(out, "{}", describe(rec, advertised))?;
    }
    out.flush()?;
    Ok(())
}

/// The address for the join strings and where it came from: `--advertise`, else the one the
/// node recorded, else the config file's, else the outward interface's IP with the default
/// port.
fn address(
    explicit: Option<SocketAddr>,
    recorded: Option<SocketAddr>,
    configured: Option<SocketAddr>,
) -> (SocketAddr, &'static str) {
    if let Some(addr) = explicit {
        return (addr, "--advertise");
    }
    if let Some(addr) = recorded {
        return (addr, "recorded by the node when it started");
    }
    if let Some(addr) = configured {
        return (addr, "advertise in the config file");
    }
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), chat::DEFAULT_PORT);
    (
        advertised_addr(None, unspecified),
        "no node recorded one: outward IP and the default port; pass --advertise if it differs",
    )
}

/// The one-line answer when no group is stored under `dir`.
fn no_group_hint(dir: &std::path::Path) -> String {
    format!(
        "no group stored in {}: create one with `dhtchat chat --create NAME` (or `dhtchat node \
         --create NAME`), or join one with `--join JOIN_STRING`",
        dir.display()
    )
}

/// Our public key in a stored group (derived from its identity seed).
pub fn own_key(rec: &GroupRecord) -> PublicKey {
    Identity::from_seed(&rec.identity_seed).public_key()
}

/// The join string through us for a stored group, reaching us at `addr`.
pub fn join_string(rec: &GroupRecord, addr: SocketAddr) -> JoinString {
    JoinString {
        dialect: rec.dialect,
        privacy: rec.privacy,
        chat_id: rec.chat_id,
        contact: NodeInfo {
            key: own_key(rec),
            addr,
        },
    }
}

/// A stored group as printed: the label and kind, then indented `name value` lines.
fn describe(rec: &GroupRecord, addr: SocketAddr) -> String {
    let dialect = match rec.dialect {
        Dialect::Secure => "secure",
        Dialect::Legacy => "legacy",
    };
    let privacy = match rec.privacy {
        Privacy::Public => "public",
        Privacy::Private => "private",
    };
    let founded = if rec.created_by_us {
        ", founded by us"
    } else {
        ""
    };
    let chat_id = rec.chat_id.map_or_else(
        || "- (legacy group)".to_owned(),
        |c| PublicKey(c).to_string(),
    );
    let nick = if rec.nick.is_empty() { "-" } else { &rec.nick };
    format!(
        "group {} ({dialect}, {privacy}{founded})\n  chat id  {chat_id}\n  our key  {}\n  \
         nick     {nick}\n  join     {}",
        rec.label,
        own_key(rec),
        join_string(rec, addr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn record(dialect: Dialect, chat_id: Option<[u8; 32]>) -> GroupRecord {
        GroupRecord {
            id: 1,
            label: "lobby".into(),
            dialect,
            privacy: Privacy::Private,
            chat_id,
            identity_seed: Zeroizing::new([7; 32]),
            nick: "alice".into(),
            join: String::new(),
            peers: Vec::new(),
            created_by_us: true,
        }
    }

    #[test]
    fn describe_prints_key_and_a_join_string_that_parses_back() {
        let rec = record(Dialect::Secure, Some([9; 32]));
        let addr: SocketAddr = "192.0.2.7:33445".parse().unwrap();
        let text = describe(&rec, addr);
        let key = Identity::from_seed(&[7; 32]).public_key();
        assert!(text.starts_with("group lobby (secure, private, founded by us)\n"));
        assert!(text.contains(&format!("our key  {key}")));
        let join_line = text.lines().find(|l| l.contains("join ")).unwrap();
        let join: JoinString = join_line.trim_start()["join".len()..]
            .trim()
            .parse()
            .unwrap();
        assert_eq!(join.chat_id, Some([9; 32]));
        assert_eq!(join.contact.key, key);
        assert_eq!(join.contact.addr, addr);
        assert_eq!(join.privacy, Privacy::Private);
    }

    #[test]
    fn describe_never_prints_the_seed() {
        let rec = record(Dialect::Legacy, None);
        let text = describe(&rec, "127.0.0.1:1".parse().unwrap());
        assert!(!text.to_lowercase().contains(&hex::encode([7u8; 32])));
        assert!(text.contains("chat id  - (legacy group)"));
        let join_line = text.lines().find(|l| l.contains("join ")).unwrap();
        let join: JoinString = join_line.trim_start()["join".len()..]
            .trim()
            .parse()
            .unwrap();
        assert_eq!(join.dialect, Dialect::Legacy);
        assert_eq!(join.contact.key, own_key(&rec));
    }
}
