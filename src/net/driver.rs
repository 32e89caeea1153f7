//! [`Driver`]: the task that owns one UDP socket and one [`Node`] (docs/style.md §4.2).
//!
//! One loop, three inputs, one `select!` (unbiased, so no input starves the others):
//!
//! - the socket is readable: up to `recv_batch` datagrams are read without waiting, in chunks
//!   of up to [`RECV_CHUNK`] (one `recvmmsg` each on Linux, `net/udp.rs`) handed together to
//!   `Node::handle_datagrams` (which checks the signatures of a chunk's broadcasts in one
//!   batch). `ConnectionReset`/`ConnectionRefused` (an ICMP error for an earlier send,
//!   reported on some systems) are skipped, as in quinn's `poll_socket`; a datagram longer
//!   than the receive buffer is dropped and counted. The receive buffers and the node's batch
//!   scratch are one per worker thread (`RecvScratch`), not one per driver: a read never
//!   awaits, so the drivers of one thread take turns with them, and N nodes in one process
//!   do not hold N copies.
//! - the node's timer: `sleep_until(poll_timeout())`; on waking the real clock is compared with
//!   the deadline (quinn's `drive_timer`) before `handle_timeout` runs.
//! - a [`Command`] from a front end (bounded channel). When every [`Handle`] is dropped the
//!   driver leaves its groups and stops, as on [`Command::Quit`].
//!
//! After every input the node's events go to the event channel. A full channel keeps them in
//! a backlog, in order, and no datagram is read until the front end has made room (timers and
//! commands still run; the kernel buffer, then loss and repair, absorb the burst): a message
//! the node took is never dropped before it is shown, since the node would not take it again.
//! Only a closed channel, or a backlog past [`BACKLOG_MAX`], drops and counts. Before the next input
//! is read every queued datagram is sent, up to `SEND_CHUNK` per system call (`sendmmsg` on
//! Linux; send errors are counted and logged, never fatal).
//!
//! Addresses: a socket bound to an IPv6 address with IPv4 peers sees them as
//! `::ffff:a.b.c.d`; the node is always given the plain IPv4 form, and IPv4 destinations are
//! mapped back when sending from an IPv6 socket.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;
use tracing::{debug, warn};

use super::command::Command;
use super::udp::{RECV_CHUNK, Received, RecvBatch, SendQueue};
use super::{DriverError, Handle, now};
use crate::proto::{BatchScratch, Config, Event, GroupId, Node, Stats};

mod execute;

/// Receive-side working memory of the drivers of one thread: the datagram buffers and the
/// node's batch scratch.
#[derive(Debug, Default)]
struct RecvScratch {
    recv: RecvBatch,
    batch: BatchScratch,
}

thread_local! {
    static SCRATCH: RefCell<RecvScratch> = RefCell::new(RecvScratch::default());
}

/// Channel sizes and work bounds of one driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverOptions {
    /// Commands waiting for the driver. Default 64.
    pub command_capacity: usize,
    /// Events waiting for the front end; more wait in the driver's backlog (see the module
    /// docs). Default 4096.
    pub event_capacity: usize,
    /// Most datagrams read per wake-up before the queued output is sent. Default 64.
    pub recv_batch: usize,
    /// Requested socket receive buffer in bytes (`SO_RCVBUF`), which absorbs bursts of
    /// relayed copies while the task waits for a core; the OS may grant less (Linux caps it at
    /// `net.core.rmem_max`). `None` keeps the system default. Default 1 MiB.
    pub recv_buffer: Option<usize>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self {
            command_capacity: 64,
            event_capacity: 4096,
            recv_batch: 64,
            recv_buffer: Some(1 << 20),
        }
    }
}

/// Most events kept for a front end whose channel is full (while any wait, no datagram is
/// read, so only timers and commands add to it).
const BACKLOG_MAX: usize = 65_536;

/// An event of the node, with the instant of the input that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// When the datagram, timer or command that produced the event was handled.
    pub at: Instant,
    /// Its place among the events the driver made (dropped ones count): a
    /// [`crate::net::PersistSnapshot`] says how many came before it.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// Counters of a driver: the node's own, plus what happened at the socket and channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// The node's counters (datagrams and bytes in/out, deliveries, drops by reason).
    pub node: Stats,
    /// Events dropped because the front end's channel was full or closed.
    pub events_dropped: u64,
    /// `send_to` failures (the datagram is lost; the node's timers recover).
    pub send_errors: u64,
    /// `recv_from` failures other than would-block and connection resets.
    pub recv_errors: u64,
    /// Datagrams dropped on arrival because they were longer than the receive buffer
    /// (`net::udp::RECV_BUF`), so would have been handed on cut short.
    pub recv_truncated: u64,
    /// Broadcast signatures accepted by a batch verification that passed.
    pub signatures_batched: u64,
    /// Batch verifications that failed (their signatures were then checked one by one).
    pub failed_batches: u64,
}

