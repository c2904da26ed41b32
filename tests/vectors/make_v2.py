#!/usr/bin/env python3
"""Makes tests/vectors/v2.json: envelope v2 vectors (docs/PROTOCOL.md section 3,
extension) from an implementation independent of src/crypto.rs and html/crypto.js:
Python's hashlib and hmac, and AES-256-CTR from the `cryptography` package.

Run from the repository root: python3 tests/vectors/make_v2.py > tests/vectors/v2.json
The output is committed, so CI needs neither Python nor `cryptography`. Every value is
fixed (IVs, session ids, counters, times), so running it again gives the same file.
"""

import base64
import hashlib
import hmac
import json
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ITERATIONS = 100000


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def lp(*fields):
    out = b""
    for f in fields:
        f = f.encode() if isinstance(f, str) else f
        out += struct.pack(">I", len(f)) + f
    return out


def keys(room, secret):
    master = hashlib.pbkdf2_hmac("sha256", secret.encode(), b"sanctuary/v1/" + room.encode(), ITERATIONS, 32)
    mac = lambda label: hmac.new(master, label, hashlib.sha256).digest()
    return {"enc": mac(b"enc"), "mac": mac(b"mac"), "auth": mac(b"auth")}


def ctr(key, iv, data):
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def tag(k, label, room, kind, sender, to, iv, ct):
    return hmac.new(k["mac"], lp(label, room, kind, sender, to, iv, ct), hashlib.sha256).digest()


def envelope(k, room, kind, sender, to, iv, plaintext, version=2, label=None, stamp=b""):
    """The raw bytes of an envelope; label defaults to the version's own."""
    label = label or ("sanctuary/v2" if version == 2 else "sanctuary/v1")
    ct = ctr(k["enc"], iv, stamp + plaintext)
    return bytes([version]) + iv + ct + tag(k, label, room, kind, sender, to, iv, ct)


def stamp(sid, counter, sent_ms):
    return sid + struct.pack(">I", counter) + struct.pack(">Q", sent_ms)


CASES = [
    ("G7BEqt7RkMfKiEM-dJA_lQ", "wrjwHTeLDiMk-zjoiiT50w", [
        ("msg", "alice", "", "00112233445566778899aabbccddeeff", "0102030405060708", 1, 1764763200000, ""),
        ("msg", "alice", "", "ffffffffffffffffffffffffffffffff", "0102030405060708", 2, 1764763201234, "hi <b>there</b>"),
        ("purr", "alice", "bob", "247a17858b8392cf2c22a1dcb05c2304", "0102030405060708", 3, 1764763202000, "psst, just you"),
        ("exit", "alice", "", "5d7897c264491f084e30ca3b531ad44c", "0102030405060708", 4, 1764763203000, "bye <img src=x onerror=alert(1)>"),
        ("msg", "bob", "", "b5e586ba1c2837e70ed394eb9d26b9f3", "f0e1d2c3b4a59687", 4294967295, 915148800000, "naïve café — 日本語 — 🦀🔐 dated 1999"),
    ]),
    ("Zz9_-AbCdEfGhIjKlMnOpQ", "correct horse battery staple", [
        ("purr", "x.y-z_9", "Q", "141083042142a77effffffffffffffff", "ffffffffffffffff", 65536, 9007199254740991, "x" * 300),
    ]),
]


def main():
    out = {
        "about": "Sanctuary envelope v2 vectors (docs/PROTOCOL.md section 3, extension); made by tests/vectors/make_v2.py (hashlib, hmac, cryptography), independent of src/ and html/",
        "iterations": ITERATIONS,
        "cases": [],
        "must_reject": [],
    }
    for room, secret, envs in CASES:
        k = keys(room, secret)
        case = {"room": room, "secret": secret, "k_enc": k["enc"].hex(), "k_mac": k["mac"].hex(), "k_auth": k["auth"].hex(), "envelopes": []}
        for kind, sender, to, iv, sid, counter, sent_ms, text in envs:
            st = stamp(bytes.fromhex(sid), counter, sent_ms)
            raw = envelope(k, room, kind, sender, to, bytes.fromhex(iv), text.encode(), stamp=st)
            case["envelopes"].append({
                "kind": kind, "from": sender, "to": to, "iv": iv,
                "sid": sid, "counter": counter, "sent_ms": sent_ms,
                "plaintext": text, "body": b64u(raw),
            })
        out["cases"].append(case)

    room, secret = CASES[0][0], CASES[0][1]
    k = keys(room, secret)
    iv = bytes.fromhex("00112233445566778899aabbccddeeff")
    st = stamp(bytes.fromhex("0102030405060708"), 9, 1764763200000)
    text = b"replay me"
    good = envelope(k, room, "msg", "alice", "", iv, text, stamp=st)

    def flip(raw, i):
        b = bytearray(raw)
        b[i] ^= 1
        return bytes(b)

    def reject(why, raw, kind="msg", sender="alice", to=""):
        out["must_reject"].append({"why": why, "room": room, "kind": kind, "from": sender, "to": to, "body": b64u(raw)})

    reject("one bit flipped in the stamp's session id", flip(good, 17))
    reject("one bit flipped in the stamp's counter", flip(good, 17 + 11))
    reject("one bit flipped in the stamp's time", flip(good, 17 + 19))
    reject("one bit flipped in the text", flip(good, 17 + 20))
    reject("one bit flipped in the tag", flip(good, len(good) - 1))
    reject("relayed under another sender", good, sender="mallory")
    reject("relayed as a whisper", good, kind="purr", to="bob")
    reject("relayed as a farewell", good, kind="exit")
    reject("version 2 byte, tag under the v1 label", envelope(k, room, "msg", "alice", "", iv, text, version=2, label="sanctuary/v1", stamp=st))
    reject("version 1 byte on a v2 envelope", bytes([1]) + good[1:])
    reject("version 2 byte on a v1 envelope", bytes([2]) + envelope(k, room, "msg", "alice", "", iv, st + text, version=1)[1:])
    reject("version 3", bytes([3]) + good[1:])
    # A correctly tagged v2 envelope whose plaintext cannot hold a stamp.
    reject("v2 too short for a stamp, tag valid", envelope(k, room, "msg", "alice", "", iv, st[:19], stamp=b""))
    reject("truncated", good[:40])
    # The untouched envelope, for the check that the rejects fail for their flaw.
    out["reject_source"] = {"room": room, "kind": "msg", "from": "alice", "to": "", "body": b64u(good), "plaintext": text.decode(), "counter": 9, "sent_ms": 1764763200000, "sid": "0102030405060708"}
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
