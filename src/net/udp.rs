//! Batched UDP socket I/O for the [`Driver`](super::Driver) (issue #15, "less per datagram").
//!
//! - [`RecvBatch`]: up to [`RECV_CHUNK`] waiting datagrams read in one call. On Linux that is
//!   one `recvmmsg(2)`; elsewhere one `recv_from` per datagram. A datagram longer than
//!   [`RECV_BUF`] arrives truncated (`MSG_TRUNC` on Linux) and is dropped and counted, never
//!   handed on cut short; a longer-than-allowed datagram that fits is handed on whole and the
//!   node drops it as oversize.
//! - [`SendQueue`]: up to [`SEND_CHUNK`] datagrams taken from the node, sent in one call. On
//!   Linux that is one `sendmmsg(2)`; elsewhere one `send_to` per datagram. A partial result
//!   sends the rest with the next call; an error on the first datagram of a call counts that
//!   datagram as a send error and skips it; would-block waits for the socket to be writable.
//!
//! Both keep tokio's readiness: the system calls run inside `UdpSocket::try_io`, which clears
//! the readiness on would-block so that `readable()`/`writable()` wait again. Every buffer is
//! allocated once: the receive buffers and `recvmmsg` headers belong to the caller (one set
//! per worker thread in the driver), the `sendmmsg` addresses are one set per thread, and the
//! queue holds the node's own datagram buffers, which go back to the node (`Node::recycle`)
//! once sent.
//!
//! The system calls go through safe wrappers (`nix`'s `recvmmsg`, `rustix`'s `sendmmsg`); this
//! crate has no `unsafe` (Cargo.toml forbids it).

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

use crate::proto::Transmit;

/// Receive buffer size: above the 1024-byte datagram cap, so an oversize datagram is seen
/// whole (and dropped by the node as malformed) instead of being truncated into a valid size.
pub const RECV_BUF: usize = 2048;

/// Most datagrams read by one [`RecvBatch::recv`] (the node's signature batch size).
pub const RECV_CHUNK: usize = 16;

/// Most datagrams sent by one system call of [`SendQueue`].
pub const SEND_CHUNK: usize = 32;

/// Receive buffers for up to [`RECV_CHUNK`] datagrams and what the last read put in them.
#[derive(Debug)]
pub struct RecvBatch {
    bufs: Box<[[u8; RECV_BUF]; RECV_CHUNK]>,
    /// Sender, buffer slot and length of each datagram read, in arrival order.
    meta: Vec<(SocketAddr, usize, usize)>,
    truncated: u64,
    #[cfg(target_os = "linux")]
    headers: mmsg::RecvHeaders,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// What one [`RecvBatch::recv`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Every datagram asked for was read (more may be waiting).
    Full,
    /// Fewer were read; the socket had no more for now.
    Drained,
}

impl RecvBatch {
    /// Buffers for [`RECV_CHUNK`] datagrams (about 32 KiB), allocated once.
    pub fn new() -> Self {
        Self {
            bufs: Box::new([[0; RECV_BUF]; RECV_CHUNK]),
            meta: Vec::with_capacity(RECV_CHUNK),
            truncated: 0,
            #[cfg(target_os = "linux")]
            headers: mmsg::RecvHeaders::new(),
        }
    }

