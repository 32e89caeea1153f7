//! `dhtchat admin promote|demote NAME`: change an account's privilege on the index's own
//! database. This is the only way to make an admin: no network request can (PROTOCOL.md §8.7).
//! `dhtchat admin moderator|unmoderator ROOM NAME`: appoint or remove a room moderator; the
//! running index's node reads the table every 2 s and signs the role fact as the room's
//! founder (§8.11).
//!
//! Run it where the index's database is (same `--data-dir`, or the same `--database` URL);
//! SQLite's busy timeout lets it run while the index is up.

use std::path::PathBuf;

use anyhow::Context;

use crate::index::names::{normalize_username, room_name_problem};
use crate::index::{sql, store};

/// Command line of `dhtchat admin`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// What to do
    #[command(subcommand)]
    pub action: Action,

    /// Directory of the index's SQLite database
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// The index's PostgreSQL database instead: postgres://user:password@host/dbname
    /// (or DHTCHAT_DATABASE, or --database-file: `ps` shows neither)
    #[arg(long, value_name = "URL", global = true)]
    pub database: Option<String>,

    /// Read the PostgreSQL URL from the first line of this file
    #[arg(long, value_name = "PATH", global = true, conflicts_with = "database")]
    pub database_file: Option<PathBuf>,

    /// Config file with a `database` or `database_file` key (docs/config.md); default:
    /// dhtchat.toml in --data-dir, if there
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

/// The privilege changes.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Make NAME an admin
    Promote {
        /// Username
        name: String,
    },
    /// Make NAME a normal user again
    Demote {
        /// Username
        name: String,
    },
    /// Make NAME a moderator of ROOM (the index's node signs the role in the room's group)
    Moderator {
        /// Room name (A-Z, 0-9, spaces)
        room: String,
        /// Username
        name: String,
    },
    /// Make NAME a plain member of ROOM again
    Unmoderator {
        /// Room name (A-Z, 0-9, spaces)
        room: String,
        /// Username
        name: String,
    },
}

/// Runs the change and prints one line.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let (room, name, on) = match &args.action {
        Action::Promote { name } => (None, name, true),
        Action::Demote { name } => (None, name, false),
        Action::Moderator { room, name } => (Some(room), name, true),
        Action::Unmoderator { room, name } => (Some(room), name, false),
    };
    let name = normalize_username(name).context("not a valid username")?;
    if let Some(why) = room.and_then(|r| room_name_problem(r)) {
        anyhow::bail!("room {:?}: {why}", room.map_or("", |r| r.as_str()));
    }
    let database = super::index::resolve_database(
        args.database.as_deref(),
        args.database_file.as_deref(),
        args.data_dir.as_deref(),
        args.config.as_deref(),
    )?;
    let dir = match (&args.data_dir, &database) {
        (Some(d), _) => d.clone(),
        (None, Some(_)) => PathBuf::from("."),
        (None, None) => anyhow::bail!("give --data-dir (SQLite) or --database (PostgreSQL)"),
    };
    if database.is_none() && !dir.join("index.sqlite3").exists() {
        anyhow::bail!("no index database in {}", dir.display());
    }
    let mut db = sql::open(database.as_deref(), &dir).context("cannot open the database")?;
    store::migrate(db.as_mut()).context("cannot migrate the database")?;
    if let Some(room) = room {
        let now = crate::index::writer::unix_now();
        let limits = store::Limits::default();
        if !store::set_moderator(db.as_mut(), room, &name, on, &limits, now)? {
            anyhow::bail!("no account named {name}");
        }
        let what = if on {
            "a moderator"
        } else {
            "no longer a moderator"
        };
        println!("{name} is now {what} of {room}");
        return Ok(());
    }
    if !store::set_privilege(db.as_mut(), &name, on)? {
        anyhow::bail!("no account named {name}");
    }
    println!("{name} is now {}", if on { "admin" } else { "normal" });
    Ok(())
}
