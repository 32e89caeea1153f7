//! Whole-screen tests of windows (routing, switching, activity and highlight markers, a group
//! gone), invite lines, paste and neutralised text, on ratatui's `TestBackend`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::tests::Feed;
use super::*;
use crate::app::event::{AppEvent, ChatEvent as E, Peer, Presence, Role};

const A: GroupId = GroupId(7);
const B: GroupId = GroupId(9);

fn at(minute: u8) -> LocalTime {
    LocalTime { hour: 10, minute }
}

fn peer(c: char, nick: &str) -> Peer {
    Peer::new(c.to_string().repeat(64), nick)
}

fn screen(view: &ChatView, width: u16, height: u16) -> Vec<String> {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    t.draw(|f| draw(f, view)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..height)
        .map(|y| {
            let row: String = (0..width).map(|x| buf[(x, y)].symbol()).collect();
            row.trim_end().to_owned()
        })
        .collect()
}

/// The message-pane text of each body row (left of the sidebar border).
fn pane(view: &ChatView) -> Vec<String> {
    let rows = screen(view, 80, 16);
    rows[1..14]
        .iter()
        .map(|r| r.split('│').next().unwrap_or("").trim_end().to_owned())
        .collect()
}

fn status(view: &ChatView) -> String {
    screen(view, 80, 16)[14].clone()
}

fn send(view: &mut ChatView, group: GroupId, event: E) {
    view.apply(AppEvent {
        group: Some(group),
        event,
    });
}

fn open(view: &mut ChatView, group: GroupId, label: &str) {
    let join = format!("dhtchat:public:{label}@127.0.0.1:4000{}", group.0);
    send(
        view,
        group,
        E::Opened {
            at: at(0),
            label: label.into(),
            join,
            nick: "alice".into(),
            ready: true,
        },
    );
    let me = MemberView {
        peer: peer('a', "alice"),
        role: Role::Founder,
        status: Presence::Online,
        is_self: true,
    };
    let bob = MemberView {
        peer: peer('b', "bob"),
        ..MemberView::default()
    };
    send(view, group, E::Members(vec![me, bob]));
}

fn say(view: &mut ChatView, group: GroupId, minute: u8, text: &str) {
    let ev = E::Message {
        at: at(minute),
        from: peer('b', "bob"),
        text: text.into(),
    };
    send(view, group, ev);
}

