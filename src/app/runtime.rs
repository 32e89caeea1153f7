//! [`Runtime`]: the application between the driver and a front end, and its one event loop.
//!
//! It owns the driver [`Handle`] and the [`Store`]; front ends hand it typed input
//! ([`Runtime::input`]) and take [`AppEvent`]s ([`Runtime::take_events`]), each tagged with
//! its group. [`Runtime::run`] is the loop every front end shares; it waits on:
//!
//! - the node's events (up to [`EVENT_BATCH`] handled before the front end is updated);
//! - the front end's input ([`Front::next_input`]);
//! - the stop signals ([`Signals`]: Ctrl-C, SIGTERM, SIGHUP);
//! - the persist tick (table, message numbers and marks to the store, every
//!   [`PERSIST_EVERY`], and soon after the members change);
//! - the earliest join deadline (a join nobody answered is given up);
//! - the front end's report tick, if it wants one ([`Front::report_every`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant as TokioInstant, Interval, interval_at};

use super::event::{AppEvent, ChatEvent, LocalTime};
use super::front::{Front, FrontInput, Report};
use super::groups::Joined;
use super::index::{Done, IndexLink};
use super::options::Options;
use super::signals::Signals;
use super::start::start_driver;
use crate::net::{DriverStats, Handle, NodeEvent};
use crate::proto::GroupId;
use crate::store::Store;

/// How often the table, message numbers and marks are written to the store (PROTOCOL.md
/// §6.9): after a kill -9 a replay of what was accepted in the last period may be shown again.
pub const PERSIST_EVERY: Duration = Duration::from_secs(10);
/// Most node events handled before the front end is updated.
pub const EVENT_BATCH: usize = 256;
/// Most events queued for the front end; older ones give way.
const MAX_QUEUED: usize = 4096;

/// What a front end does after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Leave every group (with this reason) and exit.
    Quit(Option<String>),
}

/// The application runtime. See the module docs.
#[derive(Debug)]
pub struct Runtime {
    pub(super) handle: Handle,
    pub(super) store: Store,
    events: mpsc::Receiver<NodeEvent>,
    task: Option<JoinHandle<DriverStats>>,
    pub(super) advertised: SocketAddr,
    offset: time::UtcOffset,
    pub(super) groups: BTreeMap<GroupId, Joined>,
    /// The nick new groups get: `--nick`, then the last `/nick`.
    pub(super) nick: String,
    pub(super) join_timeout: Duration,
    /// How much history a group keeps unless it has its own limits (`history_keep.rs`).
    pub(super) history_default: crate::proto::HistoryLimits,
    out: VecDeque<AppEvent>,
    /// Groups whose member list changed since the front end last got a snapshot.
    pub(super) members_dirty: BTreeSet<GroupId>,
    /// Groups whose signed facts changed and should be stored.
    pub(super) facts_dirty: BTreeSet<GroupId>,
    /// The index session (`--index`), if any.
    pub(super) index: Option<IndexLink>,
    /// When the state must be stored because the members changed (`persist.rs`).
    pub(super) persist_due: Option<std::time::Instant>,
}

/// What woke the loop.
enum Wake {
    Node(Option<NodeEvent>),
    Input(FrontInput),
    Stop(&'static str),
    Persist,
    Report,
    JoinDue,
    Index(Option<Done>),
}

impl Wake {
    fn kind(&self) -> &'static str {
        match self {
            Self::Node(_) => "node",
            Self::Input(_) => "input",
            Self::Stop(_) => "stop",
            Self::Persist => "persist",
            Self::Report => "report",
            Self::JoinDue => "join",
            Self::Index(_) => "index",
        }
    }
}

/// A turn of the event loop this long is logged (diagnostic).
const SLOW_WAKE: Duration = Duration::from_millis(200);

