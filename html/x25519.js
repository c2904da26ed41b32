// x25519.js: X25519 (RFC 7748) in plain JavaScript, for whispers sealed to one member.
// The page runs over plain HTTP, where crypto.subtle does not exist. This is TweetNaCl's
// crypto_scalarmult: GF(2^255 - 19) in sixteen 16-bit limbs held in Float64Array (exact
// integers: products stay below 2^53), and a Montgomery ladder that swaps with a mask,
// never a branch or a table look-up on secret bits. No BigInt: its arithmetic takes time
// that depends on the values. src/x25519.rs is the same algorithm line for line.
// An ES module so the same file runs in the page and under node.

const gf = () => new Float64Array(16);

// (A - 2) / 4 for Curve25519's A = 486662, the constant of the ladder's doubling step.
const A24 = Float64Array.from([0xdb41, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

export const BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

// Propagates carries so each limb is back within 16 bits; the top limb folds into limb
// 0 times 38, since 2^256 = 38 mod p.
function carry(o) {
  for (let i = 0; i < 16; i++) {
    o[i] += 65536;
    const c = Math.floor(o[i] / 65536);
    if (i < 15) o[i + 1] += c - 1;
    else o[0] += 38 * (c - 1);
    o[i] -= c * 65536;
  }
}

// Swaps p and q when bit is 1, leaves them when 0, the same work either way.
function cswap(p, q, bit) {
  const mask = ~(bit - 1);
  for (let i = 0; i < 16; i++) {
    const t = mask & (p[i] ^ q[i]);
    p[i] ^= t;
    q[i] ^= t;
  }
}

// The canonical little-endian encoding (fully reduced mod p).
function pack(o, n) {
  const m = gf(), t = Float64Array.from(n);
  carry(t); carry(t); carry(t);
  for (let j = 0; j < 2; j++) {
    // m = t - p; keep m when it did not borrow, chosen by mask.
    m[0] = t[0] - 0xffed;
    for (let i = 1; i < 15; i++) {
      m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1);
      m[i - 1] &= 0xffff;
    }
    m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1);
    const b = (m[15] >> 16) & 1;
    m[14] &= 0xffff;
    cswap(t, m, 1 - b);
  }
  for (let i = 0; i < 16; i++) {
    o[2 * i] = t[i] & 0xff;
    o[2 * i + 1] = t[i] >> 8;
  }
  m.fill(0); t.fill(0);
}

// Reads a u-coordinate, ignoring its top bit as RFC 7748 section 5 requires.
function unpack(o, n) {
  for (let i = 0; i < 16; i++) o[i] = n[2 * i] + (n[2 * i + 1] << 8);
  o[15] &= 0x7fff;
}

function add(o, a, b) {
  for (let i = 0; i < 16; i++) o[i] = a[i] + b[i];
}

function sub(o, a, b) {
  for (let i = 0; i < 16; i++) o[i] = a[i] - b[i];
}

// The products of mul, shared so that no call allocates; wiped after each scalarMult.
const T = new Float64Array(31);
// o = a * b; o may alias a or b.
function mul(o, a, b) {
  T.fill(0);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) T[i + j] += a[i] * b[j];
  }
  for (let i = 0; i < 15; i++) T[i] += 38 * T[i + 16];
  for (let i = 0; i < 16; i++) o[i] = T[i];
  carry(o); carry(o);
}

// a^(p-2) = 1/a (Fermat), with a fixed sequence of squarings and multiplications.
function invert(o, i) {
  const c = Float64Array.from(i);
  for (let a = 253; a >= 0; a--) {
    mul(c, c, c);
    if (a !== 2 && a !== 4) mul(c, c, i);
  }
  o.set(c);
  c.fill(0);
}

function check32(name, v) {
  if (!(v instanceof Uint8Array) || v.length !== 32) throw new Error(`${name} must be 32 bytes`);
}

// X25519(scalar, u): the u-coordinate of scalar times the point with coordinate u, both
// 32-byte Uint8Arrays. The scalar is clamped as RFC 7748 says. The result is all zero
// when u is a low-order point; sharedSecret refuses that.
export function scalarMult(scalar, point) {
  check32('scalar', scalar);
  check32('point', point);
  const z = Uint8Array.from(scalar);
  z[31] = (z[31] & 127) | 64;
  z[0] &= 248;
  const x = gf();
  unpack(x, point);
  const a = gf(), b = Float64Array.from(x), c = gf(), d = gf(), e = gf(), f = gf();
  a[0] = 1;
  d[0] = 1;
  for (let i = 254; i >= 0; i--) {
    const bit = (z[i >>> 3] >>> (i & 7)) & 1;
    cswap(a, b, bit);
    cswap(c, d, bit);
    add(e, a, c);
    sub(a, a, c);
    add(c, b, d);
    sub(b, b, d);
    mul(d, e, e);
    mul(f, a, a);
    mul(a, c, a);
    mul(c, b, e);
    add(e, a, c);
    sub(a, a, c);
    mul(b, a, a);
    sub(c, d, f);
    mul(a, c, A24);
    add(a, a, d);
    mul(c, c, a);
    mul(a, d, f);
    mul(d, b, x);
    mul(b, e, e);
    cswap(a, b, bit);
    cswap(c, d, bit);
  }
  invert(c, c);
  mul(a, a, c);
  const out = new Uint8Array(32);
  pack(out, a);
  for (const v of [z, x, a, b, c, d, e, f, T]) v.fill(0);
  return out;
}

export function scalarMultBase(scalar) {
  return scalarMult(scalar, BASE_POINT);
}

// A key pair from 32 random bytes (the caller's CSPRNG: crypto.getRandomValues).
export function keyPair(random32) {
  check32('random32', random32);
  const secretKey = Uint8Array.from(random32);
  return { secretKey, publicKey: scalarMultBase(secretKey) };
}

// X25519 with the all-zero output refused (RFC 7748 section 6.1): a low-order public
// key would give a "shared" secret that everyone knows. Throws in that case.
export function sharedSecret(secretKey, peerPublic) {
  const s = scalarMult(secretKey, peerPublic);
  let acc = 0;
  for (let i = 0; i < 32; i++) acc |= s[i];
  if (acc === 0) throw new Error("the peer's public key is a low-order point (all-zero shared secret)");
  return s;
}
