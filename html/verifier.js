// verifier.js: the room verifier and the join-proof key (PROTOCOL.md section 5,
// extension, issue 17). k_auth is taken as an X25519 secret: `create` and rekeys send
// its public key (the verifier), never k_auth itself, and join proofs are keyed with
// X25519(k_auth, the server's key from hello), which the server computes from the
// verifier with its own secret. Same as src/verifier.rs; vectors in
// tests/vectors/join-v2.json.

import { scalarMultBase, sharedSecret } from './x25519.js';
import { b64uDecode, b64uEncode } from './crypto.js';

// b64u(X25519(kAuth, 9)): public by design.
export function verifier(kAuth) {
  return b64uEncode(scalarMultBase(kAuth));
}

// X25519(kAuth, serverKey): throws when hello's key is not 32 bytes of base64url or is a
// low-order point. The caller wipes it once the proof is made.
export function proofKey(kAuth, serverKey) {
  const raw = b64uDecode(serverKey);
  if (!raw || raw.length !== 32) throw new Error('the server key is not 32 bytes of base64url');
  return sharedSecret(kAuth, raw);
}

// A bad_proof from a room at epoch 0 whose verifier is not ours: someone made a room
// under this id after the original ended. At a later epoch it is the real room rekeyed.
export function isRecreated(frame, kAuth) {
  return typeof frame.verifier === 'string' && frame.epoch === 0 && frame.verifier !== verifier(kAuth);
}
