// html/session.js's copy of the look-alike rule (aliasSkeleton, sameAlias) under node,
// against tests/vectors/aliases.json: the cases the server's src/alias.rs is tested on,
// so the page keeps one member-list entry exactly where the server sees one member.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { importHtml } from './lib/html-module.mjs';

const cases = JSON.parse(readFileSync(new URL('../vectors/aliases.json', import.meta.url), 'utf8'));
const { aliasSkeleton, sameAlias } = await importHtml('session.js');

test('skeletons are as listed', () => {
  assert.ok(cases.skeletons.length > 0);
  for (const [alias, skeleton] of cases.skeletons) assert.equal(aliasSkeleton(alias), skeleton, alias);
});

test('look-alikes are the same alias', () => {
  assert.ok(cases.same.length > 0);
  for (const [a, b] of cases.same) assert.ok(sameAlias(a, b), `${a} and ${b}`);
});

test('ordinary names stay apart', () => {
  assert.ok(cases.different.length > 0);
  for (const [a, b] of cases.different) assert.ok(!sameAlias(a, b), `${a} and ${b}`);
});
