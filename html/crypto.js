// crypto.js: every cryptographic step of the Sanctuary v1 protocol, in plain JavaScript.
// The page is served over plain HTTP on a LAN, where crypto.subtle does not exist, so
// SHA-256, HMAC, PBKDF2 and AES-256-CTR are implemented here; only randomness comes from
// the platform (crypto.getRandomValues works in insecure contexts too).
// An ES module so the same file runs in the page, in a Worker and under node.

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

// ---------------------------------------------------------------- SHA-256

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// One compression: out = compress(state, w[0..15]). w must hold 64 words; the schedule is
// expanded in place. Everything stays in Int32 locals so PBKDF2's 200000 calls do not
// allocate; out may alias state.
function compress(state, w, out) {
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15], b = w[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  out[0] = (state[0] + a) | 0; out[1] = (state[1] + b) | 0;
  out[2] = (state[2] + c) | 0; out[3] = (state[3] + d) | 0;
  out[4] = (state[4] + e) | 0; out[5] = (state[5] + f) | 0;
  out[6] = (state[6] + g) | 0; out[7] = (state[7] + h) | 0;
}

// Hashes `data` (bytes) continuing from `state` as if `prefixBytes` had already been
// absorbed; HMAC uses that to start from its precomputed pad states.
function sha256From(state, prefixBytes, data) {
  const h = Int32Array.from(state);
  const w = new Int32Array(64);
  const total = prefixBytes + data.length;
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const bits = total * 8;
  const end = padded.length;
  // Lengths here stay far below 2^53; the high word carries what exceeds 32 bits.
  const hi = Math.floor(bits / 0x100000000);
  padded[end - 8] = hi >>> 24; padded[end - 7] = hi >>> 16; padded[end - 6] = hi >>> 8; padded[end - 5] = hi;
  padded[end - 4] = bits >>> 24; padded[end - 3] = bits >>> 16; padded[end - 2] = bits >>> 8; padded[end - 1] = bits;
  for (let off = 0; off < end; off += 64) {
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      w[i] = (padded[j] << 24) | (padded[j + 1] << 16) | (padded[j + 2] << 8) | padded[j + 3];
    }
    compress(h, w, h);
  }
  return h;
}

function wordsToBytes(words, n = words.length) {
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const v = words[i];
    out[i * 4] = v >>> 24; out[i * 4 + 1] = v >>> 16; out[i * 4 + 2] = v >>> 8; out[i * 4 + 3] = v;
  }
  return out;
}

export function sha256(data) {
  return wordsToBytes(sha256From(IV, 0, bytes(data)));
}

// ---------------------------------------------------------------- HMAC-SHA256

// The inner and outer states after absorbing key^ipad and key^opad: PBKDF2 reuses them
// for every iteration instead of rehashing the key 200000 times.
function hmacStates(key) {
  let k = bytes(key);
  if (k.length > 64) k = sha256(k);
  const w = new Int32Array(64);
  const inner = new Int32Array(8), outer = new Int32Array(8);
  const block = new Uint8Array(64);
  block.set(k);
  for (const [pad, out] of [[0x36, inner], [0x5c, outer]]) {
    for (let i = 0; i < 16; i++) {
      const j = i * 4;
      w[i] = ((block[j] ^ pad) << 24) | ((block[j + 1] ^ pad) << 16) | ((block[j + 2] ^ pad) << 8) | (block[j + 3] ^ pad);
    }
    compress(IV, w, out);
  }
  block.fill(0);
  return { inner, outer };
}

function hmacWithStates({ inner, outer }, data) {
  const ih = sha256From(inner, 64, bytes(data));
  return sha256From(outer, 64, wordsToBytes(ih));
}

export function hmac(key, data) {
  return wordsToBytes(hmacWithStates(hmacStates(key), data));
}

// ---------------------------------------------------------------- PBKDF2-HMAC-SHA256

