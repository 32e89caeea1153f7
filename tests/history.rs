//! Signed history (PROTOCOL.md §6.13) in the deterministic simulator: a late joiner sees
//! what was said before it came, each message checked against its signature; a member that
//! alters or drops history is detected and the messages come from another member; the
//! `joined` visibility; the reply budget against amplification; the bounds.

mod sim;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::crypto::{Identity, mac1_nonce, open_packet, precompute, seal_packet};
use dhtchat::proto::{Event, GroupSpec, HistoryLimits};
use dhtchat::wire::{
    Envelope, HistoryEntry, HistoryPage, HistoryRequest, HistoryVisibility, MAX_PLAINTEXT, Payload,
    PublicKey,
};
use sim::{LinkModel, Sim, Tamper, build_group};

const SENDERS: usize = 4;
const PER_SENDER: usize = 75;

fn spec() -> GroupSpec {
    GroupSpec {
        nick: b"n".to_vec(),
        ..GroupSpec::default()
    }
}

/// `SENDERS` members each say `PER_SENDER` messages `m{i}-{k}`, two a second each.
fn chatter(sim: &mut Sim, first: usize) {
    for k in 0..PER_SENDER {
        for i in 0..SENDERS {
            let text = format!("m{i}-{k}");
            sim.with_node(first + i, |n, now, g| n.send_chat(now, g, text.as_bytes()))
                .expect("send");
        }
        sim.run_for(Duration::from_millis(500));
    }
}

fn expected() -> Vec<String> {
    let mut all: Vec<String> = (0..SENDERS)
        .flat_map(|i| (0..PER_SENDER).map(move |k| format!("m{i}-{k}")))
        .collect();
    all.sort();
    all
}

/// One message shown as history: (origin, number, text).
type Shown = (PublicKey, u32, String);

/// The joiner's history in the order shown, and HistoryDone's (messages, gaps).
fn history_of(sim: &Sim, i: usize) -> (Vec<Shown>, Option<(u32, u32)>) {
    let mut shown = Vec::new();
    let mut done = None;
    for (_, _, e) in &sim.nodes[i].events {
        match e {
            Event::HistoryMessage {
                origin,
                number,
                text,
                ..
            } => shown.push((*origin, *number, String::from_utf8_lossy(text).into_owned())),
            Event::HistoryDone { messages, gaps, .. } => done = Some((*messages, *gaps)),
            _ => {}
        }
    }
    (shown, done)
}

fn done(sim: &Sim, i: usize) -> bool {
    history_of(sim, i).1.is_some()
}

/// Each origin's messages are shown in number order.
fn in_origin_order(shown: &[Shown]) -> bool {
    let mut last: HashMap<PublicKey, u32> = HashMap::new();
    shown
        .iter()
        .all(|(o, n, _)| last.insert(*o, *n).is_none_or(|p| p < *n))
}

/// Bytes of history requests and pages sent by every node.
fn history_bytes(sim: &Sim) -> u64 {
    (sim.nodes.iter())
        .map(|n| n.node.stats().history)
        .map(|h| h.request_bytes + h.page_bytes)
        .sum()
}

/// A named group (as the application's always are) of 1 + SENDERS members that said 300
/// messages, and a joiner with a known seed.
fn group_with_300(seed: u64, loss: f64) -> (Sim, Identity) {
    group_of_300(seed, loss, true)
}

/// [`group_with_300`], named or not: an unnamed group has no facts, so its joiner's state
/// never syncs (no fact summary to match) and its fetch waits for `history_delay`.
fn group_of_300(seed: u64, loss: f64, named: bool) -> (Sim, Identity) {
    let link = LinkModel {
        loss,
        ..LinkModel::default()
    };
    let mut sim = Sim::new(seed, link);
    build_group(
        &mut sim,
        1 + SENDERS,
        &spec(),
        Duration::from_millis(300),
        |_| {},
    );
    if named {
        sim.with_node(0, |n, now, g| n.set_group_name(now, g, "history"))
            .unwrap();
    }
    sim.run_for(Duration::from_secs(5));
    chatter(&mut sim, 1);
    sim.run_for(Duration::from_secs(5));
    let joiner = Identity::from_seed(&[0xAB; 32]);
    let c = sim.config(1 + SENDERS);
    sim.add_node(c);
    (sim, joiner)
}

