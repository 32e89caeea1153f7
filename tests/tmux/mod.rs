//! The harness of the terminal tests (`tests/tui_tmux.rs`): a private tmux server running
//! one `dhtchat chat` pane ([`Tmux`]), a capture of its screen read as message pane, sidebar,
//! topic and status lines ([`Screen`]), and a `--plain` participant ([`PlainPeer`]).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// Screen poll interval.
pub(crate) const POLL: Duration = Duration::from_millis(100);
/// Upper bound of any single wait (generous: CI machines may be busy compiling).
pub(crate) const WAIT: Duration = Duration::from_secs(20);
/// The pane size, fixed so the layout is known (sidebar shown: width ≥ 60).
pub(crate) const COLS: &str = "100";
pub(crate) const ROWS: &str = "30";
/// The tmux session (and target) name.
pub(crate) const SESSION: &str = "chat";

/// Whether tmux can be run here; prints why not.
pub(crate) fn tmux_available() -> bool {
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
pub(crate) struct Tmux {
    socket: PathBuf,
    dir: TempDir,
}

impl Tmux {
    /// Starts `dhtchat chat <args>` (`{data}` is replaced by a fresh data directory) in a
    /// detached session. A wrapper shell reports the exit code and terminal modes afterwards,
    /// then keeps the pane open.
    pub(crate) fn start(args: &[&str]) -> Self {
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
    pub(crate) fn run(&self, args: &[&str]) -> String {
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

    pub(crate) fn capture(&self) -> Screen {
        Screen(self.run(&["capture-pane", "-p", "-t", SESSION]))
    }

    /// A tmux format string evaluated for our pane (`#{alternate_on}` …).
    pub(crate) fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", SESSION, format])
            .trim()
            .to_owned()
    }

    /// Types `text` literally, then Enter.
    pub(crate) fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", SESSION, "-l", text]);
        self.run(&["send-keys", "-t", SESSION, "Enter"]);
    }

    /// Polls the screen until `ok` accepts it; panics with the last screen after [`WAIT`].
    pub(crate) fn wait_for(&self, what: &str, ok: impl Fn(&Screen) -> bool) -> Screen {
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
    pub(crate) fn expect_clean_exit(&self) {
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

    pub(crate) fn data_dir(&self) -> &Path {
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
pub(crate) struct Screen(pub(crate) String);

impl Screen {
    pub(crate) fn rows(&self) -> impl Iterator<Item = &str> {
        self.0.lines()
    }

    /// The rows between the topic bar and the status line.
    pub(crate) fn body(&self) -> Vec<&str> {
        let rows: Vec<&str> = self.rows().collect();
        match rows.len() {
            n if n > 3 => rows[1..n - 2].to_vec(),
            _ => Vec::new(),
        }
    }

    /// The message-pane part of each body row (left of the sidebar border, if shown).
    pub(crate) fn messages(&self) -> Vec<&str> {
        self.body()
            .into_iter()
            .map(|r| r.rsplit_once('│').map_or(r, |(m, _)| m).trim_end())
            .collect()
    }

    /// The sidebar rows (right of its border), trimmed; the first is the member count.
    pub(crate) fn sidebar(&self) -> Vec<&str> {
        self.body()
            .into_iter()
            .filter_map(|r| r.rsplit_once('│').map(|(_, s)| s.trim()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub(crate) fn topic_bar(&self) -> &str {
        self.rows().next().unwrap_or("")
    }

    /// The status line: the second row from the bottom.
    pub(crate) fn status_line(&self) -> &str {
        let rows: Vec<&str> = self.rows().collect();
        rows.len().checked_sub(2).map_or("", |i| rows[i])
    }

    pub(crate) fn has_message(&self, text: &str) -> bool {
        self.messages().iter().any(|m| m.contains(text))
    }

    /// The join string shown after `marker`, unwrapped: continuation rows are indented by
    /// the six columns of `HH:MM `.
    pub(crate) fn join_string(&self, marker: &str) -> Option<String> {
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
    pub(crate) fn join_line(&self) -> Option<String> {
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
pub(crate) const JOIN_NOTICE: &str = "-!- others can join with this join string:";

/// A row is `HH:MM <rest>` with `rest` starting as given.
pub(crate) fn timed_row(row: &str, rest: &str) -> bool {
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
pub(crate) struct PlainPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    _data: TempDir,
}

impl PlainPeer {
    pub(crate) fn join(join: &str, nick: &str) -> Self {
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

    pub(crate) fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The first stdout line starting with `kind`; panics after [`WAIT`].
    pub(crate) fn expect_line(&self, kind: &str) -> String {
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
    pub(crate) fn expect_msg(&self, text: &str) -> String {
        loop {
            let line = self.expect_line("MSG ");
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Waits (bounded) for the process to exit; returns whether it succeeded.
    pub(crate) fn wait_exit(&mut self) -> bool {
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

pub(crate) fn start_alice() -> Tmux {
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
pub(crate) fn rows_with<'a>(s: &'a Screen, text: &str) -> Vec<&'a str> {
    s.messages()
        .into_iter()
        .filter(|r| r.contains(text))
        .collect()
}
