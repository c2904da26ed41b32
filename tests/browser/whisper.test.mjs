// Issue 17: whispers sealed to the recipient alone, in Chromium. Three pages (alice,
// bob, carol) and the terminal client (tom) share a room. A whisper from alice to bob
// reaches bob only, and the body alice's page receives on its WebSocket does not open
// for carol, who holds the room secret: not under the room keys, not under keys from a
// key pair of her own. The terminal client and a page whisper both ways. A member
// without a key, or with a key whose tag is forged, gets no whisper from the page.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launchBrowser, openPage } from './lib/browser.mjs';
import { enterRoom, say, waitEntry, members } from './lib/room.mjs';
import { startPeer } from './lib/terminal-peer.mjs';

const T = { timeout: 60000 };
let server, browser, A, B, C, tom, link;

const received = (x) => x.events.wsReceived.map((f) => JSON.parse(f));
const logText = (p) => p.evaluate(() => document.getElementById('log').textContent);

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  tom?.kill();
  await browser?.close();
  await server?.stop();
});

describe('whispers sealed to the recipient alone', () => {
  test('three pages and a terminal client share a room', T, async () => {
    A = await openPage(browser);
    await A.page.goto(server.url);
    await enterRoom(A.page, 'alice');
    link = await A.page.textContent('#invite');
    B = await openPage(browser);
    await B.page.goto(link);
    await enterRoom(B.page, 'bob');
    C = await openPage(browser);
    await C.page.goto(link);
    await enterRoom(C.page, 'carol');
    tom = startPeer(link, 'tom');
    await A.page.waitForFunction(() => document.querySelector('#members li[data-alias="tom"]'), null, { timeout: 15000 });
    assert.deepEqual(await members(A.page), ['alice', 'bob', 'carol', 'tom']);
    // Every client announced a key with its join or create.
    for (const x of [A, B, C]) {
      const sent = x.events.wsSent.map((f) => JSON.parse(f)).find((f) => f.t === 'join' || f.t === 'create');
      assert.match(sent.key, /^[A-Za-z0-9_-]{86}$/);
    }
  });

  test('a page whisper reaches only bob, and its bytes do not open for carol', T, async () => {
    await say(A.page, '/purr bob only for bob 1');
    await waitEntry(B.page, { kind: 'purr', from: 'alice', text: 'only for bob 1' });
    await waitEntry(A.page, { kind: 'purr', from: 'alice', text: 'only for bob 1' });
    await say(A.page, 'after the whisper 2');
    await waitEntry(C.page, { from: 'alice', text: 'after the whisper 2' });
    assert.ok(!(await logText(C.page)).includes('only for bob 1'), 'carol was shown the whisper');
    assert.ok(!received(C).some((f) => f.t === 'purr'), 'carol was sent the whisper');

    // The whisper as it crossed the wire to alice, and a message for comparison.
    const purr = received(A).find((f) => f.t === 'purr' && f.to === 'bob');
    const msg = received(A).find((f) => f.t === 'msg' && f.from === 'alice');
    const welcome = received(C).find((f) => f.t === 'welcome');
    const [, room, secret] = /#([^.]+)\.(.+)$/.exec(link);
    const tried = await C.page.evaluate(async ({ room, secret, body, msgBody, keys }) => {
      const c = await import('/crypto.js');
      const w = await import('/whisper.js');
      const roomKeys = c.deriveKeys(room, secret);
      const header = { room, kind: 'purr', from: 'alice', to: 'bob' };
      const own = w.newKeyPair();
      const withOwnPair = {};
      for (const peer of ['alice', 'bob']) {
        const pub = w.verifyKey(roomKeys, room, peer, keys[peer]);
        if (!pub) return { error: `${peer}'s key does not verify for carol` };
        withOwnPair[peer] = c.open(w.whisperKeys(own.secretKey, pub, room, 'carol', peer), header, body);
      }
      return {
        withRoomKeys: c.open(roomKeys, header, body),
        withOwnPair,
        // The same keys open the room's messages: carol's attempt is a real one.
        message: c.open(roomKeys, { room, kind: 'msg', from: 'alice', to: '' }, msgBody)?.text,
      };
    }, { room, secret, body: purr.body, msgBody: msg.body, keys: welcome.keys });
    assert.deepEqual(tried, { withRoomKeys: null, withOwnPair: { alice: null, bob: null }, message: 'after the whisper 2' });
  });

  test('the terminal client and a page whisper both ways', T, async () => {
    tom.send('/purr alice tom to alice 3');
    await waitEntry(A.page, { kind: 'purr', from: 'tom', text: 'tom to alice 3' });
    await say(A.page, '/purr tom alice to tom 4');
    await tom.waitForLine((l) => l.includes('alice -> you (whisper): alice to tom 4'));
    await say(A.page, 'after the whispers 5');
    for (const x of [B, C]) {
      await waitEntry(x.page, { from: 'alice', text: 'after the whispers 5' });
      const text = await logText(x.page);
      assert.ok(!text.includes('tom to alice 3') && !text.includes('alice to tom 4'), 'a bystander saw a whisper');
    }
  });

  test('no whisper goes to a member without a key, with a forged one or a low-order one', T, async () => {
    const [, room, secret] = /#([^.]+)\.(.+)$/.exec(link);
    // Members holding the room secret join by hand from carol's page: one as a client
    // without whispers, one announcing a key whose tag it made up, one a low-order point
    // (u = 0) with a valid tag, which would make the "shared" secret all zero.
    await C.page.evaluate(async ({ room, secret, port }) => {
      const c = await import('/crypto.js');
      const w = await import('/whisper.js');
      const v = await import('/verifier.js');
      const keys = c.deriveKeys(room, secret);
      const forged = c.b64uEncode(new Uint8Array(64).fill(9));
      const zero = w.announceKey(keys, room, 'zero', new Uint8Array(32));
      window.rawMembers = await Promise.all([['oldie', undefined], ['mallory', forged], ['zero', zero]].map(([alias, key]) => new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.hostname}:${port}/ws`);
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.t === 'hello') ws.send(JSON.stringify({ t: 'join', room, alias, proof: c.joinProof(v.proofKey(keys.auth, f.key), f.nonce, room, alias), key }));
          if (f.t === 'welcome') resolve(ws);
          if (f.t === 'error') reject(new Error(f.message));
        };
      })));
    }, { room, secret, port: server.config.ws_port });
    await A.page.waitForFunction(() => document.querySelector('#members li[data-alias="zero"]'), null, { timeout: 10000 });
    await waitEntry(A.page, { kind: 'system', text: "mallory's whisper key failed verification" });
    const purrsSent = () => A.events.wsSent.filter((f) => JSON.parse(f).t === 'purr').length;
    const sentBefore = purrsSent();
    for (const who of ['oldie', 'mallory']) {
      await say(A.page, `/purr ${who} not for you`);
      await waitEntry(A.page, { kind: 'system', text: `Cannot whisper to ${who}: no verified whisper key` });
    }
    await say(A.page, '/purr zero not for you');
    await waitEntry(A.page, { kind: 'system', text: 'Cannot whisper to zero: their whisper key is a low-order point' });
    assert.equal(purrsSent(), sentBefore, 'a whisper left the page');
    assert.equal(await A.page.inputValue('#composer'), '/purr zero not for you', 'the text was not kept');
  });

  test('no console errors, page errors or CSP violations', async () => {
    for (const x of [A, B, C]) {
      assert.deepEqual(x.events.pageErrors, []);
      assert.deepEqual(x.events.csp, []);
      assert.deepEqual(x.events.console, []);
    }
  });
});
