//! The driver's batched socket I/O (`dhtchat::net::udp`, issue #15 "less per datagram").
//!
//! - `SendQueue::drive` against a scripted system call: partial results send the rest next,
//!   would-block stops (and the next drive resumes where it stopped), an error skips and
//!   counts exactly the datagram it was about; every other datagram goes out once, in order.
//! - A loopback burst through the real path (`sendmmsg`/`recvmmsg` on Linux): every datagram
//!   arrives once, whole, from the right sender; a read takes a full chunk when one is
//!   waiting; a datagram longer than the receive buffer is dropped and counted, one that fits
//!   is handed on whole; IPv4 peers of a dual-stack IPv6 socket read as plain IPv4, and one
//!   `RecvBatch` serves IPv4 and IPv6 sockets in turn without mixing their addresses.
//! - A read that finds fewer datagrams than it asked for clears the socket's readiness (no
//!   extra `recvmmsg` to hear `EAGAIN`), and the next datagram wakes the reader again.
//! - With warm buffers, a read of 16 datagrams and a send of 16 allocate nothing (counting
//!   allocator, as tests/alloc_free.rs): nothing per datagram.

use std::io;
use std::net::SocketAddr;

use allocation_counter::measure;
use dhtchat::net::udp::{
    Progress, RECV_BUF, RECV_CHUNK, Received, RecvBatch, SEND_CHUNK, SendQueue,
};
use dhtchat::proto::Transmit;
use tokio::net::UdpSocket;

fn transmit(to: SocketAddr, i: usize, len: usize) -> Transmit {
    let mut payload = vec![(i % 251) as u8; len];
    payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
    Transmit {
        destination: to,
        payload,
    }
}

fn id(datagram: &[u8]) -> usize {
    u32::from_be_bytes(datagram[..4].try_into().unwrap()) as usize
}

fn queue_of(n: usize, to: SocketAddr, len: usize) -> SendQueue {
    let mut q = SendQueue::new();
    let mut i = 0;
    q.fill(|| {
        i += 1;
        (i <= n).then(|| transmit(to, i - 1, len))
    });
    q
}

#[test]
fn partial_sends_would_block_and_errors_are_each_handled() {
    let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut q = queue_of(SEND_CHUNK, to, 40);
    assert_eq!(q.pending(), SEND_CHUNK, "the queue takes a chunk");
    let mut sent = Vec::new();
    let mut offered = Vec::new();
    // The script: 5 of the first offer, would-block, 1, error (about #6), 0 (nothing sent
    // counts as blocked), then everything.
    let mut script: Vec<io::Result<usize>> = vec![
        Ok(5),
        Err(io::ErrorKind::WouldBlock.into()),
        Ok(1),
        Err(io::Error::other("unreachable")),
        Ok(0),
    ];
    script.reverse();
    let mut call = |pending: &[Transmit]| -> io::Result<usize> {
        offered.push(id(&pending[0].payload));
        let result = script.pop().unwrap_or(Ok(pending.len()));
        if let Ok(n) = result {
            sent.extend(pending[..n].iter().map(|t| id(&t.payload)));
        }
        result
    };
    assert_eq!(q.drive(&mut call), Progress::Blocked, "would-block stops");
    assert_eq!(q.pending(), SEND_CHUNK - 5);
    assert_eq!(
        q.drive(&mut call),
        Progress::Blocked,
        "a call that sends none"
    );
    assert_eq!(q.errors(), 1);
    assert_eq!(q.drive(&mut call), Progress::Done);
    assert_eq!(q.pending(), 0);
    assert_eq!(
        offered,
        [0, 5, 5, 6, 7, 7],
        "each call resumes at the first not done"
    );
    let expected: Vec<usize> = (0..SEND_CHUNK).filter(|&i| i != 6).collect();
    assert_eq!(
        sent, expected,
        "all but the failed one, once each, in order"
    );
    let mut recycled = 0;
    q.recycle_done(|p| {
        assert_eq!(p.len(), 40);
        recycled += 1;
    });
    assert_eq!(
        recycled, SEND_CHUNK,
        "every buffer goes back, the failed one too"
    );
    assert_eq!(q.pending(), 0);
    q.fill(|| None);
    assert_eq!(q.pending(), 0, "an emptied queue takes new datagrams");
}

