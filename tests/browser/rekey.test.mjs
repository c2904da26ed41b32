// Rekey (PROTOCOL.md section 6a): a kick from the page changes the room's keys. The
// real server, Chromium pages and the terminal client in one room: the kicked page's
// old link is refused, the page shows the new link and its QR code and says why, a
// newcomer with the new link chats with the terminal client, and a kick from the
// terminal re-keys the page too. The steps build on each other and run in order.
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launchBrowser, openPage } from './lib/browser.mjs';
import { startPeer } from './lib/terminal-peer.mjs';
import { qrCanvasRows } from './lib/page-checks.mjs';
import { importHtml } from './lib/html-module.mjs';
import { enterRoom, say, waitEntry, members } from './lib/room.mjs';
import { story } from './lib/story.mjs';

const T = { timeout: 60000 };
const LINK = /^http:\/\/127\.0\.0\.1:\d+\/#([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})$/;

let server, browser, A, K, N, tom;
let oldLink, newLink;

// Where the terminal client stood when a step failed.
async function describeTom() {
  if (tom) console.log(`# tom: ${JSON.stringify(tom.lines.slice(-5))} ${tom.stderr.slice(-200)}`);
}

// The invite link the page shows, once it differs from `not`.
async function inviteOtherThan(p, not) {
  await p.waitForFunction((old) => {
    const t = document.getElementById('invite').textContent;
    return t && t !== old;
  }, not, { timeout: 15000 });
  return p.textContent('#invite');
}

async function assertQrShows(p, link) {
  const { encode } = await importHtml('qr.js');
  const qr = encode(link);
  const canvas = await p.evaluate(qrCanvasRows, qr.size);
  const want = Array.from({ length: qr.size }, (_, y) => Array.from({ length: qr.size }, (_, x) => (qr.dark(x, y) ? '1' : '0')).join(''));
  assert.deepEqual(canvas.rows, want, 'the QR code is the new link');
}

// The link a terminal client printed after a rekey (the last "invite link:" line).
async function printedLink(peer, after) {
  const line = await peer.waitForLine((l) => l.includes('invite link: ') && !l.includes(after));
  return line.split('invite link: ')[1].trim();
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  tom?.kill();
  await browser?.close();
  await server?.stop();
});

