//! Attacks on the group-chat key epochs (issue #14, index part 2): removed members, packet
//! captures, concurrent rotations, offline members, forged and malformed records, and the
//! golden vectors of the PROTOCOL.md appendix.

use std::collections::BTreeMap;

use dhtchat::crypto::Identity;
use dhtchat::index::groupkey::message::{self, MESSAGE_HEADER_LEN};
use dhtchat::index::groupkey::{
    ChainHead, Change, ChatId, ENTRY_LEN, EpochKey, GroupKeySchedule, Keyring, LeaveNote,
    MemberKey, RECORD_HEADER_LEN, RecordError, Reject, RotationRecord, SIGNATURE_LEN,
    ScheduleError,
};
use dhtchat::wire::{MAX_DATA, MAX_DATAGRAM};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const PROTOCOL: &str = include_str!("../PROTOCOL.md");

fn id(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn key(n: u8) -> MemberKey {
    id(n).signing_key()
}

fn rng(n: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([n; 32])
}

/// The index's part in miniature: one chain head per chat, the first valid record for e+1
/// wins, the log of winners is what offline members fetch at login, and a capture of every
/// byte that crossed the wire.
struct Index {
    heads: BTreeMap<ChatId, ChainHead>,
    log: BTreeMap<ChatId, Vec<Vec<u8>>>,
    messages: Vec<Vec<u8>>,
    capture: Vec<u8>,
}

impl Index {
    fn new() -> Self {
        Self {
            heads: BTreeMap::new(),
            log: BTreeMap::new(),
            messages: Vec::new(),
            capture: Vec::new(),
        }
    }

    fn submit(&mut self, bytes: &[u8]) -> Result<(), Reject> {
        self.capture.extend_from_slice(bytes);
        let chat = RotationRecord::peek_chat_id(bytes)?;
        let (_, next) = ChainHead::judge(self.heads.get(&chat), bytes)?;
        self.heads.insert(chat, next);
        self.log.entry(chat).or_default().push(bytes.to_vec());
        Ok(())
    }

    fn post(&mut self, sealed: Vec<u8>) {
        self.capture.extend_from_slice(&sealed);
        self.messages.push(sealed);
    }

    /// Records after `epoch` (all of them for `None`): what a client fetches at login.
    fn records_after(&self, chat: &ChatId, epoch: Option<u64>) -> Vec<Vec<u8>> {
        let from = epoch.map_or(0, |e| e as usize + 1);
        self.log[chat].iter().skip(from).cloned().collect()
    }
}

/// Catches `k` up with the index on `chat`.
fn sync(k: &mut Keyring, index: &Index, chat: &ChatId) {
    for r in index.records_after(chat, k.current_epoch(chat)) {
        k.accept(&r).unwrap();
    }
}

/// A (1) creates a chat with B (2, admin) and M (3); all three are synced.
fn three_member_chat(index: &mut Index, r: &mut ChaCha20Rng) -> (ChatId, [Keyring; 3]) {
    let mut a = Keyring::new(id(1));
    let created = a.create_chat(r, &[key(2), key(3)], &[key(2)]).unwrap();
    index.submit(&created.record).unwrap();
    let (mut b, mut m) = (Keyring::new(id(2)), Keyring::new(id(3)));
    sync(&mut b, index, &created.chat_id);
    sync(&mut m, index, &created.chat_id);
    (created.chat_id, [a, b, m])
}

/// True if `needle` occurs anywhere in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn removed_member_cannot_read_the_next_epoch_with_anything_it_held() {
    let (mut index, mut r) = (Index::new(), rng(1));
    let (chat, [mut a, mut b, mut m]) = three_member_chat(&mut index, &mut r);
    index.post(m.seal(&mut r, &chat, b"epoch 0 from M").unwrap());
    let removal = a
        .rotate(&mut r, &chat, &Change::Remove(vec![key(3)]))
        .unwrap();
    index.submit(&removal).unwrap();
    for k in [&mut a, &mut b, &mut m] {
        sync(k, &index, &chat);
    }
    assert_eq!(m.current_epoch(&chat), Some(1), "M sees the chain move on");
    assert_eq!(
        m.readable_epochs(&chat),
        vec![0],
        "but holds no key of epoch 1"
    );
    let secret = b"epoch 1: M is gone";
    index.post(a.seal(&mut r, &chat, secret).unwrap());
    let sealed = index.messages.last().unwrap().clone();
    assert_eq!(b.open(&sealed).unwrap().2.as_slice(), secret);
    assert_eq!(m.open(&sealed), Err(ScheduleError::NoKey { epoch: 1 }));

    // Everything M ever held or saw: its keys, its old epoch key, every byte captured.
    let rec = RotationRecord::decode(&removal).unwrap();
    let mut candidates: Vec<[u8; 32]> = vec![*id(3).seed(), *id(3).keypair().secret_bytes()];
    candidates.push(*m.epoch_key(&chat, 0).unwrap().expose());
    candidates.extend(
        index
            .capture
            .windows(32)
            .map(|w| <[u8; 32]>::try_from(w).unwrap()),
    );
    for c in &candidates {
        let guess = EpochKey::from_bytes(*c);
        assert_ne!(guess.check_value(&chat, 1), rec.key_check);
        assert!(message::open(&guess, &sealed).is_err());
    }
    // M's own X25519 key opens no wrap of the new record, whoever's slot it tries.
    for e in &rec.entries {
        let mut as_m = rec.clone();
        as_m.entries = vec![dhtchat::index::groupkey::Entry {
            member: key(3),
            ..e.clone()
        }];
        assert!(as_m.unwrap_key(&id(3)).is_none());
    }
}

