//! The optional config file, `dhtchat.toml` in the data dir or `--config PATH`
//! (`docs/config.md` lists every key and its default).
//!
//! [`FileConfig::load`] reads and checks the whole file at start-up: an unknown key, a value of
//! the wrong type or out of range is one [`ConfigFileError`] line naming the file, the line, the
//! key and what is wrong. Command-line flags override the file: [`FileConfig::apply`] fills only
//! the [`GroupArgs`] fields the command line left unset, and [`FileConfig::stats_interval`]
//! only applies when `--stats-interval` was not given.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::cli::args::GroupArgs;
use crate::net::DriverOptions;
use crate::wire::message::MAX_NAME_LEN;

/// The config file's name inside the data dir.
pub const FILE_NAME: &str = "dhtchat.toml";
/// Largest config file read; a bigger one is refused unread.
pub const MAX_FILE_LEN: u64 = 64 * 1024;

/// The contents of `dhtchat.toml`. Every key is optional; an absent key changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Our nick in the groups we create or join (`--nick`); 1 to 128 bytes, no control
    /// characters.
    #[serde(default, deserialize_with = "nick")]
    pub nick: Option<String>,
    /// Address to bind (`--bind`).
    pub bind: Option<SocketAddr>,
    /// Address put into join strings (`--advertise`).
    pub advertise: Option<SocketAddr>,
    /// Log filter in `RUST_LOG` syntax (`info`, `dhtchat=debug`), used when `RUST_LOG` is
    /// unset.
    #[serde(default, deserialize_with = "log_filter")]
    pub log: Option<String>,
    /// The index for accounts and rooms (`--index`), `KEY@IP:PORT`.
    #[serde(default, deserialize_with = "index")]
    pub index: Option<crate::app::index::IndexTarget>,
    /// The PostgreSQL URL of `dhtchat index` and `dhtchat admin` (`--database`); keep the
    /// file mode 600 when the URL holds a password.
    #[serde(default, deserialize_with = "database")]
    pub database: Option<String>,
    /// A file whose first line is that URL (`--database-file`).
    pub database_file: Option<PathBuf>,
    /// The `[limits]` table.
    #[serde(default)]
    pub limits: Limits,
    /// The `[history]` table.
    #[serde(default)]
    pub history: History,
}

/// The `[history]` table: how much signed history each group keeps (PROTOCOL.md §6.13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Most messages kept per group (`--history`); 0..=100000, 0 keeps none.
    #[serde(default, deserialize_with = "in_range::<_, 0, 100_000>")]
    pub messages: Option<u64>,
    /// Days kept (`--history-days`); 1..=365.
    #[serde(default, deserialize_with = "in_range::<_, 1, 365>")]
    pub days: Option<u64>,
}

/// The `[limits]` table: work and memory bounds of the runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Seconds between two stats lines of `dhtchat node` (`--stats-interval`); 1..=86400.
    #[serde(default, deserialize_with = "in_range::<_, 1, 86_400>")]
    pub stats_interval: Option<u64>,
    /// Events queued for the front end before more are dropped and counted; 16..=1048576.
    #[serde(default, deserialize_with = "in_range::<_, 16, 1_048_576>")]
    pub event_capacity: Option<u64>,
    /// Commands queued for the network task; 1..=65536.
    #[serde(default, deserialize_with = "in_range::<_, 1, 65_536>")]
    pub command_capacity: Option<u64>,
    /// Seconds a join waits for a member to answer before it is given up
    /// (`--join-timeout`); 1..=3600.
    #[serde(default, deserialize_with = "in_range::<_, 1, 3600>")]
    pub join_timeout: Option<u64>,
    /// Requested UDP receive buffer in bytes, 0 for the system default; 0..=268435456.
    #[serde(default, deserialize_with = "in_range::<_, 0, 268_435_456>")]
    pub recv_buffer: Option<u64>,
}

/// A config file that cannot be used: one line for a person.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read (an explicit `--config` that does not exist, permissions).
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Larger than [`MAX_FILE_LEN`].
    #[error("config file {path}: larger than {MAX_FILE_LEN} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Not TOML, an unknown key, or a bad value.
    #[error("config file {path}{}: {message}", Location(*line, key.as_deref()))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem, when known.
        line: Option<usize>,
        /// The key on that line, when there is one.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

/// `, line N, key K` (the parts that are known).
struct Location<'a>(Option<usize>, Option<&'a str>);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.0 {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = self.1 {
            write!(f, ", key {key}")?;
        }
        Ok(())
    }
}

