//! The terminal chat UI end to end, in a real terminal: `dhtchat chat` runs inside a private
//! tmux server (its own socket in a temporary directory, never the user's tmux), keys go in
//! with `send-keys`, and the screen is read back with `capture-pane`.
//!
//! - one scenario: the READY lines and the sidebar, a message with its `HH:MM` time, `/nick`,
//!   an unknown command, `/chatid`, a second member (`--plain`, driven through its stdin)
//!   joining with the join string read off the screen, chatting and leaving, then `/quit`;
//! - resizing the terminal redraws it (narrow: no sidebar, lines rewrapped), and Ctrl-C
//!   quits;
//! - two groups in one terminal, one window each: Alt-2 and `/win N` switch, activity
//!   markers, messages stay in their window;
//! - a bracketed paste: each line is a message, a 5,000-character line goes in 7 parts.
//!
//! After each exit the wrapper shell prints the exit code and `stty -a`, so the tests check that
//! the process ended cleanly and left the terminal as it found it (no alternate screen, cursor
//! shown, canonical mode and echo back on).
//!
//! The harness is in `tests/tmux/`. Every wait polls the screen every `POLL` for at most `WAIT`; nothing asserts on a fixed
//! sleep. Without tmux (`tmux -V` fails) the tests print why and pass.

mod tmux;

use tmux::*;

#[test]
fn chat_in_a_real_terminal_with_a_plain_peer() {
    if !tmux_available() {
        return;
    }
    let tmux = start_alice();
    assert!(tmux.data_dir().join("data").exists());

    tmux.type_line("hello tmux");
    tmux.wait_for("`HH:MM <alice> hello tmux`", |s| {
        let rows = rows_with(s, "hello tmux");
        rows.len() == 1 && timed_row(rows[0], "<alice> hello tmux")
    });

    tmux.type_line("/nick alicia");
    tmux.wait_for("the nick change", |s| {
        s.has_message("-!- alice is now known as alicia")
            && s.sidebar().get(..2) == Some(&["1 member", "~alicia"][..])
            && s.status_line().contains("[alicia]")
    });

    tmux.type_line("/frobnicate");
    tmux.wait_for("one error line", |s| {
        let errors = rows_with(s, "frobnicate");
        errors.len() == 1 && timed_row(errors[0], "-!- unknown command /frobnicate")
    });

    // Still alive: a command after the error works, and gives the join string again.
    tmux.type_line("/chatid");
    let screen = tmux.wait_for("/chatid", |s| {
        s.has_message("-!- chat id ")
            && s.join_string("join string ").is_some()
            && s.join_string("join string ") == s.join_line()
    });
    let chatid_join = screen.join_string("join string ").unwrap();

    // /invite prints the join string alone on a full-width row: copied off the screen, it
    // is one line of the documented length (a founder's invite over IPv4: 63 characters,
    // PROTOCOL.md §6.3) and joining with it works.
    let rows_before = rows_with(&screen, JOIN_NOTICE).len();
    tmux.type_line("/invite");
    let screen = tmux.wait_for("the /invite line", |s| {
        rows_with(s, JOIN_NOTICE).len() > rows_before && s.join_line().is_some()
    });
    let join = screen.join_line().unwrap();
    assert_eq!(
        join, chatid_join,
        "/invite and /chatid give the same string"
    );
    assert_eq!(join.chars().count(), 63, "{join}");
    let parsed = join.parse::<dhtchat::proto::JoinString>();
    assert!(
        parsed.is_ok_and(|j| j.contact.addr.ip().is_loopback()),
        "{join}"
    );

    let mut bob = PlainPeer::join(&join, "bob");
    bob.expect_line("READY ");
    // Bob's nick reaches alice after the join itself, and a message sent at once can overtake
    // it (it would show under his key prefix), so bob talks once alice lists him by nick.
    tmux.wait_for("bob joining", |s| {
        s.has_message("has joined") && s.sidebar().contains(&"bob")
    });
    bob.say("hi from bob");
    tmux.wait_for("bob's message, two members", |s| {
        s.has_message("<bob> hi from bob")
            && s.sidebar().get(..3) == Some(&["2 members", "~alicia", "bob"][..])
            && s.topic_bar().contains("room · 2 members")
    });
    // Bob may first be handed alice's earlier message (anti-entropy repair of recent
    // broadcasts), so skip MSG lines that are not his own echo.
    let msg = loop {
        let msg = bob.expect_line("MSG ");
        if !msg.contains("text=hello tmux") {
            break msg;
        }
    };
    assert!(msg.ends_with("nick=bob text=hi from bob"), "{msg}");

    bob.say("/quit");
    assert!(bob.wait_exit(), "the plain peer failed");
    tmux.wait_for("bob leaving", |s| {
        s.has_message("-!- bob has left")
            && s.sidebar() == ["1 member", "~alicia"]
            && s.topic_bar().contains("room · 1 member")
    });

    tmux.type_line("/quit");
    tmux.expect_clean_exit();
}

