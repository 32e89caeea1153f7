use proptest::prelude::*;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;

fn id(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn record(n_members: u8, kind: RecordKind) -> (RotationRecord, EpochKey) {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let key = EpochKey::random(&mut rng);
    let members = (1..=n_members).map(|n| (id(n).signing_key(), 0)).collect();
    let draft = Draft {
        kind,
        chat_id: [7; 32],
        epoch: 4,
        prev: [8; 32],
        members,
        leave_signature: (kind == RecordKind::Leave).then_some([0x11; 64]),
    };
    (
        RotationRecord::seal(&mut rng, &id(1), draft, &key).unwrap(),
        key,
    )
}

#[test]
fn sealed_record_round_trips_and_has_the_table_length() {
    for kind in [RecordKind::Create, RecordKind::Change, RecordKind::Leave] {
        let (r, _) = record(3, kind);
        let bytes = r.to_bytes();
        let leave = if kind == RecordKind::Leave { 64 } else { 0 };
        assert_eq!(bytes.len(), RECORD_HEADER_LEN + 3 * ENTRY_LEN + leave + 64);
        assert_eq!(bytes.len(), r.encoded_len());
        assert_eq!(RotationRecord::decode(&bytes).unwrap(), r);
        assert!(r.signature_ok());
    }
}

#[test]
fn every_member_unwraps_the_same_key_and_others_none() {
    let (r, key) = record(3, RecordKind::Change);
    for n in 1..=3 {
        assert_eq!(r.unwrap_key(&id(n)).unwrap(), key);
    }
    assert!(r.unwrap_key(&id(4)).is_none());
}

#[test]
fn wrap_moved_to_another_epoch_does_not_open() {
    let (mut r, _) = record(2, RecordKind::Change);
    r.epoch += 1;
    assert!(r.unwrap_key(&id(1)).is_none());
}

#[test]
fn every_truncation_is_rejected() {
    let bytes = record(2, RecordKind::Leave).0.to_bytes();
    for n in 0..bytes.len() {
        assert!(
            matches!(
                RotationRecord::decode(&bytes[..n]),
                Err(RecordError::TooShort { .. })
            ),
            "length {n}"
        );
    }
}

#[test]
fn trailing_and_oversized_bytes_are_rejected() {
    let mut bytes = record(2, RecordKind::Change).0.to_bytes();
    bytes.push(0);
    assert_eq!(
        RotationRecord::decode(&bytes),
        Err(RecordError::TrailingBytes { extra: 1 })
    );
    let huge = vec![0u8; MAX_RECORD_LEN + 1];
    assert_eq!(
        RotationRecord::decode(&huge),
        Err(RecordError::TooLong {
            len: MAX_RECORD_LEN + 1
        })
    );
}

#[test]
fn bad_header_bytes_are_rejected() {
    let bytes = record(2, RecordKind::Change).0.to_bytes();
    let with = |i: usize, v: u8| {
        let mut b = bytes.clone();
        b[i] = v;
        RotationRecord::decode(&b)
    };
    assert_eq!(with(0, 2), Err(RecordError::UnknownVersion(2)));
    assert_eq!(with(1, 3), Err(RecordError::UnknownKind(3)));
    let count = RECORD_HEADER_LEN - 1;
    assert_eq!(with(count, 0), Err(RecordError::MemberCount { n: 0 }));
    assert_eq!(
        with(RECORD_HEADER_LEN + 32, 0x02),
        Err(RecordError::UnknownFlags(2))
    );
}

#[test]
fn member_count_above_256_is_rejected_before_reading_entries() {
    let mut bytes = record(2, RecordKind::Change).0.to_bytes();
    bytes[RECORD_HEADER_LEN - 2..RECORD_HEADER_LEN].copy_from_slice(&257u16.to_be_bytes());
    assert_eq!(
        RotationRecord::decode(&bytes),
        Err(RecordError::MemberCount { n: 257 })
    );
}

#[test]
fn unsorted_or_duplicate_members_are_rejected() {
    let (mut r, _) = record(3, RecordKind::Change);
    r.entries.swap(0, 1);
    assert_eq!(
        RotationRecord::decode(&r.to_bytes()),
        Err(RecordError::Unsorted)
    );
    r.entries[0] = r.entries[1].clone();
    assert_eq!(
        RotationRecord::decode(&r.to_bytes()),
        Err(RecordError::Unsorted)
    );
}

#[test]
fn sealing_with_an_invalid_member_key_fails() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let draft = Draft {
        kind: RecordKind::Change,
        chat_id: [0; 32],
        epoch: 1,
        prev: [0; 32],
        members: vec![(id(1).signing_key(), 0), ([0; 32], 0)],
        leave_signature: None,
    };
    let key = EpochKey::random(&mut rng);
    assert_eq!(
        RotationRecord::seal(&mut rng, &id(1), draft, &key),
        Err(RecordError::BadMemberKey)
    );
}

