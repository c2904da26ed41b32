#!/usr/bin/env python3
"""Makes tests/vectors/x25519.json with an implementation independent of ours:
the X25519 of Python's `cryptography` package (OpenSSL underneath), plus the
published vectors of RFC 7748 sections 5.2 and 6.1, which are checked here too.

Run from the repository root: python3 tests/vectors/make_x25519.py
The JSON is committed, so tests and CI never need `cryptography` themselves.
"""

import json
import os
import random

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))
P = 2**255 - 19

# RFC 7748 section 5.2: two scalar/u-coordinate pairs (the second u has its top bit
# set, which X25519 must ignore).
RFC_SCALAR_MULT = [
    {
        "name": "RFC 7748 5.2 #1",
        "scalar": "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "u": "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "out": "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    },
    {
        "name": "RFC 7748 5.2 #2",
        "scalar": "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "u": "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "out": "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    },
]

# RFC 7748 section 5.2: k = u = 9, then repeatedly k, u = X25519(k, u), k.
RFC_ITERATED = {
    "1": "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
    "1000": "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
}

# RFC 7748 section 6.1: Alice and Bob.
RFC_DH = {
    "name": "RFC 7748 6.1",
    "a_secret": "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "a_public": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    "b_secret": "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "b_public": "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    "shared": "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
}

# Points of small order (u = 0, 1, and the order-8 points, with non-canonical
# spellings): X25519 gives all zero for every scalar, which callers must refuse.
LOW_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
]


def x25519(scalar: bytes, u: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(scalar).exchange(
        X25519PublicKey.from_public_bytes(u)
    )


def public(scalar: bytes) -> bytes:
    return (
        X25519PrivateKey.from_private_bytes(scalar)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def le(n: int) -> bytes:
    return n.to_bytes(32, "little")


def main() -> None:
    rng = random.Random(0x25519)  # fixed seed: the file is reproducible
    rand32 = lambda: bytes(rng.getrandbits(8) for _ in range(32))

    # The published vectors must hold for the independent implementation too.
    for case in RFC_SCALAR_MULT:
        assert x25519(bytes.fromhex(case["scalar"]), bytes.fromhex(case["u"])).hex() == case["out"]
    k = u = le(9)
    for i in range(1, 1001):
        k, u = x25519(k, u), k
        if str(i) in RFC_ITERATED:
            assert k.hex() == RFC_ITERATED[str(i)], i
    a, b = bytes.fromhex(RFC_DH["a_secret"]), bytes.fromhex(RFC_DH["b_secret"])
    assert public(a).hex() == RFC_DH["a_public"] and public(b).hex() == RFC_DH["b_public"]
    assert x25519(a, public(b)).hex() == RFC_DH["shared"] == x25519(b, public(a)).hex()
    for u in LOW_ORDER:
        try:
            x25519(rand32(), bytes.fromhex(u))
        except ValueError:
            continue  # cryptography refuses the all-zero result, as we must
        raise AssertionError(f"{u} is not of low order")

    scalar_mult = list(RFC_SCALAR_MULT)
    # Random scalars on random u-coordinates; some with the top bit set, some with
    # u in [p + 2, 2^255) (non-canonical: taken mod p; p and p + 1 are low-order), some both.
    for i in range(40):
        scalar, u = rand32(), bytearray(rand32())
        if i % 4 == 0:
            u[31] &= 0x7F
        elif i % 4 == 1:
            u[31] |= 0x80
        elif i % 4 == 2:
            u = bytearray(le(P + rng.randrange(2, 19)))
        else:
            u = bytearray(le(P + rng.randrange(2, 19)))
            u[31] |= 0x80
        u = bytes(u)
        scalar_mult.append(
            {"name": f"cryptography #{i}", "scalar": scalar.hex(), "u": u.hex(), "out": x25519(scalar, u).hex()}
        )

    dh = [RFC_DH]
    for i in range(20):
        a, b = rand32(), rand32()
        shared = x25519(a, public(b))
        assert shared == x25519(b, public(a))
        dh.append(
            {
                "name": f"cryptography pair #{i}",
                "a_secret": a.hex(),
                "a_public": public(a).hex(),
                "b_secret": b.hex(),
                "b_public": public(b).hex(),
                "shared": shared.hex(),
            }
        )

    out = {
        "about": "X25519 vectors: RFC 7748 sections 5.2 and 6.1, and cases made by Python's "
        "cryptography (tests/vectors/make_x25519.py); hex, little-endian as on the wire",
        "scalar_mult": scalar_mult,
        "iterated": RFC_ITERATED,
        "dh": dh,
        "low_order": LOW_ORDER,
    }
    with open(os.path.join(HERE, "x25519.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
