use std::collections::HashSet;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::wire::{GetNodes, MAX_SIGNED_PAYLOAD};

fn hex32(s: &str) -> PublicKey {
    s.parse().unwrap()
}

/// wire-2014.md §5: X25519 base-point multiplication of the fixed secrets.
#[test]
fn fixed_secrets_give_the_reference_public_keys() {
    let cases = [
        (
            0x11,
            "7B4E909BBE7FFE44C465A220037D608EE35897D31EF972F07F74892CB0F73F13",
        ),
        (
            0x22,
            "0FAA684ED28867B97F4A6A2DEE5DF8CE974E76B7018E3F22A1C4CF2678570F20",
        ),
        (
            0x33,
            "7B0D47D93427F8311160781C7C733FD89F88970AEF490D8AA0EE19A4CB8A1B14",
        ),
        (
            0x44,
            "FF2EE45601EC1B67310C7790404585AE697331EEE1C1F8CF2419731C1FFF3E6B",
        ),
    ];
    for (byte, pk) in cases {
        assert_eq!(
            BoxKeypair::from_secret_bytes([byte; 32]).public_key(),
            hex32(pk)
        );
    }
}

#[test]
fn identity_x25519_key_is_derived_from_the_signing_key() {
    let id = Identity::from_seed(&[7; 32]);
    let vk = VerifyingKey::from_bytes(&id.signing_key()).unwrap();
    assert_eq!(vk.to_montgomery().to_bytes(), id.public_key().0);
    let again = Identity::from_seed(&id.seed());
    assert_eq!(again.public_key(), id.public_key());
}

#[test]
fn debug_prints_no_secret() {
    let id = Identity::from_seed(&[0x5A; 32]);
    let text = format!("{id:?} {:?}", id.keypair());
    assert!(!text.contains("5A5A"), "{text}");
    assert!(
        !text
            .to_lowercase()
            .contains(&hex::encode(*id.keypair().secret_bytes()))
    );
}

fn pair() -> (BoxKeypair, BoxKeypair) {
    (
        BoxKeypair::from_secret_bytes([0x11; 32]),
        BoxKeypair::from_secret_bytes([0x22; 32]),
    )
}

