//! Membership that cannot be flooded (issue 16; PROTOCOL.md §2.1, §6.2, §6.7), attacked on the
//! deterministic simulator (virtual time) and with hand-driven peers. Every defence has a
//! test that attacks it; figures are printed, never timed against the wall clock.
//!
//! - **Join flood** through member F at 50 handshakes/s for 30 s, from 1 and from 10
//!   addresses: F's own chats (1/s) reach every member (≥ 99 % during, 100 % after) and no node
//!   graylists F; new_peer is its own rate class (`announce_rate`).
//! - **Throw-away keys**: 20,000 fresh keys send signed chats without joining, from one and
//!   from 20,000 addresses: none is delivered, member lists do not grow, a real newcomer joins
//!   and is delivered within 2 s during the attack; the net heap growth is printed.
//! - **Vouching**: a joined member that relays 1,000 fresh origins gets at most its
//!   introduction burst through; under member-list pressure announced, unproven entries go
//!   first and active members stay.
//! - **Garbage** (random bytes, envelopes from random keys with and without a good mac1) at
//!   100,000 datagrams/s: every get_nodes of a proven peer is answered and every chat
//!   delivered; the X25519s spent are printed (the CPU per datagram is in `benches/node.rs`).
//! - **Reply budget**: a proven key flooding get_nodes gets no more bytes than it sends,
//!   beyond `reply_burst`.
//! - **IP privacy**: a send_nodes to an asker on a public address never lists a loopback or
//!   private address; a loopback asker does get loopback entries.

mod peer;
mod sim;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use allocation_counter::measure;
use dhtchat::crypto::{Identity, MAC1_COVERS, SharedKeys, mac1_nonce, open_datagram, seal_packet};
use dhtchat::proto::{Config, Dialect, DropReason, Event, GroupSpec, Node, Privacy};
use dhtchat::wire::{
    Broadcast, GetNodes, MAX_PLAINTEXT, NodeInfo, NodeList, Payload, PeerMessage, PublicKey,
    SendNodes,
};
use peer::{Peer, admit, drain, fixture};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{LinkModel, Sim, build_group};

fn key(sim: &Sim, i: usize) -> PublicKey {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().own_key
}

/// A secure public group of `n` nodes, settled for 20 s.
fn group(seed: u64, n: usize) -> Sim {
    let mut sim = Sim::new(seed, LinkModel::default());
    let step = Duration::from_millis(300);
    build_group(&mut sim, n, &GroupSpec::default(), step, |_| {});
    sim.run_for(Duration::from_secs(20));
    sim
}

/// A fresh key `k` at `addr`.
fn fresh(k: u32, addr: SocketAddr) -> Peer {
    let mut seed = [0xd5; 32];
    seed[..4].copy_from_slice(&k.to_le_bytes());
    Peer {
        id: Identity::from_seed(&seed),
        addr,
        keys: SharedKeys::new(NonZeroUsize::new(4).unwrap()),
    }
}

/// The plaintexts of the datagrams sent to `p` since the last call.
fn inbox(sim: &mut Sim, p: &mut Peer) -> Vec<Vec<u8>> {
    let mut scratch = [0u8; MAX_PLAINTEXT];
    let mut out = Vec::new();
    for d in sim.take_outbox(&p.addr) {
        if d.get(1..33) != Some(&p.key().0[..]) {
            continue;
        }
        if let Ok((_, plain)) = open_datagram(p.id.keypair(), &mut p.keys, &d, &mut scratch) {
            out.push(plain.to_vec());
        }
    }
    out
}

/// `p` joins through node `to` by hand: get_nodes, then it answers the probe. True if the node
/// probed it (the per-IP and node-wide probe buckets may refuse).
fn handshake(sim: &mut Sim, to: usize, p: &mut Peer) -> bool {
    sim.listen(p.addr);
    let to_key = key(sim, to);
    let ask = p.packet(to_key, &Payload::GetNodes(GetNodes { ping_id: [1; 8] }));
    sim.inject(p.addr, to, &ask);
    for plain in inbox(sim, p) {
        if let Ok(Payload::GetNodes(g)) = Payload::decode(&plain) {
            let answer = SendNodes {
                ping_id: g.ping_id,
                nodes: NodeList::new(),
            };
            let reply = p.packet(to_key, &Payload::SendNodes(answer));
            sim.inject(p.addr, to, &reply);
            return true;
        }
    }
    false
}