export function pbkdf2(password, salt, iterations, length = 32) {
  const st = hmacStates(password);
  const s = bytes(salt);
  const out = new Uint8Array(length);
  const w = new Int32Array(64);
  const u = new Int32Array(8), t = new Int32Array(8), mid = new Int32Array(8);
  const block = new Uint8Array(s.length + 4);
  block.set(s);
  for (let index = 1, pos = 0; pos < length; index++, pos += 32) {
    block[s.length] = index >>> 24; block[s.length + 1] = index >>> 16;
    block[s.length + 2] = index >>> 8; block[s.length + 3] = index;
    u.set(hmacWithStates(st, block));
    t.set(u);
    for (let n = 1; n < iterations; n++) {
      // HMAC of a 32-byte message is exactly one block for each pad state: the digest,
      // the 0x80 terminator, and the bit length of (64-byte pad block + 32 bytes).
      w.set(u); w[8] = 0x80000000; w[9] = 0; w[10] = 0; w[11] = 0;
      w[12] = 0; w[13] = 0; w[14] = 0; w[15] = 768;
      compress(st.inner, w, mid);
      w.set(mid); w[8] = 0x80000000; w[9] = 0; w[10] = 0; w[11] = 0;
      w[12] = 0; w[13] = 0; w[14] = 0; w[15] = 768;
      compress(st.outer, w, u);
      t[0] ^= u[0]; t[1] ^= u[1]; t[2] ^= u[2]; t[3] ^= u[3];
      t[4] ^= u[4]; t[5] ^= u[5]; t[6] ^= u[6]; t[7] ^= u[7];
    }
    const tb = wordsToBytes(t);
    out.set(tb.subarray(0, Math.min(32, length - pos)), pos);
  }
  st.inner.fill(0); st.outer.fill(0); u.fill(0); t.fill(0); mid.fill(0); w.fill(0);
  return out;
}

// ---------------------------------------------------------------- AES-256

const SBOX = new Uint8Array(256);
const TE0 = new Int32Array(256), TE1 = new Int32Array(256), TE2 = new Int32Array(256), TE3 = new Int32Array(256);
(function buildTables() {
  // The S-box from the multiplicative inverse in GF(2^8) and the affine map, built once
  // rather than pasted, so there is no 256-entry table to mistype.
  const exp = new Uint8Array(256), log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    exp[i] = x; log[x] = i;
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0);
    x &= 0xff;
  }
  for (let i = 0; i < 256; i++) {
    let v = i === 0 ? 0 : exp[(255 - log[i]) % 255];
    v ^= ((v << 1) | (v >>> 7)) ^ ((v << 2) | (v >>> 6)) ^ ((v << 3) | (v >>> 5)) ^ ((v << 4) | (v >>> 4));
    SBOX[i] = (v ^ 0x63) & 0xff;
  }
  for (let i = 0; i < 256; i++) {
    const s = SBOX[i];
    const s2 = ((s << 1) ^ (s & 0x80 ? 0x11b : 0)) & 0xff;
    const s3 = s2 ^ s;
    const t = (s2 << 24) | (s << 16) | (s << 8) | s3;
    TE0[i] = t;
    TE1[i] = (t >>> 8) | (t << 24);
    TE2[i] = (t >>> 16) | (t << 16);
    TE3[i] = (t >>> 24) | (t << 8);
  }
})();

function expandKey(key) {
  if (key.length !== 32) throw new Error('AES-256 needs a 32-byte key');
  const rk = new Int32Array(60);
  for (let i = 0; i < 8; i++) {
    rk[i] = (key[i * 4] << 24) | (key[i * 4 + 1] << 16) | (key[i * 4 + 2] << 8) | key[i * 4 + 3];
  }
  let rcon = 1;
  for (let i = 8; i < 60; i++) {
    let t = rk[i - 1];
    if (i % 8 === 0) {
      t = (SBOX[(t >>> 16) & 0xff] << 24) | (SBOX[(t >>> 8) & 0xff] << 16) | (SBOX[t & 0xff] << 8) | SBOX[t >>> 24];
      t ^= rcon << 24;
      rcon = (rcon << 1) ^ (rcon & 0x80 ? 0x11b : 0);
    } else if (i % 8 === 4) {
      t = (SBOX[t >>> 24] << 24) | (SBOX[(t >>> 16) & 0xff] << 16) | (SBOX[(t >>> 8) & 0xff] << 8) | SBOX[t & 0xff];
    }
    rk[i] = rk[i - 8] ^ t;
  }
  return rk;
}

