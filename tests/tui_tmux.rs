//! The terminal chat UI end to end, in a real terminal: `dhtchat chat` runs inside a private
//! tmux server (its own socket in a temporary directory, never the user's tmux), keys go in
//! with `send-keys`, and the screen is read back with `capture-pane`.
//!
//! - one scenario: the READY lines and the sidebar, a message with its `HH:MM` time, `/nick`,
//!   an unknown command, `/chatid`, a second member (`--plain`, driven through its stdin)
//!   joining with the join string read off the screen, chatting and leaving, then `/quit`;
//! - resizing the terminal redraws it (narrow: no sidebar, lines rewrapped), and Ctrl-C
//!   quits;
//! - two groups in one terminal, one window each (ignored until the multi-group app runtime
//!   is merged): Alt-2 and `/win N` switch, activity markers, messages stay in their window.
//!
//! After each exit the wrapper shell prints the exit code and `stty -a`, so the tests check that
//! the process ended cleanly and left the terminal as it found it (no alternate screen, cursor
//! shown, canonical mode and echo back on).
//!
//! Every wait polls the screen every [`POLL`] for at most [`WAIT`]; nothing asserts on a fixed
//! sleep. Without tmux (`tmux -V` fails) the tests print why and pass.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// Screen poll interval.
const POLL: Duration = Duration::from_millis(100);
/// Upper bound of any single wait (generous: CI machines may be busy compiling).
const WAIT: Duration = Duration::from_secs(20);
/// The pane size, fixed so the layout is known (sidebar shown: width ≥ 60).
const COLS: &str = "100";
const ROWS: &str = "30";
/// The tmux session (and target) name.
const SESSION: &str = "chat";

/// Whether tmux can be run here; prints why not.
fn tmux_available() -> bool {
    match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!("skipping: `tmux -V` failed ({})", out.status);
            false
        }
        Err(e) => {
            eprintln!("skipping: tmux not found ({e})");
            false
        }
    }
}

/// A private tmux server running one `dhtchat chat` pane; killed on drop, even on failure.
struct Tmux {
    socket: PathBuf,
    dir: TempDir,
}