/// Two group windows (2 = tea, 3 = chess), window 3 shown.
fn two_groups() -> ChatView {
    let mut v = ChatView::new();
    v.feed(E::Info {
        at: at(0),
        text: "dhtchat started".into(),
    });
    open(&mut v, A, "tea");
    open(&mut v, B, "chess");
    v.switch_to(3);
    v
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

fn type_line(view: &mut ChatView, line: &str) -> Option<UiAction> {
    for c in line.chars() {
        view.handle_key(key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    view.handle_key(key(KeyCode::Enter, KeyModifiers::NONE))
}

fn has(rows: &[String], text: &str) -> bool {
    rows.iter().any(|r| r.contains(text))
}

#[test]
fn events_of_one_group_never_show_in_another_window() {
    let mut v = two_groups();
    say(&mut v, A, 1, "about tea");
    say(&mut v, B, 2, "about chess");
    let chess = pane(&v);
    assert!(has(&chess, "<bob> about chess"), "{chess:#?}");
    assert!(!has(&chess, "about tea"), "{chess:#?}");
    assert_eq!(screen(&v, 80, 16)[0], " chess · 2 members");
    v.switch_to(2);
    let tea = pane(&v);
    assert!(has(&tea, "<bob> about tea") && !has(&tea, "about chess"));
    assert_eq!(screen(&v, 80, 16)[0], " tea · 2 members");
    v.switch_to(1);
    let status_rows = pane(&v);
    assert!(has(&status_rows, "dhtchat started"));
    assert!(!has(&status_rows, "about"), "{status_rows:#?}");
    assert_eq!(screen(&v, 80, 16)[0], " status");
    assert!(
        !screen(&v, 80, 16).iter().any(|r| r.contains('│')),
        "no sidebar in the status window"
    );
}

#[test]
fn each_window_keeps_its_own_members_topic_and_scroll() {
    let mut v = two_groups();
    let topic = E::Topic {
        at: at(3),
        by: peer('a', "alice"),
        topic: "openings".into(),
    };
    send(&mut v, B, topic);
    let carol = E::Join {
        at: at(3),
        peer: peer('c', "carol"),
        role: Role::Moderator,
        status: Presence::Away,
    };
    send(&mut v, A, carol);
    for i in 0..30 {
        say(&mut v, B, 4, &format!("move {i}"));
    }
    v.handle_key(key(KeyCode::PageUp, KeyModifiers::NONE));
    assert!(v.scroll() > 0);
    assert_eq!(v.topic(), "openings");
    assert_eq!(v.members().len(), 2);
    v.switch_to(2);
    assert_eq!((v.scroll(), v.topic(), v.members().len()), (0, "", 3));
    let rows = screen(&v, 80, 16);
    assert!(rows[4].ends_with("│@carol (away)"), "{rows:#?}");
    v.switch_to(3);
    assert!(v.scroll() > 0, "window 3 kept its scroll position");
}

#[test]
fn activity_and_highlight_markers_until_the_window_is_shown() {
    let mut v = two_groups();
    assert_eq!(status(&v), " [alice] [online] [founder] [3:chess]");
    say(&mut v, A, 5, "anyone for tea?");
    assert_eq!(status(&v), " [alice] [online] [founder] [3:chess] [Act: 2]");
    say(&mut v, B, 5, "not here: shown window");
    v.feed(E::Info {
        at: at(5),
        text: "system lines are no activity".into(),
    });
    assert_eq!(status(&v), " [alice] [online] [founder] [3:chess] [Act: 2]");
    v.switch_to(1);
    say(&mut v, B, 6, "Alice, your move");
    assert_eq!(status(&v), " [1:status] [Act: 2,3!]");
    v.handle_key(key(KeyCode::Char('3'), KeyModifiers::ALT));
    assert_eq!(v.active_window(), 3);
    assert_eq!(status(&v), " [alice] [online] [founder] [3:chess] [Act: 2]");
    say(&mut v, A, 7, "malice is no mention");
    v.switch_to(1);
    assert_eq!(v.window_list()[1].2, Activity::Messages);
    let own = E::Message {
        at: at(8),
        from: peer('a', "alice"),
        text: "alice talks about herself".into(),
    };
    send(&mut v, A, own);
    assert_eq!(v.window_list()[1].2, Activity::Messages, "our own line");
}

#[test]
fn alt_digits_arrows_ctrl_n_p_and_win_switch_windows() {
    let mut v = two_groups();
    v.handle_key(key(KeyCode::Char('2'), KeyModifiers::ALT));
    assert_eq!((v.active_window(), v.active_group()), (2, Some(A)));
    v.handle_key(key(KeyCode::Char('9'), KeyModifiers::ALT));
    assert_eq!(v.active_window(), 2, "no window 9: unchanged");
    assert_eq!(type_line(&mut v, "/win 1"), None);
    assert_eq!((v.active_window(), v.active_group()), (1, None));
    v.handle_key(key(KeyCode::Left, KeyModifiers::ALT));
    assert_eq!(v.active_window(), 3, "wraps around");
    v.handle_key(key(KeyCode::Right, KeyModifiers::ALT));
    assert_eq!(v.active_window(), 1);
    v.handle_key(key(KeyCode::Char('n'), KeyModifiers::CONTROL));
    assert_eq!(v.active_window(), 2);
    v.handle_key(key(KeyCode::Char('p'), KeyModifiers::CONTROL));
    assert_eq!(v.active_window(), 1);
    assert_eq!(type_line(&mut v, "/window 3"), None);
    assert_eq!(v.active_window(), 3);
    assert_eq!(type_line(&mut v, "/win 12"), None);
    assert_eq!(type_line(&mut v, "/win"), None);
    let rows = pane(&v);
    assert!(
        has(&rows, "-!- no window 12: windows 1 to 3 are open"),
        "{rows:#?}"
    );
    assert!(has(&rows, "-!- window 2: tea") && has(&rows, "-!- window 3: chess (shown)"));
}

#[test]
fn submitted_lines_carry_the_active_windows_group() {
    let mut v = two_groups();
    let input = |group, line: &str| {
        Some(UiAction::Input {
            group,
            line: line.into(),
        })
    };
    assert_eq!(type_line(&mut v, "gg"), input(Some(B), "gg"));
    v.switch_to(2);
    assert_eq!(
        type_line(&mut v, "/topic tea time"),
        input(Some(A), "/topic tea time")
    );
    v.switch_to(1);
    assert_eq!(type_line(&mut v, "/join nope"), None, "bad command: error");
    assert_eq!(type_line(&mut v, "/names"), input(None, "/names"));
}

#[test]
fn closed_group_clears_the_sidebar_and_wc_closes_its_window() {
    let mut v = two_groups();
    v.switch_to(2);
    let bye = E::Closed {
        at: at(9),
        reason: "you left (gotta go)".into(),
    };
    send(&mut v, A, bye);
    assert!(v.members().is_empty());
    assert_eq!(
        v.membership(),
        &Membership::Gone("you left (gotta go)".into())
    );
    let rows = screen(&v, 80, 16);
    assert_eq!(
        rows[0],
        " tea · not in this group: you left (gotta go) · /wc closes"
    );
    let side: Vec<&str> = rows[1..14]
        .iter()
        .filter_map(|r| r.split_once('│').map(|(_, s)| s.trim()))
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(side, ["not in this group"]);
    let late = E::Join {
        at: at(9),
        peer: peer('d', "dave"),
        role: Role::User,
        status: Presence::Online,
    };
    send(&mut v, A, late);
    assert!(v.members().is_empty(), "a gone group's sidebar stays empty");
    assert_eq!(type_line(&mut v, "/wc"), None);
    assert_eq!((v.window_count(), v.active_window()), (2, 1));
    assert_eq!(v.window_list()[1].1, "chess", "later windows move down");
    say(&mut v, A, 10, "late line");
    assert_eq!(
        v.window_count(),
        2,
        "a closed group's late events do not reopen it"
    );
}

#[test]
fn wc_on_a_live_group_parts_first_and_closes_when_gone() {
    let mut v = two_groups();
    let part = Some(UiAction::Input {
        group: Some(B),
        line: "/part brb".into(),
    });
    assert_eq!(type_line(&mut v, "/close brb"), part);
    assert_eq!(
        v.window_count(),
        3,
        "open until the runtime says it is gone"
    );
    let gone = E::Closed {
        at: at(11),
        reason: "you left (brb)".into(),
    };
    send(&mut v, B, gone);
    assert_eq!((v.window_count(), v.active_window()), (2, 2));
    v.switch_to(1);
    assert_eq!(type_line(&mut v, "/wc"), None);
    assert!(has(&pane(&v), "the status window stays open"));
}

#[test]
fn group_name_sets_the_title_and_unknown_groups_get_a_window() {
    let mut v = ChatView::new();
    say(&mut v, A, 1, "first");
    assert_eq!(v.window_count(), 2);
    assert_eq!(v.window_list()[1].1, "group 7");
    v.switch_to(2);
    assert_eq!(screen(&v, 80, 16)[0], " group 7 · joining…");
    let name = E::GroupName {
        at: at(2),
        name: "Tea\u{202E}room".into(),
    };
    send(&mut v, A, name);
    let rows = screen(&v, 80, 16);
    assert!(
        rows[0].starts_with(" Tea\u{FFFD}room · joining…"),
        "{rows:#?}"
    );
    assert!(has(&rows, "the group is now called Tea\u{FFFD}room"));
}

#[test]
fn invite_is_a_full_width_line_without_sidebar_and_goes_to_the_clipboard() {
    let mut v = two_groups();
    let join = format!("dhtchat:public:{}@192.0.2.7:33445", "c".repeat(49)); // 80 columns
    send(
        &mut v,
        B,
        E::Invite {
            at: at(12),
            join: join.clone(),
        },
    );
    assert_eq!(v.take_clipboard().as_deref(), Some(&*join));
    assert_eq!(v.take_clipboard(), None);
    let rows = screen(&v, 80, 16);
    let row = rows
        .iter()
        .position(|r| r.contains("dhtchat:public:ccc"))
        .unwrap();
    assert_eq!(rows[row], join, "alone on its row, nothing beside it");
    assert!(rows[row - 1].contains("-!- others can join with this join string:"));
    assert!(rows[row - 1].contains('│') && rows[row + 1].contains('│'));
    let side: Vec<&str> = rows[1..14]
        .iter()
        .filter_map(|r| r.split_once('│').map(|(_, s)| s.trim()))
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(side, ["2 members", "~alice", "bob"], "sidebar intact");
}

#[test]
fn a_join_string_longer_than_the_screen_wraps_at_column_zero() {
    let mut v = two_groups();
    let join = format!("dhtchat:public:{}@192.0.2.7:33445", "d".repeat(120));
    send(
        &mut v,
        B,
        E::Invite {
            at: at(12),
            join: join.clone(),
        },
    );
    let rows = screen(&v, 80, 16);
    let first = rows
        .iter()
        .position(|r| r.starts_with("dhtchat:public:ddd"))
        .unwrap();
    assert_eq!(format!("{}{}", rows[first], rows[first + 1]), join);
    assert!(!rows[first + 1].contains('│'));
}

#[test]
fn opened_and_ready_show_the_join_string_once() {
    let mut v = ChatView::new();
    open(&mut v, A, "tea");
    let ready = E::Ready {
        at: at(1),
        join: "dhtchat:public:tea@127.0.0.1:40007".into(),
        pk: "a".repeat(64),
        nick: String::new(),
        addr: "127.0.0.1:40007".parse().unwrap(),
        group: "tea".into(),
    };
    send(&mut v, A, ready);
    v.switch_to(2);
    let count = pane(&v)
        .iter()
        .filter(|r| r.starts_with("dhtchat:public:tea"))
        .count();
    assert_eq!(count, 1);
}

#[test]
fn paste_of_5000_characters_arrives_whole() {
    let mut v = two_groups();
    let text: String = "héllo wörld ".repeat(417).chars().take(5_000).collect();
    assert_eq!(v.handle_paste(&text), []);
    assert_eq!(v.input().text(), text, "kept whole in the input line");
    let sent = v.handle_key(key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(
        sent,
        Some(UiAction::Input {
            group: Some(B),
            line: text
        })
    );
    assert_eq!(v.input().text(), "");
}

#[test]
fn multi_line_paste_sends_each_line_and_keeps_the_rest() {
    let mut v = two_groups();
    for c in "> ".chars() {
        v.handle_key(key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let actions = v.handle_paste("first\r\n\r\nsecond\tline\rthird\nhalf");
    let lines: Vec<String> = actions
        .into_iter()
        .map(|a| match a {
            UiAction::Input { group, line } => {
                assert_eq!(group, Some(B));
                line
            }
            other => panic!("only lines: {other:?}"),
        })
        .collect();
    assert_eq!(lines, ["> first", "second line", "third"]);
    assert_eq!(v.input().text(), "half");
    let quit = v.handle_paste("\n/quit bye\nnot sent\n");
    let half = UiAction::Input {
        group: Some(B),
        line: "half".into(),
    };
    assert_eq!(quit, [half, UiAction::Quit(Some("bye".into()))]);
    assert_eq!(v.input().text(), "", "nothing after /quit is kept");
}

#[test]
fn long_commands_keep_their_limits() {
    let mut v = two_groups();
    // Text and actions of any length go through (the runtime sends them in parts); a command
    // argument with a protocol limit, such as a topic, is refused in the view.
    v.handle_paste(&format!("/topic {}", "x".repeat(2_000)));
    assert_eq!(v.handle_key(key(KeyCode::Enter, KeyModifiers::NONE)), None);
    assert!(
        has(&pane(&v), "-!- topic too long: 2000 bytes, at most"),
        "{:#?}",
        pane(&v)
    );
}

#[test]
fn peer_text_with_bidi_override_and_escape_renders_with_placeholders() {
    let mut v = two_groups();
    let ev = E::Message {
        at: at(13),
        from: peer('e', "ev\u{1b}[31mil"),
        text: "see \u{202E}txt.exe\u{1b}[2J done".into(),
    };
    send(&mut v, B, ev);
    let rows = screen(&v, 80, 16);
    let want = "10:13 <ev\u{FFFD}[31mil> see \u{FFFD}txt.exe\u{FFFD}[2J done";
    assert!(has(&rows, want), "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| !r.contains('\u{1b}') && !r.contains('\u{202E}'))
    );
}

#[test]
fn a_window_opened_by_join_or_create_is_shown() {
    let mut v = ChatView::new();
    open(&mut v, A, "tea");
    open(&mut v, B, "chess");
    assert_eq!(v.active_window(), 2, "start-up: the first group is shown");
    let create = Some(UiAction::Input {
        group: Some(A),
        line: "/create go".into(),
    });
    assert_eq!(type_line(&mut v, "/create go"), create);
    open(&mut v, GroupId(11), "go");
    assert_eq!(
        (v.active_window(), v.active_group()),
        (4, Some(GroupId(11)))
    );
    open(&mut v, GroupId(12), "restored later");
    assert_eq!(v.active_window(), 4, "only the window asked for");
}

#[test]
fn ready_after_a_members_snapshot_keeps_the_members() {
    let mut v = ChatView::new();
    open(&mut v, A, "tea");
    let ready = E::Ready {
        at: at(1),
        join: String::new(),
        pk: "a".repeat(64),
        nick: String::new(),
        addr: "127.0.0.1:40007".parse().unwrap(),
        group: "tea".into(),
    };
    send(&mut v, A, ready);
    assert_eq!(v.members().len(), 2);
    assert_eq!(screen(&v, 80, 16)[0], " tea · 2 members");
}
