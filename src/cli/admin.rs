//! `dhtchat admin promote|demote NAME`: change an account's privilege on the index's own
//! database. This is the only way to make an admin: no network request can (PROTOCOL.md §8.7).
//!
//! Run it where the index's database is (same `--data-dir`, or the same `--database` URL);
//! SQLite's busy timeout lets it run while the index is up.

use std::path::PathBuf;

use anyhow::Context;

use crate::index::names::normalize_username;
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
    #[arg(long, value_name = "URL", global = true)]
    pub database: Option<String>,
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
}

/// Runs the change and prints one line.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let (name, admin) = match &args.action {
        Action::Promote { name } => (name, true),
        Action::Demote { name } => (name, false),
    };
    let name = normalize_username(name).context("not a valid username")?;
    let dir = match (&args.data_dir, &args.database) {
        (Some(d), _) => d.clone(),
        (None, Some(_)) => PathBuf::from("."),
        (None, None) => anyhow::bail!("give --data-dir (SQLite) or --database (PostgreSQL)"),
    };
    if args.database.is_none() && !dir.join("index.sqlite3").exists() {
        anyhow::bail!("no index database in {}", dir.display());
    }
    let mut db = sql::open(args.database.as_deref(), &dir).context("cannot open the database")?;
    store::migrate(db.as_mut()).context("cannot migrate the database")?;
    if !store::set_privilege(db.as_mut(), &name, admin)? {
        anyhow::bail!("no account named {name}");
    }
    println!("{name} is now {}", if admin { "admin" } else { "normal" });
    Ok(())
}
