//! Unit tests of the version and role rules.

use super::*;

struct World {
    founder: Identity,
    moder: Identity,
    user: Identity,
    auth: Authority,
}

fn world() -> World {
    let founder = Identity::from_seed(&[1; 32]);
    let auth = Authority::new(founder.signing_key());
    World {
        founder,
        moder: Identity::from_seed(&[2; 32]),
        user: Identity::from_seed(&[3; 32]),
        auth,
    }
}

impl World {
    fn fact(&self, by: &Identity, subject: PublicKey, version: u32, v: FactValue<'_>) -> Vec<u8> {
        self.auth.sign(by, subject, version, v).unwrap()
    }

    fn promote(&mut self, version: u32) {
        let m = self.moder.public_key();
        let f = self.fact(&self.founder, m, version, FactValue::Role(Role::Moderator));
        self.auth.take(&f).unwrap();
    }
}

const BAN: FactValue<'static> = FactValue::Ban(BanAction::Ban);
const UNBAN: FactValue<'static> = FactValue::Ban(BanAction::Unban);

#[test]
fn founder_is_the_chat_id_and_cannot_be_targeted() {
    let mut w = world();
    let f = w.founder.public_key();
    assert_eq!(w.auth.role(&f), Role::Founder);
    assert_eq!(w.auth.role(&w.user.public_key()), Role::User);
    w.promote(1);
    let ban = w.fact(&w.moder, f, 1, BAN);
    assert_eq!(w.auth.take(&ban).map(|_| ()), Err(Refusal::Rejected));
    assert!(!w.auth.is_banned(&f));
}

#[test]
fn non_moderator_ban_is_rejected() {
    let mut w = world();
    let target = w.moder.public_key();
    let ban = w.fact(&w.user, target, 1, BAN);
    assert_eq!(w.auth.take(&ban).map(|_| ()), Err(Refusal::Rejected));
    assert!(!w.auth.is_banned(&target));
    assert!(w.auth.bans().is_empty());
}

#[test]
fn moderator_ban_then_unban_then_replay_is_stale() {
    let mut w = world();
    w.promote(1);
    let t = w.user.public_key();
    let ban = w.fact(&w.moder, t, 1, BAN);
    let (_, by) = w.auth.take(&ban).unwrap();
    assert_eq!(by, w.moder.public_key());
    assert_eq!(w.auth.bans(), [t]);
    let unban = w.fact(&w.moder, t, 2, UNBAN);
    w.auth.take(&unban).unwrap();
    assert!(!w.auth.is_banned(&t));
    assert_eq!(w.auth.take(&ban).map(|_| ()), Err(Refusal::Stale));
    assert!(!w.auth.is_banned(&t));
}

#[test]
fn equal_versions_prefer_the_founder_then_greater_bytes() {
    let mut w = world();
    w.promote(1);
    let t = w.user.public_key();
    let by_mod = w.fact(&w.moder, t, 5, UNBAN);
    let by_founder = w.fact(&w.founder, t, 5, UNBAN);
    w.auth.take(&by_mod).unwrap();
    w.auth.take(&by_founder).unwrap();
    assert_eq!(w.auth.take(&by_mod).map(|_| ()), Err(Refusal::Stale));
    // Two founder facts at one version: the greater encoding wins, whatever the order.
    let a = w.fact(&w.founder, t, 6, BAN);
    let b = w.fact(&w.founder, t, 6, UNBAN);
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    w.auth.take(&lo).unwrap();
    w.auth.take(&hi).unwrap();
    assert_eq!(w.auth.take(&lo).map(|_| ()), Err(Refusal::Stale));
    assert_eq!(w.auth.export(), [w.auth.export()[0].clone(), hi].to_vec());
}

#[test]
fn demoted_moderator_cannot_sign_but_earlier_bans_stay() {
    let mut w = world();
    w.promote(1);
    let t = w.user.public_key();
    let earlier = w.fact(&w.moder, t, 1, BAN);
    w.auth.take(&earlier).unwrap();
    let withheld = w.fact(&w.moder, PublicKey([9; 32]), 1, BAN);
    let m = w.moder.public_key();
    let demote = w.fact(&w.founder, m, 2, FactValue::Role(Role::User));
    w.auth.take(&demote).unwrap();
    assert_eq!(w.auth.role(&m), Role::User);
    assert!(w.auth.is_banned(&t), "earlier ban stays");
    assert_eq!(w.auth.take(&withheld).map(|_| ()), Err(Refusal::Rejected));
    assert_eq!(w.auth.signed_by(&m), [earlier]);
}

