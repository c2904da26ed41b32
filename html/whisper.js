// whisper.js: whispers sealed to the recipient alone (PROTOCOL.md section 5, extension).
// Each connection makes a fresh X25519 key pair and announces the public half with a tag
// under the room's k_mac, so a server (which lacks the room secret) cannot swap it; a
// whisper between A and B is the usual envelope under keys derived from
// X25519(sk_A, pk_B) = X25519(sk_B, pk_A), which other members cannot compute.
// src/whisper.rs is the same in Rust.

import { hmac, lp, roomKeys, b64uEncode, b64uDecode, ctEqual, randomBytes } from './crypto.js';
import { keyPair, sharedSecret } from './x25519.js';

// A fresh key pair from the platform's CSPRNG.
export function newKeyPair() {
  const random = randomBytes(32);
  const pair = keyPair(random);
  random.fill(0);
  return pair;
}

function keyTag(kMac, room, alias, publicKey) {
  return hmac(kMac, lp('sanctuary/v1/key', room, alias, publicKey));
}

// The `key` field of a join or create: b64u(pub || tag).
export function announceKey(keys, room, alias, publicKey) {
  const raw = new Uint8Array(64);
  raw.set(publicKey);
  raw.set(keyTag(keys.mac, room, alias, publicKey), 32);
  return b64uEncode(raw);
}

// The public key `alias` announced in `field`, or null when it is malformed or its tag
// does not verify (compared in constant time).
export function verifyKey(keys, room, alias, field) {
  const raw = b64uDecode(field);
  if (!raw || raw.length !== 64) return null;
  const publicKey = raw.slice(0, 32);
  return ctEqual(keyTag(keys.mac, room, alias, publicKey), raw.subarray(32)) ? publicKey : null;
}

// The envelope keys of whispers between `me` and `peer`, either way: both ends derive
// the same. Throws when peerPublic is a low-order point (an all-zero shared secret).
export function whisperKeys(secretKey, peerPublic, room, me, peer) {
  const s = sharedSecret(secretKey, peerPublic);
  const [lo, hi] = me <= peer ? [me, peer] : [peer, me];
  const w = hmac(s, lp('sanctuary/v1/whisper', room, lo, hi));
  const keys = roomKeys(w);
  s.fill(0);
  w.fill(0);
  return keys;
}