fn sealed_get_nodes(alice: &BoxKeypair, bob: &BoxKeypair) -> Vec<u8> {
    let shared = precompute(alice, &bob.public_key());
    let mut out = Vec::new();
    let payload = Payload::GetNodes(GetNodes { ping_id: [9; 8] });
    let nonce = [0x42; 24];
    seal_packet(
        &shared,
        &bob.public_key(),
        &alice.public_key(),
        &nonce,
        &payload,
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn seal_then_open_round_trips() {
    let (alice, bob) = pair();
    let datagram = sealed_get_nodes(&alice, &bob);
    assert_eq!(datagram.len(), 114);
    let mut keys = SharedKeys::new(NonZeroUsize::new(4).unwrap());
    let mut scratch = [0u8; MAX_PLAINTEXT];
    let (sender, plain) = open_datagram(&bob, &mut keys, &datagram, &mut scratch).unwrap();
    assert_eq!(sender, alice.public_key());
    assert_eq!(plain, &[48, 9, 9, 9, 9, 9, 9, 9, 9]);
}

#[test]
fn wrong_key_fails() {
    let (alice, bob) = pair();
    let datagram = sealed_get_nodes(&alice, &bob);
    let carol = BoxKeypair::from_secret_bytes([0x33; 32]);
    let mut keys = SharedKeys::new(NonZeroUsize::new(4).unwrap());
    let mut scratch = [0u8; MAX_PLAINTEXT];
    let r = open_datagram(&carol, &mut keys, &datagram, &mut scratch);
    assert_eq!(r.unwrap_err(), DatagramError::NotForUs);
    let env = Envelope::new_checked(&datagram[..]).unwrap();
    let wrong = precompute(&carol, &alice.public_key());
    assert_eq!(open_packet(&wrong, &env, &mut scratch), Err(OpenError));
}

#[test]
fn truncated_packet_fails() {
    let (alice, bob) = pair();
    let datagram = sealed_get_nodes(&alice, &bob);
    let mut keys = SharedKeys::new(NonZeroUsize::new(4).unwrap());
    let mut scratch = [0u8; MAX_PLAINTEXT];
    for len in 0..datagram.len() {
        assert!(open_datagram(&bob, &mut keys, &datagram[..len], &mut scratch).is_err());
    }
}

#[test]
fn every_single_bit_flip_fails() {
    let (alice, bob) = pair();
    let datagram = sealed_get_nodes(&alice, &bob);
    let mut keys = SharedKeys::new(NonZeroUsize::new(4).unwrap());
    let mut scratch = [0u8; MAX_PLAINTEXT];
    for bit in 0..datagram.len() * 8 {
        let mut bad = datagram.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(
            open_datagram(&bob, &mut keys, &bad, &mut scratch).is_err(),
            "bit {bit} flipped still opens"
        );
    }
}

#[test]
fn shared_key_cache_is_bounded_and_counts() {
    let ours = BoxKeypair::from_secret_bytes([0x11; 32]);
    let mut keys = SharedKeys::new(NonZeroUsize::new(2).unwrap());
    for i in 0..5u8 {
        let theirs = BoxKeypair::from_secret_bytes([i + 0x40; 32]).public_key();
        keys.get(&ours, &theirs).unwrap();
        keys.get(&ours, &theirs).unwrap();
    }
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.counters(), (5, 5));
}

/// `get_or_admit` asks its gate only on a miss of an acceptable key; a refused miss leaves
/// the cache and its counters as they were; a full cache evicts only for an admitted miss.
#[test]
fn get_or_admit_asks_the_gate_only_on_a_miss() {
    let ours = BoxKeypair::from_secret_bytes([0x11; 32]);
    let theirs = |i: u8| BoxKeypair::from_secret_bytes([i + 0x40; 32]).public_key();
    let mut keys = SharedKeys::new(NonZeroUsize::new(2).unwrap());
    let mut asked = 0;
    let refused = keys.get_or_admit(&ours, &theirs(0), || {
        asked += 1;
        false
    });
    assert_eq!(refused.err(), Some(KeyMiss::Refused));
    assert_eq!((asked, keys.len(), keys.counters()), (1, 0, (0, 0)));
    let tag = |k: &SalsaBox| seal_in_place(k, &[7; NONCE_LEN], &mut [1, 2, 3]);
    let got = tag(keys.get_or_admit(&ours, &theirs(0), || true).unwrap());
    assert_eq!(got, tag(&precompute(&ours, &theirs(0))));
    assert!(
        keys.get_or_admit(&ours, &theirs(0), || panic!("hit"))
            .is_ok()
    );
    assert_eq!(keys.counters(), (1, 1));
    keys.get_or_admit(&ours, &theirs(1), || true).unwrap();
    // Full: a refused miss evicts nothing.
    let refused = keys.get_or_admit(&ours, &theirs(2), || false);
    assert_eq!(refused.err(), Some(KeyMiss::Refused));
    assert!(keys.contains(&ours.public_key(), &theirs(0)));
    assert!(keys.contains(&ours.public_key(), &theirs(1)));
    keys.get_or_admit(&ours, &theirs(2), || true).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        !keys.contains(&ours.public_key(), &theirs(0)),
        "least recent"
    );
    let low = keys.get_or_admit(&ours, &PublicKey([0; 32]), || panic!("asked"));
    assert_eq!(low.err(), Some(KeyMiss::BadKey));
    assert_eq!(keys.counters(), (1, 3));
}