#[test]
fn resize_redraws_and_ctrl_c_quits_and_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    let tmux = start_alice();
    let join = tmux.capture().join_line().unwrap();

    // A narrow terminal (SIGWINCH → redraw): no sidebar, the join string rewrapped.
    tmux.run(&["resize-window", "-t", SESSION, "-x", "50", "-y", "12"]);
    // tmux shows the old screen cut to size until the UI redraws, so wait for the new layout.
    let screen = tmux.wait_for("the narrow layout", |s| {
        s.rows().count() == 12
            && s.status_line().contains("[alice]")
            && s.join_line().as_deref() == Some(&*join)
    });
    assert!(
        !screen.0.contains('│'),
        "sidebar shown at 50 columns:\n{}",
        screen.0
    );
    assert!(screen.rows().all(|r| r.chars().count() <= 50));

    // Wide enough again: the sidebar comes back.
    tmux.run(&["resize-window", "-t", SESSION, "-x", "70", "-y", "12"]);
    tmux.wait_for("the sidebar back", |s| {
        s.sidebar().first() == Some(&"1 member")
    });

    tmux.run(&["send-keys", "-t", SESSION, "C-c"]);
    tmux.expect_clean_exit();
}

/// Whether the status line's `[Act: …]` lists exactly `act` (`None`: no activity at all).
fn activity_is(s: &Screen, act: Option<&str>) -> bool {
    let line = s.status_line();
    match act {
        Some(a) => line.contains(&format!("[Act: {a}]")),
        None => !line.contains("[Act:"),
    }
}