    /// Reads up to `want` (at most [`RECV_CHUNK`]) datagrams that are already waiting,
    /// without waiting. Connection resets (an ICMP error about an earlier send) are skipped.
    /// A would-block ends the read; other errors are returned (what was read stays).
    /// `v6`: the socket is bound to an IPv6 address.
    pub fn recv(&mut self, socket: &UdpSocket, v6: bool, want: usize) -> io::Result<Received> {
        self.meta.clear();
        self.truncated = 0;
        let want = want.clamp(1, RECV_CHUNK);
        #[cfg(target_os = "linux")]
        let read = self.recv_linux(socket, v6, want);
        #[cfg(not(target_os = "linux"))]
        let read = {
            let _ = v6;
            self.recv_each(socket, want)
        };
        match read {
            Ok(n) if n >= want => Ok(Received::Full),
            Ok(_) => Ok(Received::Drained),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Received::Drained),
            Err(e) => Err(e),
        }
    }

    /// One `recvmmsg`; a reset reported instead of datagrams is skipped once.
    ///
    /// A read that got fewer than `want` found the queue empty, so it ends as would-block
    /// (what it read stays in `meta`): `try_io` then clears the socket's readiness as for a
    /// real `EAGAIN`, and the driver waits for the next datagram instead of making one more
    /// `recvmmsg` only to be told there is none (one per wake-up: half of all the calls in a
    /// `dhtchat bench` run). The readiness cleared is the one observed before the call, so a
    /// datagram that arrives during or after it wakes the driver again, as with `EAGAIN`.
    #[cfg(target_os = "linux")]
    fn recv_linux(&mut self, socket: &UdpSocket, v6: bool, want: usize) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        use tokio::io::Interest;
        let fd = socket.as_raw_fd();
        for _ in 0..2 {
            let read = socket.try_io(Interest::READABLE, || {
                let out = mmsg::Filled {
                    meta: &mut self.meta,
                    truncated: &mut self.truncated,
                };
                match self.headers.recv(fd, v6, &mut self.bufs, want, out)? {
                    n if n < want => Err(io::ErrorKind::WouldBlock.into()),
                    n => Ok(n),
                }
            });
            match read {
                Err(e) if is_reset(&e) => tracing::trace!(error = %e, "ignored"),
                other => return other,
            }
        }
        Ok(0)
    }

    /// One `recv_from` per datagram (systems without `recvmmsg`).
    #[cfg(not(target_os = "linux"))]
    fn recv_each(&mut self, socket: &UdpSocket, want: usize) -> io::Result<usize> {
        let mut attempts = 0;
        while attempts < want {
            let slot = self.meta.len();
            attempts += 1;
            match socket.try_recv_from(&mut self.bufs[slot]) {
                Ok((len, from)) => self.meta.push((canonical(from), slot, len)),
                Err(e) if is_reset(&e) => tracing::trace!(error = %e, "ignored"),
                // What was read stays in `meta`; `recv` reads would-block as drained.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                Err(e) if self.meta.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(attempts)
    }

    /// The datagrams of the last [`recv`](Self::recv), with their senders (IPv4 peers of
    /// an IPv6 socket in their plain IPv4 form).
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        (self.meta.iter()).map(|&(from, slot, len)| (from, &self.bufs[slot][..len]))
    }

    /// Datagrams of the last read.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// True if the last read found no datagram.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Datagrams of the last read dropped because they were longer than [`RECV_BUF`].
    pub fn truncated(&self) -> u64 {
        self.truncated
    }
}

/// Datagrams taken from the node, waiting to be sent, at most [`SEND_CHUNK`]; the sent ones
/// are handed back for recycling.
#[derive(Debug, Default)]
pub struct SendQueue {
    queue: Vec<Transmit>,
    /// How many of `queue` are done with (sent or failed).
    done: usize,
    errors: u64,
}

/// Where [`SendQueue::drive`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every queued datagram was sent or counted as failed.
    Done,
    /// The socket would block; wait until it is writable and drive again.
    Blocked,
}

impl SendQueue {
    /// An empty queue with room for [`SEND_CHUNK`] datagrams.
    pub fn new() -> Self {
        Self {
            queue: Vec::with_capacity(SEND_CHUNK),
            done: 0,
            errors: 0,
        }
    }

    /// Takes datagrams from `next` until the queue is full or `next` has no more.
    pub fn fill(&mut self, mut next: impl FnMut() -> Option<Transmit>) {
        while self.queue.len() < SEND_CHUNK {
            let Some(t) = next() else {
                return;
            };
            self.queue.push(t);
        }
    }