impl FileConfig {
    /// Reads the config file: `explicit` (which must exist) if given, else `dhtchat.toml` in
    /// `data_dir` if it exists. `Ok(None)`: no file, so nothing to apply.
    pub fn load(data_dir: &Path, explicit: Option<&Path>) -> Result<Option<Self>, ConfigFileError> {
        let path = explicit.map_or_else(|| data_dir.join(FILE_NAME), Path::to_path_buf);
        let io = |source| ConfigFileError::Io {
            path: path.clone(),
            source,
        };
        let meta = match std::fs::metadata(&path) {
            Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            other => other.map_err(io)?,
        };
        if meta.len() > MAX_FILE_LEN {
            return Err(ConfigFileError::TooLarge { path });
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        Self::parse(&text, &path).map(Some)
    }

    /// Loads the config file of `args` (`explicit`, else `dhtchat.toml` in its data dir) and
    /// applies it under the flags ([`FileConfig::apply`]); returns it for the other settings.
    pub fn load_into(
        args: &mut GroupArgs,
        explicit: Option<&Path>,
    ) -> anyhow::Result<Option<Self>> {
        let dir = crate::app::options::data_dir_or_default(args.data_dir.as_ref())?;
        let config = Self::load(&dir, explicit)?;
        if let Some(config) = &config {
            config.apply(args);
        }
        Ok(config)
    }

    /// Parses the text of a config file; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigFileError> {
        toml::from_str(text).map_err(|e| invalid(path, text, &e))
    }

    /// Fills the fields of `args` that the command line left unset (`nick`, `bind`,
    /// `advertise`): flags win over the file.
    pub fn apply(&self, args: &mut GroupArgs) {
        if args.nick.is_none() {
            args.nick.clone_from(&self.nick);
        }
        args.bind = args.bind.or(self.bind);
        args.advertise = args.advertise.or(self.advertise);
        args.index = args.index.or(self.index);
        args.join_timeout = args.join_timeout.or(self.limits.join_timeout);
        args.history = args.history.or(self.history.messages);
        args.history_days = args.history_days.or(self.history.days);
    }

    /// Sets the driver's channel capacities and receive buffer from `[limits]`.
    pub fn apply_driver(&self, options: &mut DriverOptions) {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let limits = &self.limits;
        if let Some(v) = limits.event_capacity {
            options.event_capacity = size(v);
        }
        if let Some(v) = limits.command_capacity {
            options.command_capacity = size(v);
        }
        if let Some(v) = limits.recv_buffer {
            options.recv_buffer = (v > 0).then(|| size(v));
        }
    }

    /// The stats interval in seconds: `flag` (`--stats-interval`) if given, else the file's,
    /// else `default`.
    pub fn stats_interval(config: Option<&Self>, flag: Option<u64>, default: u64) -> u64 {
        flag.or(config.and_then(|c| c.limits.stats_interval))
            .unwrap_or(default)
    }

    /// The log filter to use when `RUST_LOG` is unset.
    pub fn log_filter(&self) -> Option<&str> {
        self.log.as_deref()
    }
}

/// A toml error as one [`ConfigFileError::Invalid`]: the line from its span, and the key
/// written at the start of that line.
fn invalid(path: &Path, text: &str, err: &toml::de::Error) -> ConfigFileError {
    let start = err.span().map(|s| s.start.min(text.len()));
    let line = start.map(|s| text[..s].matches('\n').count() + 1);
    let key = start.and_then(|s| key_of_line(text, s));
    let message = err.message().lines().collect::<Vec<_>>().join("; ");
    ConfigFileError::Invalid {
        path: path.to_path_buf(),
        line,
        key,
        message,
    }
}

/// The bare key before `=` on the line holding byte `at`, if the line is `key = value`.
fn key_of_line(text: &str, at: usize) -> Option<String> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    (!key.is_empty() && key.chars().all(bare)).then(|| key.to_owned())
}

/// An integer key within `MIN..=MAX`.
fn in_range<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    let v = i64::deserialize(d)?;
    match u64::try_from(v) {
        Ok(v) if (MIN..=MAX).contains(&v) => Ok(Some(v)),
        _ => Err(serde::de::Error::custom(format!(
            "{v} is out of range {MIN}..={MAX}"
        ))),
    }
}

/// A nick: 1 to 128 bytes of UTF-8 without control characters.
fn nick<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let nick = String::deserialize(d)?;
    if nick.is_empty() || nick.len() > MAX_NAME_LEN || nick.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(format!(
            "a nick is 1 to {MAX_NAME_LEN} bytes without control characters"
        )));
    }
    Ok(Some(nick))
}

