//! State sync for joiners (issue #12, PROTOCOL.md §6.3, §6.5, §6.8), in the simulator: a
//! joiner holds every member's nick, status and role, the group's name, topic and bans
//! within 2 s of joining, with 5 % loss, 1 % duplication and reordering on every link.
//! The loopback version runs real `dhtchat chat --plain` processes: the joiner prints every
//! member's nick, role and presence, the group's name and topic by 2 s after READY.

mod churn_support;
mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dhtchat::proto::{Event, GroupSpec, Moderation};
use dhtchat::wire::{PublicKey, Role, Status};
use sim::{LinkModel, Sim, build_group};

/// Members before the joiner comes.
const N: usize = 10;
/// The joiner must hold the state this soon after it joined.
const WITHIN: Duration = Duration::from_secs(2);

fn lossy() -> LinkModel {
    LinkModel {
        jitter: Duration::from_millis(20),
        loss: 0.05,
        duplicate: 0.01,
        ..LinkModel::default()
    }
}

fn key(sim: &Sim, i: usize) -> PublicKey {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().own_key
}

/// Everything a member shows about the group: (nick, status, role) per member, then the
/// group's name, topic and bans.
#[derive(Debug, PartialEq, Eq)]
struct Shown {
    members: BTreeMap<PublicKey, (Vec<u8>, Status, Role)>,
    name: Option<String>,
    topic: Option<String>,
    bans: BTreeSet<PublicKey>,
}

fn shown(sim: &Sim, i: usize, own: bool) -> Shown {
    let n = &sim.nodes[i];
    let g = n.group.unwrap();
    let mut members: BTreeMap<_, _> = (n.node.members(g).into_iter())
        .map(|m| (m.key, (m.name, m.status, m.role)))
        .collect();
    if own {
        let me = key(sim, i);
        let role = n.node.role(g, &me).unwrap_or(Role::User);
        // Node 2 is away (see `settled`); the node keeps no view of its own entry.
        let status = if i == 2 { Status::Away } else { Status::Online };
        members.insert(me, (format!("nick{i}").into_bytes(), status, role));
    }
    Shown {
        members,
        name: n.node.group_name(g),
        topic: n.node.group_info(g).unwrap().topic,
        bans: n.node.bans(g).into_iter().collect(),
    }
}

/// A settled, lossy group of [`N`] named members with a name, a topic, a moderator, an
/// observer, an away member and two bans.
fn settled(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, lossy());
    let spec = GroupSpec {
        nick: Vec::new(),
        ..GroupSpec::default()
    };
    build_group(&mut sim, N, &spec, Duration::from_millis(300), |_| {});
    let full = sim.drive_until(Duration::from_secs(60), |s| {
        (0..N).all(|i| s.nodes[i].node.members(s.nodes[i].group.unwrap()).len() == N - 1)
    });
    assert!(full, "the group settled");
    for i in 0..N {
        let nick = format!("nick{i}");
        sim.with_node(i, |node, now, g| node.set_name(now, g, nick.as_bytes()))
            .unwrap();
    }
    sim.with_node(0, |node, now, g| node.set_group_name(now, g, "tea room"))
        .unwrap();
    sim.with_node(2, |node, now, g| node.set_status(now, g, Status::Away))
        .unwrap();
    let (m, o) = (key(&sim, 3), key(&sim, 4));
    let facts = [
        Moderation::SetRole(m, Role::Moderator),
        Moderation::SetRole(o, Role::Observer),
        Moderation::Ban(PublicKey([0xBA; 32])),
        Moderation::Ban(PublicKey([0xBB; 32])),
    ];
    for f in facts {
        sim.with_node(0, |node, now, g| node.moderate(now, g, f))
            .unwrap();
    }
    sim.with_node(5, |node, now, g| node.set_topic(now, g, "scones at four"))
        .unwrap();
    // Long after every announcement (only the 180-s timer would repeat a name); every
    // member agrees (repair fills what the loss took).
    sim.run_for(Duration::from_secs(20));
    let want = shown(&sim, 0, true);
    for i in 1..N {
        assert_eq!(shown(&sim, i, true), want, "node {i} before the join");
    }
    sim
}

