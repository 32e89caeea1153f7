//! Counting a churn run (`tests/churn.rs`) from what every member printed.
//!
//! **Messages.** A message is a `c…` text its sender showed as its own `MSG`, at the time
//! the line was read (`at`).
//!
//! **Due pairs.** A (message, receiver) pair is due when the receiver, another member, has a
//! run that was READY and stayed up [`WINDOW`] past the later of the message's time and
//! that run's READY: it was up long enough after the message (live), or came back after it
//! and stayed up long enough to fetch it (history). A receiver that was down at the message
//! and never came back for [`WINDOW`] owes nothing.
//!
//! **Shown.** A `MSG` or `HIST` line with the message's text, in any run of the receiver.
//! A due pair shown in no run is **missing**.
//!
//! **Duplicates.** A member (senders included) that shows one text more than once, in any
//! mix of `MSG` and `HIST`. When each repeat is in a later run than the one before and that
//! earlier run ended by kill -9, it is a **re-show after kill -9** (the marks and history
//! stored up to 10 s before the crash, PROTOCOL.md §6.9, §6.13); every other repeat is an
//! **other duplicate**.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Member, matches};
use dhtchat::app::plain::parse_plain;

/// A receiver owes a message once it has been READY and up this long after it.
pub const WINDOW: Duration = Duration::from_secs(10);

/// A message sent: its text, sender, and when the sender showed it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub text: String,
    pub from: usize,
    pub at: Instant,
}

/// A due pair that was not shown: the message, the receiver, and whether the receiver was
/// READY when it was sent (else it owed it through history on its return).
#[derive(Debug, Clone)]
pub struct Missing {
    pub text: String,
    pub from: usize,
    pub to: usize,
    pub live: bool,
    /// Seconds from the message to the receiver's READY (negative: READY before).
    pub ready_after: f64,
    /// Seconds the sender stayed up after the message, and how its run ended.
    pub sender_up: f64,
    pub sender_end: Option<&'static str>,
}

/// A repeat: the member, the text, and the (run, kind) of every show.
pub type Repeat = (usize, String, Vec<(usize, String)>);

/// The counts of one run.
#[derive(Debug, Default)]
pub struct Tally {
    pub messages: usize,
    pub due: usize,
    pub due_live: usize,
    pub missing: Vec<Missing>,
    /// (member, text, runs that showed it): repeats after kill -9 restarts.
    pub reshown_after_kill: Vec<(usize, String, Vec<usize>)>,
    /// (member, text, (run, kind) of every show): every other repeat.
    pub other_dups: Vec<Repeat>,
    /// Delays from sending to the first show, for the pairs shown in the live run.
    pub live_delays: Vec<Duration>,
    /// Pairs first shown as `HIST`.
    pub by_history: usize,
}

impl Tally {
    /// The delay at percentile `p` of the live deliveries.
    pub fn delay(&self, p: usize) -> Duration {
        let d = &self.live_delays;
        d.get((d.len() * p / 100).min(d.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }

    /// One line of figures.
    pub fn summary(&self) -> String {
        let missing_live = self.missing.iter().filter(|m| m.live).count();
        format!(
            "{} messages; {} (message, receiver) pairs due ({} live, {} on return); missing {} \
             ({missing_live} live, {} on return); shown through history {}; re-shown after \
             kill -9: {} (member, message) pairs; other duplicates: {}; live delay p50 {:?} \
             p99 {:?} max {:?}",
            self.messages,
            self.due,
            self.due_live,
            self.due - self.due_live,
            self.missing.len(),
            self.missing.len() - missing_live,
            self.by_history,
            self.reshown_after_kill.len(),
            self.other_dups.len(),
            self.delay(50),
            self.delay(99),
            self.live_delays.last().copied().unwrap_or_default(),
        )
    }
}

/// Every `c…` message each member showed as its own.
pub fn sent(members: &[Member], keys: &[String]) -> Vec<Sent> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        for (_, at, line) in &m.seen {
            if let Some(text) = matches(line, "MSG", &[("pk", &keys[i])]).and_then(text_of) {
                out.push(Sent {
                    text,
                    from: i,
                    at: *at,
                });
            }
        }
    }
    out
}