#[test]
fn capture_of_a_whole_rotation_contains_no_raw_key() {
    let (mut index, mut r) = (Index::new(), rng(2));
    let (chat, [mut a, mut b, mut m]) = three_member_chat(&mut index, &mut r);
    let mut d = Keyring::new(id(4));
    index.post(a.seal(&mut r, &chat, b"epoch 0").unwrap());
    let add = b.rotate(&mut r, &chat, &Change::Add(vec![key(4)])).unwrap();
    index.submit(&add).unwrap();
    for k in [&mut a, &mut b, &mut m, &mut d] {
        sync(k, &index, &chat);
    }
    index.post(d.seal(&mut r, &chat, b"epoch 1").unwrap());
    let removal = a
        .rotate(&mut r, &chat, &Change::Remove(vec![key(3)]))
        .unwrap();
    index.submit(&removal).unwrap();
    for k in [&mut a, &mut b, &mut m, &mut d] {
        sync(k, &index, &chat);
    }
    index.post(b.seal(&mut r, &chat, b"epoch 2").unwrap());
    for e in 0..=2 {
        let key = a.epoch_key(&chat, e).unwrap();
        assert!(
            !contains(&index.capture, key.expose()),
            "epoch {e} key in clear"
        );
        assert!(
            !contains(&index.capture, &key.expose()[..12]),
            "epoch {e} key prefix"
        );
    }
    assert_eq!(a.epoch_key(&chat, 2), b.epoch_key(&chat, 2));
    assert_eq!(a.epoch_key(&chat, 2), d.epoch_key(&chat, 2));
    assert!(m.epoch_key(&chat, 2).is_none());
}