// Encrypts the 4-word block `s` into `out` with the 14 rounds of AES-256.
function encryptBlock(rk, s, out) {
  let s0 = s[0] ^ rk[0], s1 = s[1] ^ rk[1], s2 = s[2] ^ rk[2], s3 = s[3] ^ rk[3];
  let k = 4;
  for (let round = 1; round < 14; round++, k += 4) {
    const t0 = TE0[s0 >>> 24] ^ TE1[(s1 >>> 16) & 0xff] ^ TE2[(s2 >>> 8) & 0xff] ^ TE3[s3 & 0xff] ^ rk[k];
    const t1 = TE0[s1 >>> 24] ^ TE1[(s2 >>> 16) & 0xff] ^ TE2[(s3 >>> 8) & 0xff] ^ TE3[s0 & 0xff] ^ rk[k + 1];
    const t2 = TE0[s2 >>> 24] ^ TE1[(s3 >>> 16) & 0xff] ^ TE2[(s0 >>> 8) & 0xff] ^ TE3[s1 & 0xff] ^ rk[k + 2];
    const t3 = TE0[s3 >>> 24] ^ TE1[(s0 >>> 16) & 0xff] ^ TE2[(s1 >>> 8) & 0xff] ^ TE3[s2 & 0xff] ^ rk[k + 3];
    s0 = t0; s1 = t1; s2 = t2; s3 = t3;
  }
  const last = (a, b, c, d, key) =>
    ((SBOX[a >>> 24] << 24) | (SBOX[(b >>> 16) & 0xff] << 16) | (SBOX[(c >>> 8) & 0xff] << 8) | SBOX[d & 0xff]) ^ key;
  out[0] = last(s0, s1, s2, s3, rk[k]);
  out[1] = last(s1, s2, s3, s0, rk[k + 1]);
  out[2] = last(s2, s3, s0, s1, rk[k + 2]);
  out[3] = last(s3, s0, s1, s2, rk[k + 3]);
}

// AES-256-CTR; encryption and decryption are the same operation. The counter block is
// incremented as one 128-bit big-endian integer, carrying across all four words.
export function aesCtr(key, iv, data) {
  if (iv.length !== 16) throw new Error('AES-CTR needs a 16-byte counter block');
  const rk = expandKey(key);
  const ctr = new Int32Array(4);
  for (let i = 0; i < 4; i++) ctr[i] = (iv[i * 4] << 24) | (iv[i * 4 + 1] << 16) | (iv[i * 4 + 2] << 8) | iv[i * 4 + 3];
  const ks = new Int32Array(4);
  const out = new Uint8Array(data.length);
  for (let off = 0; off < data.length; off += 16) {
    encryptBlock(rk, ctr, ks);
    const n = Math.min(16, data.length - off);
    for (let i = 0; i < n; i++) out[off + i] = data[off + i] ^ (ks[i >> 2] >>> (24 - 8 * (i & 3)));
    for (let i = 3; i >= 0; i--) {
      ctr[i] = (ctr[i] + 1) | 0;
      if (ctr[i] !== 0) break;
    }
  }
  rk.fill(0);
  return out;
}

// ---------------------------------------------------------------- encodings and helpers

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64U_REV = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64U_REV[B64U.charCodeAt(i)] = i;

export function b64uEncode(data) {
  let out = '';
  for (let i = 0; i < data.length; i += 3) {
    const n = (data[i] << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0);
    out += B64U[n >>> 18] + B64U[(n >>> 12) & 63];
    if (i + 1 < data.length) out += B64U[(n >>> 6) & 63];
    if (i + 2 < data.length) out += B64U[n & 63];
  }
  return out;
}

