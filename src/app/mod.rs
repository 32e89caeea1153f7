//! The application runtime every front end shares (ARCHITECTURE.md §2).
//!
//! Front ends (`cli::chat`'s terminal UI and `--plain`, `cli::node`) are thin views: they turn
//! what a person types into typed input and render the events that come back. Everything
//! else lives here: the driver handle, the store, which groups we are in, nicks and roles,
//! persistence of message numbers, peers and facts (PROTOCOL.md §6.9), and the one event
//! loop. Imports run one way: `cli` → `app` → `net`/`store`/`proto`.
//!
//! A front end implements [`Front`] and calls [`run`]:
//!
//! ```text
//! app::run(&options, store, offset, &mut front)
//!   Runtime::bind          driver started, socket bound         → Front::started
//!   Runtime::open_groups   --create / --join / stored groups    → Opened, Ready, …
//!   Runtime::run           loop: node events, Front::next_input, signals, persist tick,
//!                          join deadlines, report tick          → Front::show(AppEvents)
//!   Runtime::shutdown      persist, leave every group, stop the driver → Front::report
//! ```
//!
//! - [`event`]: what the runtime hands a front end: [`event::AppEvent`]s tagged with their
//!   group, each carrying its data so a front end never queries back.
//! - [`command`]: the chat's command language: one input line parsed into a typed
//!   [`command::Input`], shared by every front end.
//! - [`text`]: the nick rule, neutralising untrusted text for display, splitting long input.
//! - [`plain`]: the one-line-per-event format of `--plain` and the node's log
//!   (`docs/plain-mode.md`), with its reference parser.
//! - [`options`]: the start-up [`Options`] and address defaults.
//! - [`front`]: the [`Front`] trait, [`FrontInput`], [`Report`], [`Focus`].
//! - `runtime`: [`Runtime`] and its loop; `groups`: create, join, restore, join deadlines,
//!   closing; `inbound`: node events into chat events; `commands`: what each input does;
//!   `moderation`: roles, bans and facts; `persist`: numbers and peers to the store;
//!   `start`: binding and spawning the driver; [`signals`]: Ctrl-C, SIGTERM, SIGHUP.
//! - [`index`]: the index session (`--index`): accounts, rooms and their windows, on a
//!   task of its own.

pub mod command;
mod commands;
pub mod event;
pub mod front;
mod groups;
mod history_keep;
mod inbound;
pub mod index;
mod moderation;
pub mod options;
mod persist;
pub mod plain;
mod runtime;
pub mod signals;
mod start;
pub mod text;

pub use front::{Focus, Front, FrontInput, Report};
pub use options::Options;
pub use runtime::{EVENT_BATCH, Flow, PERSIST_EVERY, Runtime, run};
pub use signals::Signals;

use event::LocalTime;

/// The local wall-clock time as `HH:MM`, from the UTC offset read at start-up.
pub fn local_time(offset: time::UtcOffset) -> LocalTime {
    #[allow(clippy::disallowed_methods)] // the front end's wall clock, for timestamps only
    let t = time::OffsetDateTime::from(std::time::SystemTime::now()).to_offset(offset);
    LocalTime {
        hour: t.hour(),
        minute: t.minute(),
    }
}
