//! Cookies of the secure dialect (PROTOCOL.md §2.1), both sides, node-wide.
//!
//! - **As a receiver**: a rotating secret (a new one every 120 s, the previous one still
//!   accepted), from which the cookie of a source address is derived. When the X25519 budget
//!   refuses a datagram (the node is under load), a datagram whose mac2 is right under its
//!   address's cookie still gets an X25519 (within `dh_rate_per_ip` of its own), and any
//!   other gets a cookie reply (within `cookie_rate`, node-wide) instead. A reply (89 bytes)
//!   is smaller than any datagram it answers and costs two small hashes and a 16-byte seal.
//! - **As a sender**: the nonce counter, the mac1 of the last datagram sent to each address
//!   (a cookie reply must answer it), and the cookies received, used for mac2 for 110 s.
//!
//! Both maps are bounded (`MAX_ADDRS`): when full they are cleared, which costs at most one
//! more cookie round trip.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::RngCore;

use super::limiter::ReplyLimiter;
use super::spam::Bucket;
use crate::crypto::{self, COOKIE_LEN, MAC1_LEN};
use crate::wire::PublicKey;

/// How long a secret is the current one.
const ROTATE: Duration = Duration::from_secs(120);
/// How long a received cookie is used.
const COOKIE_TTL: Duration = Duration::from_secs(110);
/// Most addresses remembered in each map.
const MAX_ADDRS: usize = 4096;

/// What was last sent to an address: our key, theirs, and the datagram's mac1.
type Sent = (PublicKey, PublicKey, [u8; MAC1_LEN]);

/// Cookie state of one node. See the module docs.
#[derive(Debug)]
pub(crate) struct Cookies {
    secret: [u8; 32],
    previous: [u8; 32],
    /// When `secret` became current; `None` until first used (the node reads no clock).
    rotated: Option<Instant>,
    counter: u64,
    sent: HashMap<SocketAddr, Sent>,
    jar: HashMap<SocketAddr, ([u8; COOKIE_LEN], Instant)>,
    /// Cookie replies, node-wide (`cookie_rate`).
    replies: Bucket,
    replies_rate: (u32, u32),
    /// Cookie replies per destination IP (`cookie_rate_per_ip`), so a spoofed flood reflects
    /// at most a trickle at one victim. When the map is full it is cleared rather than
    /// refusing a new IP: a spoofed many-address flood must not starve a newcomer's cookie.
    per_ip: HashMap<IpAddr, Bucket>,
    per_ip_rate: (u32, u32),
    /// X25519 budget for senders whose shared key is not cached (`dh_rate`, per IP and
    /// node-wide); spent, the node is *under load*.
    dh: ReplyLimiter,
    /// X25519s of cookie-proven senders per source IP while under load.
    proven: ReplyLimiter,
}

