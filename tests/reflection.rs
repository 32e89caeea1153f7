//! Reflection and amplification (threat-model.md §1.3): a node must not answer strangers with
//! more bytes than they send, nor faster than its token buckets allow.

mod peer;

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::proto::{Config, Dialect, DropReason, Privacy};
use dhtchat::wire::{GetNodes, Payload};
use peer::{Peer, admit, drain, fixture};

#[test]
fn ten_thousand_get_nodes_with_fresh_keys_from_one_address_in_one_second() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut friend = Peer::new(1);
    admit(&mut f, &mut friend);
    drain(&mut f.node);
    let config = Config::new([0; 32]);
    let (burst, rate) = config.probe_rate_per_ip;
    let attacker = SocketAddr::from(([127, 0, 0, 66], 6666));
    let (mut bytes_in, mut bytes_out, mut replies, mut cookies) = (0usize, 0, 0usize, 0usize);
    let n = 10_000u32;
    let start = f.now;
    for i in 0..n {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        seed[31] = 0xA5;
        let mut p = Peer::new(200);
        p.id = Identity::from_seed(&seed);
        let ask = p.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [1; 8] }));
        let now = start + Duration::from_micros(u64::from(i) * 100);
        f.node.handle_datagram(now, attacker, &ask);
        bytes_in += ask.len();
        for (to, bytes) in drain(&mut f.node) {
            assert_eq!(to, attacker);
            bytes_out += bytes.len();
            // Cookie replies (outer id 49, PROTOCOL.md §2.1) have their own bucket.
            match bytes[0] {
                49 => cookies += 1,
                _ => replies += 1,
            }
        }
    }
    let elapsed = 1.0;
    let ratio = bytes_out as f64 / bytes_in as f64;
    let bound = burst as f64 + rate as f64 * elapsed;
    println!(
        "10,000 get_nodes in 1 s: bytes in {bytes_in}, out {bytes_out} (ratio {ratio:.4}), \
         replies {replies} (bound {bound}), cookie replies {cookies}, rate_limited {}",
        f.node.stats().dropped(DropReason::RateLimited)
    );
    let (c_burst, c_rate) = config.cookie_rate_per_ip;
    assert!(
        cookies <= (c_burst + c_rate) as usize,
        "{cookies} cookie replies"
    );
    assert!(ratio <= 1.0);
    assert!(replies as f64 <= bound, "{replies} replies > {bound}");
    assert!(
        replies >= burst as usize,
        "the limiter still lets honest joiners in"
    );

    // The node still serves its validated peer.
    let ask = friend.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [2; 8] }));
    let later = start + Duration::from_secs(1);
    f.node.handle_datagram(later, friend.addr, &ask);
    let out = drain(&mut f.node);
    assert!(
        out.iter().any(|(to, _)| *to == friend.addr),
        "validated peer still answered"
    );
}
