//! The group-chat window of the terminal UI (issue #14 item 5) in a real terminal (the
//! private tmux server of `tests/tmux/`): `dhtchat chat --index` registers alice, `/gc create`
//! opens the chat's window, `/gc add bob` adds a `--plain` client (harness
//! `tests/index_procs`); bob's message shows in that window and not in the status window,
//! and alice's message typed there reaches bob; the window lists and counts both members.
//! Without tmux the test prints why and passes.
// Real processes run in real time: the bounded waits read the clock.
#![allow(clippy::disallowed_methods)]

mod index_procs;
#[allow(dead_code)]
mod tmux;

use index_procs::{Proc, start_index};
use tmux::*;

const PW: &str = "a long enough secret 9Xq";

#[test]
fn a_group_chat_window_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--index",
        &target,
        "--index-kdf-floor",
        "--data-dir",
        "{data}",
    ];
    let tmux = Tmux::start(&args);
    tmux.wait_for("the status window", |s| !s.status_line().is_empty());
    tmux.type_line("/register alice");
    tmux.wait_for("the password prompt", |s| s.0.contains("(not shown)"));
    tmux.type_line(PW);
    tmux.wait_for("the login", |s| s.has_message("logged in as alice"));
    assert!(
        !tmux.capture().0.contains(PW),
        "the password is on the screen"
    );

    let mut b = Proc::chat("bob", dirs[1].path(), &target);
    b.account("register", "bob", PW);

    tmux.type_line("/gc create devs");
    tmux.wait_for("the chat's window", |s| {
        s.has_message("group chat devs created") && s.status_line().contains("devs")
    });
    tmux.type_line("/gc add bob");
    tmux.wait_for("the rotation", |s| {
        s.has_message("added bob: the chat's key rotated to epoch 1")
    });
    // The window lists the chat's members by name (request kind 29): the creator first as
    // founder, then bob, and counts them in its topic bar.
    tmux.wait_for("both members in the sidebar and the count", |s| {
        let side = s.sidebar();
        s.topic_bar().contains("devs · 2 members")
            && side.iter().any(|r| r.trim() == "2 members")
            && side.iter().any(|r| r.trim() == "~alice")
            && side.iter().any(|r| r.trim() == "bob")
    });
    tmux.type_line("hello from the terminal");
    b.expect(
        "GCMSG",
        "hello from the terminal",
        &[("chat", "devs"), ("nick", "alice")],
    );
    b.say("hello from bob");
    tmux.wait_for("bob's message in the chat's window", |s| {
        let rows = rows_with(s, "hello from bob");
        rows.len() == 1 && timed_row(rows[0], "<bob> hello from bob")
    });
    // The status window does not have it; back in the chat's window it is there.
    tmux.type_line("/win 1");
    tmux.wait_for("the status window without bob's line", |s| {
        !s.status_line().contains("devs") && rows_with(s, "hello from bob").is_empty()
    });
    tmux.type_line("/win 2");
    tmux.wait_for("the chat's window again", |s| {
        s.status_line().contains("devs") && rows_with(s, "hello from bob").len() == 1
    });
    tmux.type_line("/quit");
    tmux.expect_clean_exit();
}
