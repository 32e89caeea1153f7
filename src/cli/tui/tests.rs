//! Whole-screen tests: scripted events and keys, rendered on ratatui's `TestBackend`, compared
//! with the expected layout row by row (trailing spaces trimmed).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::app::event::{AppEvent, ChatEvent as E, LocalTime, MemberView, Peer, Presence, Role};

/// The single-group tests feed untagged events: they all show in window 1, as the
/// single-group runtime's did before windows.
pub(super) trait Feed {
    fn feed(&mut self, event: E);
}

impl Feed for ChatView {
    fn feed(&mut self, event: E) {
        self.apply(AppEvent { group: None, event });
    }
}

fn at(hour: u8, minute: u8) -> LocalTime {
    LocalTime { hour, minute }
}

fn peer(c: char, nick: &str) -> Peer {
    Peer::new(c.to_string().repeat(64), nick)
}

fn render(view: &ChatView, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| draw(f, view)).unwrap();
    t
}

fn screen(view: &ChatView, width: u16, height: u16) -> Vec<String> {
    let t = render(view, width, height);
    let buf = t.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// Expected rows of an 80-column screen with the sidebar: 60 columns of messages, `│`, sidebar;
/// the screen rows in `wide` are full-width lines and the sidebar flows around them.
fn with_sidebar(
    top: &str,
    msgs: &[&str],
    side: &[&str],
    status: &str,
    input: &str,
    height: usize,
    wide: &[usize],
) -> Vec<String> {
    let mut rows = vec![top.to_owned()];
    let mut side = side.iter();
    for i in 0..height - 3 {
        let m = msgs.get(i).unwrap_or(&"");
        if wide.contains(&(i + 1)) {
            rows.push((*m).to_owned());
            continue;
        }
        let s = side.next().unwrap_or(&"");
        rows.push(format!("{m:<60}│{s}").trim_end().to_owned());
    }
    rows.extend([status.to_owned(), input.to_owned()]);
    rows
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_line(view: &mut ChatView, line: &str) -> Option<UiAction> {
    for c in line.chars() {
        assert_eq!(view.handle_key(key(KeyCode::Char(c))), None);
    }
    view.handle_key(key(KeyCode::Enter))
}

fn ready(view: &mut ChatView) {
    let addr = "127.0.0.1:33445".parse().unwrap();
    let pk = "a".repeat(64);
    let join = "dhtchat:public:abc@127.0.0.1:33445".to_owned();
    view.feed(E::Ready {
        at: at(12, 0),
        join,
        pk,
        nick: String::new(),
        addr,
        group: "tea room".into(),
    });
    let me = MemberView {
        peer: peer('a', "alice"),
        role: Role::Founder,
        status: Presence::Online,
        is_self: true,
    };
    view.feed(E::Members(vec![me]));
}

fn scripted() -> ChatView {
    let mut v = ChatView::new();
    ready(&mut v);
    let (alice, bob, carol, dave, erin) = (
        peer('a', "alice"),
        peer('b', "bob"),
        peer('c', "carol"),
        peer('d', "dave"),
        peer('e', "erin"),
    );
    let bobby = peer('b', "bobby");
    v.feed(E::Topic {
        at: at(12, 0),
        by: alice.clone(),
        topic: "all things tea".into(),
    });
    for p in [&bob, &carol, &dave] {
        v.feed(E::Join {
            at: at(12, 1),
            peer: p.clone(),
            role: Role::User,
            status: Presence::Online,
        });
    }
    v.feed(E::Message {
        at: at(12, 2),
        from: alice.clone(),
        text: "hello".into(),
    });
    v.feed(E::Action {
        at: at(12, 2),
        from: bob.clone(),
        text: "waves".into(),
    });
    v.feed(E::Role {
        at: at(12, 3),
        peer: carol.clone(),
        role: Role::Moderator,
        by: alice.clone(),
    });
    v.feed(E::Nick {
        at: at(12, 4),
        peer: bobby.clone(),
        old: "bob".into(),
        new: "bobby".into(),
    });
    v.feed(E::Status {
        at: at(12, 5),
        peer: bobby,
        status: Presence::Away,
    });
    v.feed(E::Status {
        at: at(12, 5),
        peer: carol,
        status: Presence::Busy,
    });
    v.feed(E::Kick {
        at: at(12, 6),
        peer: dave,
        by: alice,
        reason: "spam".into(),
    });
    v.feed(E::Join {
        at: at(12, 7),
        peer: erin.clone(),
        role: Role::User,
        status: Presence::Online,
    });
    v.feed(E::Part {
        at: at(12, 8),
        peer: erin,
        reason: "gone fishing".into(),
    });
    v
}

#[test]
fn layout_after_scripted_events_80x24() {
    let msgs = [
        "12:00 -!- you are in tea room as aaaaaaaa on 127.0.0.1:33445",
        "12:00 -!- others can join with this join string:",
        "dhtchat:public:abc@127.0.0.1:33445",
        "12:00 -!- alice set the topic: all things tea",
        "12:01 -!- bob [bbbbbbbb] has joined",
        "12:01 -!- carol [cccccccc] has joined",
        "12:01 -!- dave [dddddddd] has joined",
        "12:02 <alice> hello",
        "12:02 * bob waves",
        "12:03 -!- alice made carol a moderator",
        "12:04 -!- bob is now known as bobby",
        "12:05 -!- bobby is now away",
        "12:05 -!- carol is now busy",
        "12:06 -!- dave was kicked by alice (spam)",
        "12:07 -!- erin [eeeeeeee] has joined",
        "12:08 -!- erin has left (gone fishing)",
    ];
    let side = ["3 members", "~alice", "@carol (busy)", " bobby (away)"];
    let want = with_sidebar(
        " tea room · 3 members · all things tea",
        &msgs,
        &side,
        " [alice] [online] [founder] [1:tea room]",
        ">",
        24,
        &[3],
    );
    assert_eq!(screen(&scripted(), 80, 24), want);
}

#[test]
fn sidebar_sorts_by_role_then_nick_with_sigils_and_marks() {
    let mut v = ChatView::new();
    ready(&mut v);
    let m = |c, nick, role, status| MemberView {
        peer: peer(c, nick),
        role,
        status,
        is_self: c == 'a',
    };
    v.feed(E::Members(vec![
        m('e', "Eve", Role::Observer, Presence::Online),
        m('b', "zed", Role::User, Presence::Busy),
        m('c', "Amy", Role::User, Presence::Away),
        m('d', "mia", Role::Moderator, Presence::Online),
        m('a', "alice", Role::Founder, Presence::Away),
    ]));
    let side = [
        "5 members",
        "~alice (away)",
        "@mia",
        " Amy (away)",
        " zed (busy)",
        "-Eve",
    ];
    let rows = screen(&v, 80, 10);
    // Row 3 is the join string, full width: the sidebar skips it.
    let side_rows = [1, 2, 4, 5, 6, 7];
    for (&row, want) in side_rows.iter().zip(side) {
        assert_eq!(rows[row].get(63..).unwrap_or(""), want, "row {row}");
    }
    assert_eq!(rows[3], "dhtchat:public:abc@127.0.0.1:33445");
    assert_eq!(rows[0], " tea room · 5 members");
    assert_eq!(rows[8], " [alice] [away] [founder] [1:tea room]");
    let t = render(&v, 80, 10);
    let away = &t.backend().buffer()[(69, 2)];
    assert_eq!(
        (away.symbol(), away.fg),
        ("a", ratatui::style::Color::Yellow)
    );
    assert!(away.modifier.contains(ratatui::style::Modifier::DIM));
}

fn numbered(n: usize) -> ChatView {
    let mut v = ChatView::new();
    for i in 0..n {
        v.feed(E::Info {
            at: at(9, 30),
            text: format!("line {i}"),
        });
    }
    v
}

fn pane(view: &ChatView) -> Vec<String> {
    let rows = screen(view, 50, 10);
    rows[1..8].to_vec()
}

fn lines_from(first: usize, count: usize) -> Vec<String> {
    (first..first + count)
        .map(|i| format!("09:30 -!- line {i}"))
        .collect()
}

#[test]
fn scrolling_back_and_forward() {
    let mut v = numbered(50);
    assert_eq!(pane(&v), lines_from(43, 7), "live: newest at the bottom");
    v.handle_key(key(KeyCode::PageUp));
    let mut want = lines_from(38, 6);
    want.push("-- more --".into());
    assert_eq!(pane(&v), want, "a page back (7 rows, one kept)");
    assert_eq!(
        screen(&v, 50, 10)[8],
        " [1:status] [scrolled back 6, 0 new]"
    );
    v.feed(E::Info {
        at: at(9, 31),
        text: "new".into(),
    });
    assert_eq!(pane(&v), want, "new lines do not move a scrolled view");
    v.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::SHIFT));
    let mut want = lines_from(39, 6);
    want.push("-- more --".into());
    assert_eq!(pane(&v), want);
    v.handle_key(KeyEvent::new(KeyCode::Up, KeyModifiers::SHIFT));
    v.handle_key(key(KeyCode::PageDown));
    assert_eq!(v.scroll(), 1);
    v.handle_key(key(KeyCode::End));
    assert_eq!(v.scroll(), 0);
    assert_eq!(pane(&v).last().map(String::as_str), Some("09:31 -!- new"));
    for _ in 0..100 {
        v.handle_key(key(KeyCode::PageUp));
    }
    assert_eq!(pane(&v)[0], "09:30 -!- line 0", "stops at the oldest line");
}

