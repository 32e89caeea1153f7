use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;

fn id(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn key(n: u8) -> MemberKey {
    id(n).signing_key()
}

/// Creator 1 with members 2 (admin) and 3.
fn setup() -> (Keyring, ChatId, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let mut a = Keyring::new(id(1));
    let created = a
        .create_chat(&mut rng, &[key(2), key(3)], &[key(2)])
        .unwrap();
    (a, created.chat_id, rng)
}

#[test]
fn create_adopts_epoch_zero_with_us_as_admin() {
    let (a, chat, _) = setup();
    let head = a.head(&chat).unwrap();
    assert_eq!(a.current_epoch(&chat), Some(0));
    assert_eq!(a.readable_epochs(&chat), vec![0]);
    assert_eq!(head.members().len(), 3);
    assert!(head.is_admin(&key(1)) && head.is_admin(&key(2)) && !head.is_admin(&key(3)));
}

#[test]
fn rotate_changes_no_state_until_the_record_is_accepted() {
    let (mut a, chat, mut rng) = setup();
    let record = a
        .rotate(&mut rng, &chat, &Change::Add(vec![key(4)]))
        .unwrap();
    assert_eq!(a.current_epoch(&chat), Some(0));
    let acc = a.accept(&record).unwrap();
    assert_eq!((acc.epoch, acc.got_key), (1, true));
    assert_eq!(a.readable_epochs(&chat), vec![0, 1]);
}

#[test]
fn local_rules_refuse_changes_the_index_would_reject() {
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let mut c = Keyring::new(id(3));
    // C learns a chat of {A creator, C} from A's create record.
    let k = EpochKey::random(&mut rng);
    let create = RotationRecord::seal(
        &mut rng,
        &id(1),
        Draft {
            kind: RecordKind::Create,
            chat_id: chat_id_for(&key(1), &[1; 32]),
            epoch: 0,
            prev: [1; 32],
            members: vec![(key(1), 0), (key(3), 0)],
            leave_signature: None,
        },
        &k,
    )
    .unwrap();
    let c_chat = c.accept(&create.to_bytes()).unwrap().chat_id;
    let remove = Change::Remove(vec![key(1)]);
    assert_eq!(
        c.rotate(&mut rng, &c_chat, &remove),
        Err(ScheduleError::NotAllowed)
    );
    let promote = Change::SetAdmin {
        member: key(3),
        admin: true,
    };
    assert_eq!(
        c.rotate(&mut rng, &c_chat, &promote),
        Err(ScheduleError::NotAllowed)
    );
    let stale = LeaveNote::sign(&id(1), &c_chat, 5);
    assert_eq!(
        c.rotate(&mut rng, &c_chat, &Change::Leave(stale)),
        Err(ScheduleError::NotAllowed)
    );
    assert_eq!(
        c.rotate(&mut rng, &[0; 32], &Change::Rekey),
        Err(ScheduleError::UnknownChat)
    );
}

#[test]
fn no_op_changes_say_no_change() {
    let (a, chat, mut rng) = setup();
    let add = Change::Add(vec![key(2)]);
    assert_eq!(
        a.rotate(&mut rng, &chat, &add),
        Err(ScheduleError::NoChange)
    );
    let remove = Change::Remove(vec![key(9)]);
    assert_eq!(
        a.rotate(&mut rng, &chat, &remove),
        Err(ScheduleError::NoChange)
    );
    assert!(a.rotate(&mut rng, &chat, &Change::Rekey).is_ok());
}

#[test]
fn the_key_maker_cannot_remove_itself() {
    let (a, chat, mut rng) = setup();
    let me_out = Change::Remove(vec![key(1)]);
    assert_eq!(
        a.rotate(&mut rng, &chat, &me_out),
        Err(ScheduleError::NotAllowed)
    );
}

#[test]
fn seal_and_open_under_the_current_epoch() {
    let (a, chat, mut rng) = setup();
    let sealed = a.seal(&mut rng, &chat, b"hi").unwrap();
    let (c, e, body) = a.open(&sealed).unwrap();
    assert_eq!((c, e, body.as_slice()), (chat, 0, &b"hi"[..]));
    let mut unknown = sealed.clone();
    unknown[0] ^= 1;
    assert_eq!(a.open(&unknown), Err(ScheduleError::UnknownChat));
    let mut future = sealed;
    future[39] = 9;
    assert_eq!(a.open(&future), Err(ScheduleError::NoKey { epoch: 9 }));
}

#[test]
fn kept_epoch_keys_are_bounded() {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let mut a = Keyring::new(id(1));
    let chat = a.create_chat(&mut rng, &[], &[]).unwrap().chat_id;
    for _ in 0..MAX_KEPT_EPOCHS + 3 {
        let r = a.rotate(&mut rng, &chat, &Change::Rekey).unwrap();
        a.accept(&r).unwrap();
    }
    let epochs = a.readable_epochs(&chat);
    assert_eq!(epochs.len(), MAX_KEPT_EPOCHS);
    assert_eq!(epochs.first(), Some(&4));
}