fn joined_at(sim: &Sim, i: usize) -> Option<Duration> {
    (sim.nodes[i].events.iter())
        .find(|(_, _, e)| matches!(e, Event::Joined { .. }))
        .map(|(t, _, _)| *t)
}

fn synced_at(sim: &Sim, i: usize) -> Option<Duration> {
    (sim.nodes[i].events.iter())
        .find(|(_, _, e)| matches!(e, Event::StateSynced { .. }))
        .map(|(t, _, _)| *t)
}

/// The joiner's view with its own entry left out.
fn joiner_view(sim: &Sim, j: usize) -> Shown {
    let mut got = shown(sim, j, false);
    got.members.remove(&key(sim, j));
    got
}

#[test]
fn state_synced_comes_once_the_joiner_holds_the_state_and_not_before() {
    for seed in 0..4u64 {
        let mut sim = settled(800 + seed);
        // In-order links: the member's name sync and summary precede its answer, so they
        // are all here when StateSynced is raised (with reordering a datagram of the name
        // sync may still come a moment later; the lossy test above bounds that).
        sim.link.loss = 0.0;
        sim.link.duplicate = 0.0;
        sim.link.jitter = Duration::ZERO;
        let want = shown(&sim, 0, true);
        let j = sim.add_node(sim.config(N));
        let join = sim.join_string(1 + seed as usize);
        sim.join(j, &join, &GroupSpec::default());
        // Step by step: the first instant StateSynced is raised, the state is all there.
        let mut synced = false;
        for _ in 0..200_000 {
            if !sim.step() {
                break;
            }
            if synced_at(&sim, j).is_some() {
                synced = true;
                break;
            }
        }
        assert!(synced, "seed {seed}: StateSynced raised");
        let got = joiner_view(&sim, j);
        assert_eq!(got, want, "seed {seed}: everything held at StateSynced");
        let (joined, at) = (joined_at(&sim, j).unwrap(), synced_at(&sim, j).unwrap());
        assert!(at >= joined, "never before Joined");
        println!("seed {seed}: StateSynced {:?} after Joined", at - joined);
        // Raised once.
        sim.run_for(Duration::from_secs(5));
        let times = (sim.nodes[j].events.iter())
            .filter(|(_, _, e)| matches!(e, Event::StateSynced { .. }))
            .count();
        assert_eq!(times, 1);
    }
}

#[test]
fn a_joiner_holds_every_nick_status_role_name_topic_and_ban_within_2_s_under_loss() {
    let mut late = Vec::new();
    for seed in 0..6u64 {
        let mut sim = settled(700 + seed);
        let want = shown(&sim, 0, true);
        let j = sim.add_node(sim.config(N));
        let via = 1 + seed as usize % (N - 1);
        let join = sim.join_string(via);
        sim.join(j, &join, &GroupSpec::default());
        let ok = sim.drive_until(Duration::from_secs(10), |s| joined_at(s, j).is_some());
        assert!(ok, "seed {seed}: joined");
        let at = joined_at(&sim, j).unwrap();
        let full = |s: &Sim| joiner_view(s, j) == want;
        let ok = sim.drive_until(WITHIN, full);
        let took = sim.elapsed() - at;
        let synced = synced_at(&sim, j).map(|t| t - at);
        println!(
            "seed {seed}: through node {via}, complete {took:?} after Joined: {ok}; \
             StateSynced {synced:?} after Joined"
        );
        if !ok {
            late.push((seed, shown(&sim, j, false)));
        }
    }
    assert!(late.is_empty(), "{late:#?}");
}

/// What a `--plain` joiner has shown of each member so far: pk → (nick, role, status), from
/// its JOIN, NICK, ROLE and STATUS lines in order; and the last TOPIC and NAME.
#[derive(Debug, Default)]
struct Printed {
    members: BTreeMap<String, (String, String, String)>,
    topic: Option<String>,
    name: Option<String>,
}