    /// Datagrams queued and not yet done with.
    pub fn pending(&self) -> usize {
        self.queue.len() - self.done
    }

    /// True if no more fit.
    pub fn is_full(&self) -> bool {
        self.queue.len() >= SEND_CHUNK
    }

    /// Datagrams that could not be sent, so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Sends what is pending with `send`, which is given the pending datagrams in order,
    /// sends a prefix of them and returns how many it sent (at least one), or fails. An
    /// error other than would-block is about the first datagram given: it is counted and
    /// skipped. Each round sends or skips at least one, so this ends.
    pub fn drive(&mut self, mut send: impl FnMut(&[Transmit]) -> io::Result<usize>) -> Progress {
        while self.done < self.queue.len() {
            match send(&self.queue[self.done..]) {
                Ok(0) => return Progress::Blocked,
                Ok(n) => self.done += n.min(self.queue.len() - self.done),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) => {
                    self.errors += 1;
                    let to = self.queue[self.done].destination;
                    tracing::debug!(%to, error = %e, "send failed");
                    self.done += 1;
                }
            }
        }
        Progress::Done
    }

    /// Sends everything pending through `socket` (one `sendmmsg` per call on Linux),
    /// waiting while it would block. `v6`: the socket is bound to an IPv6 address.
    pub async fn flush(&mut self, socket: &UdpSocket, v6: bool) {
        loop {
            if self.try_flush(socket, v6) == Progress::Done {
                return;
            }
            if let Err(e) = socket.writable().await {
                self.errors += self.pending() as u64;
                tracing::debug!(error = %e, "socket not writable");
                self.done = self.queue.len();
                return;
            }
        }
    }

    /// Sends what is pending through `socket` without waiting (one `sendmmsg` per call on
    /// Linux) until all is done or the socket would block.
    pub fn try_flush(&mut self, socket: &UdpSocket, v6: bool) -> Progress {
        self.drive(|pending| send_some(socket, v6, pending))
    }

    /// Hands back the payload of every datagram done with, emptying the queue once all are.
    pub fn recycle_done(&mut self, mut recycle: impl FnMut(Vec<u8>)) {
        if self.done < self.queue.len() {
            return;
        }
        for t in self.queue.drain(..) {
            recycle(t.payload);
        }
        self.done = 0;
    }
}

#[cfg(target_os = "linux")]
thread_local! {
    /// `sendmmsg` addresses and control buffers, shared by the queues of one thread: they are used
    /// only inside one synchronous call.
    static SEND_STATE: std::cell::RefCell<mmsg::SendState> =
        std::cell::RefCell::new(mmsg::SendState::new());
}

/// One system call sending a prefix of `pending` (the destinations are as the socket
/// reaches them).
fn send_some(socket: &UdpSocket, v6: bool, pending: &[Transmit]) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsFd;
        use tokio::io::Interest;
        let fd = socket.as_fd();
        SEND_STATE.with_borrow_mut(|state| {
            socket.try_io(Interest::WRITABLE, || state.send(fd, v6, pending))
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let t = &pending[0];
        socket.try_send_to(&t.payload, for_socket(t.destination, v6))?;
        Ok(1)
    }
}

/// Errors that report an ICMP message about an earlier datagram, not a broken socket.
pub(crate) fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

/// An IPv4 peer seen through an IPv6 socket (`::ffff:a.b.c.d`) as the plain IPv4 address.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The destination as the socket can reach it: IPv4 addresses are mapped for an IPv6 socket.
pub(crate) fn for_socket(addr: SocketAddr, socket_is_v6: bool) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if socket_is_v6 => {
            SocketAddr::new(ip.to_ipv6_mapped().into(), addr.port())
        }
        _ => addr,
    }
}

#[cfg(target_os = "linux")]
mod mmsg;