/// Owns one UDP socket and one [`Node`]; run it with [`Driver::run`] on its own task.
#[derive(Debug)]
pub struct Driver {
    socket: UdpSocket,
    local_addr: SocketAddr,
    node: Node,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NodeEvent>,
    recv_batch: usize,
    /// Datagrams taken from the node and not yet sent.
    out: SendQueue,
    events_dropped: u64,
    /// Events the channel had no room for, oldest first (at most [`BACKLOG_MAX`]).
    backlog: VecDeque<NodeEvent>,
    /// Events made so far, dropped ones included (the next one's `seq`).
    events_made: u64,
    recv_errors: u64,
    recv_truncated: u64,
    batch: crate::proto::BatchCounts,
}

impl Driver {
    /// Binds a UDP socket at `addr` (port 0: any free port; IPv4 or IPv6) and builds the
    /// node. Returns the driver, a handle for commands and the event channel.
    pub async fn bind(
        addr: SocketAddr,
        config: Config,
        options: &DriverOptions,
    ) -> Result<(Self, Handle, mpsc::Receiver<NodeEvent>), DriverError> {
        let socket = bind_socket(addr, options.recv_buffer)?;
        let node = Node::new(config)?;
        Ok(Self::new(socket, node, options)?)
    }

    /// A driver around an already bound socket and a node.
    pub fn new(
        socket: UdpSocket,
        node: Node,
        options: &DriverOptions,
    ) -> io::Result<(Self, Handle, mpsc::Receiver<NodeEvent>)> {
        let local_addr = socket.local_addr()?;
        let (command_tx, commands) = mpsc::channel(options.command_capacity.max(1));
        let (events, event_rx) = mpsc::channel(options.event_capacity.max(1));
        let driver = Self {
            socket,
            local_addr,
            node,
            commands,
            events,
            recv_batch: options.recv_batch.max(1),
            out: SendQueue::new(),
            events_dropped: 0,
            backlog: VecDeque::new(),
            events_made: 0,
            recv_errors: 0,
            recv_truncated: 0,
            batch: crate::proto::BatchCounts::default(),
        };
        Ok((driver, Handle::new(command_tx, local_addr), event_rx))
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs until [`Command::Quit`] or until every [`Handle`] is dropped; either way the node
    /// leaves its groups first. Returns the final counters.
    pub async fn run(mut self) -> DriverStats {
        let timer = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        let quit = loop {
            self.flush_transmits().await;
            let deadline = self.node.poll_timeout();
            if deadline != armed {
                if let Some(d) = deadline {
                    timer.as_mut().reset(tokio::time::Instant::from_std(d));
                }
                armed = deadline;
            }
            if let ControlFlow::Break(quit) = self.step(timer.as_mut(), armed).await {
                break quit;
            }
        };
        self.leave_all();
        self.flush_transmits().await;
        let stats = self.stats();
        if let Some(reply) = quit {
            let _ = reply.send(stats.clone());
        }
        debug!(addr = %self.local_addr, ?stats, "driver stopped");
        stats
    }

    /// Waits for one input and handles it. `Break` carries the reply of a quit command.
    async fn step(
        &mut self,
        timer: Pin<&mut Sleep>,
        armed: Option<Instant>,
    ) -> ControlFlow<Option<oneshot::Sender<DriverStats>>> {
        let backlogged = !self.backlog.is_empty();
        tokio::select! {
            // An owned permit does not hold `self` (a clone of the sender: one atomic add).
            permit = self.events.clone().reserve_owned(), if backlogged => {
                match (permit, self.backlog.pop_front()) {
                    (Ok(permit), Some(ev)) => drop(permit.send(ev)),
                    _ => self.drop_backlog(),
                }
                self.release_backlog();
                ControlFlow::Continue(())
            }
            ready = self.socket.readable(), if !backlogged => {
                match ready {
                    Ok(()) => self.read_batch(),
                    Err(e) => self.recv_failed(&e),
                }
                ControlFlow::Continue(())
            }
            () = timer, if armed.is_some() => {
                self.on_timer(armed);
                ControlFlow::Continue(())
            }
            command = self.commands.recv() => match command {
                Some(c) => self.on_command(c),
                None => ControlFlow::Break(None),
            },
        }
    }

    /// Reads up to `recv_batch` datagrams that are already waiting, a chunk at a time.
    fn read_batch(&mut self) {
        SCRATCH.with_borrow_mut(|scratch| {
            let v6 = self.local_addr.is_ipv6();
            let mut left = self.recv_batch;
            while left > 0 {
                let want = left.min(RECV_CHUNK);
                left -= want;
                let read = scratch.recv.recv(&self.socket, v6, want);
                self.recv_truncated += scratch.recv.truncated();
                self.handle_chunk(scratch);
                match read {
                    Ok(Received::Full) => {}
                    Ok(Received::Drained) => return,
                    Err(e) => return self.recv_failed(&e),
                }
            }
        });
    }

    /// Hands the datagrams read into the scratch to the node, then its events onwards.
    fn handle_chunk(&mut self, scratch: &mut RecvScratch) {
        if scratch.recv.is_empty() {
            return;
        }
        let at = now();
        let RecvScratch { recv, batch } = scratch;
        let counts = self.node.handle_datagrams(at, recv.datagrams(), batch);
        self.batch.batched += counts.batched;
        self.batch.failed_batches += counts.failed_batches;
        self.drain_events(at);
    }

    fn recv_failed(&mut self, e: &io::Error) {
        self.recv_errors += 1;
        warn!(addr = %self.local_addr, error = %e, "recv_from failed");
    }

    /// The timer fired: run the node's timers if their deadline has really passed.
    fn on_timer(&mut self, deadline: Option<Instant>) {
        let at = now();
        if deadline.is_some_and(|d| at >= d) {
            self.node.handle_timeout(at);
            self.drain_events(at);
        }
    }

    fn on_command(
        &mut self,
        command: Command,
    ) -> ControlFlow<Option<oneshot::Sender<DriverStats>>> {
        let at = now();
        let flow = self.execute(at, command);
        self.drain_events(at);
        flow
    }

    /// Broadcasts quit to every group (the datagrams are queued, not yet sent).
    fn leave_all(&mut self) {
        let at = now();
        let groups: Vec<GroupId> = self.node.groups().collect();
        for group in groups {
            let _ = self.node.leave_group(at, group);
        }
        self.drain_events(at);
    }

    fn stats(&self) -> DriverStats {
        DriverStats {
            node: self.node.stats().clone(),
            events_dropped: self.events_dropped,
            send_errors: self.out.errors(),
            recv_errors: self.recv_errors,
            recv_truncated: self.recv_truncated,
            signatures_batched: self.batch.batched,
            failed_batches: self.batch.failed_batches,
        }
    }

    /// Hands every queued event to the front end, through the backlog while it is not empty.
    fn drain_events(&mut self, at: Instant) {
        while let Some(event) = self.node.poll_event() {
            let seq = self.events_made;
            self.events_made += 1;
            let ev = NodeEvent { at, seq, event };
            if !self.backlog.is_empty() {
                self.hold(ev);
                continue;
            }
            match self.events.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => self.hold(ev),
                Err(TrySendError::Closed(_)) => self.events_dropped += 1,
            }
        }
    }

