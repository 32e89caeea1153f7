//! `dhtchat node`: a headless bootstrap and relay node for servers.
//!
//! It runs the same runtime as `dhtchat chat` ([`Session`]: store-backed create, join or
//! restore, periodic persistence, quit on exit) without a front end. Everything it has to say
//! goes through `tracing` to stderr (`RUST_LOG`, default `info`): at start one line per group
//! with the join string others can use, then every `--stats-interval` one line with the
//! groups, table and member counts, datagrams and bytes in and out, and the non-zero drop
//! counters by reason. Node events are drained as they come (joins and parts are logged at
//! debug, messages at trace), so the event channel never fills. Ctrl-C or SIGTERM (how
//! systemd stops a service) leaves every group with a quit and exits 0.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::app::event::ChatEvent;
use crate::cli::chat::{GroupArgs, Session, Started, start_driver};
use crate::cli::plain::format_plain;
use crate::net::{DriverStats, Handle, NodeEvent};
use crate::proto::{DropReason, GroupId, GroupInfo, Stats};
use crate::store::Store;

/// How often the table and message numbers are written to the store.
const PERSIST_EVERY: Duration = Duration::from_secs(30);
/// Most node events handled before the session's events are logged.
const EVENT_BATCH: usize = 256;

/// Command line of `dhtchat node`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Groups, addresses and data dir, as for `dhtchat chat`.
    #[command(flatten)]
    pub group: GroupArgs,

    /// Seconds between two stats lines in the log
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stats_interval: u64,
}

/// Runs `dhtchat node` until Ctrl-C or SIGTERM.
pub fn run(args: &Args) -> anyhow::Result<()> {
    init_tracing();
    let store = Store::open(&args.group.data_dir()?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async_main(args, store))
}

/// `RUST_LOG` controls logging (to stderr); `info` by default. Colours only on a terminal,
/// so the journal gets plain text.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

