//! The lazy half of the eager tree (PROTOCOL.md §6.12) on a hand-driven node: IHAVEs go to
//! lazy links only, batched; an IHAVE for a missing broadcast grafts the announcer once its
//! timer fires, unless the copy came first; a GRAFT is answered with the copy and turns the
//! link eager; a new origin's copy of a shared tree with no eager link keeps one; and the
//! attacks: an IHAVE flood holds a bounded number of GRAFT timers, a GRAFT for ids we do
//! not keep is a counted drop, repeated GRAFTs pull no more than the reply budget pays for,
//! strangers and legacy groups are refused.

mod peer;

use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::proto::dht::distance;
use dhtchat::proto::{Config, Dialect, DropReason, Privacy};
use dhtchat::wire::{
    Broadcast, Lazy, LazyKind, MAX_LAZY_IDS, Payload, Prune, PublicKey, lazy::write_id,
};
use peer::{Fixture, Peer, admit, drain, fixture_with};

fn tree(c: &mut Config) {
    c.eager_tree = true;
    c.ping_interval = Duration::from_secs(3600);
    c.peer_timeout = Duration::from_secs(7200);
    // No have summaries (PROTOCOL.md §6.11) in the way of what these tests watch.
    c.have_interval = Duration::from_secs(3600);
}

/// A chat from `origin` numbered `n`, signed, as a relay would forward it.
fn signed(origin: &Identity, chat: &[u8; 32], n: u32) -> Broadcast<'static> {
    signed_as(origin, chat, n, (64, b"lazy"))
}

/// A broadcast of `origin` numbered `n` with (message id, body), signed.
fn signed_as(
    origin: &Identity,
    chat: &[u8; 32],
    n: u32,
    (message_id, body): (u8, &'static [u8]),
) -> Broadcast<'static> {
    let mut b = Broadcast {
        origin: origin.public_key(),
        number: n,
        message_id,
        body,
        trailer: None,
    };
    b.trailer = Some(origin.sign_broadcast(chat, &b).unwrap());
    b
}

fn ids(list: &[(PublicKey, u32)]) -> Vec<u8> {
    let mut raw = Vec::new();
    for (o, n) in list {
        write_id(&mut raw, o, *n);
    }
    raw
}

/// What the node sent, decoded: (to, kind, ids or the prune's origin).
#[derive(Debug, PartialEq)]
enum Sent {
    Copy(PublicKey, PublicKey, u32),
    IHave(PublicKey, Vec<(PublicKey, u32)>),
    Graft(PublicKey, Vec<(PublicKey, u32)>),
    Prune(PublicKey, PublicKey),
    Other(PublicKey),
}

fn sent(f: &mut Fixture, peers: &mut [&mut Peer]) -> Vec<Sent> {
    drain(&mut f.node)
        .into_iter()
        .map(|(to, d)| {
            let p = peers.iter_mut().find(|p| p.addr == to).expect("to a peer");
            let k = p.key();
            match Payload::decode(&p.open(&d)).unwrap() {
                Payload::Broadcast(b) => Sent::Copy(k, b.origin, b.number),
                Payload::Lazy(l) if l.kind == LazyKind::IHave => Sent::IHave(k, l.ids().collect()),
                Payload::Lazy(l) => Sent::Graft(k, l.ids().collect()),
                Payload::Prune(p) => Sent::Prune(k, p.origin),
                _ => Sent::Other(k),
            }
        })
        .collect()
}

/// A node with three admitted peers, and the origin's first broadcast (number 1) accepted
/// from the first, so the origin is a member. Returns the fixture, peers, origin and chat id.
fn setup(configure: fn(&mut Config)) -> (Fixture, [Peer; 3], Identity, [u8; 32]) {
    let mut f = fixture_with(Dialect::Secure, Privacy::Public, configure);
    let mut p = [Peer::new(1), Peer::new(2), Peer::new(3)];
    for peer in &mut p {
        admit(&mut f, peer);
    }
    drain(&mut f.node);
    let chat = f.node.group_info(f.group).unwrap().chat_id.unwrap();
    let origin = Identity::from_seed(&[42; 32]);
    deliver(&mut f, &mut p[0], &origin, &chat, 1);
    drain(&mut f.node);
    (f, p, origin, chat)
}

fn deliver(f: &mut Fixture, from: &mut Peer, origin: &Identity, chat: &[u8; 32], n: u32) {
    let d = from.packet(f.key, &Payload::Broadcast(signed(origin, chat, n)));
    f.node.handle_datagram(f.now, from.addr, &d);
}