describe('a kick re-keys the room for pages and terminal clients', () => {
  const step = story(describeTom);

  step('a page creates the room; a terminal client and a second page join with the link', T, async () => {
    A = await openPage(browser);
    await A.page.goto(server.url);
    await enterRoom(A.page, 'alice');
    oldLink = await A.page.textContent('#invite');
    assert.match(oldLink, LINK);
    tom = startPeer(oldLink, 'tom');
    await waitEntry(A.page, { kind: 'system', text: 'tom joined' }, 20000);
    K = await openPage(browser);
    await K.page.goto(oldLink);
    await enterRoom(K.page, 'kim');
    await waitEntry(A.page, { kind: 'system', text: 'kim joined' });
  });

  step('/kick from the page removes the other page and shows the new link and QR code, saying why', T, async () => {
    const t0 = Date.now();
    await say(A.page, '/kick kim');
    newLink = await inviteOtherThan(A.page, oldLink);
    console.log(`# /kick to the new link on the page: ${Date.now() - t0} ms`);
    await K.page.waitForSelector('#ended:not([hidden])');
    assert.equal(await K.page.textContent('#ended-reason'), 'You were removed from the room by alice.');
    const [, oldRoom] = LINK.exec(oldLink);
    const [, newRoom, newSecret] = LINK.exec(newLink);
    assert.equal(newRoom, oldRoom, 'the same room');
    assert.notEqual(newSecret, LINK.exec(oldLink)[2]);
    await assertQrShows(A.page, newLink);
    assert.equal(await A.page.textContent('#copy-note'), 'kim was removed; keys changed; the old link no longer admits anyone.');
    await waitEntry(A.page, { kind: 'system', text: 'the old link no longer admits anyone' });
    assert.equal(await printedLink(tom, oldLink), newLink, 'the terminal client got the same new secret');
    assert.deepEqual(await members(A.page), ['alice', 'tom']);
  });

  step('the page and the terminal client chat on under the new keys', T, async () => {
    await say(A.page, 'after the kick 1');
    await tom.waitForLine((l) => l.includes('alice: after the kick 1'));
    tom.send('tom after the kick 2');
    await waitEntry(A.page, { from: 'tom', text: 'tom after the kick 2' });
    const marked = await A.page.evaluate(() => document.querySelectorAll('#log [data-keys="earlier"]').length);
    assert.equal(marked, 0, 'nothing here was sealed before the change');
  });

  step('the kicked page coming back with the old link is refused', T, async () => {
    await K.page.goto('about:blank');
    await K.page.goto(oldLink);
    await K.page.fill('#alias', 'kim');
    await K.page.click('#enter');
    await K.page.waitForFunction(() => document.getElementById('start-error').textContent.includes('Wrong passphrase or invite link'), null, { timeout: 15000 });
    assert.ok(!(await K.page.isVisible('#chat')));
    assert.deepEqual(await members(A.page), ['alice', 'tom']);
  });

  step('a newcomer page with the new link joins and chats with the terminal client', T, async () => {
    N = await openPage(browser);
    await N.page.goto(newLink);
    await enterRoom(N.page, 'nia');
    await tom.waitForLine((l) => l.includes('nia joined'));
    await say(N.page, 'hi tom from nia 3');
    await tom.waitForLine((l) => l.includes('nia: hi tom from nia 3'));
    tom.send('hi nia 4');
    await waitEntry(N.page, { from: 'tom', text: 'hi nia 4' });
  });

  step('a kick from the terminal re-keys the pages too; its message sealed before the change is marked', T, async () => {
    // The second line is sealed while tom's kick is on its way (tom switches keys when
    // the server's rekey comes back), so it reaches the page after the change.
    tom.send('/kick nia');
    tom.send('in flight 6');
    await N.page.waitForSelector('#ended:not([hidden])');
    await waitEntry(A.page, { from: 'tom', text: 'in flight 6' });
    const tag = await A.page.evaluate(() => [...document.querySelectorAll('#log [data-from="tom"]')].pop().dataset.keys);
    assert.equal(tag, 'earlier', 'shown as sent before the key change');
    await tom.waitForLine((l) => l.includes('tom: in flight 6 (sent before the key change)'));
    const third = await inviteOtherThan(A.page, newLink);
    assert.equal(await printedLink(tom, newLink), third, 'the page shows the link the terminal made');
    await assertQrShows(A.page, third);
    assert.equal(await A.page.textContent('#copy-note'), 'nia was removed; keys changed; the old link no longer admits anyone.');
    await say(A.page, 'third keys 5');
    await tom.waitForLine((l) => l.includes('alice: third keys 5'));
  });

  step('a page offline during a rekey cannot get back in with the old keys, and says why', T, async () => {
    const link = await A.page.textContent('#invite');
    const Q = await openPage(browser);
    await Q.page.goto(link);
    await enterRoom(Q.page, 'quin');
    await waitEntry(A.page, { kind: 'system', text: 'quin joined' });
    await Q.context.setOffline(true);
    await Q.page.waitForFunction(() => document.body.dataset.conn === 'lost', null, { timeout: 10000 });
    await say(A.page, '/rekey');
    const fourth = await inviteOtherThan(A.page, link);
    assert.equal(await A.page.textContent('#copy-note'), 'alice changed the room’s keys; the old link no longer admits anyone.');
    await Q.context.setOffline(false);
    await Q.page.waitForSelector('#ended:not([hidden])', { timeout: 20000 });
    assert.match(await Q.page.textContent('#ended-reason'), /keys changed while you were away/);
    await tom.waitForLine((l) => l.endsWith(`invite link: ${fourth}`));
    assert.deepEqual(A.events.pageErrors, []);
    assert.deepEqual(A.events.csp, []);
  });
});
