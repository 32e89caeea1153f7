//! `dhtchat node`: a headless bootstrap and relay node for servers.
//!
//! It runs the same application runtime as `dhtchat chat` ([`crate::app`]: store-backed
//! create, join or restore, periodic persistence, quit on exit) with a front end that only
//! logs ([`Front`] with no input). Everything it has to say
//! goes through `tracing` to stderr (`RUST_LOG`, default `info`): at start one line per group
//! with the join string others can use, then every `--stats-interval` one line with the
//! groups, table and member counts, datagrams and bytes in and out, and the non-zero drop
//! counters by reason. Node events are drained as they come (joins and parts are logged at
//! debug, messages at trace), so the event channel never fills. Ctrl-C, SIGTERM (how
//! systemd stops a service) or SIGHUP leaves every group with a quit and exits 0.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::app::event::{AppEvent, ChatEvent};
use crate::app::plain::format_plain;
use crate::app::text::neutralize;
use crate::app::{self, Front, FrontInput, Report};
use crate::cli::args::GroupArgs;
use crate::cli::config::FileConfig;
use crate::proto::{DropReason, GroupInfo, JoinString, Stats};
use crate::store::Store;

/// Seconds between two stats lines when neither the flag nor the config file says.
const DEFAULT_STATS_INTERVAL: u64 = 60;

/// Command line of `dhtchat node`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Groups, addresses and data dir, as for `dhtchat chat`.
    #[command(flatten)]
    pub group: GroupArgs,

    /// Seconds between two stats lines in the log (default 60)
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stats_interval: Option<u64>,
}

/// Runs `dhtchat node` until Ctrl-C, SIGTERM or SIGHUP.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let (options, file) = args.group.options_with_file()?;
    init_tracing(file.as_ref().and_then(|f| f.log_filter()));
    options.checked_nick()?;
    let store = Store::open(&options.data_dir()?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut front = NodeLog {
        every: Duration::from_secs(FileConfig::stats_interval(
            file.as_ref(),
            args.stats_interval,
            DEFAULT_STATS_INTERVAL,
        )),
    };
    runtime.block_on(app::run(&options, store, time::UtcOffset::UTC, &mut front))
}

/// `RUST_LOG` controls logging (to stderr), else the config file's `log`, else `info`. Colours only on a terminal,
/// so the journal gets plain text.
fn init_tracing(configured: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(configured.unwrap_or("info")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The node's front end: no input, everything to the log.
#[derive(Debug)]
struct NodeLog {
    every: Duration,
}

impl Front for NodeLog {
    fn next_input(&mut self) -> impl std::future::Future<Output = FrontInput> {
        std::future::pending()
    }

    fn show(&mut self, events: Vec<AppEvent>) -> anyhow::Result<()> {
        events.iter().for_each(log_event);
        Ok(())
    }

    fn started(&mut self, bound: SocketAddr, advertised: SocketAddr) {
        tracing::info!(%bound, %advertised, "node started");
    }

    fn report_every(&self) -> Option<Duration> {
        Some(self.every)
    }

    fn report(&mut self, report: &Report) {
        let what = if report.last {
            "node stopped; final stats"
        } else {
            "stats"
        };
        log_stats(report, what);
    }
}

/// The periodic stats line (`what` is its message).
fn log_stats(report: &Report, what: &str) {
    let (driver, groups) = (&report.driver, &report.groups);
    let named: Vec<(String, &GroupInfo)> = groups.iter().map(|(l, i)| (l.clone(), i)).collect();
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

/// Logs one runtime event: an opened group as `serving group` with its join string;
/// otherwise its `--plain` line (escaped, bidi controls neutralised): READY and INFO at info,
/// ERROR at warn, message text at trace, the rest (joins, parts, nicks, moderation) at debug.
fn log_event(ev: &AppEvent) {
    let ev = &ev.event;
    if let ChatEvent::Opened { label, join, .. } = ev {
        let key = join
            .parse::<JoinString>()
            .map(|j| j.contact.key.to_string());
        let label = neutralize(label);
        let key = key.unwrap_or_default();
        tracing::info!(group = %label, %key, %join, "serving group");
        return;
    }
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
        assert_eq!(args.stats_interval, Some(5));
    }
}