impl Runtime {
    /// Binds the socket and starts the driver (no group yet): the node seed comes from
    /// `store`, event times are local with `offset`.
    pub async fn bind(
        options: &Options,
        store: Store,
        offset: time::UtcOffset,
    ) -> anyhow::Result<Self> {
        let started = start_driver(options, &store).await?;
        Ok(Self {
            handle: started.handle,
            store,
            events: started.events,
            task: Some(started.task),
            advertised: started.advertised,
            offset,
            groups: BTreeMap::new(),
            nick: String::new(),
            join_timeout: options.join_timeout(),
            history_default: options.history,
            out: VecDeque::new(),
            members_dirty: BTreeSet::new(),
            facts_dirty: BTreeSet::new(),
            index: options.index.map(|target| {
                let ip = started.advertised.ip();
                IndexLink::start(target, options.index_floor, ip, options.data_dir().ok())
            }),
            persist_due: None,
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The address put into join strings.
    pub fn advertised(&self) -> SocketAddr {
        self.advertised
    }

    /// The groups we are in and their labels, in local id order.
    pub fn labels(&self) -> Vec<(GroupId, String)> {
        self.groups
            .iter()
            .map(|(g, j)| (*g, j.label.clone()))
            .collect()
    }

    /// The one event loop: runs until a quit (command, front-end input, signal) or until
    /// the driver stops; returns the quit reason. The front end has been shown every
    /// event when it returns.
    pub async fn run<F: Front>(
        &mut self,
        front: &mut F,
        signals: &mut Signals,
    ) -> anyhow::Result<Option<String>> {
        let mut persist = ticker(PERSIST_EVERY);
        let mut report = front.report_every().map(ticker);
        let reason = loop {
            front.show(self.take_events().await)?;
            let due = self.next_join_deadline();
            let wake = tokio::select! {
                ev = self.events.recv() => Wake::Node(ev),
                input = front.next_input() => Wake::Input(input),
                why = signals.wait() => Wake::Stop(why),
                _ = persist.tick() => Wake::Persist,
                () = sleep_until(self.persist_due) => Wake::Persist,
                () = tick(report.as_mut()) => Wake::Report,
                () = sleep_until(due) => Wake::JoinDue,
                done = IndexLink::next(self.index.as_mut()) => Wake::Index(done),
            };
            let (started, kind) = (TokioInstant::now(), wake.kind());
            match wake {
                Wake::Node(None) => {
                    tracing::warn!("the driver stopped");
                    break None;
                }
                Wake::Node(Some(ev)) => self.on_node_batch(ev).await,
                Wake::Input(input) => {
                    if let Flow::Quit(reason) = self.on_front_input(input).await {
                        break reason;
                    }
                }
                Wake::Stop(why) => {
                    tracing::info!(signal = %why, "stopping: leaving every group");
                    break None;
                }
                Wake::Persist => {
                    let (states, next) = self.read_state().await;
                    front.show(self.take_events().await)?;
                    self.write_state(states);
                    if let Some(ev) = next {
                        self.on_node_event(ev).await;
                    }
                }
                Wake::Report => front.report(&self.report().await),
                Wake::JoinDue => self.expire_joins().await,
                Wake::Index(Some(done)) => self.on_index(done).await,
                Wake::Index(None) => {
                    self.error(None, "the index connection stopped");
                    self.index = None;
                }
            }
            let took = started.elapsed();
            if took >= SLOW_WAKE {
                tracing::warn!(?took, kind, "slow event loop turn");
            }
        };
        front.show(self.take_events().await)?;
        Ok(reason)
    }

    async fn on_front_input(&mut self, input: FrontInput) -> Flow {
        match input {
            FrontInput::Line { group, input } => self.input(group, input).await,
            FrontInput::Bad { group, error } => {
                self.error(group, error);
                Flow::Continue
            }
            FrontInput::Password {
                group,
                command,
                password,
            } => {
                if let Err(e) = self.index_password(group, command, password).await {
                    self.error(group, format!("{e:#}"));
                }
                Flow::Continue
            }
            FrontInput::Quit(reason) => Flow::Quit(reason),
        }
    }

    /// Handles `first` and whatever else is already queued, up to [`EVENT_BATCH`].
    async fn on_node_batch(&mut self, first: NodeEvent) {
        self.on_node_event(first).await;
        for _ in 1..EVENT_BATCH {
            match self.events.try_recv() {
                Ok(ev) => self.on_node_event(ev).await,
                Err(_) => break,
            }
        }
    }

    /// Handles the queued events made before event `seq`; returns the first later one if it
    /// was taken from the channel (the channel holds at most its capacity, so this ends).
    pub(super) async fn on_events_before(&mut self, seq: u64) -> Option<NodeEvent> {
        while let Ok(ev) = self.events.try_recv() {
            if ev.seq >= seq {
                return Some(ev);
            }
            self.on_node_event(ev).await;
        }
        None
    }

    /// The counters and every group's summary.
    pub async fn report(&self) -> Report {
        let driver = self.handle.stats().await.unwrap_or_default();
        let groups = self.handle.groups().await.unwrap_or_default();
        let groups = groups
            .into_iter()
            .map(|(g, info)| {
                let label = self
                    .groups
                    .get(&g)
                    .map_or_else(|| format!("#{}", g.0), |j| j.label.clone());
                (label, info)
            })
            .collect();
        Report {
            driver,
            groups,
            last: false,
        }
    }

    /// Takes the queued events, after storing changed facts and adding a member list
    /// snapshot for each group whose members changed.
    pub async fn take_events(&mut self) -> Vec<AppEvent> {
        self.store_facts().await;
        for group in std::mem::take(&mut self.members_dirty) {
            if let Some(ev) = self.members_view(group).await {
                self.push(Some(group), ev);
            }
        }
        self.out.drain(..).collect()
    }

    /// Stores everything, leaves every group with `reason` (quit is broadcast) and stops
    /// the driver; returns its final counters and the events still to show: those of the
    /// messages the last store holds (see [`Runtime::persist`]).
    pub async fn shutdown(mut self, reason: Option<&str>) -> (DriverStats, Vec<AppEvent>) {
        let rooms = self.room_records();
        if let Some(link) = self.index.take() {
            link.shutdown().await;
        }
        self.persist().await;
        let events = self.take_events().await;
        let groups: Vec<GroupId> = self.groups.keys().copied().collect();
        for group in groups {
            let _ = self.handle.leave_group(group, reason.unwrap_or("")).await;
        }
        for record in rooms {
            let _ = self.store.remove_group(record);
        }
        let stats = self.handle.quit().await;
        let last = match self.task.take() {
            Some(task) => task.await.ok(),
            None => None,
        };
        (last.or(stats.ok()).unwrap_or_default(), events)
    }

    /// The local time now, for event stamps.
    /// The local UTC offset read at start-up (for stored messages' send times).
    pub(super) fn offset(&self) -> time::UtcOffset {
        self.offset
    }

    pub(super) fn now(&self) -> LocalTime {
        super::local_time(self.offset)
    }

    /// Queues an event for the front end.
    pub(super) fn push(&mut self, group: Option<GroupId>, event: ChatEvent) {
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
        }
        self.out.push_back(AppEvent { group, event });
    }

    /// Queues a system line.
    pub(super) fn info(&mut self, group: Option<GroupId>, text: impl Into<String>) {
        let at = self.now();
        let text = text.into();
        self.push(group, ChatEvent::Info { at, text });
    }

    /// Queues an error line.
    pub(super) fn error(&mut self, group: Option<GroupId>, text: impl Into<String>) {
        let at = self.now();
        let text = text.into();
        self.push(group, ChatEvent::Error { at, text });
    }
}

#[cfg(test)]
mod tests;

/// An interval whose first tick is one period from now.
fn ticker(every: Duration) -> Interval {
    let mut i = interval_at(TokioInstant::now() + every, every);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// The next tick of `interval`; never without one.
async fn tick(interval: Option<&mut Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`; never without one.
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(TokioInstant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Runs a front end over a fresh runtime: binds, opens the groups `options` name (or the
/// stored ones), runs the loop until a quit, then stores everything and leaves every group.
/// A front end calls only this.
pub async fn run<F: Front>(
    options: &Options,
    store: Store,
    offset: time::UtcOffset,
    front: &mut F,
) -> anyhow::Result<()> {
    // Watch the signals before anything else, so an early SIGTERM still leaves cleanly.
    let mut signals = Signals::new();
    let nick = options.checked_nick()?;
    let mut rt = Runtime::bind(options, store, offset).await?;
    front.started(rt.local_addr(), rt.advertised());
    let result = match rt.open_groups(options, &nick).await {
        Ok(()) => rt.run(front, &mut signals).await,
        Err(e) => Err(e),
    };
    let reason = result.as_ref().ok().cloned().flatten();
    let (last, events) = rt.shutdown(reason.as_deref()).await;
    let result = result.and_then(|r| front.show(events).map(|()| r));
    if result.is_ok() {
        front.report(&Report {
            driver: last,
            groups: Vec::new(),
            last: true,
        });
    }
    result.map(|_| ())
}