#[test]
fn concurrent_rotations_one_wins_the_loser_redoes_and_all_converge() {
    let (mut index, mut r) = (Index::new(), rng(3));
    let (chat, [mut a, mut b, mut m]) = three_member_chat(&mut index, &mut r);
    index.post(a.seal(&mut r, &chat, b"before the race").unwrap());
    let add = Change::Add(vec![key(4)]);
    let remove = Change::Remove(vec![key(3)]);
    let by_a = a.rotate(&mut r, &chat, &add).unwrap();
    let by_b = b.rotate(&mut r, &chat, &remove).unwrap();
    index.submit(&by_a).unwrap();
    assert_eq!(
        index.submit(&by_b),
        Err(Reject::StaleEpoch { head: 1, got: 1 })
    );
    // B lost: it fetches the winner, sends on epoch 1, then redoes its change.
    sync(&mut b, &index, &chat);
    index.post(b.seal(&mut r, &chat, b"between").unwrap());
    let redo = b.rotate(&mut r, &chat, &remove).unwrap();
    index.submit(&redo).unwrap();
    let mut d = Keyring::new(id(4));
    for k in [&mut a, &mut b, &mut m, &mut d] {
        sync(k, &index, &chat);
    }
    index.post(d.seal(&mut r, &chat, b"after").unwrap());
    let k2 = a.epoch_key(&chat, 2).unwrap();
    assert_eq!(Some(k2), b.epoch_key(&chat, 2));
    assert_eq!(Some(k2), d.epoch_key(&chat, 2));
    assert!(m.epoch_key(&chat, 2).is_none());
    // No message lost: everyone who belonged to an epoch reads its messages.
    let read = |k: &Keyring| index.messages.iter().filter(|s| k.open(s).is_ok()).count();
    assert_eq!((read(&a), read(&b)), (3, 3));
    assert_eq!((read(&d), read(&m)), (2, 2));
}

#[test]
fn two_admins_removing_the_same_member_converge_without_a_second_rotation() {
    let (mut index, mut r) = (Index::new(), rng(4));
    let (chat, [mut a, mut b, _m]) = three_member_chat(&mut index, &mut r);
    let remove = Change::Remove(vec![key(3)]);
    let by_b = b.rotate(&mut r, &chat, &remove).unwrap();
    let by_a = a.rotate(&mut r, &chat, &remove).unwrap();
    index.submit(&by_b).unwrap();
    assert!(matches!(
        index.submit(&by_a),
        Err(Reject::StaleEpoch { .. })
    ));
    sync(&mut a, &index, &chat);
    assert_eq!(
        a.rotate(&mut r, &chat, &remove),
        Err(ScheduleError::NoChange)
    );
    sync(&mut b, &index, &chat);
    assert_eq!(a.epoch_key(&chat, 1), b.epoch_key(&chat, 1));
}

#[test]
fn offline_member_reads_the_epochs_it_belonged_to_and_none_other() {
    let (mut index, mut r) = (Index::new(), rng(5));
    let (chat, [mut a, _b, mut o]) = three_member_chat(&mut index, &mut r);
    index.post(a.seal(&mut r, &chat, b"e0").unwrap());
    // O goes offline. Two rotations: D joins (e1), E joins (e2). Then O is removed (e3)
    // and re-added (e4).
    let steps = [
        Change::Add(vec![key(4)]),
        Change::Add(vec![key(5)]),
        Change::Remove(vec![key(3)]),
        Change::Add(vec![key(3)]),
    ];
    for (i, step) in steps.iter().enumerate() {
        let rec = a.rotate(&mut r, &chat, step).unwrap();
        index.submit(&rec).unwrap();
        a.accept(&rec).unwrap();
        index.post(
            a.seal(&mut r, &chat, format!("e{}", i + 1).as_bytes())
                .unwrap(),
        );
    }
    // O logs in: fetches the records it missed and the stored messages.
    sync(&mut o, &index, &chat);
    assert_eq!(o.readable_epochs(&chat), vec![0, 1, 2, 4]);
    let opened: Vec<u64> = index
        .messages
        .iter()
        .filter_map(|s| o.open(s).ok())
        .map(|x| x.1)
        .collect();
    assert_eq!(opened, vec![0, 1, 2, 4]);
    let e3 = &index.messages[3];
    assert_eq!(o.open(e3), Err(ScheduleError::NoKey { epoch: 3 }));
    // D, added at e1, reads nothing from before it joined.
    let mut d = Keyring::new(id(4));
    sync(&mut d, &index, &chat);
    assert_eq!(d.readable_epochs(&chat), vec![1, 2, 3, 4]);
    assert!(d.open(&index.messages[0]).is_err());
}