#[test]
fn largest_record_length_is_bounded() {
    assert_eq!(MAX_RECORD_LEN, 204 + 256 * 81 + 128);
    assert_eq!(ENTRY_LEN, 81);
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (
        any::<[u8; 32]>(),
        0u8..=1,
        prop::collection::vec(any::<u8>(), 48),
    )
        .prop_map(|(member, flags, sealed)| Entry {
            member,
            flags,
            sealed_key: sealed.try_into().unwrap(),
        })
}

fn arb_record() -> impl Strategy<Value = RotationRecord> {
    let kind = prop_oneof![
        Just(RecordKind::Create),
        Just(RecordKind::Change),
        Just(RecordKind::Leave)
    ];
    let keys = any::<([u8; 32], [u8; 32], [u8; 32], [u8; 32], [u8; 32], [u8; 32])>();
    let entries = prop::collection::vec(arb_entry(), 1..=12);
    (kind, keys, any::<u64>(), entries, any::<[u8; 32]>()).prop_map(
        |(kind, k, epoch, mut entries, sig_seed)| {
            entries.sort_by_key(|e| e.member);
            entries.dedup_by(|a, b| a.member == b.member);
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&sig_seed);
            RotationRecord {
                kind,
                chat_id: k.0,
                epoch,
                prev: k.1,
                members_hash: k.2,
                key_check: k.3,
                signer: k.4,
                ephemeral: k.5,
                entries,
                leave_signature: (kind == RecordKind::Leave).then_some(signature),
                signature,
            }
        },
    )
}

proptest! {
    #[test]
    fn record_codec_round_trips(r in arb_record()) {
        let bytes = r.to_bytes();
        prop_assert_eq!(bytes.len(), r.encoded_len());
        prop_assert_eq!(RotationRecord::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = RotationRecord::decode(&bytes);
    }

    #[test]
    fn mutated_record_never_panics(i in 0usize..500, v in any::<u8>()) {
        let mut bytes = record(3, RecordKind::Leave).0.to_bytes();
        let i = i % bytes.len();
        bytes[i] = v;
        if let Ok(r) = RotationRecord::decode(&bytes) {
            prop_assert_eq!(r.to_bytes(), bytes);
        }
    }
}

#[test]
fn a_validly_wrapped_but_different_key_fails_the_key_check() {
    // A malicious signer gives member 3 another key than members 1 and 2.
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let key = EpochKey::random(&mut rng);
    let mut eph_rng = rng.clone();
    let draft = Draft {
        kind: RecordKind::Change,
        chat_id: [7; 32],
        epoch: 1,
        prev: [0; 32],
        members: (1..=3).map(|n| (id(n).signing_key(), 0)).collect(),
        leave_signature: None,
    };
    let mut r = RotationRecord::seal(&mut rng, &id(1), draft.clone(), &key).unwrap();
    let mut secret = [0u8; 32];
    eph_rng.fill_bytes(&mut secret);
    let eph = BoxKeypair::from_secret_bytes(secret);
    assert_eq!(eph.public_key().0, r.ephemeral);
    let other = EpochKey::from_bytes([0x55; 32]);
    let i = r
        .entries
        .iter()
        .position(|e| e.member == id(3).signing_key())
        .unwrap();
    r.entries[i] = wrap(&eph, &draft, id(3).signing_key(), 0, &other).unwrap();
    r.signature = sign(&id(1), &r.signing_input());
    assert!(r.signature_ok());
    assert_eq!(r.unwrap_key(&id(2)).unwrap(), key);
    assert!(r.unwrap_key(&id(3)).is_none(), "the key check catches it");
}
