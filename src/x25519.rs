//! X25519 (RFC 7748): the Diffie-Hellman function whispers are sealed with.
//!
//! A port of TweetNaCl's `crypto_scalarmult`: the field is GF(2^255 - 19) in sixteen
//! signed 16-bit limbs held in i64, and the Montgomery ladder swaps with a mask, never
//! a branch, so the time taken does not depend on the scalar. `html/x25519.js` is the
//! same algorithm line for line.
//!
//! Why not the audited `x25519-dalek` (2.0.1, default features off)? Measured on the
//! x86_64 release binary (opt-level s, LTO, stripped) with one call reachable: this
//! port adds 4,424 bytes, x25519-dalek 7,288, and brings six crates to vet
//! (curve25519-dalek and its derive macro, fiat-crypto, subtle, cpufeatures,
//! rustc_version); the ARMv6 build is being squeezed under 1 MiB. Both gave the same
//! output for the same input, and this port passes RFC 7748's vectors (the
//! 1,000-iteration one too) and 60 cases made by Python's `cryptography`
//! (tests/x25519_vectors.rs). Over 2,000 chained calls it matched x25519-dalek byte
//! for byte; it is slower (2.6 ms a call against 0.16 ms in that release build, on a
//! loaded x86_64), which costs one call per member whispered with, never per message.
//! The ladder's state is wiped when done; stack temporaries are not, as in TweetNaCl
//! (wiping each product nearly doubled the time).

use zeroize::Zeroize;

/// A field element: sixteen limbs of 16 bits (carries may leave them briefly larger).
type Fe = [i64; 16];

/// (A - 2) / 4 for Curve25519's A = 486662: the constant of the ladder's doubling step.
const A24: Fe = [0xdb41, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// The u-coordinate of the base point.
pub const BASE_POINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 9;
    b
};

/// Propagates carries so each limb is back within 16 bits (the top limb folds into
/// limb 0 times 38, since 2^256 = 38 mod p).
fn carry(o: &mut Fe) {
    for i in 0..16 {
        o[i] += 1 << 16;
        let c = o[i] >> 16;
        if i < 15 {
            o[i + 1] += c - 1;
        } else {
            o[0] += 38 * (c - 1);
        }
        o[i] -= c << 16;
    }
}

/// Swaps `p` and `q` when `bit` is 1, leaves them when 0, the same work either way.
fn cswap(p: &mut Fe, q: &mut Fe, bit: i64) {
    let mask = !(bit - 1);
    for i in 0..16 {
        let t = mask & (p[i] ^ q[i]);
        p[i] ^= t;
        q[i] ^= t;
    }
}

/// The canonical little-endian encoding (fully reduced mod p).
fn pack(n: &Fe) -> [u8; 32] {
    let mut t = *n;
    carry(&mut t);
    carry(&mut t);
    carry(&mut t);
    let mut m: Fe = [0; 16];
    for _ in 0..2 {
        // m = t - p; keep m when it did not borrow, chosen by mask.
        m[0] = t[0] - 0xffed;
        for i in 1..15 {
            m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1);
            m[i - 1] &= 0xffff;
        }
        m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1);
        let borrow = (m[15] >> 16) & 1;
        m[14] &= 0xffff;
        cswap(&mut t, &mut m, 1 - borrow);
    }
    let mut out = [0u8; 32];
    for i in 0..16 {
        out[2 * i] = (t[i] & 0xff) as u8;
        out[2 * i + 1] = (t[i] >> 8) as u8;
    }
    m.zeroize();
    t.zeroize();
    out
}

/// Reads a u-coordinate, ignoring its top bit as RFC 7748 section 5 requires.
fn unpack(n: &[u8; 32]) -> Fe {
    let mut o: Fe = [0; 16];
    for i in 0..16 {
        o[i] = i64::from(n[2 * i]) + (i64::from(n[2 * i + 1]) << 8);
    }
    o[15] &= 0x7fff;
    o
}

fn add(a: &Fe, b: &Fe) -> Fe {
    let mut o: Fe = [0; 16];
    for i in 0..16 {
        o[i] = a[i] + b[i];
    }
    o
}