/// An index address, `KEY@IP:PORT`.
fn index<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::app::index::IndexTarget>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// A PostgreSQL URL or connection string: not empty, one line.
fn database<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let url = String::deserialize(d)?;
    let url = url.trim();
    if url.is_empty() || url.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(
            "a database URL is one non-empty line (postgres://user@host/dbname)",
        ));
    }
    Ok(Some(url.to_owned()))
}

/// A log filter in `RUST_LOG` syntax.
fn log_filter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let filter = String::deserialize(d)?;
    tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| serde::de::Error::custom(format!("not a log filter ({e})")))?;
    Ok(Some(filter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `GroupArgs` as the command line gives them.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        group: GroupArgs,
    }

    fn args(argv: &[&str]) -> GroupArgs {
        let argv = std::iter::once("dhtchat").chain(argv.iter().copied());
        Cli::try_parse_from(argv).unwrap().group
    }

    fn parse(text: &str) -> Result<FileConfig, ConfigFileError> {
        FileConfig::parse(text, Path::new("/d/dhtchat.toml"))
    }

    fn error(text: &str) -> String {
        let err = parse(text).unwrap_err();
        let line = err.to_string();
        assert_eq!(line.lines().count(), 1, "{line}");
        line
    }

    /// The example in docs/config.md, which sets every key.
    fn documented_example() -> &'static str {
        let doc = include_str!("../../docs/config.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let len = doc[start..].find("```").expect("its end");
        &doc[start..start + len]
    }

    #[test]
    fn the_documented_example_sets_every_key() {
        let config = parse(documented_example()).unwrap();
        assert_eq!(config.nick.as_deref(), Some("alice"));
        assert_eq!(config.bind, Some("0.0.0.0:33445".parse().unwrap()));
        assert_eq!(config.advertise, Some("192.0.2.7:33445".parse().unwrap()));
        assert_eq!(config.log_filter(), Some("info,dhtchat=debug"));
        let limits = Limits {
            stats_interval: Some(60),
            join_timeout: Some(20),
            event_capacity: Some(4096),
            command_capacity: Some(64),
            recv_buffer: Some(1_048_576),
        };
        assert_eq!(config.limits, limits);
        let history = History {
            messages: Some(1000),
            days: Some(7),
        };
        assert_eq!(config.history, history);
        assert_eq!(
            config.database.as_deref(),
            Some("postgres://dhtchat@db/index")
        );
        assert_eq!(config.database_file, None);
    }

    #[test]
    fn history_limits_come_from_the_file_under_the_flags() {
        let config = parse("[history]\nmessages = 200\ndays = 2\n").unwrap();
        let mut group = args(&["--history", "50"]);
        config.apply(&mut group);
        assert_eq!((group.history, group.history_days), (Some(50), Some(2)));
        let line = error("[history]\ndays = 0\n");
        assert!(
            line.contains("key days: 0 is out of range 1..=365"),
            "{line}"
        );
    }

    #[test]
    fn the_database_url_is_one_non_empty_line() {
        let config = parse("database_file = \"/etc/dhtchat/db.url\"\n").unwrap();
        assert_eq!(
            config.database_file,
            Some(PathBuf::from("/etc/dhtchat/db.url"))
        );
        let line = error("database = \"\"\n");
        assert!(
            line.contains("key database: a database URL is one"),
            "{line}"
        );
        let line = error("database = \"postgres://a\\nb\"\n");
        assert!(line.contains("key database: "), "{line}");
    }

    #[test]
    fn defaults_change_nothing() {
        let config = parse("# nothing set\n\n[limits]\n").unwrap();
        assert_eq!(config, FileConfig::default());
        let mut group = args(&[]);
        config.apply(&mut group);
        assert_eq!(
            (group.nick, group.bind, group.advertise),
            (None, None, None)
        );
        let mut options = DriverOptions::default();
        config.apply_driver(&mut options);
        assert_eq!(options, DriverOptions::default());
        assert_eq!(FileConfig::stats_interval(Some(&config), None, 60), 60);
        assert_eq!(FileConfig::stats_interval(None, None, 60), 60);
    }

    #[test]
    fn the_index_key_is_key_at_address() {
        let key = "0f".repeat(32);
        let config = parse(&format!("index = \"{key}@127.0.0.1:33446\"\n")).unwrap();
        let mut group = args(&[]);
        config.apply(&mut group);
        let target = group.index.expect("index applied");
        assert_eq!(target.addr, "127.0.0.1:33446".parse().unwrap());
        assert_eq!(target.key.to_string().to_lowercase(), key);
        let e = parse("index = \"nope\"\n").unwrap_err().to_string();
        assert!(e.contains("KEY@IP:PORT") && e.contains("key index"), "{e}");
    }

    #[test]
    fn flags_override_the_file() {
        let config = parse(
            "nick = \"file\"\nbind = \"127.0.0.1:4000\"\nadvertise = \"192.0.2.1:1\"\n\
             [limits]\nstats_interval = 10\nrecv_buffer = 0\nevent_capacity = 16\n",
        )
        .unwrap();
        let mut group = args(&["--nick", "cli", "--advertise", "192.0.2.9:9"]);
        config.apply(&mut group);
        assert_eq!(group.nick.as_deref(), Some("cli"));
        assert_eq!(group.bind, Some("127.0.0.1:4000".parse().unwrap()));
        assert_eq!(group.advertise, Some("192.0.2.9:9".parse().unwrap()));
        assert_eq!(FileConfig::stats_interval(Some(&config), None, 60), 10);
        assert_eq!(FileConfig::stats_interval(Some(&config), Some(5), 60), 5);
        let mut options = DriverOptions::default();
        config.apply_driver(&mut options);
        assert_eq!((options.event_capacity, options.recv_buffer), (16, None));
        assert_eq!(options.command_capacity, 64);
    }

    #[test]
    fn unknown_keys_name_the_file_line_and_key() {
        let line = error("nick = \"a\"\nnik = \"b\"\n");
        assert!(
            line.starts_with("config file /d/dhtchat.toml, line 2, key nik: "),
            "{line}"
        );
        assert!(line.contains("unknown field `nik`"), "{line}");
        let line = error("[limits]\nstats_intervall = 5\n");
        assert!(
            line.contains("line 2, key stats_intervall: unknown field"),
            "{line}"
        );
        let line = error("[limit]\n");
        assert!(line.contains("unknown field `limit`"), "{line}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_problem() {
        let line = error("bind = \"nowhere\"\n");
        assert!(
            line.starts_with("config file /d/dhtchat.toml, line 1, key bind: "),
            "{line}"
        );
        let line = error("\n[limits]\nstats_interval = 0\n");
        assert!(
            line.contains("line 3, key stats_interval: 0 is out of range 1..=86400"),
            "{line}"
        );
        let line = error("[limits]\nevent_capacity = -1\n");
        assert!(
            line.contains("key event_capacity: -1 is out of range"),
            "{line}"
        );
        let line = error("[limits]\ncommand_capacity = \"many\"\n");
        assert!(line.contains("key command_capacity: "), "{line}");
        let line = error("nick = \"\"\n");
        assert!(
            line.contains("key nick: a nick is 1 to 128 bytes"),
            "{line}"
        );
        let line = error("log = \"dhtchat=loud\"\n");
        assert!(line.contains("key log: not a log filter"), "{line}");
        let line = error("nick = alice\n");
        assert!(line.contains("line 1"), "{line}");
    }

    #[test]
    fn load_into_reads_the_data_dirs_file_under_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "nick = \"file\"\nbind = \"[::1]:0\"\n",
        )
        .unwrap();
        let mut group = args(&["--data-dir", path, "--nick", "flag"]);
        let config = FileConfig::load_into(&mut group, None).unwrap();
        assert!(config.is_some());
        assert_eq!(group.nick.as_deref(), Some("flag"));
        assert_eq!(group.bind, Some("[::1]:0".parse().unwrap()));
        std::fs::write(dir.path().join(FILE_NAME), "bind = 1\n").unwrap();
        let err = FileConfig::load_into(&mut args(&["--data-dir", path]), None).unwrap_err();
        assert!(err.to_string().contains("line 1, key bind: "), "{err}");
    }

    #[test]
    fn load_finds_the_file_in_the_data_dir_or_at_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FileConfig::load(dir.path(), None).unwrap().is_none());
        let other = dir.path().join("other.toml");
        let err = FileConfig::load(dir.path(), Some(&other)).unwrap_err();
        assert!(matches!(err, ConfigFileError::Io { .. }), "{err}");
        assert!(err.to_string().contains("other.toml"), "{err}");
        std::fs::write(dir.path().join(FILE_NAME), "nick = \"dir\"\n").unwrap();
        std::fs::write(&other, "nick = \"other\"\n").unwrap();
        let nick = |c: Option<FileConfig>| c.unwrap().nick.unwrap();
        assert_eq!(nick(FileConfig::load(dir.path(), None).unwrap()), "dir");
        assert_eq!(
            nick(FileConfig::load(dir.path(), Some(&other)).unwrap()),
            "other"
        );
        std::fs::write(&other, vec![b'#'; MAX_FILE_LEN as usize + 1]).unwrap();
        let err = FileConfig::load(dir.path(), Some(&other)).unwrap_err();
        assert!(matches!(err, ConfigFileError::TooLarge { .. }), "{err}");
    }
}