fn printed(lines: &[(usize, std::time::Instant, String)], until: std::time::Instant) -> Printed {
    use dhtchat::app::plain::parse_plain;
    let mut out = Printed::default();
    for (_, _, line) in lines.iter().filter(|(_, at, _)| *at <= until) {
        let Some(p) = parse_plain(line) else { continue };
        let f = |k: &str| (p.fields.iter().find(|(a, _)| a == k)).map(|(_, v)| v.clone());
        let pk = f("pk").unwrap_or_default();
        let mut e = out.members.get(&pk).cloned().unwrap_or_default();
        match p.kind.as_str() {
            "JOIN" => {
                let g = |k: &str| f(k).unwrap_or_default();
                e = (g("nick"), g("role"), g("status"));
            }
            "NICK" => e.0 = f("new").unwrap_or_default(),
            "ROLE" => e.1 = f("role").unwrap_or_default(),
            "STATUS" => e.2 = f("status").unwrap_or_default(),
            "TOPIC" => out.topic = f("topic"),
            "NAME" => out.name = f("name"),
            _ => {}
        }
        if matches!(p.kind.as_str(), "JOIN" | "NICK" | "ROLE" | "STATUS") {
            out.members.insert(pk, e);
        }
    }
    out
}

#[test]
#[allow(clippy::disallowed_methods)] // real processes run in real time: bounded waits
fn a_loopback_joiner_shows_every_nick_role_status_name_and_topic_by_2_s_after_ready() {
    use churn_support::{Member, field};
    use std::time::Instant;
    let names = ["alice", "bob", "carol", "dave"];
    let mut m: Vec<Member> = names.iter().map(|n| Member::new(n)).collect();
    m[0].start(&["--create", "tea room", "--nick", "alice"]);
    let ready = m[0].expect("READY", &[]);
    let join = field(&ready, "join").to_owned();
    let mut keys = vec![field(&ready, "pk").to_owned()];
    for (i, x) in m.iter_mut().enumerate().skip(1) {
        x.start(&["--join", &join, "--nick", names[i]]);
        keys.push(field(&x.expect("READY", &[]), "pk").to_owned());
    }
    for k in &keys[1..] {
        m[0].expect("JOIN", &[("pk", k)]);
    }
    m[0].say("/mod bob");
    m[0].say("/silence carol");
    m[0].say("/topic scones at four");
    m[3].say("/status away");
    for x in m.iter_mut() {
        x.expect("TOPIC", &[("topic", "scones at four")]);
    }
    m[2].expect("STATUS", &[("pk", &keys[3]), ("status", "away")]);
    // Long after the announcements: only the sync can bring them to the joiner.
    std::thread::sleep(Duration::from_secs(3));

    let via = field(&m[2].expect("READY", &[]), "join").to_owned();
    let mut erin = Member::new("erin");
    let started = Instant::now();
    erin.start(&["--join", &via, "--nick", "erin"]);
    erin.expect("READY", &[]);
    let ready_at = erin.lives[0].ready.unwrap();
    let want: BTreeMap<String, (String, String, String)> = [
        (&keys[0], ("alice", "founder", "online")),
        (&keys[1], ("bob", "moderator", "online")),
        (&keys[2], ("carol", "observer", "online")),
        (&keys[3], ("dave", "user", "away")),
    ]
    .into_iter()
    .map(|(k, (n, r, s))| (k.clone(), (n.into(), r.into(), s.into())))
    .collect();
    let complete = |p: &Printed| {
        p.members == want
            && p.topic.as_deref() == Some("scones at four")
            && p.name.as_deref() == Some("tea room")
    };
    let deadline = ready_at + WITHIN;
    while Instant::now() < deadline && !complete(&printed(&erin.seen, Instant::now())) {
        std::thread::sleep(Duration::from_millis(20));
        erin.pump();
    }
    erin.pump();
    let before_ready = printed(&erin.seen, ready_at);
    let shown = printed(&erin.seen, deadline);
    let last = (erin.seen.iter())
        .filter(|(_, at, _)| *at <= deadline)
        .map(|(_, at, _)| *at)
        .max()
        .unwrap();
    println!(
        "erin: READY {:?} after start; complete before READY: {}; last state line {:?} \
         after start",
        ready_at - started,
        complete(&before_ready),
        last - started
    );
    assert!(
        complete(&shown),
        "by 2 s after READY: {shown:#?}\n{}",
        erin.printed()
    );
}
