// html/crypto.js under node against every case of tests/vectors/v1.json and v2.json, which
// were made by independent implementations. The same checks run again inside Chromium (e2e).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { importHtml } from './lib/html-module.mjs';
import { vectorChecks } from './lib/vector-checks.mjs';

const load = (name) => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8'));
const vectors = { v1: load('v1.json'), v2: load('v2.json') };
const crypto = await importHtml('crypto.js');

for (const { name, failures } of await vectorChecks(vectors, crypto)) {
  test(name, () => assert.deepEqual(failures, [], failures.join('\n')));
}

test('primitives match published test vectors (FIPS 180-2, RFC 4231, RFC 7914, FIPS 197)', () => {
  const hex = (b) => Buffer.from(b).toString('hex');
  const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
  assert.equal(hex(crypto.sha256('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(crypto.sha256('')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(crypto.sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  // RFC 4231 case 2 and case 6 (a key longer than one block is hashed first).
  assert.equal(hex(crypto.hmac('Jefe', 'what do ya want for nothing?')),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  assert.equal(hex(crypto.hmac(new Uint8Array(131).fill(0xaa), 'Test Using Larger Than Block-Size Key - Hash Key First')),
    '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
  // RFC 7914 section 11, PBKDF2-HMAC-SHA256 with c = 1 and a 64-byte output (two blocks).
  assert.equal(hex(crypto.pbkdf2('passwd', 'salt', 1, 64)),
    '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783');
  assert.equal(hex(crypto.pbkdf2('Password', 'NaCl', 80000, 64)),
    '4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d');
  // FIPS 197 appendix C.3: AES-256 of one block; CTR of a zero block with that block as
  // counter gives the same bytes.
  const key = unhex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  assert.equal(hex(crypto.aesCtr(key, unhex('00112233445566778899aabbccddeeff'), new Uint8Array(16))),
    '8ea2b7ca516745bfeafc49904b496089');
});

test('CTR counter carries across all 128 bits', () => {
  const key = new Uint8Array(32).fill(7);
  const zero = new Uint8Array(16);
  const ones = Uint8Array.from({ length: 16 }, () => 0xff);
  // Block 2 of a stream starting at ff..ff must equal block 1 of a stream starting at 00..00.
  const a = crypto.aesCtr(key, ones, new Uint8Array(32)).subarray(16);
  const b = crypto.aesCtr(key, zero, new Uint8Array(16));
  assert.deepEqual(a, b);
});

test('base64url decoding rejects padding, foreign characters and stray bits', () => {
  for (const bad of ['QQ==', 'Q', 'QQ+', 'QQ/', 'a b', 'QR', 'QUJDRA=', 'é']) {
    assert.equal(crypto.b64uDecode(bad), null, bad);
  }
  assert.deepEqual(crypto.b64uDecode('QUI'), Uint8Array.from([0x41, 0x42]));
  for (let n = 0; n < 40; n++) {
    const data = crypto.randomBytes(n);
    assert.deepEqual(crypto.b64uDecode(crypto.b64uEncode(data)), data);
    assert.equal(crypto.b64uEncode(data), Buffer.from(data).toString('base64url'));
  }
});

test('seal then open round-trips and open refuses another header', () => {
  const keys = crypto.roomKeys(new Uint8Array(32).fill(1));
  const h = { room: 'AAAAAAAAAAAAAAAAAAAAAA', kind: 'msg', from: 'ann', to: '' };
  const stamp = { sid: '00ff00ff00ff00ff', counter: 1, sentMs: Date.now() };
  const body = crypto.seal(keys, h, 'hi <b>there</b> 🦀', stamp);
  assert.deepEqual(crypto.open(keys, h, body), { text: 'hi <b>there</b> 🦀', stamp });
  assert.equal(crypto.open(keys, { ...h, from: 'bob' }, body), null);
  assert.equal(crypto.open(keys, { ...h, room: 'BAAAAAAAAAAAAAAAAAAAAA' }, body), null);
  assert.equal(crypto.open(keys, h, body.slice(0, -1)), null);
  assert.equal(crypto.open(keys, h, 'not base64!'), null);
});

test('constant-time compare distinguishes every byte position and length', () => {
  const a = crypto.randomBytes(32);
  assert.ok(crypto.ctEqual(a, a.slice()));
  for (let i = 0; i < 32; i++) {
    const b = a.slice();
    b[i] ^= 0x80;
    assert.ok(!crypto.ctEqual(a, b), `byte ${i}`);
  }
  assert.ok(!crypto.ctEqual(a, a.subarray(0, 31)));
});