fn join(sim: &mut Sim, via: usize, joiner: &Identity) -> usize {
    let i = sim.nodes.len() - 1;
    let js = sim.join_string(via);
    let spec = GroupSpec {
        identity_seed: Some(*joiner.seed()),
        ..spec()
    };
    sim.join(i, &js, &spec);
    i
}

/// Seconds from the joiner's `Joined` to its `HistoryDone`.
fn fetch_secs(sim: &Sim, i: usize) -> f64 {
    let at = |f: fn(&Event) -> bool| {
        (sim.nodes[i].events.iter()).find_map(|(t, _, e)| f(e).then_some(*t))
    };
    let joined = at(|e| matches!(e, Event::Joined { .. })).expect("joined");
    let done = at(|e| matches!(e, Event::HistoryDone { .. })).expect("done");
    (done - joined).as_secs_f64()
}

fn fetch_at(loss: f64, named: bool) -> (usize, u64, f64) {
    let (mut sim, joiner) = group_of_300(41, loss, named);
    let before = history_bytes(&sim);
    let j = join(&mut sim, 2, &joiner);
    assert!(
        sim.drive_until(Duration::from_secs(120), |s| done(s, j)),
        "fetch never ended"
    );
    let (shown, end) = history_of(&sim, j);
    let mut texts: Vec<String> = shown.iter().map(|s| s.2.clone()).collect();
    texts.sort();
    assert_eq!(texts, expected(), "every message, once");
    assert_eq!(end, Some((300, 0)));
    assert!(in_origin_order(&shown));
    (
        shown.len(),
        history_bytes(&sim) - before,
        fetch_secs(&sim, j),
    )
}

#[test]
fn a_joiner_after_300_messages_sees_them_all_at_0_and_5_percent_loss() {
    for loss in [0.0, 0.05] {
        let (shown, bytes, secs) = fetch_at(loss, true);
        println!(
            "history fetch, loss {:.0} %: {shown} messages, {bytes} history bytes, {:.1} bytes per \
             delivered message, shown {secs:.2} s after Joined",
            loss * 100.0,
            bytes as f64 / shown as f64
        );
        if loss == 0.0 {
            // The fetch starts at StateSynced, not history_delay (1 s) after Joined.
            assert!(secs < 1.0, "shown {secs:.2} s after Joined");
        }
    }
}

#[test]
fn a_joiner_whose_state_never_syncs_fetches_after_history_delay() {
    let (shown, _, secs) = fetch_at(0.0, false);
    assert_eq!(shown, 300);
    assert!(
        secs >= 1.0,
        "shown {secs:.2} s after Joined, before history_delay"
    );
}