/// A signed chat by `author` (also the hop) to `receiver`, sealed with a good mac1.
fn signed_chat(chat: &[u8; 32], author: &Identity, receiver: PublicKey, text: &[u8]) -> Vec<u8> {
    let msg = PeerMessage::Chat(text);
    let body = msg.to_vec().unwrap();
    let mut b = Broadcast {
        origin: author.public_key(),
        number: 1,
        message_id: msg.id() as u8,
        body: &body,
        trailer: None,
    };
    b.trailer = Some(author.sign_broadcast(chat, &b).unwrap());
    seal(author, receiver, &Payload::Broadcast(b))
}

fn seal(from: &Identity, to: PublicKey, payload: &Payload<'_>) -> Vec<u8> {
    let shared = dhtchat::crypto::precompute(from.keypair(), &to);
    let nonce = mac1_nonce(&[3; 16], &to, &from.public_key());
    let mut out = Vec::new();
    seal_packet(&shared, &to, &from.public_key(), &nonce, payload, &mut out).unwrap();
    out
}

/// Numbers of node `j`'s received chats from `origin`, with when they arrived.
fn received(sim: &Sim, j: usize, origin: &PublicKey) -> HashMap<u32, Duration> {
    (sim.nodes[j].events.iter())
        .filter_map(|(at, _, e)| match e {
            Event::MessageReceived {
                origin: o, number, ..
            } if o == origin => Some((*number, *at)),
            _ => None,
        })
        .collect()
}

fn total_dropped(sim: &Sim, reason: DropReason) -> u64 {
    sim.nodes
        .iter()
        .map(|n| n.node.stats().dropped(reason))
        .sum()
}