#[test]
fn recycling_waits_until_every_datagram_is_done() {
    let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut q = queue_of(4, to, 8);
    assert_eq!(q.drive(|_| Ok(2)), Progress::Done, "two per call");
    let mut q2 = queue_of(4, to, 8);
    assert_eq!(
        q2.drive(|_| Err(io::ErrorKind::WouldBlock.into())),
        Progress::Blocked
    );
    let mut recycled = 0;
    q2.recycle_done(|_| recycled += 1);
    assert_eq!(
        recycled, 0,
        "nothing is taken back while datagrams are pending"
    );
    assert_eq!(q2.pending(), 4);
    q.recycle_done(|_| recycled += 1);
    assert_eq!(recycled, 4);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Reads until `n` datagrams arrived (bounded), returning them in arrival order with the
/// number of reads that came back full.
async fn read_n(
    socket: &UdpSocket,
    v6: bool,
    batch: &mut RecvBatch,
    n: usize,
) -> (Vec<(SocketAddr, Vec<u8>)>, usize, u64) {
    let mut got = Vec::new();
    let (mut full, mut truncated) = (0, 0);
    for _ in 0..10_000 {
        if got.len() >= n {
            break;
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), socket.readable())
            .await
            .expect("datagrams arrive")
            .unwrap();
        let read = batch.recv(socket, v6, RECV_CHUNK).unwrap();
        full += usize::from(read == Received::Full);
        truncated += batch.truncated();
        got.extend(batch.datagrams().map(|(from, d)| (from, d.to_vec())));
    }
    (got, full, truncated)
}

#[test]
fn a_burst_goes_out_and_comes_in_whole_through_the_batched_path() {
    runtime().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // 48 datagrams of 20..1000 bytes (within the default receive buffer), sent in
        // chunks of SEND_CHUNK, nothing read yet.
        const N: usize = 48;
        let mut next = 0;
        while next < N {
            let mut q = SendQueue::new();
            q.fill(|| {
                next += 1;
                (next <= N).then(|| transmit(b_addr, next - 1, 20 + (next * 37) % 980))
            });
            next = next.min(N);
            q.flush(&a, false).await;
            assert_eq!((q.pending(), q.errors()), (0, 0));
        }
        let mut batch = RecvBatch::new();
        let (got, full, truncated) = read_n(&b, false, &mut batch, N).await;
        assert_eq!(truncated, 0);
        assert_eq!(got.len(), N, "every datagram arrives once");
        for (i, (from, d)) in got.iter().enumerate() {
            assert_eq!(*from, a_addr);
            assert_eq!(id(d), i, "in order");
            assert_eq!(d.len(), 20 + ((i + 1) * 37) % 980, "whole");
            assert!(d[4..].iter().all(|&x| x == (i % 251) as u8));
        }
        assert!(
            full >= N / RECV_CHUNK,
            "a waiting burst is read a full chunk at a time"
        );
    });
}

/// Is the socket readable right now, without waiting? (`biased`: `readable()` is polled
/// once, and the runtime's I/O driver does not run in between.)
async fn readable_now(socket: &UdpSocket) -> bool {
    tokio::select! {
        biased;
        r = socket.readable() => r.is_ok(),
        () = std::future::ready(()) => false,
    }
}

/// A read that finds fewer datagrams than it asked for has emptied the queue: on Linux it
/// clears the socket's readiness itself (no second `recvmmsg` to hear `EAGAIN`), and a
/// datagram sent afterwards wakes the reader again.
#[cfg(target_os = "linux")]
#[test]
fn a_short_read_clears_readiness_and_the_next_datagram_wakes_the_reader() {
    runtime().block_on(async {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let mut batch = RecvBatch::new();
        for round in 0..3 {
            for i in 0..2 {
                a.send_to(&[round, i, 0, 0, 9], b_addr).unwrap();
            }
            let wait = std::time::Duration::from_secs(5);
            tokio::time::timeout(wait, b.readable())
                .await
                .expect("the datagrams wake the reader")
                .unwrap();
            assert_eq!(
                batch.recv(&b, false, RECV_CHUNK).unwrap(),
                Received::Drained
            );
            let got: Vec<Vec<u8>> = batch.datagrams().map(|(_, d)| d.to_vec()).collect();
            assert_eq!(
                got,
                [[round, 0, 0, 0, 9], [round, 1, 0, 0, 9]],
                "round {round}"
            );
            assert!(
                !readable_now(&b).await,
                "the short read cleared the readiness"
            );
        }
    });
}

