// Issue 12: the page survives the network going away and the server going away. A phone
// page (360 px) and a desktop page share a room; the phone goes offline for 10 s, then
// the server is killed and restarted on the same ports (no purge: the sockets just
// close). Each time the page says so, keeps what it showed, rejoins under the same name,
// marks the gap and exchanges messages both ways again; what was typed meanwhile is sent
// on rejoin. Kick, stop, /exit and a server shutdown never start a reconnection.
// Screenshots go to target/screenshots/reconnect*.png.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startServer, ROOT } from './lib/server.mjs';
import { launchBrowser, openPage } from './lib/browser.mjs';
import { enterRoom, say, waitEntry, members } from './lib/room.mjs';

const SHOTS = path.join(ROOT, 'target/screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
const T = { timeout: 90000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server, browser, A, P;

async function shot(p, name) {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

function logEntries(p) {
  return p.evaluate(() => [...document.querySelectorAll('#log > *')].map((e) => ({ kind: e.dataset.kind, event: e.dataset.event, from: e.dataset.from, state: e.dataset.state, text: e.textContent })));
}

function conn(p) {
  return p.evaluate(() => ({ state: document.body.dataset.conn ?? '', banner: document.getElementById('conn').hidden ? '' : document.getElementById('conn-text').textContent }));
}

// Chat frames a page's sockets sent, parsed.
const sentOf = (x, t) => x.events.wsSent.map((f) => JSON.parse(f)).filter((f) => f.t === t);

// Browser console lines other than the failed connection attempts a reconnection makes.
const consoleProblems = (x) => x.events.console.filter((l) => !/WebSocket connection to .* failed/.test(l));

// Nothing reconnects after a final close: no new socket for a while, the ended screen.
async function assertNoReconnect(x, reason) {
  const sockets = x.events.wsUrls.length;
  await x.page.waitForSelector('#ended:not([hidden])', { timeout: 15000 });
  assert.match(await x.page.textContent('#ended-reason'), reason);
  await sleep(3000); // longer than the first retry (0.5 s) and the second (up to 1 s)
  assert.equal(x.events.wsUrls.length, sockets, 'a new connection was opened after a final close');
  assert.ok(await x.page.isHidden('#conn'), 'the reconnecting banner is shown after a final close');
  assert.equal(await x.page.evaluate(() => document.getElementById('log').children.length), 0, 'the log was not cleared');
}

before(async () => {
  await mkdir(SHOTS, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe('reconnecting after the network or the server goes away', () => {
  let broken = null;
  const step = (name, opts, fn) => test(name, opts, async (t) => {
    if (broken) return t.skip(`skipped: "${broken}" failed`);
    try {
      await fn(t);
    } catch (err) {
      broken = name;
      for (const [n, x] of [['desktop', A], ['phone', P]]) {
        if (x && !x.page.isClosed()) console.log(`# ${n}: ${JSON.stringify(await conn(x.page).catch(String))} ${JSON.stringify((await logEntries(x.page).catch(() => [])).slice(-5))}`);
      }
      throw err;
    }
  });

  step('a desktop and a phone page share a room', T, async () => {
    A = await openPage(browser, { viewport: DESKTOP });
    await A.page.goto(server.url);
    await enterRoom(A.page, 'alice');
    const link = await A.page.textContent('#invite');
    P = await openPage(browser, { viewport: PHONE });
    await P.page.goto(link);
    await enterRoom(P.page, 'pat');
    await say(A.page, 'before the drop 1');
    await waitEntry(P.page, { from: 'alice', text: 'before the drop 1' });
    await say(P.page, 'before the drop 2');
    await waitEntry(A.page, { from: 'pat', text: 'before the drop 2' });
  });

  step('offline for 10 s: the phone says so at once, queues what is sent and keeps what is typed', T, async () => {
    const offlineAt = Date.now();
    await P.context.setOffline(true);
    await P.page.waitForFunction(() => document.body.dataset.conn === 'lost', null, { timeout: 5000 });
    const c = await conn(P.page);
    assert.match(c.banner, /^Connection lost, reconnecting…/);
    await waitEntry(P.page, { kind: 'system', event: 'lost', text: 'Connection lost, reconnecting…' });
    // The log is the page's live region: the news is announced there.
    assert.equal(await P.page.getAttribute('#log', 'aria-live'), 'polite');
    // Everything shown stays shown, the room screen stays, the people stay listed.
    assert.ok(await P.page.isVisible('#chat'));
    await waitEntry(P.page, { from: 'alice', text: 'before the drop 1' }, 1000);
    assert.deepEqual(await members(P.page), ['pat', 'alice']);
    // The desktop sees pat go; what it says now pat will not see.
    await waitEntry(A.page, { kind: 'system', text: 'pat lost connection and left' });
    await say(A.page, 'said during the gap 3');
    await waitEntry(A.page, { from: 'alice', text: 'said during the gap 3' });
    // Sent while away: shown as waiting, not lost. Typed and not sent: stays in the box.
    await say(P.page, 'sent while offline 4');
    await waitEntry(P.page, { from: 'pat', text: 'sent while offline 4' }, 2000);
    const queued = (await logEntries(P.page)).filter((e) => e.state === 'queued');
    assert.equal(queued.length, 1);
    assert.match(queued[0].text, /not sent yet/);
    await P.page.fill('#composer', 'half a thought');
    await shot(P.page, 'reconnecting-phone-360');
    await sleep(Math.max(0, 10000 - (Date.now() - offlineAt)));
    assert.equal((await conn(P.page)).state, 'lost', 'still away while offline');
  });

  step('back online: the phone rejoins as pat at once, marks the gap and sends the queue', T, async () => {
    const joins = sentOf(P, 'join').length;
    const t0 = Date.now();
    await P.context.setOffline(false);
    await waitEntry(P.page, { kind: 'system', event: 'gap', text: 'You were away from' }, 10000);
    const took = Date.now() - t0;
    assert.ok(took < 5000, `rejoined ${took} ms after the network came back (the online event skips the backoff)`);
    assert.equal(sentOf(P, 'join').length, joins + 1, 'one join on the new connection');
    assert.equal(sentOf(P, 'join').at(-1).alias, 'pat', 'the same name');
    const log = await logEntries(P.page);
    const gap = log.find((e) => e.event === 'gap');
    assert.match(gap.text, /^Reconnected\. You were away from .+ to .+; messages sent then are not shown\./);
    // What was shown before is still there, in order, and the gap comes after it.
    const idx = (t) => log.findIndex((e) => e.text.includes(t));
    assert.ok(idx('before the drop 1') < idx('before the drop 2') && idx('before the drop 2') < idx('Connection lost') && idx('Connection lost') < log.indexOf(gap));
    assert.equal(idx('said during the gap 3'), -1, 'a message of the gap was shown');
    assert.equal(await P.page.inputValue('#composer'), 'half a thought', 'the composer lost its text');
    // The queued message went out on the new connection and came back as sent.
    await waitEntry(A.page, { from: 'pat', text: 'sent while offline 4' });
    await P.page.waitForFunction(() => !document.querySelector('#log [data-state="queued"]'));
    await waitEntry(P.page, { from: 'pat', text: 'sent while offline 4' });
    assert.deepEqual(await members(P.page), ['pat', 'alice'], 'members from the new welcome');
    // The rejoin brought the token of the last welcome; the others are told pat came back.
    assert.equal(typeof sentOf(P, 'join').at(-1).resume, 'string', 'the rejoin sent its resume token');
    await waitEntry(A.page, { kind: 'system', text: 'pat reconnected' });
    assert.deepEqual(await conn(P.page), { state: 'back', banner: 'Reconnected.' });
    await shot(P.page, 'reconnected-phone-360');
    // Both ways again.
    await P.page.fill('#composer', '');
    await say(P.page, 'after the gap 5');
    await waitEntry(A.page, { from: 'pat', text: 'after the gap 5' });
    await say(A.page, 'after the gap 6');
    await waitEntry(P.page, { from: 'alice', text: 'after the gap 6' });
    // The banner goes away by itself.
    await P.page.waitForSelector('#conn', { state: 'hidden', timeout: 6000 });
  });

  step('a name taken while away: the page says so, keeps trying, and rejoins once it is free', T, async () => {
    await P.context.setOffline(true);
    await P.page.waitForFunction(() => document.body.dataset.conn === 'lost');
    await waitEntry(A.page, { kind: 'system', text: 'pat lost connection and left' });
    // Someone else (or, on a real network, our old connection not yet dropped by the
    // server) holds the name when the phone comes back.
    const Q = await openPage(browser);
    await Q.page.goto(await A.page.textContent('#invite'));
    await enterRoom(Q.page, 'pat');
    await P.context.setOffline(false);
    await waitEntry(P.page, { kind: 'system', text: 'Your name pat is still in use in the room' }, 10000);
    assert.match((await conn(P.page)).banner, /still holds the name pat/);
    assert.equal((await conn(P.page)).state, 'lost');
    await say(Q.page, '/exit');
    await Q.page.waitForSelector('#ended:not([hidden])');
    await Q.context.close();
    await waitEntry(P.page, { kind: 'system', event: 'gap', text: 'You were away' }, 20000);
    assert.equal(sentOf(P, 'join').at(-1).alias, 'pat');
    assert.deepEqual(await members(P.page), ['pat', 'alice']);
    await say(P.page, 'back under my name 6b');
    await waitEntry(A.page, { from: 'pat', text: 'back under my name 6b' });
  });

  step('the server killed and restarted: both pages rejoin, the room is re-created and says so', T, async () => {
    const sockets = [A.events.wsUrls.length, P.events.wsUrls.length];
    await server.crashAndRestart({ downMs: 2500 });
    for (const x of [A, P]) {
      await waitEntry(x.page, { kind: 'system', event: 'gap', text: 'You were away from' }, 30000);
    }
    assert.ok(A.events.wsUrls.length > sockets[0] && P.events.wsUrls.length > sockets[1]);
    // Whoever came back first re-created the room (and is told); the other joined it.
    const created = [];
    for (const x of [A, P]) {
      if ((await logEntries(x.page)).some((e) => e.text.includes('opened again under the same link'))) created.push(x);
    }
    assert.equal(created.length, 1, 'exactly one page re-created the room and said so');
    for (const x of [A, P]) {
      await x.page.waitForFunction(() => document.querySelectorAll('#members li').length === 2, null, { timeout: 15000 });
    }
    assert.deepEqual((await members(A.page)).sort(), ['alice', 'pat']);
    assert.deepEqual(sentOf(A, 'join').at(-1)?.alias ?? sentOf(A, 'create').at(-1)?.alias, 'alice');
    await say(A.page, 'after the restart 7');
    await waitEntry(P.page, { from: 'alice', text: 'after the restart 7' });
    await say(P.page, 'after the restart 8');
    await waitEntry(A.page, { from: 'pat', text: 'after the restart 8' });
    await shot(P.page, 'reconnected-after-restart-phone-360');
    // Nothing said before is lost from the screen.
    for (const t of ['before the drop 1', 'after the gap 6']) await waitEntry(P.page, { text: t }, 1000);
    for (const x of [A, P]) {
      assert.deepEqual(x.events.pageErrors, []);
      assert.deepEqual(x.events.csp, []);
      assert.deepEqual(consoleProblems(x), []);
    }
  });

  step('a long wait is cut short when the tab is shown again, and by Try now', T, async () => {
    for (const trigger of ['visibilitychange', 'Try now']) {
      await server.crash();
      await P.page.waitForFunction(() => document.body.dataset.conn === 'lost');
      // Let the failed attempts push the next one at least 5 s away (the 4th waits 4-8 s).
      await P.page.waitForFunction(() => Number(/Next try in (\d+) s/.exec(document.getElementById('conn-next').textContent)?.[1]) >= 5, null, { timeout: 30000 });
      if (trigger === 'visibilitychange') await shot(P.page, 'reconnecting-server-down-phone-360');
      const next = Number(/(\d+) s/.exec(await P.page.textContent('#conn-next'))[1]);
      const gaps = (await logEntries(P.page)).filter((e) => e.event === 'gap').length;
      const t0 = Date.now();
      await server.restart();
      // A phone woken up (its tab visible again), or the person pressing the button.
      if (trigger === 'Try now') await P.page.click('#conn-retry');
      else await P.page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
      await P.page.waitForFunction((n) => document.querySelectorAll('#log [data-event="gap"]').length > n, gaps, { timeout: 10000 });
      const took = Date.now() - t0;
      assert.ok(took < (next - 1) * 1000, `${trigger}: rejoined after ${took} ms; the timer alone would have waited ${next} s`);
    }
    // The desktop comes back on its own timer; then both talk again.
    for (const x of [A, P]) await x.page.waitForFunction(() => !document.body.dataset.conn && document.querySelectorAll('#members li').length === 2, null, { timeout: 40000 });
    await say(P.page, 'after waking up 9');
    await waitEntry(A.page, { from: 'pat', text: 'after waking up 9' }, 20000);
  });

  step('a kick ends the conversation and never reconnects', T, async () => {
    await say(A.page, '/kick pat');
    await assertNoReconnect(P, /removed from the room by alice/);
  });

  step('/exit ends the conversation and never reconnects', T, async () => {
    await P.page.click('#restart');
    await P.page.goto(await A.page.textContent('#invite'));
    await enterRoom(P.page, 'pat');
    await waitEntry(A.page, { kind: 'system', text: 'pat joined' });
    await say(P.page, '/exit bye');
    await assertNoReconnect(P, /You left the room/);
  });

  step('stop ends the conversation for everyone and never reconnects', T, async () => {
    await P.page.goto(await A.page.textContent('#invite'));
    await enterRoom(P.page, 'pat');
    await waitEntry(A.page, { kind: 'system', text: 'pat joined' });
    await say(P.page, '/stop');
    await P.page.waitForSelector('#confirm[open]');
    await P.page.click('#confirm-ok');
    await Promise.all([assertNoReconnect(P, /ended the room/), assertNoReconnect(A, /ended the room/)]);
  });

  step('leaving while reconnecting stops the attempts and keeps nothing', T, async () => {
    await A.page.click('#restart');
    await enterRoom(A.page, 'alice');
    await say(A.page, 'lonely words');
    await A.context.setOffline(true);
    await A.page.waitForFunction(() => document.body.dataset.conn === 'lost');
    await say(A.page, '/exit');
    await assertNoReconnect(A, /You left the room/);
    assert.ok(!(await A.page.content()).includes('lonely words'));
    await A.context.setOffline(false);
    await sleep(1500); // the online event must not bring the room back
    assert.ok(await A.page.isVisible('#ended'));
  });

  step('a server shutdown ends the conversation and never reconnects', T, async () => {
    await A.page.click('#restart');
    await enterRoom(A.page, 'alice');
    const stopping = server.stop();
    await assertNoReconnect(A, /shutting down/);
    await stopping;
  });
});