#[test]
fn low_order_keys_are_refused() {
    let ours = BoxKeypair::from_secret_bytes([0x11; 32]);
    let mut keys = SharedKeys::new(NonZeroUsize::new(2).unwrap());
    assert!(keys.get(&ours, &PublicKey([0; 32])).is_none());
    let mut one = [0u8; 32];
    one[0] = 1;
    one[31] = 0x80;
    assert!(keys.get(&ours, &PublicKey(one)).is_none());
    let mut high = BoxKeypair::from_secret_bytes([0x22; 32]).public_key();
    high.0[31] |= 0x80;
    assert!(keys.get(&ours, &high).is_none(), "top bit set");
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    assert!(!is_canonical(&PublicKey(p)));
    p[0] = 0xec;
    assert!(is_canonical(&PublicKey(p)));
    assert!(keys.is_empty());
}

fn chat(origin: PublicKey, body: &[u8]) -> Broadcast<'_> {
    Broadcast {
        origin,
        number: 1,
        message_id: 64,
        body,
        trailer: None,
    }
}

#[test]
fn signed_broadcast_verifies_and_tampering_fails() {
    let id = Identity::from_seed(&[1; 32]);
    let chat_id = [0xC1; 32];
    let mut b = chat(id.public_key(), b"hello");
    b.trailer = Some(id.sign_broadcast(&chat_id, &b).unwrap());
    assert_eq!(verify_broadcast(&chat_id, &b), Ok(()));
    assert_eq!(
        verify_broadcast(&[0xC2; 32], &b),
        Err(VerifyError::BadSignature)
    );
    let tampered = Broadcast {
        body: b"hellO",
        ..b
    };
    assert_eq!(
        verify_broadcast(&chat_id, &tampered),
        Err(VerifyError::BadSignature)
    );
    let renumbered = Broadcast { number: 2, ..b };
    assert!(verify_broadcast(&chat_id, &renumbered).is_err());
    assert_eq!(
        verify_broadcast(&chat_id, &Broadcast { trailer: None, ..b }),
        Err(VerifyError::Unsigned)
    );
}

#[test]
fn a_relay_cannot_sign_as_another_origin() {
    let alice = Identity::from_seed(&[1; 32]);
    let relay = Identity::from_seed(&[2; 32]);
    let chat_id = [0xC1; 32];
    let mut forged = chat(alice.public_key(), b"pwned");
    forged.trailer = Some(relay.sign_broadcast(&chat_id, &forged).unwrap());
    assert_eq!(
        verify_broadcast(&chat_id, &forged),
        Err(VerifyError::SignerMismatch)
    );
}

#[test]
fn cached_signer_key_checks_origin_and_key() {
    let alice = Identity::from_seed(&[1; 32]);
    let bob = Identity::from_seed(&[2; 32]);
    let chat_id = [0xC1; 32];
    let signer = SignerKey::new(alice.public_key(), &alice.signing_key()).unwrap();
    let mut b = chat(bob.public_key(), b"x");
    b.trailer = Some(bob.sign_broadcast(&chat_id, &b).unwrap());
    assert_eq!(
        signer.verify(&chat_id, &b),
        Err(VerifyError::SignerMismatch)
    );
    assert_eq!(
        SignerKey::new(alice.public_key(), &bob.signing_key()).unwrap_err(),
        VerifyError::SignerMismatch
    );
}

/// `SignerKey::verify` does not test the key for small order again (`crypto/strict.rs`,
/// `verify_strict_not_weak`): `SignerKey::new` must refuse every weak key.
#[test]
fn a_signer_key_is_never_weak() {
    let mut refused = 0;
    for enc in strict::SMALL_ORDER {
        let key = VerifyingKey::from_bytes(&enc).expect("a point");
        assert!(key.is_weak());
        let origin = PublicKey(key.to_montgomery().to_bytes());
        assert_eq!(
            SignerKey::new(origin, &enc).unwrap_err(),
            VerifyError::BadSignerKey
        );
        refused += 1;
    }
    assert_eq!(refused, 8);
}