impl Tmux {
    /// Starts `dhtchat chat <args>` (`{data}` is replaced by a fresh data directory) in a
    /// detached session. A wrapper shell reports the exit code and terminal modes afterwards,
    /// then keeps the pane open.
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new().prefix("tmx").tempdir().unwrap();
        let conf = dir.path().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g default-terminal xterm-256color\nset -g history-limit 0\n",
        )
        .unwrap();
        let data = dir.path().join("data");
        let tmux = Self {
            socket: dir.path().join("sock"),
            dir,
        };
        // The modes checked afterwards, one short line (`-icanon` when still raw).
        let script = r#""$0" chat "$@"; rc=$?; stty -a | tr -s ' ;' '\n\n' \
            | grep -x -e '-*icanon' -e '-*echo' -e '-*isig' -e '-*opost' | tr '\n' ' '; echo; \
            echo "DHTCHAT_EXIT=$rc"; exec sleep 600"#;
        let data = data.to_str().unwrap();
        let mut cmd: Vec<&str> = vec![
            "-f",
            conf.to_str().unwrap(),
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            COLS,
            "-y",
            ROWS,
            "sh",
            "-c",
            script,
            env!("CARGO_BIN_EXE_dhtchat"),
        ];
        cmd.extend(args.iter().map(|a| if *a == "{data}" { data } else { a }));
        tmux.run(&cmd);
        tmux
    }

    /// Runs one tmux command on our server; returns its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .env_remove("TMUX")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn capture(&self) -> Screen {
        Screen(self.run(&["capture-pane", "-p", "-t", SESSION]))
    }

    /// A tmux format string evaluated for our pane (`#{alternate_on}` …).
    fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", SESSION, format])
            .trim()
            .to_owned()
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", SESSION, "-l", text]);
        self.run(&["send-keys", "-t", SESSION, "Enter"]);
    }

    /// Polls the screen until `ok` accepts it; panics with the last screen after [`WAIT`].
    fn wait_for(&self, what: &str, ok: impl Fn(&Screen) -> bool) -> Screen {
        let tries = WAIT.as_millis() / POLL.as_millis();
        let mut screen = self.capture();
        for _ in 0..tries {
            if ok(&screen) {
                return screen;
            }
            std::thread::sleep(POLL);
            screen = self.capture();
        }
        assert!(
            ok(&screen),
            "timed out waiting for {what}; screen:\n{}",
            screen.0
        );
        screen
    }

    /// Waits for the wrapper's exit line, then checks the exit code and the terminal state.
    fn expect_clean_exit(&self) {
        let screen = self.wait_for("the chat process to exit", |s| {
            s.0.contains("DHTCHAT_EXIT=")
        });
        assert!(
            screen.0.contains("DHTCHAT_EXIT=0"),
            "non-zero exit:\n{}",
            screen.0
        );
        assert_eq!(
            self.display("#{alternate_on}"),
            "0",
            "alternate screen left on"
        );
        assert_eq!(self.display("#{cursor_flag}"), "1", "cursor left hidden");
        let words: Vec<&str> = screen.0.split_whitespace().collect();
        for mode in ["icanon", "echo", "isig", "opost"] {
            assert!(
                words.contains(&mode),
                "terminal mode {mode} not restored:\n{}",
                screen.0
            );
        }
        assert!(
            !screen.0.contains("[online]"),
            "the UI is still on screen:\n{}",
            screen.0
        );
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .env_remove("TMUX")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

/// One capture of the pane.
struct Screen(String);

impl Screen {
    fn rows(&self) -> impl Iterator<Item = &str> {
        self.0.lines()
    }

    /// The rows between the topic bar and the status line.
    fn body(&self) -> Vec<&str> {
        let rows: Vec<&str> = self.rows().collect();
        match rows.len() {
            n if n > 3 => rows[1..n - 2].to_vec(),
            _ => Vec::new(),
        }
    }

    /// The message-pane part of each body row (left of the sidebar border, if shown).
    fn messages(&self) -> Vec<&str> {
        self.body()
            .into_iter()
            .map(|r| r.rsplit_once('│').map_or(r, |(m, _)| m).trim_end())
            .collect()
    }

    /// The sidebar rows (right of its border), trimmed; the first is the member count.
    fn sidebar(&self) -> Vec<&str> {
        self.body()
            .into_iter()
            .filter_map(|r| r.rsplit_once('│').map(|(_, s)| s.trim()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn topic_bar(&self) -> &str {
        self.rows().next().unwrap_or("")
    }

    /// The status line: the second row from the bottom.
    fn status_line(&self) -> &str {
        let rows: Vec<&str> = self.rows().collect();
        rows.len().checked_sub(2).map_or("", |i| rows[i])
    }

    fn has_message(&self, text: &str) -> bool {
        self.messages().iter().any(|m| m.contains(text))
    }

    /// The join string shown after `marker`, unwrapped: continuation rows are indented by
    /// the six columns of `HH:MM `.
    fn join_string(&self, marker: &str) -> Option<String> {
        let rows = self.messages();
        let start = rows.iter().rposition(|r| r.contains(marker))?;
        let (_, first) = rows[start].split_once(marker)?;
        let mut join = first.trim().to_owned();
        for row in &rows[start + 1..] {
            match row.strip_prefix("      ") {
                Some(rest) if !rest.starts_with(' ') && !rest.is_empty() => join.push_str(rest),
                _ => break,
            }
        }
        Some(join)
    }

    /// The join string on the full-width row(s) below the last `others can join with this
    /// join string:` notice: at column 0, no sidebar beside it; a string longer than the pane
    /// continues on the next row, also at column 0.
    fn join_line(&self) -> Option<String> {
        let rows: Vec<&str> = self.body();
        let start = rows.iter().rposition(|r| r.contains(JOIN_NOTICE))?;
        let mut join = String::new();
        for row in &rows[start + 1..] {
            let row = row.trim_end();
            let piece = !row.is_empty() && !row.contains([' ', '│']) && !timed_row(row, "");
            if !piece {
                break;
            }
            join.push_str(row);
        }
        (!join.is_empty()).then_some(join)
    }
}

/// The notice above a join string's own line.
const JOIN_NOTICE: &str = "-!- others can join with this join string:";

/// A row is `HH:MM <rest>` with `rest` starting as given.
fn timed_row(row: &str, rest: &str) -> bool {
    let b = row.as_bytes();
    row.len() > 6
        && b[..5].iter().enumerate().all(|(i, c)| {
            if i == 2 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
        && b[5] == b' '
        && row[6..].starts_with(rest)
}

/// A `--plain` participant: stdin to type into, stdout lines on a channel; killed on drop.
struct PlainPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    _data: TempDir,
}

impl PlainPeer {
    fn join(join: &str, nick: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
            .args(["chat", "--plain", "--join", join, "--nick", nick])
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            _data: data,
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The first stdout line starting with `kind`; panics after [`WAIT`].
    fn expect_line(&self, kind: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(WAIT) {
                Ok(l) if l.starts_with(kind) => return l,
                Ok(l) => seen.push(l),
                Err(e) => panic!("no {kind} line from the plain peer ({e}); got {seen:#?}"),
            }
        }
    }

    /// The first `MSG` line containing `text` (earlier ones, such as our own echoes, are
    /// skipped); panics after [`WAIT`] without one.
    fn expect_msg(&self, text: &str) -> String {
        loop {
            let line = self.expect_line("MSG ");
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Waits (bounded) for the process to exit; returns whether it succeeded.
    fn wait_exit(&mut self) -> bool {
        let tries = WAIT.as_millis() / POLL.as_millis();
        for _ in 0..tries {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(POLL);
        }
        panic!("the plain peer did not exit within {WAIT:?}");
    }
}

impl Drop for PlainPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_alice() -> Tmux {
    let args = [
        "--create",
        "room",
        "--nick",
        "alice",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        "{data}",
    ];
    let tmux = Tmux::start(&args);
    // Every wait checks the whole expected screen: a capture can fall between two writes of
    // one redraw, so a screen accepted on one detail may not show the next one yet.
    tmux.wait_for("the READY lines, sidebar and status line", |s| {
        s.has_message("-!- you are in room as ")
            && s.join_line()
                .and_then(|j| j.parse::<dhtchat::proto::JoinString>().ok())
                .is_some_and(|j| j.contact.addr.ip().is_loopback())
            && s.topic_bar().contains("room · 1 member")
            && s.sidebar().get(..2) == Some(&["1 member", "~alice"][..])
            && s.status_line().contains("[alice] [online] [founder]")
    });
    tmux
}

/// The rows of the message pane that contain `text`.
fn rows_with<'a>(s: &'a Screen, text: &str) -> Vec<&'a str> {
    s.messages()
        .into_iter()
        .filter(|r| r.contains(text))
        .collect()
}

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
