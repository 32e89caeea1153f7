//! The index's side of the view: the password prompt masks what is typed and keeps it out
//! of the history and the scrollback; room messages (history, server) are drawn distinctly.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::app::command::Password;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_line(view: &mut ChatView, line: &str) -> Option<UiAction> {
    for c in line.chars() {
        assert_eq!(view.handle_key(key(KeyCode::Char(c))), None);
    }
    view.handle_key(key(KeyCode::Enter))
}

fn screen(view: &ChatView) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 12)).unwrap();
    t.draw(|f| draw(f, view)).unwrap();
    let buf = t.backend().buffer();
    let rows: Vec<String> = (0..12)
        .map(|y| (0..80).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect();
    rows.join("\n")
}

#[test]
fn the_password_prompt_masks_input_and_keeps_it_out_of_history() {
    let mut view = ChatView::new();
    assert_eq!(type_line(&mut view, "/login alice"), None, "no action yet");
    assert!(view.masked());
    assert!(screen(&view).contains("password for alice (not shown)"));
    for c in "s3cret!".chars() {
        view.handle_key(key(KeyCode::Char(c)));
    }
    let shown = screen(&view);
    assert!(shown.contains("> *******"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    // Up does not recall history into the prompt.
    view.handle_key(key(KeyCode::Up));
    assert_eq!(view.input().text(), "s3cret!");
    let action = view.handle_key(key(KeyCode::Enter));
    assert_eq!(
        action,
        Some(UiAction::Password {
            group: None,
            command: ChatCommand::Login("alice".into()),
            password: Password::new("s3cret!".into()),
        })
    );
    assert!(!view.masked());
    assert!(!format!("{action:?}").contains("s3cret"), "Debug hides it");
    assert_eq!(view.input().history_len(), 1, "only /login alice");
    view.handle_key(key(KeyCode::Up));
    assert_eq!(view.input().text(), "/login alice");
    assert!(!screen(&view).contains("s3cret"));
}

#[test]
fn room_messages_show_history_and_server_lines_distinctly() {
    let mut view = ChatView::new();
    let room = GroupId(0x8000_0000);
    let at = LocalTime::new(9, 30).unwrap();
    let ev = |event| AppEvent {
        group: Some(room),
        event,
    };
    view.apply(ev(ChatEvent::Opened {
        at,
        label: "LOBBY".into(),
        join: String::new(),
        nick: "bob".into(),
        ready: true,
    }));
    let msg = |author: &str, text: &str, server, history| ChatEvent::RoomMessage {
        at,
        room: "LOBBY".into(),
        author: author.into(),
        text: text.into(),
        server,
        history,
        sent: 0,
    };
    view.apply(ev(msg("alice", "earlier", false, true)));
    view.apply(ev(msg("alice", "now", false, false)));
    view.apply(ev(msg("root", "restart at six", true, false)));
    let shown = screen(&view);
    assert!(shown.contains("09:30 [history] <alice> earlier"), "{shown}");
    assert!(shown.contains("09:30 <alice> now"), "{shown}");
    assert!(shown.contains("-!- [server] restart at six"), "{shown}");
    assert_eq!(
        view.active_group(),
        Some(room),
        "the room's window is shown"
    );
}

#[test]
fn esc_cancels_the_password_prompt_and_sends_nothing() {
    let mut view = ChatView::new();
    assert_eq!(type_line(&mut view, "/login alice"), None);
    assert!(view.masked());
    for c in "half-typed".chars() {
        view.handle_key(key(KeyCode::Char(c)));
    }
    assert_eq!(view.handle_key(key(KeyCode::Esc)), None);
    assert!(!view.masked(), "the prompt is gone");
    assert_eq!(view.input().text(), "", "what was typed is dropped");
    let shown = screen(&view);
    assert!(shown.contains("cancelled: nothing was sent"), "{shown}");
    assert!(!shown.contains("half-typed"), "{shown}");
    // The next line is an ordinary message again, not a password.
    assert_eq!(
        type_line(&mut view, "hello"),
        Some(UiAction::Input {
            group: None,
            line: "hello".into(),
        })
    );
    // Esc outside a prompt changes nothing.
    assert_eq!(view.handle_key(key(KeyCode::Esc)), None);
}
