//! The `dhtchat` binary: parses the command line and runs one subcommand from
//! [`dhtchat::cli`].

use clap::{Parser, Subcommand};
use dhtchat::cli;

/// Command line of the `dhtchat` binary.
#[derive(Debug, Parser)]
#[command(
    name = "dhtchat",
    version,
    about = "Peer-to-peer group chat node speaking the Tox-style DHT group-chat protocol",
    after_help = "\
Examples:
  Watch 50 nodes form a group on loopback UDP and exchange messages:
    dhtchat demo

  Measure 200 nodes under 50 messages/s of 200 bytes from 10 publishers for 20 s:
    dhtchat bench --nodes 200

  Found a group and chat in the terminal:
    dhtchat chat --create lobby --nick alice

  Run a headless relay node for a server, then print its join strings:
    dhtchat node --create lobby
    dhtchat id

  Dissect a captured datagram with the receiver's X25519 secret key:
    dhtchat inspect --secret-key <64 hex digits> 300FAA684E...

  Dissect a capture, one hex datagram per line, verifying signed broadcasts:
    dhtchat inspect --secret-key <64 hex> --chat-id <64 hex> < datagrams.txt

See PROTOCOL.md for the wire format and docs/inspect.md for the output format."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Decode group-chat datagrams (hex) into one line of fields each
    #[command(after_help = "\
Examples:
  dhtchat inspect --secret-key 2222...2222 300FAA684ED2...
  dhtchat inspect --secret-key <hex> --chat-id <hex> < capture.txt
  dhtchat inspect --secret-key <hex> \"$(xxd -p datagram.bin)\"

Output: one line per datagram of name=value fields, e.g.
  outer=48 receiver=<hex> sender=<hex> nonce=<hex> len=114 inner=48 kind=get_nodes ping_id=<hex>
or error=<reason> followed by the fields known so far. See docs/inspect.md.")]
    Inspect(cli::inspect::Args),
    /// Run N nodes in this process on loopback UDP: form a group, chat, print a summary
    #[command(after_help = "\
Examples:
  dhtchat demo                      50 nodes, 100 messages from 5 publishers
  dhtchat demo --nodes 200          a bigger group (one socket and loopback IP per node)
  dhtchat demo -n 20 -m 1000 -p 10 --rate 500
  RUST_LOG=dhtchat=debug dhtchat demo -n 5

Each node is a full node with its own UDP socket on its own loopback IP (127.0.0.2,
127.0.0.3, ...; Linux routes all of 127.0.0.0/8 to loopback). Node 0 creates a secure group,
the others join through random earlier members; once every node has joined, the publishers
send the messages. The summary gives the convergence time, the delivery ratio (deliveries /
(messages x (nodes - 1))), duplicates, latency p50/p99 from the send call to each receiver's
event, and the datagrams and bytes sent. Ctrl-C stops early; the nodes still leave the group.")]
    Demo(cli::demo::Args),
    /// Chat in a group: create one, join one, or rejoin the stored ones
    #[command(after_help = chat_help())]
    Chat(cli::chat::Args),
    /// Run a headless bootstrap/relay node that logs periodic stats (for servers)
    #[command(after_help = "\
Examples:
  Found a group on a server and relay for it; the log shows the join string:
    dhtchat node --create lobby --advertise 192.0.2.7:33445
  Relay for a group that exists elsewhere:
    dhtchat node --join dhtchat:<join string>
  Rejoin every stored group (what the systemd unit in contrib/ runs):
    dhtchat node --data-dir /var/lib/dhtchat
  More detail (joins and parts), stats every 10 s:
    RUST_LOG=dhtchat=debug dhtchat node --stats-interval 10

Logs go to stderr through tracing; RUST_LOG sets the filter (default info). At start one
line per group gives its join string; then every --stats-interval seconds one line gives the
groups, table and member counts, datagrams and bytes in/out since start, and the non-zero
drop counters by reason. Ctrl-C, SIGTERM or SIGHUP stores the state, leaves every group
(quit) and exits 0. Identity
and groups are kept under --data-dir (default $XDG_DATA_HOME/dhtchat). See contrib/README.md
for running it under systemd.")]
    Node(cli::node::Args),
    /// Print this node's key and the join string others can use, for each stored group
    #[command(after_help = "\
Examples:
  dhtchat id
  dhtchat id --data-dir /var/lib/dhtchat --advertise 192.0.2.7:33445

For each group in the store: its label, dialect and privacy, chat id, our public key in it,
and the join string through us. The join string's address is --advertise, else the one the
running (or last) chat or node recorded once it had bound its socket, else the IP of the
interface that routes outwards with port 33445. Secret seeds are never printed. It only
reads the store, so it works while `dhtchat chat` or `dhtchat node` runs on the same data dir.")]
    Id(cli::id::Args),
    /// Load N nodes in this process on loopback UDP; print one machine-readable result line
    #[command(after_help = "\