/// The `c…` text of a line's fields.
fn text_of(fields: Vec<(String, String)>) -> Option<String> {
    let (_, t) = fields.into_iter().find(|(k, _)| k == "text")?;
    t.starts_with('c').then_some(t)
}

/// Every `c…` text a member showed: text → (run, kind, when) of each show.
type Shows = HashMap<String, Vec<(usize, String, Instant)>>;

fn shows(m: &Member) -> Shows {
    let mut out: Shows = HashMap::new();
    for (run, at, l) in &m.seen {
        let Some(p) = parse_plain(l).filter(|p| p.kind == "MSG" || p.kind == "HIST") else {
            continue;
        };
        if let Some(t) = text_of(p.fields) {
            out.entry(t).or_default().push((*run, p.kind, *at));
        }
    }
    out
}

/// The first run of `r` that was READY and up [`WINDOW`] after `at` (or after its READY).
fn due_run(r: &Member, at: Instant, end: Instant) -> Option<usize> {
    r.lives.iter().position(|l| {
        l.ready
            .is_some_and(|ready| ready.max(at) + WINDOW <= l.ended.unwrap_or(end))
    })
}

/// Counts the run that ended at `end`.
pub fn tally(members: &[Member], keys: &[String], end: Instant) -> Tally {
    let all = sent(members, keys);
    let shown: Vec<Shows> = members.iter().map(shows).collect();
    let mut t = Tally {
        messages: all.len(),
        ..Tally::default()
    };
    for s in &all {
        for (r, m) in members.iter().enumerate().filter(|(r, _)| *r != s.from) {
            let Some(run) = due_run(m, s.at, end) else {
                continue;
            };
            let ready = m.lives[run].ready.expect("due runs are READY");
            let live = ready <= s.at;
            t.due += 1;
            t.due_live += usize::from(live);
            match shown[r].get(&s.text).and_then(|v| v.first()) {
                Some((_, kind, at)) => {
                    t.by_history += usize::from(kind == "HIST");
                    if live && kind == "MSG" {
                        t.live_delays.push(at.saturating_duration_since(s.at));
                    }
                }
                None => t.missing.push(missing(members, s, r, ready, live, end)),
            }
        }
    }
    t.live_delays.sort();
    for (r, sh) in shown.iter().enumerate() {
        for (text, v) in sh.iter().filter(|(_, v)| v.len() > 1) {
            let lives = &members[r].lives;
            let after_kill = v
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && lives[w[0].0].signal == Some("KILL"));
            if after_kill {
                let runs = v.iter().map(|x| x.0).collect();
                t.reshown_after_kill.push((r, text.clone(), runs));
            } else {
                let how = v.iter().map(|x| (x.0, x.1.clone())).collect();
                t.other_dups.push((r, text.clone(), how));
            }
        }
    }
    t
}

fn missing(
    members: &[Member],
    s: &Sent,
    to: usize,
    ready: Instant,
    live: bool,
    end: Instant,
) -> Missing {
    let secs = |a: Instant, b: Instant| {
        if a >= b {
            (a - b).as_secs_f64()
        } else {
            -(b - a).as_secs_f64()
        }
    };
    let lives = &members[s.from].lives;
    let run = lives
        .iter()
        .rposition(|l| l.started <= s.at)
        .expect("the sender was running");
    Missing {
        text: s.text.clone(),
        from: s.from,
        to,
        live,
        ready_after: secs(ready, s.at),
        sender_up: secs(lives[run].ended.unwrap_or(end), s.at),
        sender_end: lives[run].signal,
    }
}