#[test]
fn input_history_up_down() {
    let mut v = ChatView::new();
    let input = |line: &str| {
        Some(UiAction::Input {
            group: None,
            line: line.into(),
        })
    };
    assert_eq!(type_line(&mut v, "hello"), input("hello"));
    assert_eq!(type_line(&mut v, "/nick bob"), input("/nick bob"));
    v.handle_key(key(KeyCode::Up));
    assert_eq!(screen(&v, 40, 6)[5], "> /nick bob");
    v.handle_key(key(KeyCode::Up));
    assert_eq!(v.input().text(), "hello");
    v.handle_key(key(KeyCode::Down));
    assert_eq!(v.input().text(), "/nick bob");
    v.handle_key(key(KeyCode::Down));
    assert_eq!(screen(&v, 40, 6)[5], ">");
}

#[test]
fn editing_keys_and_cursor_position() {
    let mut v = ChatView::new();
    for c in "hi wide world".chars() {
        v.handle_key(key(KeyCode::Char(c)));
    }
    v.handle_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
    v.handle_key(key(KeyCode::Left));
    v.handle_key(key(KeyCode::Backspace));
    assert_eq!(v.input().text(), "hi wid ");
    let mut t = render(&v, 40, 6);
    t.backend_mut().assert_cursor_position((8, 5));
    v.handle_key(key(KeyCode::Home));
    v.handle_key(key(KeyCode::Delete));
    v.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    assert_eq!(v.input().text(), "");
}