// Strict: no padding, no foreign characters, no stray bits in the last character.
// Returns null for anything that is not canonical base64url.
export function b64uDecode(text) {
  if (typeof text !== 'string' || text.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0, bits = 0, j = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64U_REV[c] : -1;
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

// Constant time in the contents; lengths are public (all tags here are 32 bytes).
export function ctEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

function bytes(x) {
  return typeof x === 'string' ? utf8.encode(x) : x;
}

// lp(x) = u32be(len(x)) || x, concatenated for each argument.
export function lp(...parts) {
  const bs = parts.map(bytes);
  const out = new Uint8Array(bs.reduce((n, b) => n + 4 + b.length, 0));
  let off = 0;
  for (const b of bs) {
    const n = b.length;
    out[off] = n >>> 24; out[off + 1] = n >>> 16; out[off + 2] = n >>> 8; out[off + 3] = n;
    out.set(b, off + 4);
    off += 4 + n;
  }
  return out;
}

// ---------------------------------------------------------------- the protocol (PROTOCOL.md 2, 3, 5)

export const ITERATIONS = 100000;
const V1 = 1;
const V2 = 2; // extension: the plaintext starts with a stamp (see seal)
const TAG_LEN = 32;
const STAMP_LEN = 8 + 4 + 8;
// The smallest envelope of each version: an empty message.
const MIN_LEN = { [V1]: 1 + 16 + TAG_LEN, [V2]: 1 + 16 + STAMP_LEN + TAG_LEN };

export function masterKey(room, secret, iterations = ITERATIONS) {
  return pbkdf2(secret, 'sanctuary/v1/' + room, iterations, 32);
}

export function roomKeys(master) {
  return { enc: hmac(master, 'enc'), mac: hmac(master, 'mac'), auth: hmac(master, 'auth') };
}

export function deriveKeys(room, secret, iterations = ITERATIONS) {
  const master = masterKey(room, secret, iterations);
  const keys = roomKeys(master);
  master.fill(0);
  return keys;
}

export function wipeKeys(keys) {
  if (!keys) return;
  for (const k of Object.values(keys)) if (k instanceof Uint8Array) k.fill(0);
}

// The nonce travels as base64url but is authenticated as its 32 raw bytes. `key` is v1's
// k_auth, or (issue 17, what our clients send) X25519(k_auth, server key): verifier.js.
export function joinProof(key, nonce, room, alias) {
  const raw = b64uDecode(nonce);
  if (!raw) throw new Error('nonce is not base64url');
  return b64uEncode(hmac(key, lp('join', raw, room, alias)));
}

// Each version has its own label, so a body cannot be re-read as the other version.
function envelopeTag(kMac, version, { room, kind, from, to }, iv, ct) {
  return hmac(kMac, lp(version === V1 ? 'sanctuary/v1' : 'sanctuary/v2', room, kind, from, to ?? '', iv, ct));
}

// stamp = { sid: 16 hex digits (8 random bytes per connection), counter: 1, 2, ... (u32),
// sentMs: the sender's clock } seals version 2: the stamp travels encrypted ahead of the
// text and is authenticated with it (PROTOCOL.md section 3, extension). stamp = null seals
// version 1, which only the v1 vectors need; leaving it out is an error, so no caller
// seals v1 by accident.
export function seal(keys, header, plaintext, stamp, iv = randomBytes(16)) {
  if (stamp === undefined) throw new Error('seal needs a stamp (null only for a v1 envelope)');
  const text = utf8.encode(plaintext);
  const version = stamp === null ? V1 : V2;
  let pt = text;
  if (stamp !== null) {
    pt = new Uint8Array(STAMP_LEN + text.length);
    const sid = Uint8Array.from(stamp.sid.match(/../g) ?? [], (x) => parseInt(x, 16));
    if (sid.length !== 8) throw new Error('a stamp sid is 8 bytes in hex');
    pt.set(sid);
    const view = new DataView(pt.buffer);
    view.setUint32(8, stamp.counter);
    view.setUint32(12, Math.floor(stamp.sentMs / 0x100000000));
    view.setUint32(16, stamp.sentMs >>> 0);
    pt.set(text, STAMP_LEN);
  }
  const ct = aesCtr(keys.enc, iv, pt);
  const tag = envelopeTag(keys.mac, version, header, iv, ct);
  const env = new Uint8Array(1 + 16 + ct.length + TAG_LEN);
  env[0] = version;
  env.set(iv, 1);
  env.set(ct, 17);
  env.set(tag, 17 + ct.length);
  return b64uEncode(env);
}

// { text, stamp } (stamp null for a v1 envelope, which nothing protects against replay),
// or null when the body is malformed or its tag does not match the fields the server
// relayed (so a server cannot re-attribute or redirect a message). Whether the stamp is
// new is for the receiver's ReplayGuard (replay.js) to say.
export function open(keys, header, body) {
  const env = b64uDecode(body);
  if (!env || !(env.length >= MIN_LEN[env[0]])) return null;
  const version = env[0];
  const iv = env.subarray(1, 17);
  const ct = env.subarray(17, env.length - TAG_LEN);
  const tag = env.subarray(env.length - TAG_LEN);
  if (!ctEqual(envelopeTag(keys.mac, version, header, iv, ct), tag)) return null;
  const pt = aesCtr(keys.enc, iv, ct);
  if (version === V1) return { text: utf8Decoder.decode(pt), stamp: null };
  const view = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
  const stamp = {
    sid: Array.from(pt.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(''),
    counter: view.getUint32(8),
    sentMs: view.getUint32(12) * 0x100000000 + view.getUint32(16),
  };
  return { text: utf8Decoder.decode(pt.subarray(STAMP_LEN)), stamp };
}
