//! Command-line options shared by the front ends that run the application runtime
//! (`dhtchat chat` and `dhtchat node`): clap's view of [`app::Options`](crate::app::Options).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::Options;
use crate::app::index::IndexTarget;
use crate::cli::config::FileConfig;
use crate::net::DriverOptions;

/// The group and network options that `dhtchat chat` and `dhtchat node` share.
#[derive(Debug, Clone, clap::Args)]
pub struct GroupArgs {
    /// Found a new group with this name (secure and public unless --legacy / --private)
    #[arg(long, value_name = "NAME", conflicts_with = "join")]
    pub create: Option<String>,

    /// Join a group through a join string (dhtchat:<record>, as /invite prints it; the long
    /// forms dhtchat:public:CHATID:KEY@IP:PORT and KEY@IP:PORT still work)
    #[arg(long, value_name = "JOIN_STRING")]
    pub join: Option<String>,

    /// With --create: speak the unsigned 2014 dialect, so 2014 peers can join
    #[arg(long, requires = "create")]
    pub legacy: bool,

    /// With --create: invite-only group (members let others in with /invite KEY)
    #[arg(long, requires = "create")]
    pub private: bool,

    /// Our nick in the groups we create or join (1 to 128 bytes, no control or bidi
    /// characters)
    #[arg(long, value_name = "NICK")]
    pub nick: Option<String>,

    /// Address to bind (default: 0.0.0.0:33445, or the next free port up to 33544)
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<SocketAddr>,

    /// Address others should use to reach us, put into join strings (default: the bound
    /// IP, or the IP of the interface that routes outwards when bound to 0.0.0.0)
    #[arg(long, value_name = "IP:PORT")]
    pub advertise: Option<SocketAddr>,

    /// Where identity and groups are kept (default: $XDG_DATA_HOME/dhtchat)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Seconds a --join or /join waits for a member to answer before it is given up
    /// (default 20)
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub join_timeout: Option<u64>,

    /// The index for accounts and rooms (/register, /login, /rooms, /room): its key and
    /// address as `dhtchat index` prints them, KEY@IP:PORT
    #[arg(long, value_name = "KEY@IP:PORT")]
    pub index: Option<IndexTarget>,

    /// New index passwords use the weakest Argon2id parameters the index accepts (the
    /// OWASP floor) instead of ~1 s: for tests only
    #[arg(long, hide = true)]
    pub index_kdf_floor: bool,

    /// Most messages of signed history each group keeps and serves to members that join
    /// later or come back (default 1000; 0 keeps none)
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub history: Option<u64>,

    /// Days of signed history each group keeps (default 7)
    #[arg(long, value_name = "DAYS",
          value_parser = clap::value_parser!(u64).range(1..=365))]
    pub history_days: Option<u64>,

    /// Config file (default: dhtchat.toml in the data dir, if there is one); flags override
    /// it (docs/config.md)
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl GroupArgs {
    /// The runtime's options.
    pub fn options(&self) -> Options {
        Options {
            create: self.create.clone(),
            join: self.join.clone(),
            legacy: self.legacy,
            private: self.private,
            nick: self.nick.clone(),
            bind: self.bind,
            advertise: self.advertise,
            data_dir: self.data_dir.clone(),
            join_timeout: self.join_timeout.map(Duration::from_secs),
            index: self.index,
            index_floor: self.index_kdf_floor,
            driver: DriverOptions::default(),
            history: self.history_limits(),
        }
    }

    /// `--history` and `--history-days` over the defaults (1,000 messages, 7 days, 1 MiB).
    fn history_limits(&self) -> crate::proto::HistoryLimits {
        let mut limits = crate::proto::HistoryLimits::default();
        if let Some(n) = self.history {
            limits.max_messages = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(days) = self.history_days {
            limits.max_age = Duration::from_secs(days * 24 * 3600);
        }
        limits
    }

    /// The runtime's options with the config file applied under the flags: `--config`, else
    /// `dhtchat.toml` in the data dir if there is one. Returns the file for the settings that
    /// are not runtime options (log filter, stats interval).
    pub fn options_with_file(&self) -> anyhow::Result<(Options, Option<FileConfig>)> {
        let mut args = self.clone();
        let file = FileConfig::load_into(&mut args, self.config.as_deref())?;
        let mut options = args.options();
        if let Some(f) = &file {
            f.apply_driver(&mut options.driver);
        }
        Ok((options, file))
    }

    /// `--data-dir`, else the XDG default.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        crate::app::options::data_dir_or_default(self.data_dir.as_ref())
    }
}