/// Two groups in one terminal: window 2 is `a` (from `--create`), window 3 is `b` (from
/// `/create b`), a `--plain` peer in each. Messages stay in their group's window, the status
/// line marks the other windows' activity (and `!` where alice is named), Alt-2 and `/win N`
/// switch, and a line typed in a window goes to that window's group only.
#[test]
fn two_groups_in_one_terminal_with_windows() {
    if !tmux_available() {
        return;
    }
    let args = ["--create", "a", "--nick", "alice", "--bind", "127.0.0.1:0"];
    let tmux = Tmux::start(&[&args[..], &["--data-dir", "{data}"]].concat());
    let screen = tmux.wait_for("window 2, group a, with its join string", |s| {
        s.topic_bar().starts_with(" a · 1 member")
            && s.status_line().contains("[2:a]")
            && s.join_line().is_some()
    });
    let join_a = screen.join_line().unwrap();

    tmux.type_line("/create b");
    let screen = tmux.wait_for("window 3, group b, shown", |s| {
        s.topic_bar().starts_with(" b · 1 member")
            && s.status_line().contains("[3:b]")
            && s.join_line().is_some_and(|j| j != join_a)
    });
    let join_b = screen.join_line().unwrap();

    let mut bob = PlainPeer::join(&join_a, "bob");
    let mut carol = PlainPeer::join(&join_b, "carol");
    bob.expect_line("READY ");
    carol.expect_line("READY ");
    tmux.wait_for(
        "carol in window 3's sidebar, bob's join marked on window 2",
        |s| s.sidebar().contains(&"carol") && !s.sidebar().contains(&"bob"),
    );

    bob.say("tea in a");
    tmux.wait_for("activity on window 2, nothing of it in window 3", |s| {
        activity_is(s, Some("2")) && !s.has_message("tea in a")
    });
    carol.say("chess in b");
    tmux.wait_for("carol's message in window 3", |s| {
        s.has_message("<carol> chess in b") && activity_is(s, Some("2"))
    });

    tmux.run(&["send-keys", "-t", SESSION, "M-2"]);
    tmux.wait_for("window 2 after Alt-2", |s| {
        s.topic_bar().starts_with(" a · 2 members")
            && s.status_line().contains("[2:a]")
            && s.has_message("<bob> tea in a")
            && !s.has_message("chess in b")
            && s.sidebar().contains(&"bob")
            && activity_is(s, None)
    });

    tmux.type_line("/win 1");
    tmux.wait_for("the status window after /win 1", |s| {
        s.topic_bar().trim_end() == " status"
            && s.status_line().contains("[1:status]")
            && !s.has_message("tea in a")
            && !s.has_message("chess in b")
    });
    carol.say("alice: your move");
    tmux.wait_for("a highlight on window 3", |s| activity_is(s, Some("3!")));

    tmux.type_line("/win 3");
    tmux.wait_for("window 3 with both of carol's lines, marks cleared", |s| {
        s.has_message("<carol> chess in b")
            && s.has_message("<carol> alice: your move")
            && !s.has_message("tea in a")
            && activity_is(s, None)
    });
    tmux.type_line("reply in b");
    let got = carol.expect_msg("text=reply in b");
    assert!(got.contains("nick=alice"), "{got}");
    bob.say("/quit");
    assert!(bob.wait_exit());
    carol.say("/quit");
    assert!(carol.wait_exit());

    tmux.type_line("/quit");
    tmux.expect_clean_exit();
}

/// A bracketed paste (`tmux paste-buffer -p`): each pasted line is sent as its own message,
/// and a 5,000-character paste is taken whole into the input line (not cut at 945 bytes);
/// Enter then sends it in numbered parts, or refuses it with the limit while the runtime
/// does not split (this branch's single-group session).
#[test]
fn paste_sends_each_line_and_keeps_a_long_paste_whole() {
    if !tmux_available() {
        return;
    }
    let tmux = start_alice();
    let paste = |text: &str| {
        tmux.run(&["set-buffer", "-b", "p", "--", text]);
        tmux.run(&["paste-buffer", "-p", "-d", "-b", "p", "-t", SESSION]);
    };
    paste("first pasted\nsecond pasted\n");
    tmux.wait_for("two messages from one paste", |s| {
        rows_with(s, "<alice> first pasted").len() == 1
            && rows_with(s, "<alice> second pasted").len() == 1
    });

    let long: String = (0..500).map(|i| format!("w{i:04}_abc ")).collect();
    let long = format!("{}END", &long[..4_997]);
    assert_eq!(long.chars().count(), 5_000);
    paste(&long);
    tmux.wait_for("the whole paste in the input line", |s| {
        s.rows()
            .last()
            .is_some_and(|r| r.trim_end().ends_with("END"))
    });
    tmux.run(&["send-keys", "-t", SESSION, "Enter"]);
    // 5,000 bytes at the secure limit of 785 are 7 numbered parts; the last ends the paste.
    tmux.wait_for("the long line sent in 7 parts", |s| {
        s.has_message("<alice> (7/7) ") && s.rows().any(|r| r.contains("aEND"))
    });
    tmux.type_line("/quit");
    tmux.expect_clean_exit();
}
