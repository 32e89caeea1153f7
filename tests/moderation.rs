//! Authority in secure groups on the simulator (issue #6, PROTOCOL.md §6.8): signed facts for
//! roles, bans, kicks, topic lock, voice and peer limit, their spreading, versions and
//! persistence across restarts.

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::crypto::{Identity, precompute, seal_packet};
use dhtchat::proto::{
    Dialect, DropReason, Event, GroupSpec, Moderation, ModerationError, Privacy, SendError,
};
use dhtchat::wire::{BanAction, Broadcast, Fact, FactValue, Payload, PublicKey, Role, VoiceLevel};
use sim::{LinkModel, Sim, build_group};

const N: usize = 8;

fn spec() -> GroupSpec {
    GroupSpec {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        ..GroupSpec::default()
    }
}

/// A settled secure group of `n` nodes; node 0 is the founder.
fn group(seed: u64, n: usize) -> Sim {
    let mut sim = Sim::new(seed, LinkModel::default());
    build_group(&mut sim, n, &spec(), Duration::from_millis(300), |_| {});
    let full = sim.drive_until(Duration::from_secs(60), |s| {
        (0..n).all(|i| members(s, i).len() == n - 1)
    });
    assert!(full, "group of {n} did not settle");
    sim
}

fn key(sim: &Sim, i: usize) -> PublicKey {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().own_key
}

fn members(sim: &Sim, i: usize) -> Vec<PublicKey> {
    let n = &sim.nodes[i];
    n.group
        .map(|g| n.node.members(g).iter().map(|m| m.key).collect())
        .unwrap_or_default()
}

fn in_group(sim: &Sim, i: usize) -> bool {
    let n = &sim.nodes[i];
    n.group.is_some_and(|g| n.node.group_info(g).is_some())
}

fn identity(sim: &Sim, i: usize) -> Identity {
    let n = &sim.nodes[i];
    Identity::from_seed(&n.node.identity_seed(n.group.unwrap()).unwrap())
}

fn chat_id(sim: &Sim) -> [u8; 32] {
    let n = &sim.nodes[0];
    n.node
        .group_info(n.group.unwrap())
        .unwrap()
        .chat_id
        .unwrap()
}

fn moderate(sim: &mut Sim, i: usize, m: Moderation) -> Result<u32, ModerationError> {
    sim.with_node(i, |n, now, g| n.moderate(now, g, m))
}

fn settle(sim: &mut Sim) {
    sim.run_for(Duration::from_secs(3));
}

fn dropped(sim: &Sim, i: usize, r: DropReason) -> u64 {
    sim.nodes[i].node.stats().dropped(r)
}

/// A fact signed by `by` at `version`, as any member could forge it.
fn fact(chat: &[u8; 32], by: &Identity, subject: PublicKey, version: u32, v: FactValue) -> Vec<u8> {
    let mut f = Fact {
        subject,
        version,
        value: v,
        signer: [0; 32],
        signature: [0; 64],
    };
    by.sign_fact(chat, &mut f);
    f.to_vec().unwrap()
}

/// Hands node `to` a correctly signed broadcast by `author` (who is also the hop), as an
/// outsider or a misbehaving member would send it; node `to` relays it if it accepts it.
/// A key nobody let in is not heard at all (PROTOCOL.md §6.7, `not_member`), so an author
/// that node `to` does not know is first let in by it (invite: new_peer to the group), to test
/// the fact rules behind that gate.
fn inject(sim: &mut Sim, to: usize, author: &Identity, number: u32, id: u8, body: &[u8]) {
    let known = {
        let n = &sim.nodes[to];
        let members = n.node.members(n.group.unwrap());
        members.iter().any(|m| m.key == author.public_key())
    };
    if !known {
        sim.with_node(to, |n, now, g| n.invite(now, g, author.public_key()))
            .unwrap();
    }
    let chat = chat_id(sim);
    let receiver = key(sim, to);
    let mut b = Broadcast {
        origin: author.public_key(),
        number,
        message_id: id,
        body,
        trailer: None,
    };
    b.trailer = Some(author.sign_broadcast(&chat, &b).unwrap());
    let shared = precompute(author.keypair(), &receiver);
    let mut out = Vec::new();
    let sender = author.public_key();
    seal_packet(
        &shared,
        &receiver,
        &sender,
        &dhtchat::crypto::mac1_nonce(&[7; 8], None, &receiver, &sender),
        &Payload::Broadcast(b),
        &mut out,
    )
    .unwrap();
    let from: SocketAddr = "127.250.0.1:9".parse().unwrap();
    sim.with_node(to, |n, now, _| n.handle_datagram(now, from, &out));
}

