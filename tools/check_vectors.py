#!/usr/bin/env python3
"""Cross-check the golden vectors of PROTOCOL.md §7 with libsodium (PyNaCl).

Independent of the Rust code: parses every ```vector block of PROTOCOL.md and checks, with
libsodium only, that the public keys derive from the secrets, that the datagram is
0x30 ‖ receiver pk ‖ sender pk ‖ nonce ‖ crypto_box(plaintext) (MAC first), that it opens
again, and for signed broadcasts that the signer key, chat id, origin mapping, signing input
and Ed25519 signature all check out.

Usage:  pip install pynacl && python3 tools/check_vectors.py [PROTOCOL.md]
Exit status 0 when every vector passes.
"""

import hashlib
import re
import sys

import nacl
import nacl.bindings as sodium
import nacl.public
import nacl.signing

DOMAIN = b"dhtchat/broadcast/v1"
HEX_FIELDS = {
    "sender-secret", "sender-public", "receiver-secret", "receiver-public", "nonce",
    "plaintext", "datagram", "sender-seed", "signer", "chat-seed", "chat-id", "signing-input",
}


def parse(text):
    """Yields one dict per ```vector block: field name -> str (hex fields -> bytes)."""
    for block in re.findall(r"^```vector\n(.*?)^```$", text, re.S | re.M):
        fields, key = {}, None
        for raw in block.splitlines():
            line = raw.split("#", 1)[0]
            if not line.strip():
                continue
            if line[0].isspace():
                fields[key] += line.strip()
            else:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        for name in HEX_FIELDS & fields.keys():
            fields[name] = bytes.fromhex(re.sub(r"\s", "", fields[name]))
        yield fields


def clamp(secret):
    s = bytearray(secret)
    s[0] &= 248
    s[31] &= 127
    s[31] |= 64
    return bytes(s)


def check_signed(v, plain):
    seed, signer = v["sender-seed"], v["signer"]
    assert nacl.signing.SigningKey(seed).verify_key.encode() == signer, "signer from seed"
    assert nacl.signing.SigningKey(v["chat-seed"]).verify_key.encode() == v["chat-id"], "chat id"
    # The X25519 secret is the first half of SHA-512(seed); libsodium clamps, we may not.
    assert clamp(hashlib.sha512(seed).digest()[:32]) == clamp(v["sender-secret"]), "x25519 secret"
    assert sodium.crypto_sign_ed25519_sk_to_curve25519(seed + signer) == clamp(v["sender-secret"])
    origin = plain[1:33]
    assert sodium.crypto_sign_ed25519_pk_to_curve25519(signer) == origin, "signer -> origin"
    body_end = len(plain) - 96
    assert plain[body_end:body_end + 32] == signer, "trailer signer"
    signature = plain[body_end + 32:]
    signed = DOMAIN + v["chat-id"] + plain[1:body_end]
    assert signed == v["signing-input"], "signing input"
    nacl.signing.VerifyKey(signer).verify(signed, signature)


def check(v):
    ssk, rsk, nonce, plain, dgram = (v[k] for k in (
        "sender-secret", "receiver-secret", "nonce", "plaintext", "datagram"))
    spk = nacl.public.PrivateKey(ssk).public_key.encode()
    rpk = nacl.public.PrivateKey(rsk).public_key.encode()
    assert spk == v["sender-public"], "sender public key"
    assert rpk == v["receiver-public"], "receiver public key"
    assert dgram[:89] == b"\x30" + rpk + spk + nonce, "envelope header"
    boxed = sodium.crypto_box(plain, nonce, rpk, ssk)
    assert dgram[89:] == boxed, "crypto_box(plaintext) != datagram[89:]"
    assert sodium.crypto_box_open(dgram[89:], nonce, spk, rsk) == plain, "open"
    if plain[0] == 51:
        check_signed(v, plain)


# wire-2014.md §5: X25519 base-point multiplication of the fixed secrets.
WIRE_2014_KEYS = {
    0x11: "7B4E909BBE7FFE44C465A220037D608EE35897D31EF972F07F74892CB0F73F13",
    0x22: "0FAA684ED28867B97F4A6A2DEE5DF8CE974E76B7018E3F22A1C4CF2678570F20",
    0x33: "7B0D47D93427F8311160781C7C733FD89F88970AEF490D8AA0EE19A4CB8A1B14",
    0x44: "FF2EE45601EC1B67310C7790404585AE697331EEE1C1F8CF2419731C1FFF3E6B",
}


def check_reference_keys():
    for byte, pk in WIRE_2014_KEYS.items():
        derived = nacl.public.PrivateKey(bytes([byte]) * 32).public_key.encode()
        assert derived == bytes.fromhex(pk), f"secret {byte:#x} does not give wire-2014 key"


def main():
    check_reference_keys()
    path = sys.argv[1] if len(sys.argv) > 1 else "PROTOCOL.md"
    vectors = list(parse(open(path, encoding="utf-8").read()))
    for v in vectors:
        check(v)
        print(f"ok  {v['name']:<24} {len(v['datagram'])} bytes")
    print(f"{len(vectors)} vectors checked with libsodium (PyNaCl {nacl.__version__})")
    return 0 if vectors else 1


if __name__ == "__main__":
    sys.exit(main())
