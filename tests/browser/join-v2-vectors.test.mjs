// html/verifier.js (with crypto.js's joinProof) under node against every case of
// tests/vectors/join-v2.json, made by Python's cryptography (tests/vectors/make_join_v2.py),
// an implementation independent of ours: the issue 17 join of PROTOCOL.md section 5.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { importHtml } from './lib/html-module.mjs';

const vectors = JSON.parse(readFileSync(new URL('../vectors/join-v2.json', import.meta.url), 'utf8'));
const v = await importHtml('verifier.js');
const c = await importHtml('crypto.js');
const x = await importHtml('x25519.js');
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));

test('the verifier, the proof key and the proof match every case; the v1 proof differs', () => {
  assert.ok(vectors.cases.length >= 8);
  for (const k of vectors.cases) {
    const kAuth = unhex(k.k_auth);
    assert.equal(v.verifier(kAuth), k.verifier, `verifier of ${k.room}`);
    const key = v.proofKey(kAuth, k.server_public);
    assert.equal(hex(key), k.dh, `proof key of ${k.room}`);
    // The server's side: X25519(server secret, verifier) is the same key.
    assert.equal(hex(x.sharedSecret(unhex(k.server_secret), c.b64uDecode(k.verifier))), k.dh);
    assert.equal(c.joinProof(key, k.nonce, k.room, k.alias), k.proof, `proof of ${k.room}`);
    assert.equal(c.joinProof(kAuth, k.nonce, k.room, k.alias), k.v1_proof);
    assert.notEqual(k.proof, k.v1_proof);
  }
});

test('a server key that is not 32 bytes or is a low-order point gives no proof key', () => {
  const kAuth = unhex(vectors.cases[0].k_auth);
  for (const bad of ['', 'AAAA', c.b64uEncode(new Uint8Array(32))]) {
    assert.throws(() => v.proofKey(kAuth, bad), undefined, JSON.stringify(bad));
  }
});

test('a bad_proof is a re-created room only at epoch 0 with another verifier', () => {
  const k = vectors.cases[0];
  const kAuth = unhex(k.k_auth);
  const other = vectors.cases[1].verifier;
  assert.equal(v.isRecreated({ verifier: other, epoch: 0 }, kAuth), true);
  assert.equal(v.isRecreated({ verifier: k.verifier, epoch: 0 }, kAuth), false, 'our own room: a wrong proof');
  assert.equal(v.isRecreated({ verifier: other, epoch: 1 }, kAuth), false, 'the real room, rekeyed');
  assert.equal(v.isRecreated({}, kAuth), false, 'a server without the extension');
});