fn outsider() -> Identity {
    Identity::from_seed(&[0xAA; 32])
}

fn bans(sim: &Sim, i: usize) -> Vec<PublicKey> {
    let n = &sim.nodes[i];
    n.node.bans(n.group.unwrap())
}

fn has_event(sim: &Sim, i: usize, f: impl Fn(&Event) -> bool) -> bool {
    sim.nodes[i].events.iter().any(|(_, _, e)| f(e))
}

#[test]
fn non_moderator_ban_is_ignored_everywhere() {
    let mut sim = group(61, N);
    let (victim, user) = (key(&sim, 2), identity(&sim, 1));
    assert_eq!(
        moderate(&mut sim, 1, Moderation::Ban(victim)),
        Err(ModerationError::NotPermitted)
    );
    let ban = fact(
        &chat_id(&sim),
        &user,
        victim,
        1,
        FactValue::Ban(BanAction::Ban),
    );
    inject(&mut sim, 3, &outsider(), 1, 19, &ban);
    settle(&mut sim);
    for i in (0..N).filter(|&i| i != 1) {
        assert!(bans(&sim, i).is_empty(), "node {i} took the ban");
        assert!(
            dropped(&sim, i, DropReason::FactRejected) >= 1,
            "node {i} never saw it"
        );
        if i != 2 {
            assert!(
                members(&sim, i).contains(&victim),
                "node {i} lost the victim"
            );
        }
    }
    assert!(in_group(&sim, 2));
}

/// Node 1 made moderator by the founder; returns after it settled.
fn with_moderator(seed: u64) -> Sim {
    let mut sim = group(seed, N);
    let m = key(&sim, 1);
    moderate(&mut sim, 0, Moderation::SetRole(m, Role::Moderator)).unwrap();
    settle(&mut sim);
    for i in 0..N {
        let n = &sim.nodes[i];
        assert_eq!(n.node.role(n.group.unwrap(), &m), Some(Role::Moderator));
    }
    sim
}

fn assert_banned_everywhere(sim: &Sim, target: usize, t: PublicKey) {
    for i in (0..N).filter(|&i| i != target) {
        assert_eq!(bans(sim, i), [t], "node {i}");
        assert!(
            !members(sim, i).contains(&t),
            "node {i} still lists the target"
        );
        let n = &sim.nodes[i];
        assert!(n.node.table(n.group.unwrap()).iter().all(|e| e.key != t));
    }
}

#[test]
fn moderator_ban_removes_target_everywhere_and_survives_restart() {
    let mut sim = with_moderator(62);
    let t = key(&sim, 2);
    let seeds: Vec<[u8; 32]> = (0..N).map(|i| *identity(&sim, i).seed()).collect();
    moderate(&mut sim, 1, Moderation::Ban(t)).unwrap();
    settle(&mut sim);
    assert_banned_everywhere(&sim, 2, t);
    assert!(!in_group(&sim, 2), "the banned node left");
    assert!(has_event(
        &sim,
        2,
        |e| matches!(e, Event::Banned { peer, .. } if *peer == t)
    ));
    assert!(has_event(&sim, 5, |e| matches!(
        e,
        Event::FactsChanged { .. }
    )));
    assert_eq!(
        moderate(&mut sim, 1, Moderation::Kick(t)),
        Err(ModerationError::TargetBanned)
    );
    // Restart every node from its identity seed and exported facts.
    let facts: Vec<Vec<Vec<u8>>> = (0..N)
        .map(|i| match sim.nodes[i].group {
            Some(g) if in_group(&sim, i) => sim.nodes[i].node.facts(g),
            _ => Vec::new(),
        })
        .collect();
    let mut sim = Sim::new(620, LinkModel::default());
    for i in 0..N {
        let c = sim.config(i);
        sim.add_node(c);
    }
    let own = |i: usize| GroupSpec {
        identity_seed: Some(seeds[i]),
        ..spec()
    };
    sim.create_group(0, &own(0));
    sim.with_node(0, |n, now, g| n.restore_facts(now, g, &facts[0]));
    for (i, stored) in facts.iter().enumerate().skip(1) {
        let join = sim.join_string(if i == 2 { 1 } else { 0 });
        sim.join(i, &join, &own(i));
        sim.with_node(i, |n, now, g| n.restore_facts(now, g, stored));
        sim.run_for(Duration::from_millis(300));
    }
    sim.run_for(Duration::from_secs(20));
    assert_banned_everywhere(&sim, 2, t);
    assert!(!has_event(&sim, 2, |e| matches!(e, Event::Joined { .. })));
    let refused: u64 = (0..N).map(|i| dropped(&sim, i, DropReason::Banned)).sum();
    assert!(refused > 0, "the banned key's join was never refused");
    assert_eq!(members(&sim, 5).len(), N - 2);
}