fn join_flood(addresses: u8) {
    const N: usize = 10;
    const F: usize = 1;
    let mut sim = group(100 + u64::from(addresses), N);
    let f_key = key(&sim, F);
    let start = sim.elapsed();
    let mut chats: Vec<(u32, bool)> = Vec::new();
    let mut probed = 0;
    for step in 0..1500u32 {
        sim.run_until(start + Duration::from_millis(20) * step);
        if step % 50 == 0 {
            let text = format!("f{step}");
            let n = sim.with_node(F, |n, now, g| n.send_chat(now, g, text.as_bytes()));
            chats.push((n.unwrap(), true));
        }
        let ip = [127, 210, 0, 1 + (step % u32::from(addresses)) as u8];
        let addr = SocketAddr::from((ip, 20_000));
        let mut p = fresh(step, addr);
        probed += usize::from(handshake(&mut sim, F, &mut p));
        sim.take_outbox(&addr);
    }
    for _ in 0..10 {
        sim.run_for(Duration::from_secs(1));
        let n = sim.with_node(F, |n, now, g| n.send_chat(now, g, b"after"));
        chats.push((n.unwrap(), false));
    }
    sim.run_for(Duration::from_secs(5));
    let got: Vec<_> = (0..N).map(|j| received(&sim, j, &f_key)).collect();
    let reach = |during: bool| {
        let of: Vec<_> = chats.iter().filter(|c| c.1 == during).collect();
        let hits: usize = (of.iter())
            .map(|(n, _)| (0..N).filter(|&j| j != F && got[j].contains_key(n)).count())
            .sum();
        hits as f64 / (of.len() * (N - 1)) as f64
    };
    let (during, after) = (reach(true), reach(false));
    let now = sim.now();
    let graylisting: Vec<usize> = (0..N)
        .filter(|&j| {
            let n = &sim.nodes[j];
            n.node.is_graylisted(n.group.unwrap(), &f_key, now)
        })
        .collect();
    let joined_at_f = (sim.nodes[F].events.iter())
        .filter(|(_, _, e)| matches!(e, Event::PeerJoined { .. }))
        .count();
    println!(
        "join flood, 50 handshakes/s for 30 s from {addresses} address(es) through F: {probed} \
         probed, {joined_at_f} PeerJoined at F; F's chats reached {:.1} % during, {:.1} % after; \
         announce_over_limit {} over_limit {} relay_over_limit {} graylistings {}; F graylisted \
         by {graylisting:?}; load {}",
        during * 100.0,
        after * 100.0,
        total_dropped(&sim, DropReason::AnnounceOverLimit),
        total_dropped(&sim, DropReason::OverLimit),
        total_dropped(&sim, DropReason::RelayOverLimit),
        sim.nodes
            .iter()
            .map(|n| n.node.stats().graylistings)
            .sum::<u64>(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim(),
    );
    assert!(probed > 0, "the flood did reach F");
    assert!(during >= 0.99, "during the flood: {during}");
    assert!(
        (after - 1.0).abs() < f64::EPSILON,
        "after the flood: {after}"
    );
    assert!(graylisting.is_empty(), "F graylisted by {graylisting:?}");
}

#[test]
fn join_flood_from_one_address_never_silences_nor_graylists_the_member_it_goes_through() {
    join_flood(1);
}

#[test]
fn join_flood_from_ten_addresses_never_silences_nor_graylists_the_member_it_goes_through() {
    join_flood(10);
}

fn throw_away_keys(spread: bool) {
    const N: usize = 6;
    const KEYS: u32 = 20_000;
    let mut sim = group(200 + u64::from(spread), N);
    let chat = sim.join_string(0).chat_id.unwrap();
    let before: Vec<usize> = (sim.nodes.iter())
        .map(|n| n.node.members(n.group.unwrap()).len())
        .collect();
    let honest: HashSet<PublicKey> = (0..N).map(|i| key(&sim, i)).collect();
    let keys: Vec<PublicKey> = (0..N).map(|i| key(&sim, i)).collect();
    let start = sim.elapsed();
    let newcomer = sim.add_node(sim.config(N));
    let (mut joined_at, mut chat_no) = (None, None);
    let info = measure(|| {
        for k in 0..KEYS {
            let at = start + Duration::from_micros(500) * k;
            sim.run_until(at);
            if k == KEYS / 2 {
                let join = sim.join_string(2);
                sim.join(newcomer, &join, &GroupSpec::default());
                joined_at = Some(sim.elapsed());
            }
            if joined_at.is_some() && chat_no.is_none() {
                let joined = (sim.nodes[newcomer].events.iter())
                    .any(|(_, _, e)| matches!(e, Event::Joined { .. }));
                if joined {
                    let n = sim.with_node(newcomer, |n, now, g| n.send_chat(now, g, b"hi"));
                    chat_no = Some(n.unwrap());
                }
            }
            let to = k as usize % N;
            let author = fresh(k, SocketAddr::from(([127, 220, 0, 1], 9))).id;
            let from = match spread {
                true => SocketAddr::from(([127, 221, (k >> 8) as u8, k as u8], 9)),
                false => SocketAddr::from(([127, 220, 0, 1], 9)),
            };
            let d = signed_chat(&chat, &author, keys[to], b"spam");
            sim.inject(from, to, &d);
        }
        sim.run_for(Duration::from_secs(3));
    });
    let spam: usize = (sim.nodes.iter().take(N))
        .flat_map(|n| n.events.iter())
        .filter(|(_, _, e)| {
            matches!(e, Event::MessageReceived { origin, .. } if !honest.contains(origin) && *origin != key(&sim, newcomer))
        })
        .count();
    let grown: Vec<isize> = (0..N)
        .map(|i| {
            let n = &sim.nodes[i];
            n.node.members(n.group.unwrap()).len() as isize - before[i] as isize
        })
        .collect();
    let joined_at = joined_at.unwrap();
    let chat_no = chat_no.expect("the newcomer joined during the attack");
    let new_key = key(&sim, newcomer);
    let late: Vec<usize> = (0..N)
        .filter(|&j| {
            (received(&sim, j, &new_key).get(&chat_no))
                .is_none_or(|at| *at > joined_at + Duration::from_secs(2))
        })
        .collect();
    println!(
        "{KEYS} throw-away keys from {}: {spam} delivered; member lists grew by {grown:?} (the \
         newcomer is +1); not_member {} dh_over_limit {}; net heap growth {} KiB (peak {} KiB, \
         all nodes and the simulator); newcomer's chat late or missing at {late:?}",
        if spread {
            "20,000 addresses"
        } else {
            "one address"
        },
        total_dropped(&sim, DropReason::NotMember),
        total_dropped(&sim, DropReason::DhOverLimit),
        info.bytes_current / 1024,
        info.bytes_max / 1024,
    );
    assert_eq!(spam, 0, "throw-away keys were delivered");
    assert!(
        grown.iter().all(|&g| g <= 1),
        "member lists grew: {grown:?}"
    );
    assert!(
        late.is_empty(),
        "newcomer not delivered within 2 s at {late:?}"
    );
}

#[test]
fn twenty_thousand_throw_away_keys_from_one_address_are_not_members() {
    throw_away_keys(false);
}

#[test]
fn twenty_thousand_throw_away_keys_from_as_many_addresses_are_not_members() {
    throw_away_keys(true);
}

/// The founder's chat id of a fixture's group (it founded it).
fn fixture_chat(f: &peer::Fixture) -> [u8; 32] {
    Identity::from_seed(&f.node.identity_seed(f.group).unwrap()).signing_key()
}

fn delivered(node: &mut Node) -> usize {
    std::iter::from_fn(|| node.poll_event())
        .filter(|e| matches!(e, Event::MessageReceived { .. }))
        .count()
}

#[test]
fn a_joined_member_introduces_at_most_its_vouch_burst_of_fresh_origins() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let chat = fixture_chat(&f);
    let mut m = Peer::new(40);
    admit(&mut f, &mut m);
    delivered(&mut f.node);
    // A fresh key on its own: not a member, dropped before the signature check.
    let stranger = Identity::from_seed(&[0xe1; 32]);
    let d = signed_chat(&chat, &stranger, f.key, b"hello");
    f.node.handle_datagram(f.now, m.addr, &d);
    assert_eq!(delivered(&mut f.node), 0);
    assert_eq!(f.node.stats().dropped(DropReason::NotMember), 1);
    // The joined member relays 1,000 fresh origins within one second.
    let members = f.node.members(f.group).len();
    for k in 0..1000u32 {
        let origin = fresh(k, m.addr).id;
        let msg = PeerMessage::Chat(b"spam");
        let body = msg.to_vec().unwrap();
        let mut b = Broadcast {
            origin: origin.public_key(),
            number: 1,
            message_id: msg.id() as u8,
            body: &body,
            trailer: None,
        };
        b.trailer = Some(origin.sign_broadcast(&chat, &b).unwrap());
        let d = m.packet(f.key, &Payload::Broadcast(b));
        let now = f.now + Duration::from_millis(u64::from(k));
        f.node.handle_datagram(now, m.addr, &d);
        drain(&mut f.node);
    }
    let through = delivered(&mut f.node);
    let grew = f.node.members(f.group).len() - members;
    let (burst, rate) = Config::new([0; 32]).vouch_rate;
    println!(
        "a member relaying 1,000 fresh origins in 1 s: {through} delivered, {grew} new members"
    );
    assert!(
        through <= (burst + 2 * rate) as usize,
        "{through} introduced"
    );
    assert!(grew <= (burst + 2 * rate) as usize);
}