fn sub(a: &Fe, b: &Fe) -> Fe {
    let mut o: Fe = [0; 16];
    for i in 0..16 {
        o[i] = a[i] - b[i];
    }
    o
}

fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut t = [0i64; 31];
    for i in 0..16 {
        for j in 0..16 {
            t[i + j] += a[i] * b[j];
        }
    }
    for i in 0..15 {
        t[i] += 38 * t[i + 16];
    }
    let mut o: Fe = [0; 16];
    o.copy_from_slice(&t[..16]);
    carry(&mut o);
    carry(&mut o);
    o
}

fn square(a: &Fe) -> Fe {
    mul(a, a)
}

/// a^(p-2) = 1/a (Fermat), with a fixed sequence of squarings and multiplications.
fn invert(i: &Fe) -> Fe {
    let mut c = *i;
    for a in (0..=253).rev() {
        c = square(&c);
        if a != 2 && a != 4 {
            c = mul(&c, i);
        }
    }
    c
}

/// X25519(scalar, u): the u-coordinate of `scalar` times the point with coordinate `u`.
/// The scalar is clamped as RFC 7748 says; the result may be all zero when `u` is a
/// low-order point, which callers that derive keys must refuse ([`shared_secret`]).
pub fn scalar_mult(scalar: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
    let mut z = *scalar;
    z[31] = (z[31] & 127) | 64;
    z[0] &= 248;
    let x = unpack(u);
    let mut a: Fe = [0; 16];
    let mut b: Fe = x;
    let mut c: Fe = [0; 16];
    let mut d: Fe = [0; 16];
    a[0] = 1;
    d[0] = 1;
    for i in (0..=254).rev() {
        let bit = i64::from((z[i >> 3] >> (i & 7)) & 1);
        cswap(&mut a, &mut b, bit);
        cswap(&mut c, &mut d, bit);
        let e = add(&a, &c);
        a = sub(&a, &c);
        c = add(&b, &d);
        b = sub(&b, &d);
        d = square(&e);
        let f = square(&a);
        a = mul(&c, &a);
        c = mul(&b, &e);
        let e = add(&a, &c);
        a = sub(&a, &c);
        b = square(&a);
        c = sub(&d, &f);
        a = mul(&c, &A24);
        a = add(&a, &d);
        c = mul(&c, &a);
        a = mul(&d, &f);
        d = mul(&b, &x);
        b = square(&e);
        cswap(&mut a, &mut b, bit);
        cswap(&mut c, &mut d, bit);
    }
    let inv = invert(&c);
    let out = pack(&mul(&a, &inv));
    z.zeroize();
    for fe in [&mut a, &mut b, &mut c, &mut d] {
        fe.zeroize();
    }
    out
}

/// The public key of a secret key: X25519(secret, 9).
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    scalar_mult(secret, &BASE_POINT)
}

/// The peer's public key is a low-order point: the "shared" secret would be all zero,
/// known to anyone, so nothing may be derived from it.
#[derive(Debug, PartialEq, Eq)]
pub struct LowOrderPoint;

impl std::fmt::Display for LowOrderPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the peer's public key is a low-order point (all-zero shared secret)")
    }
}

impl std::error::Error for LowOrderPoint {}

/// X25519 with the all-zero output refused (RFC 7748 section 6.1), checked in
/// constant time.
pub fn shared_secret(secret: &[u8; 32], peer: &[u8; 32]) -> Result<[u8; 32], LowOrderPoint> {
    let s = scalar_mult(secret, peer);
    if crate::crypto::ct_eq(&s, &[0u8; 32]) {
        return Err(LowOrderPoint);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_order_points_give_no_shared_secret() {
        // u = 0 and u = 1 are points of order 4 and 1; their multiples are all zero.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(shared_secret(&[5; 32], &[0; 32]), Err(LowOrderPoint));
        assert_eq!(shared_secret(&[5; 32], &one), Err(LowOrderPoint));
        assert!(shared_secret(&[5; 32], &BASE_POINT).is_ok());
    }
}
