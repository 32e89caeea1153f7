//! Cheap rejection, reply budgets and IP privacy (issue 16; PROTOCOL.md §2.1, §6.2), attacked
//! on the deterministic simulator and with hand-driven peers; figures are printed.
//!
//! - **Garbage** (random bytes, envelopes from random keys with and without a good mac1) at
//!   100,000 datagrams/s: every get_nodes of a proven peer is answered and every chat
//!   delivered; the X25519s spent are bounded and printed (the CPU per datagram is in
//!   `benches/garbage.rs`).
//! - **Reply budget**: a proven key flooding get_nodes, or have summaries that claim to hold
//!   nothing, gets no more bytes than it sends, beyond `reply_burst`.
//! - **IP privacy**: a send_nodes to an asker on a public address never lists a loopback or
//!   private address; a loopback asker does get loopback entries.

mod attack;
mod peer;
mod sim;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use attack::{fresh, group, handshake, inbox, key, received};
use dhtchat::crypto::MAC1_COVERS;
use dhtchat::proto::{Config, Dialect, DropReason, GroupSpec, Privacy};
use dhtchat::wire::{BloomBuilder, GetNodes, NodeInfo, Payload, PublicKey};
use peer::{Peer, admit, drain, fixture};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{LinkModel, Sim};

/// Garbage of three kinds: random bytes, an envelope to `to` from a random key with a random
/// nonce, and the same with a good mac1 (an attacker who knows the receiver's key).
fn garbage(rng: &mut ChaCha20Rng, to: &PublicKey, kind: u32) -> Vec<u8> {
    let len = rng.random_range(106..=1024);
    let mut d = vec![0u8; len];
    rng.fill_bytes(&mut d);
    if kind % 3 == 0 {
        return d;
    }
    d[0] = 48;
    d[1..33].copy_from_slice(&to.0);
    d[64] &= 0x7f;
    if kind % 3 == 2 {
        let mac = dhtchat::crypto::mac1(to, &d[..MAC1_COVERS]);
        d[MAC1_COVERS..MAC1_COVERS + mac.len()].copy_from_slice(&mac);
    }
    d
}

#[test]
fn garbage_at_100k_per_second_leaves_get_nodes_answered_and_chats_delivered() {
    const N: usize = 5;
    let mut sim = group(300, N);
    let target = key(&sim, 0);
    let mut p = fresh(7, SocketAddr::from(([127, 230, 0, 1], 4000)));
    assert!(handshake(&mut sim, 0, &mut p));
    inbox(&mut sim, &mut p);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let start = sim.elapsed();
    let (mut asked, mut answered, mut sent) = (0u32, 0u32, Vec::new());
    for ms in 0..2000u32 {
        sim.run_until(start + Duration::from_millis(u64::from(ms)));
        for i in 0..100u32 {
            let d = garbage(&mut rng, &target, i);
            let ip = if ms < 1000 {
                [127, 231, 0, 1]
            } else {
                [127, 232, i as u8, ms as u8]
            };
            sim.inject(SocketAddr::from((ip, 9)), 0, &d);
        }
        if ms % 100 == 0 {
            let ping = (ms / 100).to_be_bytes();
            let ping_id = [ping[0], ping[1], ping[2], ping[3], 0, 0, 0, 1];
            let ask = p.packet(target, &Payload::GetNodes(GetNodes { ping_id }));
            sim.inject(p.addr, 0, &ask);
            asked += 1;
            answered += (inbox(&mut sim, &mut p).iter())
                .filter(|pl| matches!(Payload::decode(pl), Ok(Payload::SendNodes(s)) if s.ping_id == ping_id))
                .count() as u32;
        }
        if ms % 200 == 0 {
            let i = (ms / 200) as usize % N;
            let n = sim.with_node(i, |n, now, g| n.send_chat(now, g, b"still here"));
            sent.push((i, n.unwrap()));
        }
    }
    sim.run_for(Duration::from_secs(3));
    let missing = (sent.iter())
        .map(|&(i, n)| {
            let k = key(&sim, i);
            (0..N)
                .filter(|&j| j != i && !received(&sim, j, &k).contains_key(&n))
                .count()
        })
        .sum::<usize>();
    let s = sim.nodes[0].node.stats();
    println!(
        "200,000 garbage datagrams in 2 s at node 0: bad_mac {} dh_over_limit {} decrypt {} \
         malformed+unknown_group {}; get_nodes answered {answered}/{asked}; chats missing {missing} of {}",
        s.dropped(DropReason::BadMac),
        s.dropped(DropReason::DhOverLimit),
        s.dropped(DropReason::Decrypt),
        s.dropped(DropReason::Malformed) + s.dropped(DropReason::UnknownGroup),
        sent.len() * (N - 1),
    );
    // The node-wide X25519 budget (burst 1024, 2000/s) over 2 s bounds what garbage with a
    // good mac1 costs; the rest never reaches an X25519.
    let (burst, rate) = Config::new([0; 32]).dh_rate;
    let bound = u64::from(burst + 2 * rate);
    assert!(
        s.dropped(DropReason::Decrypt) <= bound,
        "X25519s are bounded"
    );
    assert!(s.dropped(DropReason::DhOverLimit) > 0 && s.dropped(DropReason::BadMac) > 0);
    assert_eq!(answered, asked, "every proven get_nodes answered");
    assert_eq!(missing, 0, "every chat delivered");
}