#[test]
fn after_unban_replaying_the_old_ban_is_ignored() {
    let mut sim = with_moderator(63);
    let t = key(&sim, 2);
    let seed2 = *identity(&sim, 2).seed();
    moderate(&mut sim, 1, Moderation::Ban(t)).unwrap();
    settle(&mut sim);
    let old_ban = sim
        .with_node(0, |n, _, g| n.facts(g))
        .into_iter()
        .find(|f| Fact::decode(f).is_ok_and(|f| f.value == FactValue::Ban(BanAction::Ban)));
    let old_ban = old_ban.expect("the ban is a kept fact");
    moderate(&mut sim, 1, Moderation::Unban(t)).unwrap();
    settle(&mut sim);
    let rejoin = GroupSpec {
        identity_seed: Some(seed2),
        ..spec()
    };
    let join = sim.join_string(0);
    sim.join(2, &join, &rejoin);
    sim.run_for(Duration::from_secs(5));
    assert!(has_event(&sim, 2, |e| matches!(e, Event::Joined { .. })));
    // Replay: through the network and through a restore.
    inject(&mut sim, 4, &outsider(), 1, 19, &old_ban);
    settle(&mut sim);
    for i in (0..N).filter(|&i| i != 2) {
        let taken = sim.with_node(i, |n, now, g| {
            n.restore_facts(now, g, std::slice::from_ref(&old_ban))
        });
        assert_eq!(taken, 0, "node {i}");
        assert!(bans(&sim, i).is_empty(), "node {i}");
        assert!(members(&sim, i).contains(&t), "node {i}");
    }
    assert!(dropped(&sim, 4, DropReason::StaleFact) >= 1);
    assert!(in_group(&sim, 2));
}

#[test]
fn ban_by_demoted_moderator_is_rejected_after_demotion() {
    let mut sim = with_moderator(64);
    let (m, chat, mod_id) = (key(&sim, 1), chat_id(&sim), identity(&sim, 1));
    let (early, late) = (key(&sim, 2), key(&sim, 3));
    moderate(&mut sim, 1, Moderation::Ban(early)).unwrap();
    settle(&mut sim);
    // A ban it signed while still a moderator, held back until after the demotion.
    let withheld = fact(&chat, &mod_id, late, 1, FactValue::Ban(BanAction::Ban));
    moderate(&mut sim, 0, Moderation::SetRole(m, Role::User)).unwrap();
    settle(&mut sim);
    assert_eq!(
        moderate(&mut sim, 1, Moderation::Ban(late)),
        Err(ModerationError::NotPermitted)
    );
    inject(&mut sim, 5, &outsider(), 1, 19, &withheld);
    settle(&mut sim);
    for i in (0..N).filter(|&i| i != 2) {
        let n = &sim.nodes[i];
        let g = n.group.unwrap();
        assert_eq!(n.node.role(g, &m), Some(Role::User), "node {i}");
        assert_eq!(
            bans(&sim, i),
            [early],
            "node {i}: earlier ban stays, late one rejected"
        );
        let ban = n
            .node
            .facts(g)
            .into_iter()
            .find(|f| f.first() == Some(&2))
            .unwrap();
        assert_eq!(
            Fact::decode(&ban).unwrap().signer,
            chat,
            "node {i}: re-signed"
        );
    }
    assert!(dropped(&sim, 5, DropReason::FactRejected) >= 1);
}

