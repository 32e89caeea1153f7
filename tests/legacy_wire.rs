//! A legacy group is exactly the 2014 dialect on the wire (issue #12, PROTOCOL.md §1.2,
//! §5.1): a capture of every datagram legacy nodes send over a lossy run with joins, chat,
//! actions, nick changes, a quit and 200 s of quiet holds only inner ids 48, 49, 50 and
//! message ids a 2014 peer reads (0, 16, 24, 48, 63, 64); nicks are re-announced when a
//! new member appears, never on a timer; an 881-byte chat fits, 882 is refused; topic and
//! status are refused in a legacy group (2014 peers drop them as unknown).

mod peer;
mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use dhtchat::crypto::{Identity, SharedKeys, open_datagram};
use dhtchat::proto::{Dialect, GroupSpec, Privacy, SendError};
use dhtchat::wire::{EncodeError, MAX_PLAINTEXT, Payload, Status};
use peer::fixture;
use sim::{LinkModel, Sim};

/// Inner ids a 2014 peer reads (PROTOCOL.md §1.2, wire-2014.md §2).
const INNER_2014: [u8; 3] = [48, 49, 50];
/// Message ids a 2014 peer reads (PROTOCOL.md §5.1, "2014 C code" column).
const MESSAGES_2014: [u8; 6] = [0, 16, 24, 48, 63, 64];

fn seed(i: usize) -> [u8; 32] {
    [100 + i as u8; 32]
}

fn spec(i: usize) -> GroupSpec {
    GroupSpec {
        dialect: Dialect::Legacy,
        privacy: Privacy::Public,
        identity_seed: Some(seed(i)),
        nick: format!("n{i}").into_bytes(),
    }
}

/// Opens every captured datagram with its receiver's key; counts (inner id, message id).
fn kinds(sim: &Sim, n: usize) -> BTreeMap<(u8, Option<u8>), usize> {
    let ids: Vec<Identity> = (0..n).map(|i| Identity::from_seed(&seed(i))).collect();
    let mut keys = SharedKeys::new(std::num::NonZeroUsize::new(64).unwrap());
    let mut out = BTreeMap::new();
    for (_, to, bytes) in sim.capture.as_ref().unwrap() {
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let (_, plain) = open_datagram(ids[*to].keypair(), &mut keys, bytes, &mut scratch)
            .expect("every datagram opens for its receiver");
        let message = match Payload::decode(plain).expect("decodes") {
            Payload::Broadcast(b) => Some(b.message_id),
            _ => None,
        };
        *out.entry((plain[0], message)).or_insert(0) += 1;
    }
    out
}

#[test]
fn a_capture_of_everything_legacy_nodes_send_holds_only_2014_kinds() {
    let link = LinkModel {
        loss: 0.05,
        jitter: Duration::from_millis(20),
        ..LinkModel::default()
    };
    let mut sim = Sim::new(12, link);
    sim.capture = Some(Vec::new());
    let n = 6;
    for i in 0..n {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(0));
    for i in 1..n {
        sim.run_for(Duration::from_millis(500));
        let join = sim.join_string(i - 1);
        sim.join(i, &join, &spec(i));
    }
    sim.run_for(Duration::from_secs(10));
    for round in 0..20 {
        for i in 0..n {
            let text = format!("round {round} from {i}");
            let _ = sim.with_node(i, |node, now, g| node.send_chat(now, g, text.as_bytes()));
            if round % 5 == 0 {
                let _ = sim.with_node(i, |node, now, g| node.send_action(now, g, b"waves"));
            }
        }
        sim.run_for(Duration::from_millis(300));
    }
    let _ = sim.with_node(2, |node, now, g| node.set_name(now, g, b"renamed"));
    sim.run_for(Duration::from_secs(2));
    // The nick repeat 15 s after the last new_peer (2014 behaviour) is over by then.
    sim.run_for(Duration::from_secs(20));
    let names_before = count_names(&kinds(&sim, n));
    // 200 s of quiet: the 2014 code has no periodic nick, only pings.
    sim.run_for(Duration::from_secs(200));
    let quiet = kinds(&sim, n);
    assert_eq!(
        count_names(&quiet),
        names_before,
        "no nick on a timer: {quiet:?}"
    );
    let _ = sim.with_node(5, |node, now, g| node.leave_group(now, g));
    sim.run_for(Duration::from_secs(5));

    let all = kinds(&sim, n);
    println!("legacy capture (inner id, message id) → datagrams: {all:?}");
    for (inner, message) in all.keys() {
        assert!(INNER_2014.contains(inner), "inner id {inner} sent: {all:?}");
        if let Some(m) = message {
            assert!(MESSAGES_2014.contains(m), "message id {m} sent: {all:?}");
        }
    }
    for kind in [
        (50, Some(0)),
        (50, Some(16)),
        (50, Some(24)),
        (50, Some(48)),
    ] {
        assert!(all.contains_key(&kind), "{kind:?} was exercised: {all:?}");
    }
    for kind in [(50, Some(63)), (50, Some(64)), (48, None), (49, None)] {
        assert!(all.contains_key(&kind), "{kind:?} was exercised: {all:?}");
    }
}

fn count_names(kinds: &BTreeMap<(u8, Option<u8>), usize>) -> usize {
    kinds.get(&(50, Some(48))).copied().unwrap_or(0)
}

#[test]
fn a_legacy_chat_of_881_bytes_is_sent_and_882_refused() {
    let mut f = fixture(Dialect::Legacy, Privacy::Public);
    let ok = f.node.send_chat(f.now, f.group, &[b'x'; 881]);
    assert!(ok.is_ok(), "{ok:?}");
    let too_long = f.node.send_chat(f.now, f.group, &[b'x'; 882]);
    assert!(
        matches!(
            too_long,
            Err(SendError::Encode(EncodeError::TooLong { .. }))
        ),
        "{too_long:?}"
    );
    assert_eq!(
        f.node.last_number(f.group),
        ok.ok(),
        "the refusal spent no number"
    );
    let mut s = fixture(Dialect::Secure, Privacy::Public);
    assert!(s.node.send_chat(s.now, s.group, &[b'x'; 785]).is_ok());
    assert!(s.node.send_chat(s.now, s.group, &[b'x'; 786]).is_err());
}

#[test]
fn topic_and_status_are_refused_in_a_legacy_group() {
    let mut f = fixture(Dialect::Legacy, Privacy::Public);
    let topic = f.node.set_topic(f.now, f.group, "tea");
    assert_eq!(topic, Err(SendError::NotSecure));
    let status = f.node.set_status(f.now, f.group, Status::Away);
    assert_eq!(status, Err(SendError::NotSecure));
    assert_eq!(f.node.last_number(f.group), Some(0), "nothing was sent");
}