#[test]
fn forged_replayed_and_malformed_records_are_rejected() {
    let (mut index, mut r) = (Index::new(), rng(6));
    let (chat, [a, mut b, _m]) = three_member_chat(&mut index, &mut r);
    let good = a.rotate(&mut r, &chat, &Change::Add(vec![key(4)])).unwrap();
    let mut forged = good.clone();
    *forged.last_mut().unwrap() ^= 1;
    let bad_sig = Err(ScheduleError::Rejected(Reject::BadSignature));
    assert_eq!(b.accept(&forged), bad_sig);
    let mut hash = good.clone();
    hash[74] ^= 1; // member-set hash
    assert_eq!(
        b.accept(&hash),
        Err(ScheduleError::Rejected(Reject::MemberSetHash))
    );
    b.accept(&good).unwrap();
    let replay = Err(ScheduleError::Rejected(Reject::StaleEpoch {
        head: 1,
        got: 1,
    }));
    assert_eq!(b.accept(&good), replay);
    let genesis = index.log[&chat][0].clone();
    assert!(matches!(
        b.accept(&genesis),
        Err(ScheduleError::Rejected(Reject::StaleEpoch { .. }))
    ));
    let short = &good[..good.len() - 1];
    assert!(matches!(
        b.accept(short),
        Err(ScheduleError::Record(RecordError::TooShort { .. }))
    ));
    let mut long = good.clone();
    long.push(0);
    let trailing = Err(ScheduleError::Record(RecordError::TrailingBytes {
        extra: 1,
    }));
    assert_eq!(b.accept(&long), trailing);
    let huge = vec![1u8; 30_000];
    assert!(matches!(
        b.accept(&huge),
        Err(ScheduleError::Record(RecordError::TooLong { .. }))
    ));
    assert_eq!(b.current_epoch(&chat), Some(1));
}

#[test]
fn a_signed_record_with_a_broken_wrap_gives_that_member_no_key() {
    let (mut index, mut r) = (Index::new(), rng(7));
    let (chat, [a, mut b, mut m]) = three_member_chat(&mut index, &mut r);
    let mut bytes = a.rotate(&mut r, &chat, &Change::Rekey).unwrap();
    // A malicious signer breaks M's wrap and signs the record anyway.
    let rec = RotationRecord::decode(&bytes).unwrap();
    let i = rec.entries.iter().position(|e| e.member == key(3)).unwrap();
    bytes[RECORD_HEADER_LEN + i * ENTRY_LEN + 40] ^= 1;
    let body = bytes.len() - SIGNATURE_LEN;
    let input = [&b"dhtchat/gkey/record/v1"[..], &bytes[..body]].concat();
    let signing = ed25519_dalek::SigningKey::from_bytes(&id(1).seed());
    let sig = ed25519_dalek::Signer::sign(&signing, &input).to_bytes();
    bytes[body..].copy_from_slice(&sig);
    assert!(b.accept(&bytes).unwrap().got_key);
    let at_m = m.accept(&bytes).unwrap();
    assert_eq!((at_m.epoch, at_m.got_key), (1, false));
    assert_eq!(m.readable_epochs(&chat), vec![0]);
}

#[test]
fn a_leaver_signs_a_note_and_any_remaining_member_rotates_it_out() {
    let (mut index, mut r) = (Index::new(), rng(10));
    let (chat, [mut a, mut b, mut m]) = three_member_chat(&mut index, &mut r);
    let add = a.rotate(&mut r, &chat, &Change::Add(vec![key(4)])).unwrap();
    index.submit(&add).unwrap();
    let mut d = Keyring::new(id(4));
    for k in [&mut a, &mut b, &mut m, &mut d] {
        sync(k, &index, &chat);
    }
    // D leaves; M, a plain member, makes the record (it could not remove D on its own).
    let note = d.leave_note(&chat).unwrap();
    let kick = Change::Remove(vec![key(4)]);
    assert_eq!(
        m.rotate(&mut r, &chat, &kick),
        Err(ScheduleError::NotAllowed)
    );
    let leave = m
        .rotate(&mut r, &chat, &Change::Leave(note.clone()))
        .unwrap();
    index.submit(&leave).unwrap();
    // The same note cannot be used again on the next epoch.
    for k in [&mut a, &mut b, &mut m, &mut d] {
        sync(k, &index, &chat);
    }
    let replay = a.rotate(&mut r, &chat, &Change::Leave(note));
    assert_eq!(replay, Err(ScheduleError::NotAllowed));
    index.post(m.seal(&mut r, &chat, b"D is gone").unwrap());
    let last = index.messages.last().unwrap();
    assert_eq!(d.open(last), Err(ScheduleError::NoKey { epoch: 2 }));
    assert!(a.open(last).is_ok() && b.open(last).is_ok());
    // A leaver cannot make its own leave record: the key maker always stays.
    let own = LeaveNote::sign(&id(3), &chat, 2);
    assert_eq!(
        m.rotate(&mut r, &chat, &Change::Leave(own)),
        Err(ScheduleError::NotAllowed)
    );
}

