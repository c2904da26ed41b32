#!/usr/bin/env python3
"""Makes tests/vectors/join-v2.json with an implementation independent of ours
(Python's `cryptography` X25519, OpenSSL underneath, and the standard library's
hmac): the issue 17 join, PROTOCOL.md section 5.

    verifier  = X25519(k_auth, 9)                 what create and rekeys carry
    dh        = X25519(server_secret, verifier)   what the server keeps per room
              = X25519(k_auth, server_public)     what a client keys its proof with
    proof     = HMAC(dh, lp("join") || lp(nonce) || lp(room) || lp(alias))

The v1 proof (keyed with k_auth itself) is given too, to show the two differ.
Deterministic (a seeded generator), so re-running it rewrites the same file.

Run from the repository root: python3 tests/vectors/make_join_v2.py
The JSON is committed, so tests and CI never need `cryptography` themselves.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def lp(*fields):
    return b"".join(struct.pack(">I", len(f)) + f for f in fields)


def public(secret):
    key = X25519PrivateKey.from_private_bytes(secret).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def exchange(secret, peer):
    return X25519PrivateKey.from_private_bytes(secret).exchange(
        X25519PublicKey.from_public_bytes(peer)
    )


def proof(key, nonce, room, alias):
    data = lp(b"join", nonce, room.encode(), alias.encode())
    return hmac.new(key, data, hashlib.sha256).digest()


def main():
    rng = random.Random(17)
    rand = lambda n: bytes(rng.getrandbits(8) for _ in range(n))
    with open(os.path.join(HERE, "v1.json")) as f:
        first = json.load(f)["cases"][0]
    cases = []
    for i in range(8):
        room = first["room"] if i == 0 else b64u(rand(16))
        # Case 0 continues v1.json's first room: its k_auth, from its secret.
        k_auth = bytes.fromhex(first["k_auth"]) if i == 0 else rand(32)
        server_secret = rand(32)
        nonce = rand(32)
        alias = ["alice", "Bob_2.x-y", "a", "x" * 24][i % 4]
        verifier = public(k_auth)
        server_public = public(server_secret)
        dh = exchange(server_secret, verifier)
        assert dh == exchange(k_auth, server_public), "both sides agree"
        cases.append(
            {
                "room": room,
                "alias": alias,
                "k_auth": k_auth.hex(),
                "verifier": b64u(verifier),
                "server_secret": server_secret.hex(),
                "server_public": b64u(server_public),
                "dh": dh.hex(),
                "nonce": b64u(nonce),
                "proof": b64u(proof(dh, nonce, room, alias)),
                "v1_proof": b64u(proof(k_auth, nonce, room, alias)),
            }
        )
    out = {
        "about": "issue 17 join (PROTOCOL.md section 5): verifier, server key, proof key "
        "and proof, made by tests/vectors/make_join_v2.py with Python's cryptography",
        "cases": cases,
    }
    with open(os.path.join(HERE, "join-v2.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