#[test]
fn kicked_member_leaves_and_may_rejoin() {
    let mut sim = group(65, N);
    let t = key(&sim, 2);
    let seed2 = *identity(&sim, 2).seed();
    moderate(&mut sim, 0, Moderation::Kick(t)).unwrap();
    settle(&mut sim);
    assert!(!in_group(&sim, 2));
    assert!(has_event(
        &sim,
        2,
        |e| matches!(e, Event::Kicked { peer, .. } if *peer == t)
    ));
    for i in (0..N).filter(|&i| i != 2) {
        assert!(bans(&sim, i).is_empty());
        assert!(
            has_event(&sim, i, |e| matches!(e, Event::Kicked { .. })),
            "node {i}"
        );
    }
    let join = sim.join_string(0);
    let again = GroupSpec {
        identity_seed: Some(seed2),
        ..spec()
    };
    sim.join(2, &join, &again);
    sim.run_for(Duration::from_secs(10));
    assert!(in_group(&sim, 2));
    sim.with_node(2, |n, now, g| n.send_chat(now, g, b"back"))
        .unwrap();
    settle(&mut sim);
    for i in (0..N).filter(|&i| i != 2) {
        assert!(members(&sim, i).contains(&t), "node {i}");
        let got = has_event(
            &sim,
            i,
            |e| matches!(e, Event::MessageReceived { text, .. } if text == b"back"),
        );
        assert!(got, "node {i} did not get the rejoined member's chat");
    }
}

fn chats(sim: &Sim, i: usize, text: &[u8]) -> usize {
    let is = |e: &Event| matches!(e, Event::MessageReceived { text: t, .. } if t == text);
    sim.nodes[i].events.iter().filter(|(_, _, e)| is(e)).count()
}

#[test]
fn silenced_member_chat_is_neither_delivered_nor_relayed() {
    let mut sim = with_moderator(66);
    let (t, other) = (key(&sim, 2), key(&sim, 3));
    moderate(&mut sim, 1, Moderation::SetRole(t, Role::Observer)).unwrap();
    moderate(&mut sim, 1, Moderation::SetRole(other, Role::Observer)).unwrap();
    settle(&mut sim);
    let seen = sim.nodes[5].node.members(sim.nodes[5].group.unwrap());
    assert!(seen.iter().any(|m| m.key == t && m.role == Role::Observer));
    let refused = sim.with_node(2, |n, now, g| n.send_chat(now, g, b"shh"));
    assert_eq!(refused, Err(SendError::NotPermitted));
    let silenced = identity(&sim, 2);
    inject(&mut sim, 4, &silenced, 40_000, 64, b"forced");
    settle(&mut sim);
    assert!((0..N).all(|i| chats(&sim, i, b"forced") == 0));
    assert_eq!(dropped(&sim, 4, DropReason::Silenced), 1);
    // Node 4 now expects node 2's numbers near 40,000; unsilence the other observer instead.
    moderate(&mut sim, 1, Moderation::SetRole(other, Role::User)).unwrap();
    settle(&mut sim);
    sim.with_node(3, |n, now, g| n.send_chat(now, g, b"free"))
        .unwrap();
    settle(&mut sim);
    assert!(
        (0..N)
            .filter(|&i| i != 3)
            .all(|i| chats(&sim, i, b"free") == 1)
    );
}

#[test]
fn voice_levels_limit_who_speaks() {
    let mut sim = with_moderator(67);
    moderate(&mut sim, 0, Moderation::Voice(VoiceLevel::Moderators)).unwrap();
    settle(&mut sim);
    let user = sim.with_node(3, |n, now, g| n.send_chat(now, g, b"u"));
    assert_eq!(user, Err(SendError::NotPermitted));
    sim.with_node(1, |n, now, g| n.send_chat(now, g, b"m"))
        .unwrap();
    settle(&mut sim);
    moderate(&mut sim, 0, Moderation::Voice(VoiceLevel::Founder)).unwrap();
    settle(&mut sim);
    let moder = sim.with_node(1, |n, now, g| n.send_chat(now, g, b"m2"));
    assert_eq!(moder, Err(SendError::NotPermitted));
    sim.with_node(0, |n, now, g| n.send_chat(now, g, b"f"))
        .unwrap();
    settle(&mut sim);
    assert!((2..N).all(|i| chats(&sim, i, b"m") == 1 && chats(&sim, i, b"f") == 1));
    assert_eq!(
        moderate(&mut sim, 1, Moderation::Voice(VoiceLevel::All)),
        Err(ModerationError::NotPermitted)
    );
}