fn hash_of(bytes: &[u8]) -> [u8; 32] {
    RotationRecord::decode(bytes).unwrap().hash()
}

#[test]
fn an_invited_member_joins_from_the_record_named_in_its_invite() {
    let (mut index, mut r) = (Index::new(), rng(8));
    let (chat, [mut a, _b, _m]) = three_member_chat(&mut index, &mut r);
    index.post(a.seal(&mut r, &chat, b"before D").unwrap());
    let add = a.rotate(&mut r, &chat, &Change::Add(vec![key(4)])).unwrap();
    index.submit(&add).unwrap();
    sync(&mut a, &index, &chat);
    index.post(a.seal(&mut r, &chat, b"welcome D").unwrap());
    // The invite carries the creator and the hash of the record that added D.
    let mut d = Keyring::new(id(4));
    let mut forged_hash = hash_of(&add);
    forged_hash[0] ^= 1;
    assert_eq!(
        d.join(key(1), &add, &forged_hash),
        Err(ScheduleError::Untrusted)
    );
    assert!(d.join(key(1), &add, &hash_of(&add)).unwrap().got_key);
    assert!(d.open(&index.messages[0]).is_err());
    assert_eq!(
        d.open(&index.messages[1]).unwrap().2.as_slice(),
        b"welcome D"
    );
    let removal = a
        .rotate(&mut r, &chat, &Change::Remove(vec![key(3)]))
        .unwrap();
    index.submit(&removal).unwrap();
    sync(&mut a, &index, &chat);
    sync(&mut d, &index, &chat);
    assert_eq!(d.epoch_key(&chat, 2), a.epoch_key(&chat, 2));
}

#[test]
fn a_second_device_restores_a_chat_from_the_account_list() {
    let (mut index, mut r) = (Index::new(), rng(9));
    let (chat, [mut a, mut b, _m]) = three_member_chat(&mut index, &mut r);
    index.post(a.seal(&mut r, &chat, b"e0").unwrap());
    let add = a.rotate(&mut r, &chat, &Change::Add(vec![key(4)])).unwrap();
    index.submit(&add).unwrap();
    sync(&mut a, &index, &chat);
    sync(&mut b, &index, &chat);
    index.post(a.seal(&mut r, &chat, b"e1").unwrap());
    // B's account list holds the chat id, the last record's hash and the epoch keys.
    let mut b2 = Keyring::new(id(2));
    b2.join(key(1), &add, &hash_of(&add)).unwrap();
    let old = b.epoch_key(&chat, 0).unwrap().clone();
    b2.restore_key(&chat, 0, old).unwrap();
    assert_eq!(b2.readable_epochs(&chat), vec![0, 1]);
    assert!(index.messages.iter().all(|m| b2.open(m).is_ok()));
    assert_eq!(b2.head(&chat), b.head(&chat));
}

#[test]
fn the_index_drops_malformed_records_with_a_typed_reason() {
    let mut index = Index::new();
    assert!(matches!(
        index.submit(&[]),
        Err(Reject::Malformed(RecordError::TooShort { .. }))
    ));
    assert!(matches!(
        index.submit(&vec![1u8; 30_000]),
        Err(Reject::Malformed(RecordError::TooLong { .. }))
    ));
    assert_eq!(
        index.submit(&[9; 40]),
        Err(Reject::Malformed(RecordError::UnknownVersion(9)))
    );
    assert!(index.heads.is_empty() && index.log.is_empty());
}