#[test]
fn member_list_pressure_evicts_announced_strangers_before_active_members() {
    let mut c = Config::new([1; 32]);
    c.max_members = 12;
    let mut node = Node::new(c).unwrap();
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let spec = GroupSpec::default();
    f.group = node.create_group(f.now, &spec).unwrap();
    f.key = node.group_info(f.group).unwrap().own_key;
    f.node = node;
    let chat = fixture_chat(&f);
    let mut active = Vec::new();
    for i in 0..5u8 {
        let mut p = Peer::new(60 + i);
        admit(&mut f, &mut p);
        let d = signed_chat(&chat, &p.id, f.key, b"here");
        f.node.handle_datagram(f.now, p.addr, &d);
        drain(&mut f.node);
        active.push(p.key());
    }
    // Member 0 announces 100 strangers (its announcement bucket lets 20 through).
    let announcer = Peer::new(60);
    for k in 0..100u32 {
        let stranger = fresh(k, announcer.addr).id.public_key();
        let msg = PeerMessage::NewPeer(stranger);
        let body = msg.to_vec().unwrap();
        let mut b = Broadcast {
            origin: announcer.key(),
            number: 2 + k,
            message_id: msg.id() as u8,
            body: &body,
            trailer: None,
        };
        b.trailer = Some(announcer.id.sign_broadcast(&chat, &b).unwrap());
        let d = seal(&announcer.id, f.key, &Payload::Broadcast(b));
        f.node.handle_datagram(f.now, announcer.addr, &d);
    }
    let members: HashSet<PublicKey> = f.node.members(f.group).iter().map(|m| m.key).collect();
    println!(
        "100 announced strangers into a 12-member list: {} members, announce_over_limit {}",
        members.len(),
        f.node.stats().dropped(DropReason::AnnounceOverLimit)
    );
    assert!(members.len() <= 12);
    for k in &active {
        assert!(members.contains(k), "an active member was evicted");
    }
    assert!(f.node.stats().dropped(DropReason::AnnounceOverLimit) >= 80);
}

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
    assert!(
        s.dropped(DropReason::Decrypt) < 12_000,
        "X25519s are bounded"
    );
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
    let burst = Config::new([0; 32]).reply_burst as usize;
    println!(
        "2,000 get_nodes from a proven key: {answers} answers ({full} with 6 nodes), \
         {bytes_out} B out / {bytes_in} B in = {:.3}",
        bytes_out as f64 / bytes_in as f64
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