    /// Keeps an event the channel has no room for; past [`BACKLOG_MAX`] drops and counts.
    fn hold(&mut self, ev: NodeEvent) {
        if self.backlog.len() < BACKLOG_MAX {
            self.backlog.push_back(ev);
        } else {
            self.events_dropped += 1;
        }
    }

    /// Moves backlogged events into the channel while it has room.
    fn release_backlog(&mut self) {
        while let Some(ev) = self.backlog.pop_front() {
            match self.events.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => return self.backlog.push_front(ev),
                Err(TrySendError::Closed(_)) => return self.drop_backlog(),
            }
        }
    }

    /// The front end is gone: the backlog is dropped and counted.
    fn drop_backlog(&mut self) {
        self.events_dropped += self.backlog.len() as u64;
        self.backlog.clear();
    }

    /// Sends every queued datagram, up to `SEND_CHUNK` per system call, and hands their
    /// buffers back to the node. The node's queue is bounded, so this is too.
    async fn flush_transmits(&mut self) {
        let v6 = self.local_addr.is_ipv6();
        loop {
            self.out.fill(|| self.node.poll_transmit());
            if self.out.pending() == 0 {
                return;
            }
            self.out.flush(&self.socket, v6).await;
            let node = &mut self.node;
            self.out.recycle_done(|payload| node.recycle(payload));
        }
    }
}

/// A non-blocking UDP socket bound at `addr`, registered with the runtime. A receive buffer
/// size the OS refuses is logged, not fatal.
fn bind_socket(addr: SocketAddr, recv_buffer: Option<usize>) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(size) = recv_buffer {
        if let Err(e) = socket.set_recv_buffer_size(size) {
            debug!(%addr, size, error = %e, "SO_RCVBUF not set");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::super::udp::{canonical, for_socket};
    use std::net::SocketAddr;

    #[test]
    fn mapped_ipv4_is_canonicalised_and_mapped_back() {
        let v4: SocketAddr = "127.0.0.5:4000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.5]:4000".parse().unwrap();
        assert_eq!(canonical(mapped), v4);
        assert_eq!(for_socket(v4, true), mapped);
        assert_eq!(for_socket(v4, false), v4);
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(canonical(v6), v6);
        assert_eq!(for_socket(v6, true), v6);
    }
}