/// Rewrites the history pages the first member the joiner asks sends it: the body of `m0-10`
/// is altered (its signature no longer holds) and `m3-20` ..= `m3-40` are left out (a
/// dropped range, the other entries unchanged).
fn attack(joiner: Identity, j: usize) -> Tamper {
    let mut attacker = None;
    Tamper(Box::new(move |from, to, bytes: &mut Vec<u8>| {
        if to != j || attacker.is_some_and(|a| a != from) {
            return true;
        }
        let Ok(env) = Envelope::new_checked(bytes.as_slice()) else {
            return true;
        };
        let shared = precompute(joiner.keypair(), &env.sender());
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let Ok(plain) = open_packet(&shared, &env, &mut scratch) else {
            return true;
        };
        let Ok(Payload::HistoryPage(page)) = Payload::decode(plain) else {
            return true;
        };
        attacker = Some(from);
        let mut altered = Vec::new();
        let mut bodies = Vec::new();
        for e in page.entries().flatten() {
            let mut body = e.body.to_vec();
            if body == b"m0-10" {
                body[0] = b'M';
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            let k: Option<usize> = text.strip_prefix("m3-").and_then(|k| k.parse().ok());
            if k.is_some_and(|k| (20..=40).contains(&k)) {
                continue;
            }
            bodies.push((e, body));
        }
        for (e, body) in &bodies {
            let entry = HistoryEntry { body, ..*e };
            entry.write(&mut altered).expect("fits");
        }
        let head = (page.request_id, page.from, page.next, page.flags);
        let page = HistoryPage::new(head, &altered).expect("page");
        let mut out = Vec::new();
        let (receiver, sender, nonce) = (env.receiver(), env.sender(), env.nonce());
        seal_packet(
            &shared,
            &receiver,
            &sender,
            &nonce,
            &Payload::HistoryPage(page),
            &mut out,
        )
        .expect("seal");
        *bytes = out;
        true
    }))
}

#[test]
fn an_altered_message_and_a_dropped_range_are_detected_and_fetched_from_another_member() {
    let (mut sim, joiner) = group_with_300(43, 0.0);
    let j = sim.nodes.len() - 1;
    // Whoever the joiner asks first rewrites what it serves.
    sim.tamper = Some(attack(Identity::from_seed(&[0xAB; 32]), j));
    join(&mut sim, 1, &joiner);
    assert!(
        sim.drive_until(Duration::from_secs(120), |s| done(s, j)),
        "fetch never ended"
    );
    let (shown, end) = history_of(&sim, j);
    let mut texts: Vec<String> = shown.iter().map(|s| s.2.clone()).collect();
    texts.sort();
    assert_eq!(
        texts,
        expected(),
        "the altered one and the dropped range came from elsewhere"
    );
    assert!(
        !texts.iter().any(|t| t.starts_with('M')),
        "nothing altered shown"
    );
    assert_eq!(end, Some((300, 0)));
    assert!(in_origin_order(&shown));
    let h = sim.nodes[j].node.stats().history;
    println!("attack: {h:?}");
    assert!(
        h.rejected >= 1,
        "the altered entry failed its signature check"
    );
    assert!(
        h.gaps_found >= 2,
        "the altered number and the dropped range were both gaps"
    );
}

#[test]
fn with_visibility_joined_a_joiner_gets_nothing_said_before_it_joined() {
    let mut sim = Sim::new(47, LinkModel::default());
    build_group(&mut sim, 3, &spec(), Duration::from_millis(300), |_| {});
    sim.run_for(Duration::from_secs(5));
    sim.with_node(0, |n, now, g| {
        n.set_history_visibility(now, g, HistoryVisibility::Joined)
    })
    .expect("founder");
    sim.run_for(Duration::from_secs(2));
    for k in 0..40 {
        let text = format!("before-{k}");
        sim.with_node(1, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        sim.run_for(Duration::from_millis(300));
    }
    let c = sim.config(3);
    sim.add_node(c);
    let j = join(&mut sim, 2, &Identity::from_seed(&[0xCD; 32]));
    assert!(sim.drive_until(Duration::from_secs(30), |s| done(s, j)));
    assert_eq!(
        history_of(&sim, j).1,
        Some((0, 0)),
        "nothing from before it joined"
    );
    let vis = sim.with_node(j, |n, _, g| n.history_visibility(g));
    assert_eq!(vis, Some(HistoryVisibility::Joined));
    // Cut off, it misses what is said next; asked again, it gets that (after its admission)
    // and still nothing older.
    let mut side = vec![false; sim.nodes.len()];
    side[j] = true;
    sim.partition = Some(side);
    for k in 0..10 {
        let text = format!("after-{k}");
        sim.with_node(1, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        sim.run_for(Duration::from_millis(300));
    }
    sim.run_for(Duration::from_secs(10));
    sim.partition = None;
    sim.run_for(Duration::from_secs(3));
    let before = sim.nodes[j].events.len();
    sim.with_node(j, |n, now, g| n.fetch_history(now, g))
        .expect("group");
    let ended = |s: &Sim| {
        (s.nodes[j].events[before..].iter()).any(|e| matches!(e.2, Event::HistoryDone { .. }))
    };
    assert!(sim.drive_until(Duration::from_secs(30), ended));
    let texts: Vec<String> = history_of(&sim, j).0.into_iter().map(|s| s.2).collect();
    assert!(texts.iter().all(|t| t.starts_with("after-")), "{texts:?}");
    assert_eq!(texts.len(), 10, "{texts:?}");
}

#[test]
fn history_answers_stay_within_the_askers_reply_budget() {
    let mut sim = Sim::new(53, LinkModel::default());
    build_group(&mut sim, 2, &spec(), Duration::from_millis(300), |_| {});
    sim.run_for(Duration::from_secs(3));
    let c = sim.config(2);
    sim.add_node(c);
    let asker = Identity::from_seed(&[0xEE; 32]);
    let a = join(&mut sim, 0, &asker);
    sim.run_for(Duration::from_secs(5));
    for k in 0..200 {
        let text = format!("{k:0>300}");
        sim.with_node(k % 2, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        sim.run_for(Duration::from_millis(250));
    }
    // The asker (a member the server validated) asks node 0 for everything 2,000 times
    // without padding, 158-byte datagrams. Unbounded, each would get four full datagrams.
    let from = sim.nodes[a].addr;
    let server = sim
        .with_node(0, |n, _, g| n.group_info(g).map(|i| i.own_key))
        .unwrap();
    let shared = precompute(asker.keypair(), &server);
    let before = sim.nodes[0].node.stats().history;
    let mut sent = 0u64;
    for r in 0..2000u32 {
        let req = HistoryRequest {
            request_id: r,
            cursor: 0,
            within: u32::MAX,
            origin: None,
            padding: 0,
        };
        let mut counter = [0u8; 8];
        counter[..4].copy_from_slice(&r.to_be_bytes());
        let nonce = mac1_nonce(&counter, None, &server, &asker.public_key());
        let mut d = Vec::new();
        let payload = Payload::HistoryRequest(req);
        seal_packet(
            &shared,
            &server,
            &asker.public_key(),
            &nonce,
            &payload,
            &mut d,
        )
        .unwrap();
        sent += d.len() as u64;
        sim.inject(from, 0, &d);
    }
    let after = sim.nodes[0].node.stats().history;
    let out = after.page_bytes - before.page_bytes;
    let config = sim.config(0);
    let burst = u64::from(config.reply_burst);
    // Beyond the reply budget, one asker's page bucket pays for its burst of pages (no
    // virtual time passes while the requests are injected), each at most 1,024 bytes.
    let allowance = u64::from(config.history_rate.0) * 1024;
    println!(
        "amplification: {sent} request bytes got {out} page bytes ({} pages, {} withheld)",
        after.pages - before.pages,
        after.withheld - before.withheld
    );
    assert!(
        after.pages - before.pages >= 10,
        "the asker was served at first"
    );
    assert!(
        out <= sent + burst + allowance,
        "{out} > {sent} + {burst} + {allowance}"
    );
    assert!(
        after.withheld - before.withheld > 1000,
        "most were withheld"
    );
    // A key that is not a member gets nothing at all.
    let stranger = Identity::from_seed(&[0x77; 32]);
    let shared = precompute(stranger.keypair(), &server);
    let nonce = mac1_nonce(&[9; 8], None, &server, &stranger.public_key());
    let mut d = Vec::new();
    let req = HistoryRequest {
        request_id: 1,
        cursor: 0,
        within: u32::MAX,
        origin: None,
        padding: 800,
    };
    let payload = Payload::HistoryRequest(req);
    seal_packet(
        &shared,
        &server,
        &stranger.public_key(),
        &nonce,
        &payload,
        &mut d,
    )
    .unwrap();
    let pages = sim.nodes[0].node.stats().history.pages;
    sim.inject(SocketAddr::from(([127, 9, 9, 9], 9)), 0, &d);
    assert_eq!(
        sim.nodes[0].node.stats().history.pages,
        pages,
        "a stranger gets no page"
    );
    // A page nobody asked for, with a well-signed message in it, shows nothing.
    let chat_id = sim.with_node(0, |n, _, g| n.group_info(g).and_then(|i| i.chat_id));
    let mut b = dhtchat::wire::Broadcast {
        origin: asker.public_key(),
        number: 999,
        message_id: 64,
        body: b"unasked",
        trailer: None,
    };
    b.trailer = Some(asker.sign_broadcast(&chat_id.unwrap(), &b).unwrap());
    let mut entries = Vec::new();
    HistoryEntry::of(&b, 0, 0)
        .unwrap()
        .write(&mut entries)
        .unwrap();
    let page = HistoryPage::new((1, 0, 1, HistoryPage::END), &entries).unwrap();
    let shared = precompute(asker.keypair(), &server);
    let nonce = mac1_nonce(&[8; 8], None, &server, &asker.public_key());
    let mut d = Vec::new();
    let payload = Payload::HistoryPage(page);
    seal_packet(
        &shared,
        &server,
        &asker.public_key(),
        &nonce,
        &payload,
        &mut d,
    )
    .unwrap();
    let events = sim.nodes[0].events.len();
    sim.inject(from, 0, &d);
    sim.run_for(Duration::from_secs(2));
    let shown = (sim.nodes[0].events[events..].iter()).any(|e| {
        matches!(
            e.2,
            Event::HistoryMessage { .. } | Event::MessageReceived { .. }
        )
    });
    assert!(!shown, "an unasked page is dropped");
}

#[test]
fn the_log_holds_at_most_1000_messages_by_default() {
    let mut sim = Sim::new(59, LinkModel::default());
    build_group(&mut sim, 2, &spec(), Duration::from_millis(300), |c| {
        c.origin_rate = (1000, 1000);
    });
    sim.run_for(Duration::from_secs(3));
    for k in 0..1200 {
        let text = format!("{k}");
        sim.with_node(1, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(Duration::from_secs(2));
    let (count, bytes) = sim.with_node(0, |n, _, g| n.history_size(g)).unwrap();
    assert_eq!(count, 1000);
    println!("1,200 messages said: {count} kept, {bytes} bytes");
    let smaller = HistoryLimits {
        max_bytes: 10_000,
        ..HistoryLimits::default()
    };
    sim.with_node(0, |n, now, g| n.set_history_limits(now, g, smaller))
        .unwrap();
    let (count, bytes) = sim.with_node(0, |n, _, g| n.history_size(g)).unwrap();
    assert!(bytes <= 10_000 && count < 1000, "{count} {bytes}");
}

#[test]
fn restored_history_is_checked_against_its_signatures_again() {
    let mut sim = Sim::new(61, LinkModel::default());
    build_group(&mut sim, 2, &spec(), Duration::from_millis(300), |_| {});
    sim.run_for(Duration::from_secs(3));
    for k in 0..5 {
        let text = format!("kept-{k}");
        sim.with_node(1, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        sim.run_for(Duration::from_millis(300));
    }
    let mut records = sim
        .with_node(0, |n, now, g| n.history_since(g, 0, now))
        .unwrap();
    assert_eq!(records.len(), 5);
    // A stored copy altered on disk: its signature no longer holds.
    let last = records[4].plain.len() - 97;
    records[4].plain[last] ^= 1;
    // Empty node 0's log (as after a restart), then give the stored copies back.
    let none = HistoryLimits {
        max_messages: 0,
        ..HistoryLimits::default()
    };
    let kept = sim.with_node(0, |n, now, g| {
        n.set_history_limits(now, g, none).unwrap();
        assert_eq!(n.history_size(g), Some((0, 0)));
        n.set_history_limits(now, g, HistoryLimits::default())
            .unwrap();
        n.restore_history(now, g, &records)
    });
    assert_eq!(kept.unwrap(), 4, "the altered copy is refused");
    let again = sim.with_node(0, |n, now, g| n.restore_history(now, g, &records));
    assert_eq!(again.unwrap(), 0, "held already: not kept twice");
}

#[test]
fn a_member_cut_off_until_its_table_empties_fetches_what_it_missed_on_its_own() {
    let mut sim = Sim::new(67, LinkModel::default());
    build_group(&mut sim, 3, &spec(), Duration::from_millis(300), |_| {});
    sim.run_for(Duration::from_secs(5));
    let cut = 2;
    let mut side = vec![false; 3];
    side[cut] = true;
    sim.partition = Some(side);
    for k in 0..20 {
        let text = format!("while-cut-{k}");
        sim.with_node(k % 2, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        sim.run_for(Duration::from_millis(500));
    }
    // Long enough for its table to empty (bad node 30 s), short of the peer timeout.
    sim.run_for(Duration::from_secs(40));
    let empty = sim.with_node(cut, |n, _, g| n.group_info(g).map(|i| i.table_len));
    assert_eq!(empty, Some(0), "cut off");
    sim.partition = None;
    let got = |s: &Sim| {
        let texts: Vec<String> = history_of(s, cut).0.into_iter().map(|m| m.2).collect();
        (0..20).all(|k| texts.contains(&format!("while-cut-{k}")))
    };
    assert!(
        sim.drive_until(Duration::from_secs(60), got),
        "fetched on its own"
    );
    let live = (sim.nodes[cut].events.iter())
        .filter(|e| matches!(&e.2, Event::MessageReceived { text, .. } if text.starts_with(b"while-cut")))
        .count();
    assert_eq!(live, 0, "none of them live, none twice");
}