#[test]
fn a_proven_key_gets_no_more_bytes_than_it_sends_beyond_a_small_burst() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    for i in 1..=6 {
        admit(&mut f, &mut Peer::new(i));
    }
    let mut p = Peer::new(50);
    admit(&mut f, &mut p);
    let burst = Config::new([0; 32]).reply_burst as usize;
    let (mut bytes_in, mut bytes_out, mut answers, mut full) = (0usize, 0usize, 0, 0);
    for k in 0..2000u32 {
        let ping_id = [k.to_be_bytes(), [0, 0, 0, 2]].concat().try_into().unwrap();
        let ask = p.packet(f.key, &Payload::GetNodes(GetNodes { ping_id }));
        bytes_in += ask.len();
        let now = f.now + Duration::from_micros(500 * u64::from(k));
        f.node.handle_datagram(now, p.addr, &ask);
        for (to, d) in drain(&mut f.node) {
            if to == p.addr {
                bytes_out += d.len();
                answers += 1;
                full += usize::from(d.len() == 420);
            }
        }
    }
    println!(
        "2,000 get_nodes from a proven key: {answers} answers ({full} with 6 nodes), \
         {bytes_out} B out / {bytes_in} B in = {:.3}; beyond the {burst}-byte burst {:.3}",
        bytes_out as f64 / bytes_in as f64,
        bytes_out.saturating_sub(burst) as f64 / bytes_in as f64
    );
    assert_eq!(
        answers, 2000,
        "every request still answered (keep-alives work)"
    );
    assert!(full >= 1, "the burst pays for full answers");
    assert!(
        bytes_out <= bytes_in + burst,
        "{bytes_out} out for {bytes_in} in"
    );
}

/// A proven member sends an empty have (claiming to hold nothing) every 20 ms for 10 s while
/// the node chats every 10 ms, so every have could be answered with 16 re-sent copies.
#[test]
fn a_proven_key_flooding_have_summaries_gets_no_more_bytes_than_it_sends() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut p = Peer::new(50);
    admit(&mut f, &mut p);
    let burst = Config::new([0; 32]).reply_burst as usize;
    let (mut bytes_in, mut bytes_out, mut copies) = (0usize, 0usize, 0usize);
    for k in 0..1000u64 {
        let now = f.now + Duration::from_millis(10 * k);
        f.node.handle_timeout(now);
        f.node.send_chat(now, f.group, b"kept for repair").unwrap();
        drain(&mut f.node);
        if k % 2 == 1 {
            let empty = BloomBuilder::new(0, 10, 5, k);
            let ask = p.packet(f.key, &Payload::Have(empty.have(0, 8000)));
            bytes_in += ask.len();
            f.node.handle_datagram(now, p.addr, &ask);
            for (to, d) in drain(&mut f.node) {
                if to == p.addr {
                    bytes_out += d.len();
                    copies += 1;
                }
            }
        }
    }
    let withheld = f.node.stats().repairs_withheld;
    println!(
        "500 empty haves from a proven key: {copies} copies re-sent, {withheld} withheld, \
         {bytes_out} B out / {bytes_in} B in; beyond the {burst}-byte burst {:.3}",
        bytes_out.saturating_sub(burst) as f64 / bytes_in as f64
    );
    assert!(copies >= 16, "the burst pays for one full answer");
    assert!(withheld > 0, "the budget withheld copies");
    assert!(
        bytes_out <= bytes_in + burst,
        "{bytes_out} out for {bytes_in} in"
    );
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => !(v.is_loopback() || v.is_private() || v.is_link_local()),
        IpAddr::V6(v) => !v.is_loopback() && (v.segments()[0] & 0xfe00) != 0xfc00,
    }
}