#[test]
fn record_sizes_per_datagram() {
    let fixed = RECORD_HEADER_LEN + SIGNATURE_LEN;
    assert_eq!((fixed, ENTRY_LEN), (268, 81));
    let per_datagram = (MAX_DATAGRAM - fixed) / ENTRY_LEN;
    let per_envelope = (MAX_DATA - fixed) / ENTRY_LEN;
    assert_eq!((per_datagram, per_envelope), (9, 8));
    assert_eq!(MESSAGE_HEADER_LEN, 80);
}

// ---- golden vectors (PROTOCOL.md appendix) ----

/// The ```gkey-vector blocks: `key: hex` fields, `#` comments, indented continuation lines.
fn vectors() -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut lines = PROTOCOL.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() != "```gkey-vector" {
            continue;
        }
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut current = String::new();
        for raw in lines.by_ref().take_while(|l| l.trim_end() != "```") {
            let line = raw.split('#').next().unwrap_or_default();
            if line.trim().is_empty() {
                continue;
            }
            if line.starts_with(char::is_whitespace) {
                if let Some(v) = fields.get_mut(&current) {
                    v.push_str(line.trim());
                }
            } else {
                let (k, v) = line.split_once(':').unwrap();
                current = k.trim().to_owned();
                fields.insert(current.clone(), v.trim().to_owned());
            }
        }
        out.push(fields);
    }
    out
}

fn field<'a>(v: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    v.get(k).unwrap_or_else(|| panic!("vector field {k}"))
}

fn hex_of(v: &BTreeMap<String, String>, k: &str) -> Vec<u8> {
    hex::decode(field(v, k).replace(' ', "")).unwrap()
}

/// The fixed-seed chat of the vectors: creator seed 0x11…, member seed 0x22…, RNG seed 0x33….
fn golden() -> (Keyring, ChatId, Vec<u8>, Vec<u8>) {
    let mut r = rng(0x33);
    let mut a = Keyring::new(id(0x11));
    let created = a.create_chat(&mut r, &[key(0x22)], &[]).unwrap();
    let key = a.epoch_key(&created.chat_id, 0).unwrap().clone();
    let msg = message::seal_with_nonce(&key, &created.chat_id, 0, &[0x44; 24], b"hello, epoch 0")
        .unwrap();
    (a, created.chat_id, created.record, msg)
}

#[test]
fn golden_vectors_match_protocol_md() {
    let vs = vectors();
    assert_eq!(vs.len(), 2, "the appendix has two gkey-vector blocks");
    let (a, chat, record, msg) = golden();
    let rv = vs
        .iter()
        .find(|v| field(v, "name") == "create_record")
        .unwrap();
    assert_eq!(hex_of(rv, "chat-id"), chat);
    assert_eq!(
        hex_of(rv, "epoch-key"),
        a.epoch_key(&chat, 0).unwrap().expose()
    );
    assert_eq!(
        hex::encode_upper(&record),
        hex::encode_upper(hex_of(rv, "record"))
    );
    let mv = vs.iter().find(|v| field(v, "name") == "message").unwrap();
    assert_eq!(
        hex::encode_upper(&msg),
        hex::encode_upper(hex_of(mv, "sealed"))
    );
    // The member decodes both from the bytes alone.
    let mut b = Keyring::new(id(0x22));
    b.accept(&hex_of(rv, "record")).unwrap();
    assert_eq!(
        b.open(&hex_of(mv, "sealed")).unwrap().2.as_slice(),
        b"hello, epoch 0"
    );
}

/// Prints the vectors for PROTOCOL.md: `cargo test --test groupkey print_golden -- --nocapture`.
#[test]
fn print_golden() {
    let (a, chat, record, msg) = golden();
    println!("chat-id: {}", hex::encode_upper(chat));
    println!(
        "epoch-key: {}",
        hex::encode_upper(a.epoch_key(&chat, 0).unwrap().expose())
    );
    println!("record: {}", hex::encode_upper(&record));
    println!("sealed: {}", hex::encode_upper(&msg));
}