#[test]
fn moderators_silence_users_but_not_moderators() {
    let mut w = world();
    w.promote(1);
    let u = w.user.public_key();
    let silence = w.fact(&w.moder, u, 1, FactValue::Role(Role::Observer));
    w.auth.take(&silence).unwrap();
    assert!(!w.auth.may_speak(&u));
    let promote = w.fact(&w.moder, u, 2, FactValue::Role(Role::Moderator));
    assert_eq!(w.auth.take(&promote).map(|_| ()), Err(Refusal::Rejected));
    let other = Identity::from_seed(&[4; 32]);
    let o = other.public_key();
    let f = w.fact(&w.founder, o, 1, FactValue::Role(Role::Moderator));
    w.auth.take(&f).unwrap();
    let kick = w.fact(&w.moder, o, 1, FactValue::Ban(BanAction::Kick));
    assert_eq!(w.auth.take(&kick).map(|_| ()), Err(Refusal::Rejected));
}

#[test]
fn forged_and_foreign_facts_are_rejected() {
    let mut w = world();
    let t = w.user.public_key();
    let mut forged = w.fact(&w.founder, t, 1, BAN);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(w.auth.take(&forged).map(|_| ()), Err(Refusal::Rejected));
    // A founder fact of another group (other chat id) does not verify here.
    let other = Authority::new(w.user.signing_key());
    let foreign = other.sign(&w.founder, t, 1, BAN).unwrap();
    assert_eq!(w.auth.take(&foreign).map(|_| ()), Err(Refusal::Rejected));
    assert_eq!(w.auth.take(&[1, 2, 3]).map(|_| ()), Err(Refusal::Rejected));
}

#[test]
fn topic_lock_and_voice_rules() {
    let mut w = world();
    let z = GROUP_WIDE;
    let topic = w.fact(&w.user, z, 1, FactValue::Topic("hi"));
    w.auth.take(&topic).unwrap();
    let lock = w.fact(&w.user, z, 1, FactValue::TopicLock(true));
    assert_eq!(w.auth.take(&lock).map(|_| ()), Err(Refusal::Rejected));
    let lock = w.fact(&w.founder, z, 1, FactValue::TopicLock(true));
    w.auth.take(&lock).unwrap();
    assert!(w.auth.topic_locked());
    let topic = w.fact(&w.user, z, 2, FactValue::Topic("mine"));
    assert_eq!(w.auth.take(&topic).map(|_| ()), Err(Refusal::Rejected));
    w.promote(1);
    let m = w.moder.public_key();
    let u = w.user.public_key();
    let f = w.founder.public_key();
    let voice = w.fact(&w.founder, z, 1, FactValue::Voice(VoiceLevel::Moderators));
    w.auth.take(&voice).unwrap();
    assert_eq!((w.auth.may_speak(&m), w.auth.may_speak(&u)), (true, false));
    let voice = w.fact(&w.founder, z, 2, FactValue::Voice(VoiceLevel::Founder));
    w.auth.take(&voice).unwrap();
    assert_eq!((w.auth.may_speak(&f), w.auth.may_speak(&m)), (true, false));
    let limit = w.fact(&w.founder, z, 1, FactValue::PeerLimit(3));
    w.auth.take(&limit).unwrap();
    assert_eq!(w.auth.peer_limit(), 3);
}

#[test]
fn export_puts_founder_facts_first() {
    let mut w = world();
    w.promote(1);
    let ban = w.fact(&w.moder, w.user.public_key(), 1, BAN);
    w.auth.take(&ban).unwrap();
    let all = w.auth.export();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], ban);
    let mut fresh = Authority::new(w.founder.signing_key());
    for f in &all {
        fresh.take(f).unwrap();
    }
    assert!(fresh.is_banned(&w.user.public_key()));
}