#[test]
fn send_nodes_to_a_public_asker_never_lists_loopback_or_private_addresses() {
    let mut sim = Sim::new(400, LinkModel::default());
    let mut rng = ChaCha20Rng::seed_from_u64(401);
    for i in 0..10usize {
        let c = sim.config(i);
        let ip: [u8; 4] = match i {
            0..=4 => [127, 1, 0, i as u8],
            5..=6 => [192, 168, 7, i as u8],
            _ => [198, 51, 100, i as u8],
        };
        sim.add_node_at(c, SocketAddr::from((ip, 33445)));
    }
    sim.create_group(0, &GroupSpec::default());
    for i in 1..10 {
        sim.run_for(Duration::from_millis(300));
        let via = sim.join_string(rng.random_range(0..i));
        sim.join(i, &via, &GroupSpec::default());
    }
    sim.run_for(Duration::from_secs(20));
    let mut wan = fresh(1, SocketAddr::from(([203, 0, 113, 50], 4000)));
    let mut lo = fresh(2, SocketAddr::from(([127, 240, 0, 1], 4000)));
    let asked: Vec<usize> = (0..10)
        .filter(|&i| handshake(&mut sim, i, &mut wan))
        .collect();
    for i in 0..10 {
        handshake(&mut sim, i, &mut lo);
    }
    let (mut told_wan, mut told_lo) = (Vec::<NodeInfo>::new(), Vec::<NodeInfo>::new());
    for round in 0..60u8 {
        sim.run_for(Duration::from_millis(500));
        for &i in &asked {
            let ping_id = [round, 9, 9, 9, 9, 9, 9, 1];
            for p in [&mut wan, &mut lo] {
                let ask = p.packet(key(&sim, i), &Payload::GetNodes(GetNodes { ping_id }));
                sim.inject(p.addr, i, &ask);
            }
        }
        for (p, told) in [(&mut wan, &mut told_wan), (&mut lo, &mut told_lo)] {
            for plain in inbox(&mut sim, p) {
                if let Ok(Payload::SendNodes(s)) = Payload::decode(&plain) {
                    told.extend(s.nodes.iter().copied());
                }
            }
        }
    }
    let leaked: Vec<_> = told_wan
        .iter()
        .filter(|n| !is_public(n.addr.ip()))
        .collect();
    let lo_loopback = told_lo.iter().filter(|n| n.addr.ip().is_loopback()).count();
    println!(
        "public asker: {} entries from {} nodes, {} not public; loopback asker: {} entries, {lo_loopback} loopback",
        told_wan.len(),
        asked.len(),
        leaked.len(),
        told_lo.len()
    );
    assert!(
        !told_wan.is_empty(),
        "the public asker was told of public nodes"
    );
    assert!(leaked.is_empty(), "leaked to a public asker: {leaked:?}");
    assert!(
        lo_loopback > 0,
        "a loopback asker still learns loopback peers"
    );
}

#[test]
fn a_newcomer_joins_through_a_cookie_while_spoofed_garbage_spends_the_x25519_budget() {
    const N: usize = 4;
    let mut sim = group(500, N);
    let target = key(&sim, 0);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let newcomer = sim.add_node(sim.config(N));
    let start = sim.elapsed();
    let out_before = sim.nodes[0].node.stats().datagrams_out;
    let mut joined_after = None;
    for ms in 0..8000u32 {
        sim.run_until(start + Duration::from_millis(u64::from(ms)));
        // 25,000/s envelopes with a good mac1 from spoofed addresses (no one receives there).
        for i in 0..25u32 {
            let d = garbage(&mut rng, &target, 2);
            let ip = [127, 233, (i * 5 + ms) as u8, (ms >> 3) as u8];
            sim.inject(SocketAddr::from((ip, 9)), 0, &d);
        }
        if ms == 500 {
            let join = sim.join_string(0);
            sim.join(newcomer, &join, &GroupSpec::default());
        }
        let joined = (sim.nodes[newcomer].events.iter())
            .any(|(_, _, e)| matches!(e, dhtchat::proto::Event::Joined { .. }));
        if joined && joined_after.is_none() {
            joined_after = Some(ms - 500);
        }
    }
    let s = sim.nodes[0].node.stats();
    let out = s.datagrams_out - out_before;
    let (burst, rate) = Config::new([0; 32]).cookie_rate;
    println!(
        "200,000 good-mac1 datagrams from spoofed addresses in 8 s: dh_over_limit {}, X25519s \
         (decrypt) {}, datagrams out of node 0 {out} (cookie replies at most {}); the newcomer \
         joined {joined_after:?} ms after it started (its first request got a cookie reply, \
         its retry after the 5-s request timeout carried mac2)",
        s.dropped(DropReason::DhOverLimit),
        s.dropped(DropReason::Decrypt),
        burst + 8 * rate,
    );
    let joined_after = joined_after.expect("the newcomer joined during the flood");
    assert!(joined_after <= 7000, "joined after {joined_after} ms");
    assert!(
        s.dropped(DropReason::DhOverLimit) > 150_000,
        "the budget was spent"
    );
}