fn lazy(f: &mut Fixture, from: &mut Peer, kind: LazyKind, list: &[(PublicKey, u32)]) {
    let raw = ids(list);
    let d = from.packet(f.key, &Payload::Lazy(Lazy::new(kind, &raw).unwrap()));
    f.node.handle_datagram(f.now, from.addr, &d);
}

/// `from` sends the node a prune of `origin`'s tree (the all-zero key: the shared tree).
fn prune(f: &mut Fixture, from: &mut Peer, origin: PublicKey) {
    let d = from.packet(f.key, &Payload::Prune(Prune { flags: 0, origin }));
    f.node.handle_datagram(f.now, from.addr, &d);
}

fn advance(f: &mut Fixture, ms: u64) {
    f.now += Duration::from_millis(ms);
    f.node.handle_timeout(f.now);
}

#[test]
fn ihaves_go_only_to_links_lazy_in_the_origin_s_tree_after_the_flush_interval() {
    let (mut f, mut p, origin, chat) = setup(tree);
    let (ko, other) = (origin.public_key(), Identity::from_seed(&[43; 32]));
    let [a, b, c] = &mut p;
    // Our own name's id goes out in the first flush: our tree was made before these links
    // were, so they are lazy in it (PROTOCOL.md §6.12).
    advance(&mut f, 100);
    drain(&mut f.node);
    deliver(&mut f, a, &other, &chat, 1);
    drain(&mut f.node);
    advance(&mut f, 100);
    assert!(drain(&mut f.node).is_empty(), "every link eager: no IHAVE");
    prune(&mut f, b, ko);
    deliver(&mut f, a, &origin, &chat, 2);
    let (ka, kb, kc) = (a.key(), b.key(), c.key());
    let mut all = [a, b, c];
    assert_eq!(
        sent(&mut f, &mut all),
        [Sent::Copy(kc, ko, 2)],
        "b is lazy for this origin"
    );
    // `ihave_interval` is 100 ms.
    advance(&mut f, 99);
    assert!(
        drain(&mut f.node).is_empty(),
        "batched: not before the interval"
    );
    advance(&mut f, 1);
    assert_eq!(sent(&mut f, &mut all), [Sent::IHave(kb, vec![(ko, 2)])]);
    // The other origin's tree still has b eager: the prune was per origin.
    deliver(&mut f, all[0], &other, &chat, 2);
    let mut got = sent(&mut f, &mut all);
    got.sort_by_key(|s| format!("{s:?}"));
    let ok = other.public_key();
    let mut want = [Sent::Copy(kb, ok, 2), Sent::Copy(kc, ok, 2)];
    want.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(got, want);
    assert!(
        !got.iter()
            .any(|s| matches!(s, Sent::Copy(k, ..) if *k == ka)),
        "never the hop"
    );
    // A new origin's tree starts as a copy of the shared tree (the all-zero origin), where
    // b pruned its link.
    let shared = PublicKey([0; 32]);
    prune(&mut f, all[1], shared);
    let third = Identity::from_seed(&[44; 32]);
    deliver(&mut f, all[0], &third, &chat, 1);
    let kt = third.public_key();
    assert_eq!(sent(&mut f, &mut all), [Sent::Copy(kc, kt, 1)]);
}

#[test]
fn a_new_origin_s_copy_of_a_shared_tree_with_no_eager_link_keeps_the_closest_one() {
    let (mut f, mut p, _, chat) = setup(tree);
    let shared = PublicKey([0; 32]);
    let [a, b, c] = &mut p;
    for peer in [&mut *b, &mut *c] {
        prune(&mut f, peer, shared);
    }
    let own = f.node.group_info(f.group).unwrap().own_key;
    let (kb, kc) = (b.key(), c.key());
    let closest = match distance(&own, &kb) < distance(&own, &kc) {
        true => kb,
        false => kc,
    };
    let third = Identity::from_seed(&[44; 32]);
    deliver(&mut f, a, &third, &chat, 1);
    let kt = third.public_key();
    let copies: Vec<_> = (sent(&mut f, &mut [a, b, c]).into_iter())
        .filter(|s| matches!(s, Sent::Copy(..)))
        .collect();
    assert_eq!(
        copies,
        [Sent::Copy(closest, kt, 1)],
        "b and c are lazy in the shared tree: the closer of them stays eager in the copy"
    );
}