fn topic(sim: &Sim, i: usize) -> Option<String> {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().topic
}

#[test]
fn topic_lock_limits_who_sets_the_topic() {
    let mut sim = with_moderator(68);
    sim.with_node(3, |n, now, g| n.set_topic(now, g, "by a user"))
        .unwrap();
    settle(&mut sim);
    assert!((0..N).all(|i| topic(&sim, i).as_deref() == Some("by a user")));
    moderate(&mut sim, 0, Moderation::LockTopic(true)).unwrap();
    settle(&mut sim);
    let user = sim.with_node(3, |n, now, g| n.set_topic(now, g, "again"));
    assert_eq!(user, Err(SendError::NotPermitted));
    for i in 0..N {
        let n = &sim.nodes[i];
        assert!(n.node.group_info(n.group.unwrap()).unwrap().topic_locked);
        assert_eq!(topic(&sim, i).as_deref(), Some("by a user"), "node {i}");
    }
    sim.with_node(1, |n, now, g| n.set_topic(now, g, "by a mod"))
        .unwrap();
    settle(&mut sim);
    assert!((0..N).all(|i| topic(&sim, i).as_deref() == Some("by a mod")));
}

#[test]
fn peer_limit_refuses_new_joins() {
    let mut sim = group(69, 4);
    moderate(&mut sim, 0, Moderation::PeerLimit(4)).unwrap();
    settle(&mut sim);
    let late = sim.add_node(sim.config(4));
    let join = sim.join_string(0);
    sim.join(late, &join, &spec());
    sim.run_for(Duration::from_secs(10));
    assert!(!has_event(&sim, late, |e| matches!(
        e,
        Event::Joined { .. }
    )));
    assert!(dropped(&sim, 0, DropReason::PeerLimit) >= 1);
    moderate(&mut sim, 0, Moderation::PeerLimit(0)).unwrap();
    sim.run_for(Duration::from_secs(40));
    assert!(has_event(&sim, late, |e| matches!(e, Event::Joined { .. })));
}

#[test]
fn forged_founder_fact_from_non_member_is_rejected() {
    let mut sim = group(70, 4);
    let chat = chat_id(&sim);
    let mut forged = fact(
        &chat,
        &outsider(),
        PublicKey([0; 32]),
        9,
        FactValue::PeerLimit(1),
    );
    forged[43..75].copy_from_slice(&chat); // claim the founder's key as signer
    inject(&mut sim, 1, &outsider(), 1, 19, &forged);
    settle(&mut sim);
    for i in 0..4 {
        let n = &sim.nodes[i];
        assert_eq!(n.node.group_info(n.group.unwrap()).unwrap().peer_limit, 0);
    }
    assert_eq!(dropped(&sim, 1, DropReason::FactRejected), 1);
}

#[test]
fn late_joiner_learns_the_facts_by_sync() {
    let mut sim = with_moderator(71);
    let (m, t) = (key(&sim, 1), key(&sim, 2));
    moderate(&mut sim, 1, Moderation::Ban(t)).unwrap();
    moderate(&mut sim, 0, Moderation::Voice(VoiceLevel::Moderators)).unwrap();
    settle(&mut sim);
    let late = sim.add_node(sim.config(N));
    let join = sim.join_string(3);
    sim.join(late, &join, &spec());
    sim.run_for(Duration::from_secs(10));
    let n = &sim.nodes[late];
    let g = n.group.unwrap();
    assert_eq!(n.node.bans(g), [t]);
    assert_eq!(n.node.role(g, &m), Some(Role::Moderator));
    assert_eq!(n.node.group_info(g).unwrap().voice, VoiceLevel::Moderators);
    assert_eq!(n.node.facts(g).len(), 3);
}
