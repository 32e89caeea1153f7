//! Linux: `recvmmsg(2)` through `nix`'s safe wrapper and `sendmmsg(2)` through `rustix`'s
//! (which returns the count sent; `nix`'s would make us walk result headers whose address
//! slots `sendmmsg` never fills).
//!
//! `nix::sys::socket::MultiHeaders` holds the `mmsghdr` array and the address slots; it is
//! allocated once here and reused by every call. One caveat shapes [`RecvHeaders`]: `nix`
//! sets each header's address length once, at allocation, and the kernel overwrites it with
//! the length of the address it wrote, so a header that received an IPv4 address (16 bytes)
//! would cut an IPv6 one (28 bytes) short on its next use. Every address one socket receives
//! has its socket's family, so there is one set of headers per family, each with the address
//! type of that family.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, SockaddrIn6, SockaddrLike, recvmmsg};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};

use super::{RECV_BUF, RECV_CHUNK, SEND_CHUNK, canonical, for_socket};
use crate::proto::Transmit;

/// Where a read puts its results: sender, slot and length of each datagram kept, and the
/// count of truncated ones.
#[derive(Debug)]
pub(super) struct Filled<'a> {
    pub(super) meta: &'a mut Vec<(SocketAddr, usize, usize)>,
    pub(super) truncated: &'a mut u64,
}

/// `recvmmsg` headers for [`RECV_CHUNK`] datagrams, one set per address family.
#[derive(Debug)]
pub(super) struct RecvHeaders {
    v4: MultiHeaders<SockaddrIn>,
    v6: MultiHeaders<SockaddrIn6>,
}

impl RecvHeaders {
    pub(super) fn new() -> Self {
        Self {
            v4: MultiHeaders::preallocate(RECV_CHUNK, None),
            v6: MultiHeaders::preallocate(RECV_CHUNK, None),
        }
    }

    /// One `recvmmsg` of up to `want` datagrams into `bufs`; returns how many arrived
    /// (truncated ones included, though they are not kept).
    pub(super) fn recv(
        &mut self,
        fd: RawFd,
        v6: bool,
        bufs: &mut [[u8; RECV_BUF]; RECV_CHUNK],
        want: usize,
        out: Filled<'_>,
    ) -> io::Result<usize> {
        if v6 {
            recv_into(fd, &mut self.v6, bufs, want, out)
        } else {
            recv_into(fd, &mut self.v4, bufs, want, out)
        }
    }
}

fn recv_into<S>(
    fd: RawFd,
    headers: &mut MultiHeaders<S>,
    bufs: &mut [[u8; RECV_BUF]; RECV_CHUNK],
    want: usize,
    out: Filled<'_>,
) -> io::Result<usize>
where
    S: SockaddrLike + Copy,
    SocketAddr: From<S>,
{
    let mut iovs = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
    let want = want.min(RECV_CHUNK);
    let results = recvmmsg(
        fd,
        headers,
        iovs[..want].iter_mut(),
        MsgFlags::empty(),
        None,
    )?;
    let mut arrived = 0;
    for (slot, msg) in results.enumerate() {
        arrived += 1;
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            *out.truncated += 1;
            continue;
        }
        if let Some(from) = msg.address {
            out.meta
                .push((canonical(SocketAddr::from(from)), slot, msg.bytes));
        }
    }
    Ok(arrived)
}

/// Destination addresses and (empty) control buffers for [`SEND_CHUNK`] datagrams, reused by
/// every `sendmmsg`; only the first addresses of a call are rewritten.
pub(super) struct SendState {
    addrs: [SocketAddrAny; SEND_CHUNK],
    control: [SendAncillaryBuffer<'static, 'static, 'static>; SEND_CHUNK],
}

impl std::fmt::Debug for SendState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendState").finish_non_exhaustive()
    }
}

impl SendState {
    pub(super) fn new() -> Self {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Self {
            addrs: std::array::from_fn(|_| SocketAddrAny::from(unspecified)),
            control: std::array::from_fn(|_| SendAncillaryBuffer::default()),
        }
    }

    /// One `sendmmsg` of up to [`SEND_CHUNK`] of `pending`; returns how many were sent (a
    /// prefix). An error is about the first datagram (or the socket would block).
    pub(super) fn send(
        &mut self,
        fd: BorrowedFd<'_>,
        v6: bool,
        pending: &[Transmit],
    ) -> io::Result<usize> {
        let n = pending.len().min(SEND_CHUNK);
        for (slot, t) in self.addrs.iter_mut().zip(&pending[..n]) {
            *slot = SocketAddrAny::from(for_socket(t.destination, v6));
        }
        let iovs: [[IoSlice<'_>; 1]; SEND_CHUNK] =
            std::array::from_fn(|i| [IoSlice::new(pending.get(i).map_or(&[], |t| &t.payload))]);
        let mut i = 0;
        let mut msgs = self.control.each_mut().map(|control| {
            let msg = MMsgHdr::new_with_addr(&self.addrs[i], &iovs[i], control);
            i += 1;
            msg
        });
        Ok(sendmmsg(fd, &mut msgs[..n], SendFlags::empty())?)
    }
}
