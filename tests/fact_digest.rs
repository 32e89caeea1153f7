//! Fact sync by digest (issue #12 item 1, PROTOCOL.md §6.8): a joiner that already holds
//! 7,990 of a member's 8,000 facts gets the 10 it lacks for a number of datagrams in
//! proportion to the 10, not to the 8,000; a small fact set still goes whole, before
//! `Joined`; a fresh joiner of a large set asks for all of it with one want.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use dhtchat::crypto::{Identity, SharedKeys, open_datagram};
use dhtchat::proto::{Dialect, GroupSpec, Privacy};
use dhtchat::wire::{BanAction, Fact, FactValue, MAX_PLAINTEXT, Payload};
use sim::{LinkModel, Sim};

const FOUNDER: [u8; 32] = [61; 32];
const JOINER: [u8; 32] = [62; 32];

fn spec(seed: [u8; 32]) -> GroupSpec {
    GroupSpec {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        identity_seed: Some(seed),
        nick: b"n".to_vec(),
    }
}

/// `n` ban facts signed by the founder, about distinct keys.
fn bans(n: u32) -> Vec<Vec<u8>> {
    let founder = Identity::from_seed(&FOUNDER);
    let chat = founder.signing_key();
    (0..n)
        .map(|i| {
            let subject = Identity::from_seed(&sha(i)).public_key();
            let mut f = Fact {
                subject,
                version: 1,
                value: FactValue::Ban(BanAction::Ban),
                signer: [0; 32],
                signature: [0; 64],
            };
            founder.sign_fact(&chat, &mut f);
            f.to_vec().unwrap()
        })
        .collect()
}

fn sha(i: u32) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(i.to_be_bytes()).into()
}

/// Datagrams of the capture carrying fact sync (20) or fact digest (21), by message id.
fn fact_datagrams(sim: &Sim) -> BTreeMap<u8, usize> {
    let ids = [Identity::from_seed(&FOUNDER), Identity::from_seed(&JOINER)];
    let mut keys = SharedKeys::new(std::num::NonZeroUsize::new(8).unwrap());
    let mut out = BTreeMap::new();
    for (_, to, bytes) in sim.capture.as_ref().unwrap() {
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let (_, plain) = open_datagram(ids[*to].keypair(), &mut keys, bytes, &mut scratch).unwrap();
        if let Ok(Payload::Broadcast(b)) = Payload::decode(plain) {
            if b.message_id == 20 || b.message_id == 21 {
                *out.entry(b.message_id).or_insert(0) += 1;
            }
        }
    }
    out
}

/// The founder holds `all` facts, the joiner `held` of them before it joins; returns the
/// sim once both hold the same set (or after 30 s).
fn join_with(all: &[Vec<u8>], held: &[Vec<u8>]) -> Sim {
    let mut sim = Sim::new(5, LinkModel::default());
    sim.capture = Some(Vec::new());
    for i in 0..2 {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(FOUNDER));
    let taken = sim.with_node(0, |node, now, g| node.restore_facts(now, g, all));
    assert_eq!(taken, all.len());
    let join = sim.join_string(0);
    sim.join(1, &join, &spec(JOINER));
    let taken = sim.with_node(1, |node, now, g| node.restore_facts(now, g, held));
    assert_eq!(taken, held.len());
    sim.drive_until(Duration::from_secs(30), |s| {
        s.nodes[1].node.facts(s.nodes[1].group.unwrap()).len() == all.len()
    });
    sim
}

#[test]
fn a_joiner_holding_7990_of_8000_facts_gets_the_10_for_datagrams_in_proportion_to_10() {
    let all = bans(8000);
    let held: Vec<Vec<u8>> = all.iter().skip(10).cloned().collect();
    let sim = join_with(&all, &held);
    let g = sim.nodes[1].group.unwrap();
    assert_eq!(
        sim.nodes[1].node.facts(g).len(),
        8000,
        "the joiner holds every fact"
    );
    let counts = fact_datagrams(&sim);
    let total: usize = counts.values().sum();
    let whole = all.len().div_ceil(5);
    println!(
        "8,000 facts, 7,990 held: {total} fact datagrams (20/21: {counts:?}); the whole set \
         would be {whole} fact sync datagrams"
    );
    assert!(
        total <= 6 * 10 + 2,
        "{total} datagrams for 10 missing facts: {counts:?}"
    );
}

#[test]
fn a_small_fact_set_still_goes_whole_before_joined() {
    let all = bans(12);
    let sim = join_with(&all, &[]);
    let counts = fact_datagrams(&sim);
    // Only the summary that follows the set to a fresh joiner (its StateSynced, §6.3).
    assert_eq!(
        counts.get(&21),
        Some(&1),
        "one summary for 12 facts: {counts:?}"
    );
    assert_eq!(
        counts.get(&20),
        Some(&6),
        "12 facts, 5 per datagram, each way: {counts:?}"
    );
    let g = sim.nodes[1].group.unwrap();
    assert_eq!(sim.nodes[1].node.facts(g).len(), 12);
}

#[test]
fn a_fresh_joiner_of_a_large_set_gets_it_by_digest() {
    let all = bans(300);
    let sim = join_with(&all, &[]);
    let g = sim.nodes[1].group.unwrap();
    let counts = fact_datagrams(&sim);
    let got = sim.nodes[1].node.facts(g).len();
    println!("300 facts to a fresh joiner: {counts:?}; it holds {got}");
    assert!(
        counts.get(&21) >= Some(&2),
        "a summary and a want all: {counts:?}"
    );
    // Paced under the joiner's origin bucket for the founder (20 + 5/s, §6.7): all of it.
    assert_eq!(got, 300);
}
