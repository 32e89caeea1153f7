//! The chat's name and leave notes as members read them (no index needed: records and
//! bodies are handed over directly). Attacks: a plain member renaming the chat, an unsigned
//! name, a replayed older name, a name signed for another chat.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::crypto::Identity;
use crate::index::groupkey::Keyring;

fn keyring(seed: u8) -> Keyring {
    Keyring::new(Identity::from_seed(&[seed; 32]))
}

fn key(seed: u8) -> MemberKey {
    Identity::from_seed(&[seed; 32]).signing_key()
}

/// Alice (creator, admin) makes a chat with bob and mallory; bob's view of it.
fn setup() -> (Keyring, Keyring, GroupChats<Keyring>, ChatId) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let mut alice = keyring(1);
    let created = alice.create_chat(&mut rng, &[key(2), key(3)], &[]).unwrap();
    let mut mallory = keyring(3);
    mallory.accept(&created.record).unwrap();
    let mut bob = keyring(2);
    bob.accept(&created.record).unwrap();
    let mut chats = GroupChats::new(bob, [2; 32]);
    chats.remember(created.chat_id, "");
    (alice, mallory, chats, created.chat_id)
}

fn read_body(chats: &mut GroupChats<Keyring>, chat: &ChatId, body: Vec<u8>) -> Option<ChatLine> {
    let body = Some(Zeroizing::new(body));
    chats.line(chat, 1, "someone".into(), 0, 0, body)
}

fn name_of(chats: &GroupChats<Keyring>, chat: &ChatId) -> String {
    chats.chats()[chat].name.clone()
}

#[test]
fn only_an_admin_names_the_chat_and_old_names_do_not_come_back() {
    let (alice, mallory, mut bob, chat) = setup();
    let signed = |k: &Keyring, serial, name| SignedName::sign(k, &chat, serial, name).encode();
    assert!(read_body(&mut bob, &chat, signed(&alice, 1, "devs")).is_none());
    assert_eq!(name_of(&bob, &chat), "devs");

    // Mallory is a member, not an admin: her signed rename is ignored.
    assert!(read_body(&mut bob, &chat, signed(&mallory, 9, "pwned")).is_none());
    assert_eq!(name_of(&bob, &chat), "devs");
    // The old, unsigned name message is ignored too.
    let mut unsigned = vec![META];
    unsigned.extend_from_slice(b"evil");
    assert!(read_body(&mut bob, &chat, unsigned).is_none());
    assert_eq!(name_of(&bob, &chat), "devs");
    // Mallory re-signs alice's name under her own key: the signer is still mallory.
    let mut stolen = signed(&alice, 5, "pwned");
    let signer_at = stolen.len() - 96;
    stolen[signer_at..signer_at + 32].copy_from_slice(&key(3));
    assert!(read_body(&mut bob, &chat, stolen).is_none());
    assert_eq!(name_of(&bob, &chat), "devs");

    // A newer admin name wins; replaying the older one (a lower serial) changes nothing.
    let old = signed(&alice, 1, "devs");
    read_body(&mut bob, &chat, signed(&alice, 2, "dev team"));
    assert_eq!(name_of(&bob, &chat), "dev team");
    read_body(&mut bob, &chat, old);
    assert_eq!(name_of(&bob, &chat), "dev team");
    // A name alice signed for another chat does not apply here.
    let other = SignedName::sign(&alice, &[7; 32], 3, "elsewhere").encode();
    read_body(&mut bob, &chat, other);
    assert_eq!(name_of(&bob, &chat), "dev team");
    // The taken message is kept verbatim, for reposting after an add.
    assert_eq!(
        bob.chats()[&chat].name_message,
        signed(&alice, 2, "dev team")
    );
}

#[test]
fn leave_notes_are_collected_and_texts_cannot_pose_as_control_messages() {
    let (_, mallory, mut bob, chat) = setup();
    let note = mallory.leave_note(&chat).unwrap();
    assert!(read_body(&mut bob, &chat, encode_leave(&note)).is_none());
    assert_eq!(bob.leaves.len(), 1);
    assert_eq!(bob.leaves[0].0, note);
    assert_eq!(bob.leaves[0].1, "someone");
    // A truncated note is not collected.
    let mut short = encode_leave(&note);
    short.pop();
    read_body(&mut bob, &chat, short);
    assert_eq!(bob.leaves.len(), 1);
    // Ordinary text is a line.
    assert!(read_body(&mut bob, &chat, b"hello".to_vec()).is_some());
}
