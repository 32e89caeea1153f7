#!/usr/bin/env python3
"""Cross-check the mac1/mac2/cookie vectors of PROTOCOL.md §2.1 with Python's hashlib only.

Independent of the Rust code: parses every ```mac1 block and recomputes, with
hashlib.blake2s (RFC 7693), the mac1 key, mac2 (under the cookie, or zeros), mac1, the nonce
and the cookie of an address. The sealed cookie reply (XSalsa20-Poly1305) is checked by
tests/vectors.rs only.

Usage:  python3 tools/check_mac1_vectors.py [PROTOCOL.md]
Exit status 0 when every vector passes.
"""

import hashlib
import ipaddress
import re
import sys


def parse(text):
    """Yields one dict per ```mac1 block: field name -> str (comments and spaces removed)."""
    for block in re.findall(r"^```mac1\n(.*?)^```$", text, re.S | re.M):
        fields, key = {}, None
        for raw in block.splitlines():
            line = raw.split("#")[0]
            if not line.strip():
                continue
            if line[0].isspace():
                fields[key] += line.strip()
            else:
                key, value = line.split(":", 1)
                key = key.strip()
                fields[key] = value.strip() if key == "address" else value.replace(" ", "").strip()
        yield fields


def b2s(data, key, size):
    return hashlib.blake2s(data, key=key, digest_size=size).digest()


def check_mac(v):
    rx, tx = bytes.fromhex(v["receiver-public"]), bytes.fromhex(v["sender-public"])
    counter = bytes.fromhex(v["counter"])
    key = hashlib.blake2s(b"mac1----" + rx).digest()
    assert key.hex().upper() == v["mac1-key"].upper(), v["name"]
    covered = bytes([0x30]) + rx + tx + counter
    mac2 = b2s(covered, bytes.fromhex(v["cookie"]), 8) if "cookie" in v else bytes(8)
    assert mac2.hex().upper() == v["mac2"].upper(), v["name"]
    mac1 = b2s(covered + mac2, key, 8)
    assert mac1.hex().upper() == v["mac1"].upper(), v["name"]
    assert (counter + mac2 + mac1).hex().upper() == v["nonce"].upper(), v["name"]


def check_cookie(v):
    host, port = v["address"].rsplit(":", 1)
    ip = ipaddress.ip_address(host.strip("[]"))
    ip16 = ip.packed if ip.version == 6 else bytes(10) + b"\xff\xff" + ip.packed
    c = b2s(ip16 + int(port).to_bytes(2, "big"), bytes.fromhex(v["secret"]), 16)
    assert c.hex().upper() == v["cookie"].upper(), v["name"]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "PROTOCOL.md"
    vectors = list(parse(open(path, encoding="utf-8").read()))
    for v in vectors:
        (check_cookie if v["name"] == "cookie_reply" else check_mac)(v)
    print(f"{len(vectors)} mac1/cookie vectors checked with hashlib.blake2s")
    return 0 if len(vectors) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