#[test]
fn long_input_scrolls_to_keep_the_cursor_visible() {
    let mut v = ChatView::new();
    for c in "abcdefghijklmnopqrstuvwxyz".repeat(3).chars() {
        v.handle_key(key(KeyCode::Char(c)));
    }
    let mut t = render(&v, 30, 5);
    assert_eq!(screen(&v, 30, 5)[4], "> zabcdefghijklmnopqrstuvwxyz");
    t.backend_mut().assert_cursor_position((29, 4));
}

#[test]
fn unknown_command_shows_one_line_error_and_no_action() {
    let mut v = ChatView::new();
    v.feed(E::Info {
        at: at(8, 15),
        text: "hi".into(),
    });
    assert_eq!(type_line(&mut v, "/foo bar"), None);
    assert_eq!(type_line(&mut v, "/status sleepy"), None);
    let rows = screen(&v, 80, 8);
    assert_eq!(
        rows[2].trim_end_matches('│').trim_end(),
        "08:15 -!- unknown command /foo — /help lists commands"
    );
    assert_eq!(
        rows[3].trim_end_matches('│').trim_end(),
        "08:15 -!- usage: /status online|away|busy"
    );
    assert_eq!(v.line_count(), 3);
}

#[test]
fn help_is_local_and_quit_returns_quit() {
    let mut v = ChatView::new();
    // `/help` lists the commands, the window commands and every key binding.
    let keys = KEY_BINDINGS.lines().count();
    let help = crate::app::command::help_lines().len() + 3 + keys;
    assert_eq!(type_line(&mut v, "/help"), None);
    assert_eq!(v.line_count(), help);
    assert_eq!(type_line(&mut v, "/help kick"), None);
    assert_eq!(type_line(&mut v, "/help nope"), None);
    assert_eq!(type_line(&mut v, "/help win"), None);
    assert_eq!(v.line_count(), help + 3);
    assert_eq!(
        type_line(&mut v, "/quit bye now"),
        Some(UiAction::Quit(Some("bye now".into())))
    );
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(v.handle_key(ctrl_c), Some(UiAction::Quit(None)));
    assert_eq!(type_line(&mut v, "   "), None);
}

#[test]
fn narrow_terminal_hides_the_sidebar() {
    let v = scripted();
    let rows = screen(&v, 50, 8);
    assert_eq!(rows[0], " tea room · 3 members · all things tea");
    let want = [
        "12:05 -!- bobby is now away",
        "12:05 -!- carol is now busy",
        "12:06 -!- dave was kicked by alice (spam)",
        "12:07 -!- erin [eeeeeeee] has joined",
        "12:08 -!- erin has left (gone fishing)",
    ];
    assert_eq!(&rows[1..6], want);
    assert!(rows.iter().all(|r| !r.contains('│')));
    let mut v = scripted();
    v.handle_key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL));
    assert!(
        screen(&v, 80, 8).iter().all(|r| !r.contains('│')),
        "Ctrl-B hides it too"
    );
}

