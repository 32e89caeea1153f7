use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::crypto::Identity;
use crate::index::groupkey::EpochKey;
use crate::index::groupkey::record::{Draft, sign};

/// Seeds: 1 creator A, 2 admin B, 3 member C, 4 outsider D, 5 outsider E.
fn id(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn key(n: u8) -> MemberKey {
    id(n).signing_key()
}

fn draft(chat: ChatId, epoch: u64, prev: [u8; 32], kind: RecordKind, m: &[(u8, u8)]) -> Draft {
    Draft {
        kind,
        chat_id: chat,
        epoch,
        prev,
        members: m.iter().map(|&(n, f)| (key(n), f)).collect(),
        leave_signature: None,
    }
}

fn seal(signer: u8, d: Draft) -> RotationRecord {
    let mut rng = ChaCha20Rng::from_seed([d.epoch as u8; 32]);
    let k = EpochKey::random(&mut rng);
    RotationRecord::seal(&mut rng, &id(signer), d, &k).unwrap()
}

fn resign(mut r: RotationRecord, signer: u8) -> RotationRecord {
    r.signature = sign(&id(signer), &r.signing_input());
    r
}

/// A creates {A, B admin, C}.
fn genesis() -> (ChainHead, RotationRecord) {
    let salt = [42; 32];
    let chat = chat_id_for(&key(1), &salt);
    let members = [(1, 0), (2, FLAG_ADMIN), (3, 0)];
    let r = seal(1, draft(chat, 0, salt, RecordKind::Create, &members));
    (ChainHead::genesis(&r).unwrap(), r)
}

/// The record for e+1 on `head` by `signer` with `members`.
fn next(head: &ChainHead, signer: u8, kind: RecordKind, members: &[(u8, u8)]) -> RotationRecord {
    let d = draft(
        *head.chat_id(),
        head.epoch() + 1,
        *head.hash(),
        kind,
        members,
    );
    seal(signer, d)
}

const ALL: [(u8, u8); 3] = [(1, 0), (2, FLAG_ADMIN), (3, 0)];

#[test]
fn genesis_sets_creator_members_and_admins() {
    let (head, r) = genesis();
    assert_eq!((head.epoch(), *head.hash()), (0, r.hash()));
    assert_eq!(*head.creator(), key(1));
    assert!(head.is_admin(&key(1)) && head.is_admin(&key(2)) && !head.is_admin(&key(3)));
    assert!(!head.is_member(&key(4)));
}

#[test]
fn bad_genesis_records_are_rejected() {
    let (_, r) = genesis();
    let mut other = r.clone();
    other.chat_id[0] ^= 1;
    assert_eq!(
        ChainHead::genesis(&resign(other, 1)),
        Err(Reject::BadChatId)
    );
    let mut by_b = r.clone();
    by_b.signer = key(2);
    assert_eq!(ChainHead::genesis(&resign(by_b, 2)), Err(Reject::BadChatId));
    let mut change = r.clone();
    change.kind = RecordKind::Change;
    assert_eq!(ChainHead::genesis(&change), Err(Reject::WrongKind));
    let mut forged = r;
    forged.signature[0] ^= 1;
    assert_eq!(ChainHead::genesis(&forged), Err(Reject::BadSignature));
}

#[test]
fn any_member_may_add() {
    let (mut head, _) = genesis();
    let r = next(
        &head,
        3,
        RecordKind::Change,
        &[(1, 0), (2, 1), (3, 0), (4, 0)],
    );
    head.advance(&r).unwrap();
    assert_eq!((head.epoch(), head.members().len()), (1, 4));
}

#[test]
fn position_rules_reject_stale_future_forked_and_foreign_records() {
    let (mut head, g) = genesis();
    let first = next(&head, 3, RecordKind::Change, &ALL);
    let rival = next(&head, 2, RecordKind::Change, &ALL);
    head.advance(&first).unwrap();
    assert_eq!(
        head.check(&rival),
        Err(Reject::StaleEpoch { head: 1, got: 1 })
    );
    assert_eq!(head.check(&g), Err(Reject::StaleEpoch { head: 1, got: 0 }));
    assert_eq!(
        head.check(&first),
        Err(Reject::StaleEpoch { head: 1, got: 1 })
    );
    let mut skip = next(&head, 3, RecordKind::Change, &ALL);
    skip.epoch += 1;
    assert_eq!(
        head.check(&skip),
        Err(Reject::FutureEpoch { head: 1, got: 3 })
    );
    let mut fork = next(&head, 3, RecordKind::Change, &ALL);
    fork.prev = g.hash();
    assert_eq!(head.check(&fork), Err(Reject::WrongPrevious));
    let mut foreign = next(&head, 3, RecordKind::Change, &ALL);
    foreign.chat_id[5] ^= 1;
    assert_eq!(head.check(&foreign), Err(Reject::WrongChat));
    let create = next(&head, 1, RecordKind::Create, &ALL);
    assert_eq!(head.check(&create), Err(Reject::WrongKind));
}

#[test]
fn wrong_member_set_hash_is_rejected_even_when_signed() {
    let (head, _) = genesis();
    let mut r = next(&head, 3, RecordKind::Change, &ALL);
    r.members_hash[0] ^= 1;
    assert_eq!(head.check(&resign(r, 3)), Err(Reject::MemberSetHash));
}

#[test]
fn forged_signature_and_outsider_signer_are_rejected() {
    let (head, _) = genesis();
    let mut r = next(&head, 3, RecordKind::Change, &ALL);
    r.signature[10] ^= 1;
    assert_eq!(head.check(&r), Err(Reject::BadSignature));
    let mut claimed = next(&head, 4, RecordKind::Change, &ALL);
    claimed.signer = key(3); // D signs but names C
    assert_eq!(head.check(&claimed), Err(Reject::BadSignature));
    let outsider = next(
        &head,
        4,
        RecordKind::Change,
        &[(1, 0), (2, 1), (3, 0), (4, 0)],
    );
    assert_eq!(head.check(&outsider), Err(Reject::SignerNotMember));
}

#[test]
fn removal_needs_an_admin_and_the_signer_stays() {
    let (head, _) = genesis();
    let by_member = next(&head, 3, RecordKind::Change, &[(1, 0), (3, 0)]);
    assert_eq!(head.check(&by_member), Err(Reject::NotAllowed));
    let by_admin = next(&head, 2, RecordKind::Change, &[(1, 0), (2, 1)]);
    assert_eq!(head.check(&by_admin), Ok(()));
    let by_creator = next(&head, 1, RecordKind::Change, &[(1, 0), (3, 0)]);
    assert_eq!(head.check(&by_creator), Ok(()));
    let self_out = next(&head, 2, RecordKind::Change, &[(1, 0), (3, 0)]);
    assert_eq!(head.check(&self_out), Err(Reject::SignerLeaves));
}

#[test]
fn only_the_creator_changes_admin_flags() {
    let (head, _) = genesis();
    let promote = next(&head, 2, RecordKind::Change, &[(1, 0), (2, 1), (3, 1)]);
    assert_eq!(head.check(&promote), Err(Reject::AdminChange));
    let new_admin = next(
        &head,
        3,
        RecordKind::Change,
        &[(1, 0), (2, 1), (3, 0), (4, 1)],
    );
    assert_eq!(head.check(&new_admin), Err(Reject::AdminChange));
    let demote = next(&head, 3, RecordKind::Change, &[(1, 0), (2, 0), (3, 0)]);
    assert_eq!(head.check(&demote), Err(Reject::AdminChange));
    let by_creator = next(&head, 1, RecordKind::Change, &[(1, 0), (2, 0), (3, 1)]);
    assert_eq!(head.check(&by_creator), Ok(()));
}

fn leave_record(
    head: &ChainHead,
    signer: u8,
    members: &[(u8, u8)],
    note: [u8; 64],
) -> RotationRecord {
    let mut d = draft(
        *head.chat_id(),
        head.epoch() + 1,
        *head.hash(),
        RecordKind::Leave,
        members,
    );
    d.leave_signature = Some(note);
    seal(signer, d)
}

fn note(head: &ChainHead, leaver: u8, epoch: u64) -> [u8; 64] {
    sign(
        &id(leaver),
        &leave_input(head.chat_id(), epoch, &key(leaver)),
    )
}

#[test]
fn a_leave_with_the_leavers_note_may_be_made_by_any_remaining_member() {
    let (head, _) = genesis();
    let ok = leave_record(&head, 3, &[(1, 0), (3, 0)], note(&head, 2, 0));
    assert_eq!(head.check(&ok), Ok(()));
    let wrong_epoch = leave_record(&head, 3, &[(1, 0), (3, 0)], note(&head, 2, 7));
    assert_eq!(head.check(&wrong_epoch), Err(Reject::BadLeave));
    let wrong_leaver = leave_record(&head, 3, &[(1, 0), (3, 0)], note(&head, 1, 0));
    assert_eq!(head.check(&wrong_leaver), Err(Reject::BadLeave));
    let two_out = leave_record(&head, 3, &[(3, 0)], note(&head, 2, 0));
    assert_eq!(head.check(&two_out), Err(Reject::BadLeave));
    let with_add = leave_record(&head, 3, &[(1, 0), (3, 0), (4, 0)], note(&head, 2, 0));
    assert_eq!(head.check(&with_add), Err(Reject::BadLeave));
    let none_out = leave_record(&head, 3, &ALL, note(&head, 2, 0));
    assert_eq!(head.check(&none_out), Err(Reject::BadLeave));
}

#[test]
fn small_order_ephemeral_key_is_rejected() {
    let (head, _) = genesis();
    let mut r = next(&head, 3, RecordKind::Change, &ALL);
    r.ephemeral = [0; 32];
    assert_eq!(head.check(&resign(r, 3)), Err(Reject::BadKey));
}

#[test]
fn invalid_member_key_is_rejected() {
    let (head, _) = genesis();
    let mut r = next(
        &head,
        3,
        RecordKind::Change,
        &[(1, 0), (2, 1), (3, 0), (4, 0)],
    );
    let i = r.entries.iter().position(|e| e.member == key(4)).unwrap();
    r.entries[i].member = [0; 32]; // the identity point: weak
    r.entries.sort_by_key(|e| e.member);
    r.members_hash = members_hash(r.members());
    assert_eq!(head.check(&resign(r, 3)), Err(Reject::BadKey));
}

#[test]
fn resume_gives_the_same_head_as_advancing() {
    let (mut head, _) = genesis();
    let r = next(
        &head,
        3,
        RecordKind::Change,
        &[(1, 0), (2, 1), (3, 0), (4, 0)],
    );
    head.advance(&r).unwrap();
    assert_eq!(ChainHead::resume(key(1), &r), head);
}