#[test]
fn an_origin_s_name_crosses_each_link_before_its_other_broadcasts_and_its_duplicates_prune_nothing()
{
    let (mut f, mut p, _, chat) = setup(tree);
    let [a, b, c] = &mut p;
    let origin = Identity::from_seed(&[45; 32]);
    let ko = origin.public_key();
    let name = |n| Payload::Broadcast(signed_as(&origin, &chat, n, (48, b"carol")));
    let d = a.packet(f.key, &name(1));
    f.node.handle_datagram(f.now, a.addr, &d);
    let (kb, kc) = (b.key(), c.key());
    let mut got = sent(&mut f, &mut [&mut *a, &mut *b, &mut *c]);
    got.sort_by_key(|s| format!("{s:?}"));
    let mut want = [Sent::Copy(kb, ko, 1), Sent::Copy(kc, ko, 1)];
    want.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(got, want, "the name along the tree");
    // A peer admitted later never had it: the name goes first, on that link only.
    let mut e = Peer::new(4);
    admit(&mut f, &mut e);
    // A link new since the origin's tree was made is lazy in it (§6.12); the tree is
    // copied again from the shared tree, where e is eager, after ORIGIN_IDLE (2 s).
    advance(&mut f, 2_000);
    drain(&mut f.node);
    deliver(&mut f, a, &origin, &chat, 2);
    let ke = e.key();
    let all = &mut [&mut *a, &mut *b, &mut *c, &mut e];
    let to_e: Vec<_> = (sent(&mut f, all).into_iter())
        .filter(|s| matches!(s, Sent::Copy(..)))
        .collect();
    let firsts = f.node.stats().names_first;
    assert_eq!(firsts, 1, "{to_e:?}");
    let e_got: Vec<_> = (to_e.iter())
        .filter(|s| matches!(s, Sent::Copy(k, ..) if *k == ke))
        .collect();
    assert_eq!(e_got, [&Sent::Copy(ke, ko, 1), &Sent::Copy(ke, ko, 2)]);
    assert_eq!(to_e.len(), 4, "b and c get the chat alone: {to_e:?}");
    // The name sync and this rule send names outside the tree: a duplicate of one from a
    // peer prunes nothing (a duplicate chat prunes the shared tree at once).
    let d = b.packet(f.key, &name(1));
    f.node.handle_datagram(f.now, b.addr, &d);
    let out = sent(&mut f, &mut [&mut *a, &mut *b, &mut *c, &mut e]);
    assert!(out.is_empty(), "{out:?}");
    deliver(&mut f, b, &origin, &chat, 2);
    let out = sent(&mut f, &mut [&mut *a, &mut *b, &mut *c, &mut e]);
    assert_eq!(out, [Sent::Prune(kb, PublicKey([0; 32]))]);
}

#[test]
fn an_ihave_for_a_missing_broadcast_grafts_the_announcer_unless_the_copy_comes_first() {
    let (mut f, mut p, origin, chat) = setup(tree);
    let ko = origin.public_key();
    let [a, b, c] = &mut p;
    let kb = b.key();
    lazy(&mut f, b, LazyKind::IHave, &[(ko, 1), (ko, 2), (ko, 3)]);
    assert!(drain(&mut f.node).is_empty(), "a timer, not a GRAFT yet");
    deliver(&mut f, a, &origin, &chat, 3);
    drain(&mut f.node);
    advance(&mut f, 19);
    assert!(
        drain(&mut f.node).iter().all(|(to, _)| *to != b.addr),
        "not before the timer"
    );
    advance(&mut f, 1);
    let grafts: Vec<_> = sent(&mut f, &mut [a, b, c])
        .into_iter()
        .filter(|s| matches!(s, Sent::Graft(..)))
        .collect();
    // 1 was held already and 3 came first: only 2 is grafted, once.
    assert_eq!(grafts, [Sent::Graft(kb, vec![(ko, 2)])]);
    assert_eq!(f.node.stats().grafts_sent, 1);
    advance(&mut f, 100);
    assert!(
        sent(&mut f, &mut [a, b, c])
            .iter()
            .all(|s| !matches!(s, Sent::Graft(..)))
    );
}

