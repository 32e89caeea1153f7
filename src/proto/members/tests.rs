//! Unit tests of the member table (`members.rs`).

use super::*;

fn key(b: u8) -> PublicKey {
    PublicKey([b; 32])
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn a_contact_is_listed_once_it_answers() {
    let (mut m, t0) = (Members::default(), crate::test_epoch());
    m.add_contact(key(1), addr(1), t0);
    assert_eq!((m.len(), m.listed_count(), m.live().count()), (1, 0, 0));
    assert_eq!(m.addresses().collect::<Vec<_>>(), [(key(1), addr(1))]);
    let (member, is_new) = m.admit(key(1), t0, 1).unwrap();
    assert!(!is_new);
    assert_eq!(member.prove(addr(2)), (true, true));
    assert!(member.list(is_new), "first listing announces it");
    assert!(m.is_validated(&key(1), &addr(2)));
    m.heard_of(&key(1), addr(3));
    assert_eq!(m.addr(&key(1)), Some(addr(2)), "a proven address stays");
    assert!(matches!(
        m.admit(key(2), t0, 1),
        Err(DropReason::MemberLimit)
    ));
}

#[test]
fn departed_members_refuse_old_numbers_and_expire() {
    let (mut m, t0) = (Members::default(), crate::test_epoch());
    m.admit(key(1), t0, 8).unwrap().0.heard(t0, 5);
    m.depart(&key(1), t0);
    let member = m.get(&key(1)).unwrap();
    assert_eq!(member.check(5, 64), Err(DropReason::Departed));
    assert_eq!(
        member.check(4, 64),
        Ok(()),
        "sent before its quit, not taken yet"
    );
    assert_eq!(
        member.check(6, 64),
        Ok(()),
        "a rejoin numbers past its quit"
    );
    assert!(m.direct_from(&key(1)).is_err());
    let (delay, timeout) = (Duration::from_secs(10), Duration::from_secs(60));
    let mut gone = Vec::new();
    assert!(m.expire(t0 + delay, (delay, timeout), &mut gone).is_empty());
    assert_eq!(m.len(), 0, "forgotten quit_delay after its quit");
    assert_eq!(gone.iter().map(|g| g.broadcast).collect::<Vec<_>>(), [5]);
}

#[test]
fn an_idle_member_lets_its_signing_key_go() {
    let (mut m, t0) = (Members::default(), crate::test_epoch());
    let origin = crate::crypto::Identity::from_seed(&[9; 32]);
    let mut b = Broadcast {
        origin: origin.public_key(),
        number: 1,
        message_id: 64,
        body: b"hi",
        trailer: None,
    };
    b.trailer = Some(origin.sign_broadcast(&[1; 32], &b).unwrap());
    let member = m.admit(b.origin, t0, 8).unwrap().0;
    member.heard(t0, 1);
    member.cache_signer(&b);
    assert!(m.get(&b.origin).unwrap().signer().is_some());
    let delays = (Duration::from_secs(60), Duration::from_secs(600));
    m.expire(t0 + SIGNER_IDLE / 2, delays, &mut Vec::new());
    assert!(m.get(&b.origin).unwrap().signer().is_some(), "still active");
    m.expire(t0 + SIGNER_IDLE, delays, &mut Vec::new());
    let member = m.get(&b.origin).unwrap();
    assert!(member.signer().is_none(), "idle: the key is let go");
    assert_eq!(
        member.check(2, 64),
        Ok(()),
        "the member and its window stay"
    );
    assert_eq!(member.check(1, 64), Err(DropReason::Duplicate));
}

#[test]
fn silent_members_time_out() {
    let (mut m, t0) = (Members::default(), crate::test_epoch());
    m.invite(key(1), t0);
    m.add_contact(key(2), addr(2), t0);
    let timeout = Duration::from_secs(60);
    let gone = m.expire(t0 + timeout, (timeout, timeout), &mut Vec::new());
    assert_eq!(gone, [(key(1), true), (key(2), false)]);
}
