//! The application runtime every front end shares (ARCHITECTURE.md §2).
//!
//! Front ends (`cli::chat`'s terminal UI and `--plain`, `cli::node`) are thin views: they turn
//! what a person types into typed commands and render the events that come back. Everything
//! else lives here: the driver handle, the store, which groups we are in, nicks and roles,
//! persistence of message numbers, peers and facts (PROTOCOL.md §6.9).
//!
//! - [`event`]: what the runtime hands a front end: [`event::AppEvent`]s tagged with their
//!   group, each carrying its data so a front end never queries back.
//! - [`command`]: the chat's command language: one input line parsed into a typed
//!   [`command::Input`], shared by every front end.
//! - [`text`]: the nick rule, neutralising untrusted text for display, splitting long input.

pub mod command;
pub mod event;
pub mod text;
