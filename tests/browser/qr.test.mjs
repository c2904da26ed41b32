// html/qr.js against reference matrices from an independent encoder (the Python 'qrcode'
// package, see fixtures/qr-reference.json), so a wrong table, placement or format bit
// shows up as a differing module rather than as a phone that silently fails to scan.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { importHtml } from './lib/html-module.mjs';

const reference = JSON.parse(readFileSync(new URL('./fixtures/qr-reference.json', import.meta.url), 'utf8'));
const { encode } = await importHtml('qr.js');

const rowsOf = (qr) => Array.from({ length: qr.size }, (_, y) =>
  Array.from({ length: qr.size }, (_, x) => (qr.dark(x, y) ? '1' : '0')).join(''));

for (const c of reference.cases) {
  test(`${new TextEncoder().encode(c.text).length}-byte text encodes module for module like the reference (version ${c.version}, mask ${c.mask})`, () => {
    const qr = encode(c.text, { mask: c.mask });
    assert.equal(qr.version, c.version, 'smallest version that holds the text at level M');
    assert.equal(qr.ecl, c.ecl);
    const got = rowsOf(qr);
    const diff = got.flatMap((row, y) => [...row].flatMap((m, x) => (m === c.rows[y][x] ? [] : [`(${x},${y})`])));
    assert.deepEqual(diff, [], `modules differ at ${diff.slice(0, 10).join(' ')}`);
  });
}

test('automatic masking yields the reference matrix for whichever mask it chose', () => {
  const c = reference.cases[0];
  const auto = encode(c.text);
  assert.ok(auto.mask >= 0 && auto.mask < 8);
  assert.deepEqual(rowsOf(auto), rowsOf(encode(c.text, { mask: auto.mask })));
});

test('version boundaries: 14 bytes fit version 1-M, 15 need version 2, 214 need version 11', () => {
  assert.equal(encode('x'.repeat(14)).version, 1);
  assert.equal(encode('x'.repeat(15)).version, 2);
  assert.equal(encode('x'.repeat(213)).version, 10);
  assert.equal(encode('x'.repeat(214)).version, 11);
  assert.throws(() => encode('x'.repeat(2332)), RangeError);
});