#[test]
fn a_graft_is_answered_with_the_copy_and_turns_the_link_eager_again() {
    let (mut f, mut p, origin, _) = setup(tree);
    let ko = origin.public_key();
    let [a, b, c] = &mut p;
    let kc = c.key();
    prune(&mut f, c, ko);
    let targets = |f: &Fixture| f.node.eager_targets(f.group, f.now, &ko).len();
    assert_eq!(targets(&f), 2, "c is lazy");
    lazy(&mut f, c, LazyKind::Graft, &[(ko, 1)]);
    assert_eq!(sent(&mut f, &mut [a, b, c]), [Sent::Copy(kc, ko, 1)]);
    assert_eq!(targets(&f), 3, "the GRAFT made c eager");
    assert_eq!(f.node.stats().repairs, 1);
}

#[test]
fn a_graft_for_ids_we_keep_no_copy_of_is_a_counted_drop() {
    let (mut f, mut p, origin, _) = setup(tree);
    let ko = origin.public_key();
    let [a, b, c] = &mut p;
    let before = f.node.stats().datagrams_out;
    lazy(&mut f, c, LazyKind::Graft, &[(ko, 99), (c.key(), 1)]);
    assert_eq!(f.node.stats().dropped(DropReason::GraftUnknown), 1);
    assert_eq!(f.node.stats().graft_unknown_ids, 2);
    assert_eq!(f.node.stats().datagrams_out, before, "nothing sent");
    lazy(&mut f, c, LazyKind::Graft, &[(ko, 99), (ko, 1)]);
    assert_eq!(
        sent(&mut f, &mut [a, b, c]).len(),
        1,
        "the kept one is sent"
    );
    assert_eq!(f.node.stats().dropped(DropReason::GraftUnknown), 1);
    assert_eq!(f.node.stats().graft_unknown_ids, 3);
}

fn generous_repair(c: &mut Config) {
    tree(c);
    c.repair_rate = (1_000_000, 1_000_000);
}

#[test]
fn repeated_grafts_pull_no_more_than_the_reply_budget_pays_for() {
    let (mut f, mut p, origin, _) = setup(generous_repair);
    let ko = origin.public_key();
    let [_, _, c] = &mut p;
    let burst = u64::from(Config::new([0; 32]).reply_burst);
    let (grafts, graft_len) = (400u64, 108 + 36u64);
    for _ in 0..grafts {
        lazy(&mut f, c, LazyKind::Graft, &[(ko, 1)]);
    }
    let out = drain(&mut f.node);
    let copy_len = out[0].1.len() as u64;
    let copies = out.len() as u64;
    let paid = burst + grafts * graft_len;
    println!(
        "{grafts} GRAFTs of {graft_len} B pulled {copies} copies of {copy_len} B; budget {paid} B"
    );
    assert!(copies * copy_len <= paid + copy_len, "{copies} copies");
    assert!(copies < grafts, "the budget withheld some");
    assert!(f.node.stats().repairs_withheld > 0);
}

#[test]
fn an_ihave_flood_holds_a_bounded_number_of_graft_timers_and_honest_ones_still_graft() {
    let (mut f, mut p, origin, _) = setup(tree);
    let ko = origin.public_key();
    let mut attacker = Peer::new(9);
    admit(&mut f, &mut attacker);
    drain(&mut f.node);
    for k in 0..100u32 {
        let list: Vec<_> = (0..MAX_LAZY_IDS as u32)
            .map(|i| (ko, 10 + k * 25 + i))
            .collect();
        lazy(&mut f, &mut attacker, LazyKind::IHave, &list);
    }
    assert!(
        drain(&mut f.node).is_empty(),
        "IHAVEs are never answered at once"
    );
    let [a, b, c] = &mut p;
    let kb = b.key();
    lazy(&mut f, b, LazyKind::IHave, &[(ko, 5)]);
    advance(&mut f, 20);
    let mut peers = [a, b, c, &mut attacker];
    let grafts: Vec<_> = sent(&mut f, &mut peers)
        .into_iter()
        .filter_map(|s| match s {
            Sent::Graft(k, ids) => Some((k, ids.len())),
            _ => None,
        })
        .collect();
    let to_attacker: usize = grafts.iter().filter(|g| g.0 != kb).map(|g| g.1).sum();
    assert_eq!(to_attacker, 16, "at most 16 timers per announcer");
    assert!(grafts.contains(&(kb, 1)), "the honest announcer is grafted");
    assert_eq!(f.node.stats().lazy_ignored, 100 * MAX_LAZY_IDS as u64 - 16);
}