#[test]
fn very_long_message_wraps_with_indent() {
    let mut v = ChatView::new();
    let text = "x".repeat(150);
    v.feed(E::Message {
        at: at(7, 0),
        from: peer('a', "alice"),
        text,
    });
    // The status window has no sidebar: lines wrap at the full 80 columns.
    let rows = screen(&v, 80, 10);
    assert_eq!(rows[1], format!("07:00 <alice> {}", "x".repeat(66)));
    assert_eq!(rows[2], format!("      {}", "x".repeat(74)));
    assert_eq!(rows[3], format!("      {}", "x".repeat(10)));
    assert_eq!(rows[4], "");
}

#[test]
fn ten_thousand_messages_keep_memory_bounded() {
    let mut v = numbered(10_000);
    assert_eq!(v.line_count(), MAX_LINES);
    assert_eq!(
        pane(&v).last().map(String::as_str),
        Some("09:30 -!- line 9999")
    );
    v.scroll_up(usize::MAX);
    assert_eq!(pane(&v)[0], "09:30 -!- line 5000", "oldest kept line");
}

#[test]
fn member_list_follows_incremental_events() {
    let mut v = scripted();
    let names: Vec<_> = v.members().iter().map(|m| m.peer.nick.as_str()).collect();
    assert_eq!(names, ["alice", "carol", "bobby"]);
    v.feed(E::Ban {
        at: at(13, 0),
        peer: peer('c', "carol"),
        by: peer('a', "alice"),
        reason: String::new(),
    });
    assert_eq!(v.members().len(), 2);
    assert_eq!(v.topic(), "all things tea");
    v.feed(E::Topic {
        at: at(13, 1),
        by: peer('a', "alice"),
        topic: String::new(),
    });
    let rows = screen(&v, 80, 24);
    assert_eq!(rows[0], " tea room · 2 members");
    assert_eq!(
        &rows[17][..60].trim_end(),
        &"13:00 -!- carol was banned by alice"
    );
    assert_eq!(
        &rows[18][..60].trim_end(),
        &"13:01 -!- alice cleared the topic"
    );
}

#[test]
fn tab_completes_member_nicks() {
    let mut v = scripted();
    for c in "BO".chars() {
        v.handle_key(key(KeyCode::Char(c)));
    }
    v.handle_key(key(KeyCode::Tab));
    assert_eq!(v.input().text(), "bobby: ");
    for c in "see ca".chars() {
        v.handle_key(key(KeyCode::Char(c)));
    }
    v.handle_key(key(KeyCode::Tab));
    assert_eq!(v.input().text(), "bobby: see carol ");
    for c in "al zz".chars() {
        v.handle_key(key(KeyCode::Char(c)));
    }
    v.handle_key(key(KeyCode::Tab));
    assert_eq!(
        v.input().text(),
        "bobby: see carol al zz",
        "no match: unchanged"
    );
    v.handle_key(key(KeyCode::Left));
    v.handle_key(key(KeyCode::Left));
    v.handle_key(key(KeyCode::Left));
    v.handle_key(key(KeyCode::Tab));
    assert_eq!(
        v.input().text(),
        "bobby: see carol al zz",
        "our own nick is not offered"
    );
}

#[test]
fn long_member_list_ends_with_a_count_of_the_rest() {
    let mut v = ChatView::new();
    let members = (0..30)
        .map(|i| MemberView {
            peer: Peer::new(format!("{i:064x}"), format!("user{i:02}")),
            ..MemberView::default()
        })
        .collect();
    v.feed(E::Members(members));
    let side: Vec<String> = screen(&v, 80, 10)[1..8]
        .iter()
        .map(|r| r.get(63..).unwrap_or("").to_owned())
        .collect();
    let want = [
        "30 members",
        " user00",
        " user01",
        " user02",
        " user03",
        " user04",
        "… 25 more",
    ];
    assert_eq!(side, want);
}

#[test]
fn tiny_terminals_and_wide_characters_do_not_panic() {
    let mut v = scripted();
    v.feed(E::Message {
        at: at(1, 1),
        from: peer('b', "ボブ"),
        text: "日本語のテキスト".repeat(20),
    });
    for c in "日本語 input".chars().cycle().take(300) {
        v.handle_key(key(KeyCode::Char(c)));
    }
    v.handle_key(key(KeyCode::PageUp));
    for (w, h) in [(1, 1), (2, 2), (5, 3), (10, 4), (59, 5), (60, 5), (200, 60)] {
        let rows = screen(&v, w, h);
        assert_eq!(rows.len(), usize::from(h));
    }
    v.handle_key(key(KeyCode::End));
    let rows = screen(&v, 40, 30);
    let wrapped: Vec<_> = rows.iter().filter(|r| r.contains('日')).collect();
    assert!(wrapped.len() >= 8, "{rows:#?}");
}
