//! The two front ends' loops over one [`Session`]: `--plain` (stdin lines in, one event
//! line out, docs/plain-mode.md) and the ratatui terminal. Both wait on the same inputs:
//! node events, the person's input, Ctrl-C and a periodic store tick.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::commands::Flow;
use super::session::Session;
use crate::app::command::parse_input;
use crate::app::event::AppEvent;
use crate::cli::plain::format_plain;
use crate::cli::tui::{ChatView, TerminalGuard, UiAction, draw};
use crate::net::NodeEvent;

/// How often the table and message numbers are written to the store.
const PERSIST_EVERY: Duration = Duration::from_secs(30);
/// Most node events handled before the front end redraws or prints.
const EVENT_BATCH: usize = 256;

/// One thing that woke a front end up.
enum Wake<T> {
    Node(Option<NodeEvent>),
    Input(T),
    Interrupt,
    Persist,
}

/// `--plain`: stdin lines are messages or /commands; events go to stdout, one per line.
/// Stdin closing or Ctrl-C quits like `/quit`.
pub(super) async fn run_plain(
    session: &mut Session,
    mut events: mpsc::Receiver<NodeEvent>,
) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(PERSIST_EVERY);
    let mut stdout = std::io::stdout();
    loop {
        print_events(session, &mut stdout).await?;
        let wake = tokio::select! {
            ev = events.recv() => Wake::Node(ev),
            line = lines.next_line() => Wake::Input(line),
            _ = tokio::signal::ctrl_c() => Wake::Interrupt,
            _ = tick.tick() => Wake::Persist,
        };
        match wake {
            Wake::Node(None) | Wake::Interrupt => break,
            Wake::Node(Some(ev)) => handle_batch(session, &mut events, ev),
            Wake::Input(Ok(Some(line))) => match parse_input(&line) {
                Ok(input) => {
                    if session.execute(input).await == Flow::Quit {
                        break;
                    }
                }
                Err(e) => session.error(e.to_string()),
            },
            Wake::Input(_) => break,
            Wake::Persist => session.persist().await,
        }
    }
    print_events(session, &mut stdout).await
}

async fn print_events(session: &mut Session, out: &mut std::io::Stdout) -> anyhow::Result<()> {
    let events = session.take_events().await;
    let mut lock = out.lock();
    for ev in &events {
        if let Some(line) = format_plain(ev) {
            writeln!(lock, "{line}")?;
        }
    }
    lock.flush()?;
    Ok(())
}

/// Handles `first` and whatever else is already queued, up to [`EVENT_BATCH`].
fn handle_batch(session: &mut Session, events: &mut mpsc::Receiver<NodeEvent>, first: NodeEvent) {
    session.on_node_event(first);
    for _ in 1..EVENT_BATCH {
        match events.try_recv() {
            Ok(ev) => session.on_node_event(ev),
            Err(_) => break,
        }
    }
}

/// The interactive terminal: a blocking thread reads keys (crossterm) into a channel; this
/// task owns the view and redraws after every change.
pub(super) async fn run_tui(
    session: &mut Session,
    mut events: mpsc::Receiver<NodeEvent>,
) -> anyhow::Result<()> {
    let mut guard = TerminalGuard::enter()?;
    let (key_tx, mut keys) = mpsc::channel(64);
    std::thread::spawn(move || read_keys(&key_tx));
    let mut view = ChatView::new();
    let mut tick = tokio::time::interval(PERSIST_EVERY);
    loop {
        // This single-group session tags nothing: its events all show in window 1.
        for event in session.take_events().await {
            view.apply(AppEvent { group: None, event });
        }
        if let Some(join) = view.take_clipboard() {
            guard.copy_to_clipboard(&join)?;
        }
        guard.terminal().draw(|f| draw(f, &view))?;
        let wake = tokio::select! {
            ev = events.recv() => Wake::Node(ev),
            key = keys.recv() => Wake::Input(key),
            _ = tokio::signal::ctrl_c() => Wake::Interrupt,
            _ = tick.tick() => Wake::Persist,
        };
        match wake {
            Wake::Node(None) | Wake::Interrupt | Wake::Input(None) => break,
            Wake::Node(Some(ev)) => handle_batch(session, &mut events, ev),
            Wake::Input(Some(TermInput::Key(key))) => {
                let actions = view.handle_key(key).into_iter().collect();
                if run_actions(session, actions).await {
                    break;
                }
            }
            Wake::Input(Some(TermInput::Paste(text))) => {
                let actions = view.handle_paste(&text);
                if run_actions(session, actions).await {
                    break;
                }
            }
            Wake::Input(Some(TermInput::Redraw)) => {}
            Wake::Persist => session.persist().await,
        }
    }
    drop(guard);
    Ok(())
}

/// Carries out the view's actions in order; true when the chat should quit.
async fn run_actions(session: &mut Session, actions: Vec<UiAction>) -> bool {
    for action in actions {
        let line = match action {
            UiAction::Input { line, .. } => line,
            UiAction::Quit(_) => return true,
        };
        match parse_input(&line) {
            Ok(input) => {
                if session.execute(input).await == Flow::Quit {
                    return true;
                }
            }
            Err(e) => session.error(e.to_string()),
        }
    }
    false
}

/// What the key-reading thread forwards.
enum TermInput {
    Key(crossterm::event::KeyEvent),
    Paste(String),
    Redraw,
}

/// Blocking key reader (crossterm has no async reader without extra features); stops when
/// the receiver is gone or the terminal fails.
fn read_keys(tx: &mpsc::Sender<TermInput>) {
    use crossterm::event::{Event, KeyEventKind, read};
    loop {
        let msg = match read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => TermInput::Key(k),
            Ok(Event::Paste(text)) => TermInput::Paste(text),
            Ok(Event::Resize(..)) => TermInput::Redraw,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.blocking_send(msg).is_err() {
            return;
        }
    }
}