#[cfg(target_os = "linux")]
#[test]
fn truncated_datagrams_are_dropped_and_counted() {
    runtime().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let mut batch = RecvBatch::new();
        // Longer than the receive buffer: dropped and counted; one that fits: whole.
        let mut q = SendQueue::new();
        let mut sizes = [RECV_BUF + 1, RECV_BUF, 3000, 9].into_iter().enumerate();
        q.fill(|| sizes.next().map(|(i, len)| transmit(b_addr, i, len)));
        q.flush(&a, false).await;
        assert_eq!(q.errors(), 0);
        let mut got = Vec::new();
        let mut truncated = 0;
        while got.len() < 2 {
            b.readable().await.unwrap();
            let _ = batch.recv(&b, false, RECV_CHUNK).unwrap();
            truncated += batch.truncated();
            got.extend(batch.datagrams().map(|(_, d)| (id(d), d.len())));
        }
        assert_eq!(got, [(1, RECV_BUF), (3, 9)]);
        assert_eq!(truncated, 2, "MSG_TRUNC drops are counted");
    });
}

#[test]
fn ipv4_peers_of_a_dual_stack_socket_and_one_batch_for_both_families() {
    runtime().block_on(async {
        let Ok(v6) = UdpSocket::bind("[::]:0").await else {
            return; // no IPv6 on this machine
        };
        let v6_port = v6.local_addr().unwrap().port();
        let v4 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let v4_addr = v4.local_addr().unwrap();
        let v6_peer = UdpSocket::bind("[::1]:0").await.unwrap();
        let v6_peer_addr = v6_peer.local_addr().unwrap();
        let mut batch = RecvBatch::new();

        // IPv4 socket -> the dual-stack socket, read as plain IPv4.
        let to: SocketAddr = ([127, 0, 0, 1], v6_port).into();
        let mut q = queue_of(3, to, 30);
        q.flush(&v4, false).await;
        let (got, _, _) = read_n(&v6, true, &mut batch, 3).await;
        assert!(got.iter().all(|(from, _)| *from == v4_addr), "{got:?}");
        // The same batch reads an IPv4 socket, then an IPv6 peer on the IPv6 socket.
        let mut q = queue_of(2, v4_addr, 30);
        q.flush(&v6, true).await; // an IPv4 destination from an IPv6 socket: mapped
        assert_eq!(q.errors(), 0);
        let (got, _, _) = read_n(&v4, false, &mut batch, 2).await;
        assert!(got.iter().all(|(from, _)| *from == to), "{got:?}");
        let to6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, v6_port).into();
        let mut q = queue_of(2, to6, 30);
        q.flush(&v6_peer, true).await;
        let (got, _, _) = read_n(&v6, true, &mut batch, 2).await;
        assert!(got.iter().all(|(from, _)| *from == v6_peer_addr), "{got:?}");
    });
}

#[test]
fn warm_batches_allocate_nothing_per_datagram() {
    runtime().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let mut batch = RecvBatch::new();
        // Warm: the per-thread send headers, the sockets' readiness.
        let mut q = queue_of(2, b_addr, 100);
        q.flush(&a, false).await;
        let _ = read_n(&b, false, &mut batch, 2).await;
        q.recycle_done(drop);
        for n in [1, RECV_CHUNK] {
            let mut q = queue_of(n, b_addr, 600);
            let send = measure(|| assert_eq!(q.try_flush(&a, false), Progress::Done));
            assert_eq!(send.count_total, 0, "sending {n} allocated");
            b.readable().await.unwrap();
            let recv = measure(|| {
                let read = batch.recv(&b, false, RECV_CHUNK).unwrap();
                assert_eq!(batch.len(), n, "{read:?}");
            });
            assert_eq!(recv.count_total, 0, "receiving {n} allocated");
        }
    });
}