#[test]
fn signing_refuses_an_oversized_body() {
    let id = Identity::from_seed(&[1; 32]);
    let body = vec![0u8; MAX_SIGNED_PAYLOAD + 1];
    let b = chat(id.public_key(), &body);
    assert!(id.sign_broadcast(&[0; 32], &b).is_err());
    let ok = vec![0u8; MAX_SIGNED_PAYLOAD];
    assert!(
        id.sign_broadcast(&[0; 32], &chat(id.public_key(), &ok))
            .is_ok()
    );
}

#[test]
fn random_nonces_do_not_repeat() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let nonces: HashSet<_> = (0..10_000).map(|_| random_nonce(&mut rng)).collect();
    assert_eq!(nonces.len(), 10_000);
}

/// The secret-holding types wipe themselves on drop: the signing key by `ZeroizeOnDrop`,
/// the X25519 secret and the precomputed shared key (`SalsaBox`) by their `Drop` impls.
#[test]
fn secrets_are_zeroized_on_drop() {
    fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    zeroize_on_drop::<SigningKey>();
    assert!(std::mem::needs_drop::<SecretKey>());
    assert!(std::mem::needs_drop::<SalsaBox>());
    assert!(std::mem::needs_drop::<Identity>());
}

/// A prepared [`Mac1Key`] gives exactly [`mac1`]'s result, also for bytes whose prefix is not
/// its receiver's (it then computes it afresh), and its check refuses any changed byte.
#[test]
fn prepared_mac1_equals_mac1() {
    let receivers = [
        PublicKey([3; 32]),
        PublicKey([0xA5; 32]),
        PublicKey([0; 32]),
    ];
    for (i, receiver) in receivers.iter().enumerate() {
        let key = Mac1Key::new(receiver);
        for cookie in [None, Some([i as u8; COOKIE_LEN])] {
            let counter = [i as u8 + 1; NONCE_RANDOM_LEN];
            let sender = PublicKey([0x40 + i as u8; 32]);
            let nonce = mac1_nonce(&counter, cookie.as_ref(), receiver, &sender);
            assert_eq!(
                nonce,
                mac1_nonce_with(&key, &counter, cookie.as_ref(), &sender)
            );
            let mut datagram = vec![crate::wire::ENVELOPE_ID];
            datagram.extend_from_slice(&receiver.0);
            datagram.extend_from_slice(&sender.0);
            datagram.extend_from_slice(&nonce);
            datagram.extend_from_slice(&[7; 40]);
            assert_eq!(
                key.mac(&datagram[..MAC1_COVERS]),
                mac1(receiver, &datagram[..MAC1_COVERS])
            );
            assert!(key.check(&datagram) && check_mac1(receiver, &datagram));
            for at in [0, 1, 32, 33, 70, MAC1_COVERS - 1, MAC1_COVERS + 3] {
                let mut bad = datagram.clone();
                bad[at] ^= 1;
                assert_eq!(
                    key.mac(&bad[..MAC1_COVERS]),
                    mac1(receiver, &bad[..MAC1_COVERS])
                );
                assert!(!key.check(&bad), "byte {at} changed");
            }
            assert!(!key.check(&datagram[..MAC1_COVERS + 4]), "too short");
        }
    }
}

/// The mac1 cache is bounded and returns the receiver's own prepared state.
#[test]
fn mac1_cache_is_bounded() {
    let mut keys = SharedKeys::new(NonZeroUsize::new(8).unwrap());
    let covered = [9u8; MAC1_COVERS];
    for i in 0..(MAC1_CACHE as u32 + 40) {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_le_bytes());
        let r = PublicKey(k);
        assert_eq!(keys.mac1(&r).mac(&covered), mac1(&r, &covered));
        assert!(keys.mac1_len() <= MAC1_CACHE);
    }
    assert_eq!(keys.mac1_len(), MAC1_CACHE);
}
