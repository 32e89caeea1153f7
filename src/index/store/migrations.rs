//! The index schema's numbered migrations (PROTOCOL.md §8.8): migration n brings a database
//! from version n − 1 to n; each runs in its own transaction ([`super::migrate`]).

/// The migrations, oldest first; `{id}` and `{blob}` are replaced per dialect.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value {blob} NOT NULL CHECK (length(value) <= 64)
);
CREATE TABLE accounts (
    id {id},
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 32),
    kdf_m BIGINT NOT NULL,
    kdf_t BIGINT NOT NULL,
    kdf_p BIGINT NOT NULL,
    salt {blob} NOT NULL CHECK (length(salt) = 16),
    verifier {blob} NOT NULL CHECK (length(verifier) = 32),
    public_key {blob} NOT NULL CHECK (length(public_key) = 32),
    wrapped_key {blob} NOT NULL CHECK (length(wrapped_key) = 72),
    private_key {blob} NOT NULL CHECK (length(private_key) = 72),
    rooms {blob} NOT NULL CHECK (length(rooms) <= {max_blob}),
    chats {blob} NOT NULL CHECK (length(chats) <= {max_blob}),
    privilege TEXT NOT NULL DEFAULT 'normal' CHECK (privilege IN ('normal', 'admin')),
    created_at BIGINT NOT NULL
);
CREATE TABLE rooms (
    id {id},
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 32),
    created_at BIGINT NOT NULL
);
CREATE TABLE room_members (
    room_id BIGINT NOT NULL REFERENCES rooms(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (room_id, account_id)
);
CREATE TABLE room_messages (
    id {id},
    room_id BIGINT NOT NULL REFERENCES rooms(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    body TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 785),
    created_at BIGINT NOT NULL
);
CREATE INDEX room_messages_by_room ON room_messages (room_id, id);
"#,
    // 2: server messages (an admin's notice to one room or all), shown distinctly.
    "ALTER TABLE room_messages ADD COLUMN server BIGINT NOT NULL DEFAULT 0;",
    // 3: offline private messages (sealed bodies; §8.9).
    r#"
CREATE TABLE pms (
    id {id},
    recipient_id BIGINT NOT NULL REFERENCES accounts(id),
    sender_id BIGINT NOT NULL REFERENCES accounts(id),
    client_id BIGINT NOT NULL,
    body {blob} NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (recipient_id, sender_id, client_id)
);
CREATE INDEX pms_by_recipient ON pms (recipient_id, id);
CREATE INDEX pms_by_expiry ON pms (expires_at);
"#,
    // 4: rooms are groups (§8.11): room moderators, appointed by the local `dhtchat admin
    // moderator ROOM NAME`, and each account's member key (the X25519 form of its identity
    // key; empty until [`fill_member_keys`] computes it for older rows), so a chat the
    // index's node hears is stored as its author's account.
    r#"
CREATE TABLE room_moderators (
    room_id BIGINT NOT NULL REFERENCES rooms(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (room_id, account_id)
);
ALTER TABLE accounts ADD COLUMN member_key {blob} NOT NULL DEFAULT {empty_blob}
    CHECK (length(member_key) IN (0, 32));
CREATE INDEX accounts_by_member_key ON accounts (member_key);
"#,
    // 5: group chats (§8.12, Appendix B): the ordered records with their wraps, each
    // epoch's members, and sealed messages kept for members who were offline.
    r#"
CREATE TABLE chats (
    id {id},
    chat_id {blob} NOT NULL UNIQUE CHECK (length(chat_id) = 32),
    creator {blob} NOT NULL CHECK (length(creator) = 32),
    epoch BIGINT NOT NULL,
    head_hash {blob} NOT NULL CHECK (length(head_hash) = 32),
    created_at BIGINT NOT NULL
);
CREATE TABLE chat_records (
    chat_ref BIGINT NOT NULL REFERENCES chats(id),
    epoch BIGINT NOT NULL,
    record {blob} NOT NULL CHECK (length(record) BETWEEN 268 AND 21068),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (chat_ref, epoch)
);
CREATE TABLE chat_members (
    chat_ref BIGINT NOT NULL REFERENCES chats(id),
    epoch BIGINT NOT NULL,
    member {blob} NOT NULL CHECK (length(member) = 32),
    flags BIGINT NOT NULL,
    PRIMARY KEY (chat_ref, epoch, member)
);
CREATE INDEX chat_members_by_member ON chat_members (member, chat_ref, epoch);
CREATE TABLE chat_messages (
    id {id},
    chat_ref BIGINT NOT NULL REFERENCES chats(id),
    epoch BIGINT NOT NULL,
    sender_id BIGINT NOT NULL REFERENCES accounts(id),
    client_id BIGINT NOT NULL,
    body {blob} NOT NULL CHECK (length(body) BETWEEN 80 AND 4176),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (chat_ref, sender_id, client_id)
);
CREATE INDEX chat_messages_by_chat ON chat_messages (chat_ref, id);
CREATE INDEX chat_messages_by_expiry ON chat_messages (expires_at);
"#,
    // 6: device keys (§8.13): each device's Ed25519 key, certified by its account, and its
    // member key (X25519 form), so a room chat from any device is stored as the account's.
    r#"
CREATE TABLE devices (
    id {id},
    device_key {blob} NOT NULL UNIQUE CHECK (length(device_key) = 32),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    member_key {blob} NOT NULL UNIQUE CHECK (length(member_key) = 32),
    issued BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used BIGINT NOT NULL
);
CREATE INDEX devices_by_account ON devices (account_id, last_used);
"#,
    // 7: accounts by public key, for the user-names request (kind 29: a group chat's member
    // keys to usernames) without a table scan per key.
    r#"
CREATE INDEX accounts_by_public_key ON accounts (public_key);
"#,
];