async fn async_main(args: &Args, store: Store) -> anyhow::Result<()> {
    // Watch the signals before anything else, so an early SIGTERM still leaves cleanly.
    let mut stop = StopSignal::new();
    let Started {
        task,
        handle,
        events,
        advertised,
    } = start_driver(&args.group, &store).await?;
    tracing::info!(bound = %handle.local_addr(), %advertised, "node started");
    let mut session = Session::new(handle.clone(), store, advertised, time::UtcOffset::UTC);
    let result = match session.start(&args.group).await {
        Ok(()) => {
            log_groups(&session, &handle, advertised).await;
            let every = Duration::from_secs(args.stats_interval);
            serve(&mut session, &handle, events, &mut stop, every).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    session.shutdown().await;
    let last = task.await.unwrap_or_default();
    if result.is_ok() {
        log_stats(&session, &last, &[], "node stopped; final stats");
    }
    result
}

/// One line per group with the join string through us.
async fn log_groups(session: &Session, handle: &Handle, advertised: SocketAddr) {
    for (group, label) in session.labels() {
        match handle.group(group).await {
            Ok(Some(snap)) => {
                let mut join = snap.join;
                join.contact.addr = advertised;
                tracing::info!(group = %label, key = %snap.info.own_key, %join, "serving group");
            }
            _ => tracing::warn!(group = %label, "group vanished"),
        }
    }
}

/// What woke the node's loop.
enum Wake {
    Node(Option<NodeEvent>),
    Stop(&'static str),
    Persist,
    Stats,
}

/// Drains node events, persists and logs stats until a signal (or the driver stops).
async fn serve(
    session: &mut Session,
    handle: &Handle,
    mut events: mpsc::Receiver<NodeEvent>,
    stop: &mut StopSignal,
    every: Duration,
) {
    let mut persist = tokio::time::interval(PERSIST_EVERY);
    let start = tokio::time::Instant::now();
    let mut stats = tokio::time::interval_at(start + every, every);
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        for ev in session.take_events().await {
            log_event(&ev);
        }
        let wake = tokio::select! {
            ev = events.recv() => Wake::Node(ev),
            why = stop.wait() => Wake::Stop(why),
            _ = persist.tick() => Wake::Persist,
            _ = stats.tick() => Wake::Stats,
        };
        match wake {
            Wake::Node(None) => {
                tracing::warn!("the driver stopped");
                return;
            }
            Wake::Node(Some(ev)) => {
                session.on_node_event(ev);
                for _ in 1..EVENT_BATCH {
                    match events.try_recv() {
                        Ok(ev) => session.on_node_event(ev),
                        Err(_) => break,
                    }
                }
            }
            Wake::Stop(why) => {
                tracing::info!(signal = %why, "stopping: leaving every group");
                return;
            }
            Wake::Persist => session.persist().await,
            Wake::Stats => {
                let Ok(driver) = handle.stats().await else {
                    return;
                };
                let groups = group_infos(handle).await;
                log_stats(session, &driver, &groups, "stats");
            }
        }
    }
}

/// Every hosted group's summary.
async fn group_infos(handle: &Handle) -> Vec<(GroupId, GroupInfo)> {
    handle
        .call(|n, _| {
            let ids: Vec<GroupId> = n.groups().collect();
            ids.into_iter()
                .filter_map(|g| n.group_info(g).map(|i| (g, i)))
                .collect()
        })
        .await
        .unwrap_or_default()
}

/// The periodic stats line (`what` is its message).
fn log_stats(session: &Session, driver: &DriverStats, groups: &[(GroupId, GroupInfo)], what: &str) {
    let labels = session.labels();
    let named: Vec<(String, &GroupInfo)> = groups
        .iter()
        .map(|(g, info)| {
            let label = labels
                .iter()
                .find(|(id, _)| id == g)
                .map_or_else(|| format!("#{}", g.0), |(_, l)| l.clone());
            (label, info)
        })
        .collect();
    let s = &driver.node;
    tracing::info!(
        groups = groups.len(),
        per_group = %per_group(&named),
        datagrams_in = s.datagrams_in,
        bytes_in = s.bytes_in,
        datagrams_out = s.datagrams_out,
        bytes_out = s.bytes_out,
        delivered = s.delivered,
        relayed = s.relayed,
        originated = s.originated,
        summaries = s.summaries,
        repairs = s.repairs,
        drops = %drops(s),
        graylistings = s.graylistings,
        events_dropped = driver.events_dropped,
        send_errors = driver.send_errors,
        recv_errors = driver.recv_errors,
        "{what}"
    );
}

/// `label(table T, members M[, no answer yet]); …`, or `-` with no group.
fn per_group(groups: &[(String, &GroupInfo)]) -> String {
    if groups.is_empty() {
        return "-".to_owned();
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(label, i)| {
            let state = if i.joined { "" } else { ", no answer yet" };
            format!(
                "{label}(table {}, members {}{state})",
                i.table_len, i.members
            )
        })
        .collect();
    parts.join("; ")
}

/// The non-zero drop counters, `name:count` separated by commas, largest first; `0` if none.
fn drops(s: &Stats) -> String {
    let mut counts: Vec<(&str, u64)> = DropReason::ALL
        .iter()
        .map(|r| (r.name(), s.dropped(*r)))
        .filter(|(_, n)| *n > 0)
        .collect();
    if counts.is_empty() {
        return "0".to_owned();
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{r}:{n}")).collect();
    parts.join(",")
}

/// Logs one session event as its `--plain` line: READY and INFO at info, ERROR at warn,
/// message text at trace, the rest (joins, parts, nicks, moderation) at debug.
fn log_event(ev: &ChatEvent) {
    let Some(line) = format_plain(ev) else {
        return;
    };
    match ev {
        ChatEvent::Ready { .. } | ChatEvent::Info { .. } => tracing::info!("{line}"),
        ChatEvent::Error { .. } => tracing::warn!("{line}"),
        ChatEvent::Message { .. } | ChatEvent::Action { .. } | ChatEvent::Private { .. } => {
            tracing::trace!("{line}");
        }
        _ => tracing::debug!("{line}"),
    }
}

/// Ctrl-C and, on unix, SIGTERM. A signal that cannot be watched never fires.
struct StopSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    /// Starts watching (must run inside the runtime).
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate())
                .inspect_err(|e| tracing::warn!("cannot watch SIGTERM: {e}"))
                .ok();
            Self { term }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves with the signal's name once one arrives.
    async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        let term = async {
            let fired = match self.term.as_mut() {
                Some(t) => t.recv().await.is_some(),
                None => false,
            };
            if !fired {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if r.is_err() {
                    std::future::pending::<()>().await;
                }
                "SIGINT"
            }
            () = term => "SIGTERM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Dialect, Privacy};
    use crate::wire::{PublicKey, VoiceLevel};

    fn info(table_len: usize, members: usize, joined: bool) -> GroupInfo {
        GroupInfo {
            own_key: PublicKey([1; 32]),
            chat_id: None,
            dialect: Dialect::Secure,
            privacy: Privacy::Public,
            joined,
            table_len,
            members,
            topic: None,
            topic_locked: false,
            voice: VoiceLevel::All,
            peer_limit: 0,
        }
    }

    #[test]
    fn drops_lists_only_non_zero_counters_largest_first() {
        let mut s = Stats::default();
        assert_eq!(drops(&s), "0");
        s.count_drop(DropReason::Decrypt);
        for _ in 0..3 {
            s.count_drop(DropReason::Duplicate);
        }
        assert_eq!(drops(&s), "duplicate:3,decrypt:1");
    }

    #[test]
    fn per_group_names_each_group_and_marks_unanswered() {
        assert_eq!(per_group(&[]), "-");
        let a = info(3, 5, true);
        let b = info(0, 0, false);
        let line = per_group(&[("relay".into(), &a), ("x".into(), &b)]);
        assert_eq!(
            line,
            "relay(table 3, members 5); x(table 0, members 0, no answer yet)"
        );
    }

    #[test]
    fn node_args_take_the_chat_group_options() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let argv = [
            "node",
            "--create",
            "relay",
            "--legacy",
            "--nick",
            "n",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
            "--stats-interval",
            "5",
        ];
        let args = Cli::try_parse_from(argv).unwrap().args;
        let c = &args.group;
        assert_eq!(c.create.as_deref(), Some("relay"));
        assert!(c.legacy && !c.private);
        assert_eq!(c.nick.as_deref(), Some("n"));
        assert_eq!(c.bind, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(c.data_dir, Some("/tmp/x".into()));
        assert_eq!(args.stats_interval, 5);
    }
}