impl Cookies {
    pub(crate) fn new(rng: &mut impl RngCore, config: &super::Config) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self {
            secret,
            previous: secret,
            rotated: None,
            counter: rng.next_u64(),
            sent: HashMap::new(),
            jar: HashMap::new(),
            replies: Bucket::default(),
            replies_rate: config.cookie_rate,
            per_ip: HashMap::new(),
            per_ip_rate: config.cookie_rate_per_ip,
            dh: ReplyLimiter::new(config.dh_rate_per_ip, config.dh_rate, config.probe_ips),
            proven: ReplyLimiter::new(
                config.dh_rate_per_ip,
                (u32::MAX, u32::MAX),
                config.probe_ips,
            ),
        }
    }

    fn rotate(&mut self, now: Instant, rng: &mut impl RngCore) {
        let Some(at) = self.rotated else {
            self.rotated = Some(now);
            return;
        };
        if now.saturating_duration_since(at) >= ROTATE {
            self.previous = self.secret;
            rng.fill_bytes(&mut self.secret);
            self.rotated = Some(now);
        }
    }

    /// The next nonce counter (big-endian), unique for this node's lifetime.
    pub(crate) fn next_counter(&mut self) -> [u8; 8] {
        self.counter = self.counter.wrapping_add(1);
        self.counter.to_be_bytes()
    }

    /// The cookie `addr` gave us, if it is still fresh.
    pub(crate) fn for_sending(&self, addr: &SocketAddr, now: Instant) -> Option<[u8; COOKIE_LEN]> {
        let (cookie, at) = self.jar.get(addr)?;
        (now.saturating_duration_since(*at) < COOKIE_TTL).then_some(*cookie)
    }

    /// We sent `addr` a datagram from `own` to `to` with `mac1`.
    pub(crate) fn note_sent(&mut self, addr: SocketAddr, sent: Sent) {
        if self.sent.len() >= MAX_ADDRS && !self.sent.contains_key(&addr) {
            self.sent.clear();
        }
        self.sent.insert(addr, sent);
    }

    /// A cookie reply from `from`: kept if it answers the last datagram we sent there.
    pub(crate) fn take_reply(&mut self, from: SocketAddr, reply: &[u8], now: Instant) -> bool {
        let Some(&(own, theirs, mac1)) = self.sent.get(&from) else {
            return false;
        };
        if crypto::cookie_reply_receiver(reply) != Some(own) {
            return false;
        }
        let Some(cookie) = crypto::open_cookie_reply(&theirs, &mac1, reply) else {
            return false;
        };
        if self.jar.len() >= MAX_ADDRS && !self.jar.contains_key(&from) {
            self.jar.clear();
        }
        self.jar.insert(from, (cookie, now));
        true
    }

    /// May `datagram` from `from` (to our key `node`) cost an X25519? Within the budget, yes;
    /// under load only a secure one whose mac2 proves its address, and any other secure one
    /// gets the cookie reply to send back (`Err(Some(reply))`).
    pub(crate) fn admit_x25519(
        &mut self,
        (node, from): (&PublicKey, SocketAddr),
        (datagram, secure): (&[u8], bool),
        now: Instant,
        rng: &mut impl RngCore,
    ) -> Result<(), Option<Vec<u8>>> {
        if self.dh.allow(from.ip(), now) || (secure && self.proven(from, datagram, now, rng)) {
            return Ok(());
        }
        Err(secure
            .then(|| self.reply((node, from), datagram, now, rng))
            .flatten())
    }

    /// Under load: may `datagram` from `from` cost an X25519? Only with a right mac2 under
    /// `from`'s cookie (current or previous secret), within the per-IP budget.
    fn proven(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        rng: &mut impl RngCore,
    ) -> bool {
        self.rotate(now, rng);
        let ok = [self.secret, self.previous]
            .iter()
            .any(|s| crypto::check_mac2(&crypto::cookie(s, from), datagram));
        ok && self.proven.allow(from.ip(), now)
    }

    /// The cookie reply for `datagram` (to our key `node`) from `from`, if the reply budget
    /// allows one.
    fn reply(
        &mut self,
        (node, from): (&PublicKey, SocketAddr),
        datagram: &[u8],
        now: Instant,
        rng: &mut impl RngCore,
    ) -> Option<Vec<u8>> {
        self.rotate(now, rng);
        let mac1 = crypto::mac1_of(datagram)?;
        let sender = PublicKey(datagram.get(33..65)?.try_into().ok()?);
        if self.per_ip.len() >= MAX_ADDRS && !self.per_ip.contains_key(&from.ip()) {
            self.per_ip.clear();
        }
        let ip = self.per_ip.entry(from.ip()).or_default();
        if !ip.take(now, self.per_ip_rate) || !self.replies.take(now, self.replies_rate) {
            return None;
        }
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let cookie = crypto::cookie(&self.secret, from);
        Some(crypto::seal_cookie_reply(
            node,
            (&sender, &mac1),
            &nonce,
            &cookie,
        ))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    /// A secure-dialect header from `sender` to `node` (mac1, and mac2 under `cookie`).
    fn datagram(node: &PublicKey, sender: &PublicKey, cookie: Option<&[u8; 16]>) -> Vec<u8> {
        let mut d = vec![crate::wire::ENVELOPE_ID];
        d.extend_from_slice(&node.0);
        d.extend_from_slice(&sender.0);
        d.extend_from_slice(&crypto::mac1_nonce(&[1; 8], cookie, node, sender));
        d.extend_from_slice(&[0; 30]);
        d
    }

    #[test]
    fn under_load_a_cookie_proves_only_the_address_it_was_sent_to() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut config = super::super::Config::new([0; 32]);
        config.dh_rate = (1, 1);
        let t0 = crate::test_epoch();
        let mut c = Cookies::new(&mut rng, &config);
        let (node, sender) = (PublicKey([9; 32]), PublicKey([8; 32]));
        let a: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:1".parse().unwrap();
        let plain = datagram(&node, &sender, None);
        assert_eq!(
            c.admit_x25519((&node, a), (&plain, true), t0, &mut rng),
            Ok(())
        );
        // The budget is spent: no X25519, a cookie reply instead (none in a legacy group).
        let Err(Some(reply)) = c.admit_x25519((&node, a), (&plain, true), t0, &mut rng) else {
            panic!("expected a cookie reply");
        };
        assert_eq!(
            c.admit_x25519((&node, a), (&plain, false), t0, &mut rng),
            Err(None)
        );
        let mac1 = crypto::mac1_of(&plain).unwrap();
        let cookie = crypto::open_cookie_reply(&node, &mac1, &reply).unwrap();
        let proven = datagram(&node, &sender, Some(&cookie));
        assert_eq!(
            c.admit_x25519((&node, a), (&proven, true), t0, &mut rng),
            Ok(())
        );
        let other = c.admit_x25519((&node, b), (&proven, true), t0, &mut rng);
        assert!(other.is_err(), "a cookie for one address proves no other");
        // The sender side keeps only a reply that answers what it last sent there.
        let mut s = Cookies::new(&mut rng, &config);
        assert!(!s.take_reply(a, &reply, t0), "nothing was sent to a");
        s.note_sent(a, (sender, node, mac1));
        assert!(s.take_reply(a, &reply, t0));
        assert_eq!(s.for_sending(&a, t0), Some(cookie));
        assert_eq!(s.for_sending(&a, t0 + COOKIE_TTL), None, "stale");
    }
}
