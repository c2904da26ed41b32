// html/x25519.js under node against every case of tests/vectors/x25519.json: RFC 7748
// sections 5.2 and 6.1 (the 1,000-iteration case too) and cases made by Python's
// cryptography (tests/vectors/make_x25519.py), an implementation independent of ours.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { importHtml } from './lib/html-module.mjs';

const vectors = JSON.parse(readFileSync(new URL('../vectors/x25519.json', import.meta.url), 'utf8'));
const x = await importHtml('x25519.js');
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));

test('scalarMult matches every scalar/u case, top bit set and u >= p included', () => {
  assert.ok(vectors.scalar_mult.length >= 42);
  for (const c of vectors.scalar_mult) {
    assert.equal(hex(x.scalarMult(unhex(c.scalar), unhex(c.u))), c.out, c.name);
  }
});

test('iterating k, u = X25519(k, u), k from 9 gives RFC 7748 results after 1 and 1,000', () => {
  let k = x.BASE_POINT, u = x.BASE_POINT;
  for (let i = 1; i <= 1000; i++) {
    [k, u] = [x.scalarMult(k, u), k];
    if (vectors.iterated[i]) assert.equal(hex(k), vectors.iterated[i], `after ${i}`);
  }
});

test('key pairs and shared secrets match every Diffie-Hellman case, both ways', () => {
  for (const c of vectors.dh) {
    const a = x.keyPair(unhex(c.a_secret)), b = x.keyPair(unhex(c.b_secret));
    assert.equal(hex(a.publicKey), c.a_public, c.name);
    assert.equal(hex(x.scalarMultBase(unhex(c.b_secret))), c.b_public, c.name);
    assert.equal(hex(x.sharedSecret(a.secretKey, b.publicKey)), c.shared, c.name);
    assert.equal(hex(x.sharedSecret(b.secretKey, a.publicKey)), c.shared, c.name);
  }
});

test('sharedSecret refuses every low-order point; scalarMult gives all zero there', () => {
  const sk = x.keyPair(new Uint8Array(32).fill(0x42)).secretKey;
  for (const u of vectors.low_order) {
    assert.equal(hex(x.scalarMult(sk, unhex(u))), '00'.repeat(32), u);
    assert.throws(() => x.sharedSecret(sk, unhex(u)), /low-order/, u);
  }
});

test('inputs that are not 32 bytes are refused', () => {
  assert.throws(() => x.scalarMult(new Uint8Array(31), x.BASE_POINT), /32 bytes/);
  assert.throws(() => x.scalarMult(new Uint8Array(32), [9]), /32 bytes/);
});
