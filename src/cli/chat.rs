//! `dhtchat chat`: the interactive chat (terminal UI) and its `--plain` mode for scripts,
//! two thin views over the application runtime ([`crate::app`]).
//!
//! Start-up, in order: read the local UTC offset (before any thread exists), check the nick,
//! open the store under the data dir, set up logging, then hand over to [`app::run`] with
//! one of the front ends:
//!
//! - `plain_mode`: stdin lines in (read as bytes: a line that is not UTF-8 is one error line),
//!   one event line out (docs/plain-mode.md);
//! - `terminal`: the ratatui view ([`crate::cli::tui::ChatView`]) and a key-reading thread.

use anyhow::Context;

use crate::app;
use crate::cli::args::GroupArgs;
use crate::store::Store;

mod plain_mode;
mod terminal;

/// Command line of `dhtchat chat`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Groups, addresses and data dir.
    #[command(flatten)]
    pub group: GroupArgs,

    /// Line mode for bots and scripts: stdin lines are messages or /commands, stdout one
    /// event per line (docs/plain-mode.md)
    #[arg(long)]
    pub plain: bool,
}

/// Runs `dhtchat chat`. Must be called before any other thread is started (the local time
/// offset can only be read safely then).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let (options, file) = args.group.options_with_file()?;
    options.checked_nick()?;
    let data_dir = options.data_dir()?;
    let store = Store::open(&data_dir)?;
    init_logging(
        args.plain,
        &data_dir,
        file.as_ref().and_then(|f| f.log_filter()),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        if args.plain {
            let mut front = plain_mode::PlainFront::start();
            return app::run(&options, store, offset, &mut front).await;
        }
        let mut front = terminal::TerminalFront::enter()?;
        app::run(&options, store, offset, &mut front).await
    })
}

/// `RUST_LOG` (else the config file's `log`, else `warn`) goes to stderr in `--plain` mode; the terminal UI owns the
/// screen, so there it goes to `chat.log` in the data dir.
fn init_logging(plain: bool, data_dir: &std::path::Path, configured: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(configured.unwrap_or("warn")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if plain {
        let _ = builder.with_writer(std::io::stderr).try_init();
        return;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("chat.log"));
    if let Ok(file) = file {
        let _ = builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    }
}