Examples:
  dhtchat bench                          50 nodes, 50 msg/s of 200 B from 10 publishers, 20 s
  dhtchat bench -n 200                   the same load on 200 nodes
  dhtchat bench -n 100 --rate 200 --size 500 --publishers 40 --duration 60
  dhtchat bench -n 5 --rate 20 --duration 2 --warmup 0 --json

The nodes are demo's: each has its own UDP socket on its own loopback IP and one secure group
is formed. After every node has joined (and --warmup), a scheduler issues --rate messages per
second in total, round robin over --publishers random members, at fixed instants whatever the
deliveries do (open loop), for --duration seconds; then it waits up to --drain seconds for the
last deliveries. Undelivered messages are lost. Progress goes to stderr once per second.

Output (stdout, one line; na = not measured):
  BENCH nodes=200 publishers=10 rate=50 size=200 duration_s=20 sent=1000
  delivery_ratio=0.99950 p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. delivered_per_s=..
  cpu_us_per_delivery=.. peak_rss_mb=.. expected=.. delivered=.. duplicates=..
  send_failures=.. datagrams_per_delivery=.. max_send_lag_ms=.. converged=true seed=..
  <kind>_dg_per_delivery=.. <kind>_b_per_delivery=.. (eager, lazy, repair, control)
  eager_tree=.. history_messages=.. ref_verify_us=.. ref_seal_open_us=..
  cpu_verifies_per_delivery=..

delivery_ratio = delivered / (sent x (nodes - 1)); latency from the publish call to each
receiver's message event; delivered_per_s = delivered / duration_s; cpu_us_per_delivery =
process user+system CPU (/proc/self/stat) from the first publish to the end of the drain,
per delivery; peak_rss_mb = VmHWM (/proc/self/status); ref_* = this machine's time for one
Ed25519 check and one seal+open before the nodes start, and cpu_verifies_per_delivery =
cpu_us_per_delivery / ref_verify_us, which does not drift with the machine's speed. See
benches/README.md.")]
    Bench(cli::bench::Args),
    /// Run the account/room index (SQLite in --data-dir, or PostgreSQL with --database)
    #[command(after_help = "\
Examples:
  dhtchat index --data-dir /var/lib/dhtchat-index
  dhtchat index --data-dir . --bind 127.0.0.1:0 --allow-room LOBBY --allow-room HELP
  dhtchat index --data-dir . --database postgres://dhtchat@localhost/dhtchat_index
  dhtchat index --calibrate

Prints `index key=<hex> addr=<ip:port>` on stdout once listening; logs go to stderr.
See README.md \"Running an index\" and PROTOCOL.md §8.")]
    Index(cli::index::Args),
    /// Promote or demote an account of the local index (never possible over the network)
    #[command(after_help = "\
Examples:
  dhtchat admin promote alice --data-dir /var/lib/dhtchat-index
  dhtchat admin demote alice --database postgres://dhtchat@localhost/dhtchat_index")]
    Admin(cli::admin::Args),
}

/// Runs the subcommand; an error is one line on stderr (never a backtrace) and exit code 1.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Inspect(args) => cli::inspect::run(&args).map_err(Into::into),
        Command::Demo(args) => cli::demo::run(&args).map_err(Into::into),
        Command::Chat(args) => cli::chat::run(&args),
        Command::Node(args) => cli::node::run(&args),
        Command::Id(args) => cli::id::run(&args),
        Command::Bench(args) => cli::bench::run(&args).map_err(Into::into),
        Command::Index(args) => cli::index::run(&args),
        Command::Admin(args) => cli::admin::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dhtchat: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `dhtchat chat --help`'s closing text: examples, then every key binding of the terminal chat.
fn chat_help() -> String {
    format!("{CHAT_EXAMPLES}\n\n{}", cli::tui::KEY_BINDINGS)
}

/// Examples and notes for `dhtchat chat --help`.
const CHAT_EXAMPLES: &str = "\
Examples:
  Found a group and print the join string others use:
    dhtchat chat --create lobby --nick alice
  Join it from another machine (or terminal):
    dhtchat chat --join dhtchat:<join string> --nick bob
  Rejoin every stored group with the same identity (no arguments needed):
    dhtchat chat
  A bot: one event per line on stdout, messages and /commands on stdin:
    dhtchat chat --plain --join <join string> --data-dir /var/lib/mybot

  Accounts and rooms on an index (KEY@IP:PORT as `dhtchat index` prints it):
    dhtchat chat --index <key>@203.0.113.7:33446

Commands inside the chat: /help lists them (/nick /me /topic /names /whois /status
/join /create /part /chatid /invite /win /quit ...); each group has its own window.
With --index: /register NAME, /login NAME (the password is asked for, masked),
/logout, /passwd, /rooms (LOBBY (3 clients)), /room NAME (a window per room, with its
history), /admin say [ROOM] TEXT (index admins).
Identity and groups are kept under --data-dir (default $XDG_DATA_HOME/dhtchat); settings
can go in dhtchat.toml there (docs/config.md). The socket binds 0.0.0.0:33445 or the next
free port; --bind 127.0.0.1:0 picks any free port. See docs/plain-mode.md for --plain.";
