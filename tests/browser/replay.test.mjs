// html/replay.js under node: the receiver's rules for v2 stamps (repeats, the time window,
// bounded memory) and the sender's numbering. src/replay.rs has the same tests.
import test from 'node:test';
import assert from 'node:assert/strict';
import { importHtml } from './lib/html-module.mjs';

const { Stamper, ReplayGuard, WINDOW_MS, MAX_SENDERS } = await importHtml('replay.js');
const NOW = 1_800_000_000_000;
const stamp = (n, counter, sentMs) => ({ sid: String(n).padStart(16, '0'), counter, sentMs });

test('a counter not above the highest seen is a repeat', () => {
  const g = new ReplayGuard();
  assert.equal(g.check('alice', stamp(1, 1, NOW), NOW), null);
  assert.equal(g.check('alice', stamp(1, 3, NOW), NOW), null);
  assert.equal(g.check('alice', stamp(1, 3, NOW), NOW), 'repeated');
  assert.equal(g.check('alice', stamp(1, 2, NOW), NOW), 'repeated');
  // Another connection, or another sender, counts on its own.
  assert.equal(g.check('alice', stamp(2, 1, NOW), NOW), null);
  assert.equal(g.check('bob', stamp(1, 1, NOW), NOW), null);
});

test('times beyond the window either way are refused', () => {
  const g = new ReplayGuard();
  for (const sent of [915148800000, NOW - WINDOW_MS - 1, NOW + WINDOW_MS + 1]) {
    assert.equal(g.check('alice', stamp(1, 1, sent), NOW), 'window', String(sent));
  }
  assert.equal(g.check('alice', stamp(1, 1, NOW - WINDOW_MS), NOW), null);
  assert.equal(g.check('bob', stamp(1, 1, NOW + WINDOW_MS), NOW), null);
});

test('memory stays bounded and a forgotten sender cannot be replayed', () => {
  const g = new ReplayGuard();
  assert.equal(g.check('alice', stamp(0, 1, NOW - 1000), NOW), null);
  for (let i = 1; i <= MAX_SENDERS; i++) assert.equal(g.check('mallory', stamp(i, 1, NOW), NOW), null);
  assert.equal(g.senders.size, MAX_SENDERS);
  assert.equal(g.check('alice', stamp(0, 1, NOW - 1000), NOW), 'window');
  assert.equal(g.check('carol', stamp(99, 1, NOW), NOW), null);
});

test('stampers count from one under one random sid', () => {
  const a = new Stamper();
  const [first, second] = [a.stamp(), a.stamp()];
  assert.deepEqual([first.counter, second.counter], [1, 2]);
  assert.equal(first.sid, second.sid);
  assert.match(first.sid, /^[0-9a-f]{16}$/);
  assert.notEqual(first.sid, new Stamper().sid);
  assert.ok(Math.abs(first.sentMs - Date.now()) < 60000);
});