#[test]
fn lazy_packets_from_strangers_or_in_legacy_groups_are_refused() {
    let (mut f, _, origin, _) = setup(tree);
    let mut stranger = Peer::new(60);
    lazy(
        &mut f,
        &mut stranger,
        LazyKind::IHave,
        &[(origin.public_key(), 7)],
    );
    lazy(
        &mut f,
        &mut stranger,
        LazyKind::Graft,
        &[(origin.public_key(), 1)],
    );
    assert_eq!(f.node.stats().dropped(DropReason::UnknownSender), 2);
    advance(&mut f, 50);
    assert_eq!(f.node.stats().grafts_sent, 0);

    let mut legacy = fixture_with(Dialect::Legacy, Privacy::Public, tree);
    let mut b = Peer::new(2);
    admit(&mut legacy, &mut b);
    let kb = b.key();
    lazy(&mut legacy, &mut b, LazyKind::IHave, &[(kb, 7)]);
    assert_eq!(legacy.node.stats().dropped(DropReason::WrongDialect), 1);
}

#[test]
fn a_link_new_since_an_origin_s_tree_was_made_is_lazy_in_it_and_eager_in_the_shared_tree() {
    let (mut f, mut p, origin, chat) = setup(tree);
    let ko = origin.public_key();
    advance(&mut f, 100);
    drain(&mut f.node);
    let mut e = Peer::new(4);
    admit(&mut f, &mut e);
    let [a, b, c] = &mut p;
    deliver(&mut f, a, &origin, &chat, 2);
    let (kb, kc, ke) = (b.key(), c.key(), e.key());
    let all = &mut [&mut *a, &mut *b, &mut *c, &mut e];
    let mut got = sent(&mut f, all);
    got.sort_by_key(|s| format!("{s:?}"));
    let mut want = [Sent::Copy(kb, ko, 2), Sent::Copy(kc, ko, 2)];
    want.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(got, want, "e joined after the origin's tree: no copy");
    advance(&mut f, 100);
    // (Our own broadcasts' ids may ride along: e is lazy in our tree too.)
    let ihaves = sent(&mut f, all);
    let to_e = |s: &Sent| matches!(s, Sent::IHave(k, ids) if *k == ke && ids.contains(&(ko, 2)));
    assert!(
        ihaves.len() == 1 && to_e(&ihaves[0]),
        "an IHAVE to e: {ihaves:?}"
    );
    // A new origin's tree is a copy of the shared tree, where the new link is eager.
    let third = Identity::from_seed(&[44; 32]);
    deliver(&mut f, all[0], &third, &chat, 1);
    let kt = third.public_key();
    let copies: Vec<_> = (sent(&mut f, all).into_iter())
        .filter_map(|s| match s {
            Sent::Copy(k, o, _) if o == kt => Some(k),
            _ => None,
        })
        .collect();
    assert_eq!(copies.len(), 3, "b, c and e: {copies:?}");
    assert!(copies.contains(&ke));
}

#[test]
fn an_old_copy_re_sent_after_our_id_expired_prunes_nothing_and_is_listed_again() {
    let (mut f, mut p, origin, chat) = setup(tree);
    let [a, b, c] = &mut p;
    deliver(&mut f, a, &origin, &chat, 2);
    drain(&mut f.node);
    // A duplicate while our summaries still list the id: a redundant link, pruned in the
    // shared tree at once (PROTOCOL.md §6.12).
    deliver(&mut f, b, &origin, &chat, 2);
    let prunes = |s: &[Sent], k: PublicKey| {
        (s.iter())
            .filter(|x| matches!(x, Sent::Prune(to, _) if *to == k))
            .count()
    };
    let kb = b.key();
    assert_eq!(
        prunes(&sent(&mut f, &mut [&mut *a, &mut *b, &mut *c]), kb),
        1
    );
    // Nine seconds later (ids are listed for 8 s, §6.11) c re-sends the same copy: an old
    // copy re-sent by repair, not a link of the tree. No prune; the id is listed again.
    f.now += Duration::from_secs(9);
    deliver(&mut f, c, &origin, &chat, 2);
    let kc = c.key();
    let out = sent(&mut f, &mut [&mut *a, &mut *b, &mut *c]);
    assert_eq!(prunes(&out, kc), 0, "{out:?}");
    // Listed again: the next copy of it is a duplicate of a listed id, and counts.
    deliver(&mut f, c, &origin, &chat, 2);
    let out = sent(&mut f, &mut [&mut *a, &mut *b, &mut *c]);
    assert_eq!(prunes(&out, kc), 1, "{out:?}");
    assert_eq!(f.node.stats().dropped(DropReason::Duplicate), 3);
}
