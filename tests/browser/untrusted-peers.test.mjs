// Issue 17 part B in the page: what other members, or a lying server, can make a reader's
// browser do or show.
//   - a look-alike of a name in the room ("A1ice" beside "Alice") is refused;
//   - an image in a message is never fetched from elsewhere: a loopback listener counts
//     the requests that <img src="http://..."> (and the forms around it) would make, in two
//     pages; a data: image still renders;
//   - a whisper relayed to a reader it does not name (as a lying server would: here the
//     test's WebSocket route hands alice the frame carol got) is shown with a warning,
//     never as "whispered to you";
//   - a member that takes its seat back by resume token under a look-alike spelling
//     (the server allows it: the two are one alias) stays one entry in the member list.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer } from './lib/server.mjs';
import { launchBrowser, openPage } from './lib/browser.mjs';
import { enterRoom, say, waitEntry, members } from './lib/room.mjs';

const T = { timeout: 60000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A real 1x1 PNG, so that "renders" can mean decoded.
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

let server, browser, tracker, A, B, C, route;
const hits = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  tracker = http.createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(200, { 'Content-Type': 'image/png' });
    res.end();
  });
  await new Promise((r) => tracker.listen(0, '127.0.0.1', r));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  tracker?.close();
});

function entries(p, kind) {
  return p.evaluate((kind) => [...document.querySelectorAll(`#log [data-kind="${kind}"]`)]
    .map((e) => ({ from: e.dataset.from, to: e.dataset.to, addressee: e.dataset.addressee, tag: e.querySelector('.tag')?.textContent ?? '', text: e.querySelector('.body')?.textContent ?? '' })), kind);
}

describe('what members and a lying server cannot make a page do', () => {
  let link;

  test('a look-alike of a name in the room is refused; an ordinary one is admitted', T, async () => {
    A = await openPage(browser);
    // Alice's socket goes through a route the test can speak on, as the server would.
    await A.page.routeWebSocket(/\/ws$/, (ws) => {
      ws.connectToServer();
      route = ws;
    });
    await A.page.goto(server.url);
    await enterRoom(A.page, 'Alice');
    link = await A.page.textContent('#invite');
    B = await openPage(browser, { viewport: { width: 360, height: 740 } });
    await B.page.goto(link);
    for (const twin of ['A1ice', 'AIice']) {
      await B.page.fill('#alias', twin);
      await B.page.click('#enter');
      await B.page.waitForFunction(() => document.getElementById('start-error').textContent.includes('already uses that name'), null, { timeout: 15000 });
      assert.ok(await B.page.isHidden('#chat'), `${twin} got in beside Alice`);
      await B.page.evaluate(() => { document.getElementById('start-error').textContent = ''; });
    }
    await enterRoom(B.page, 'bob');
    C = await openPage(browser);
    await C.page.goto(link);
    await enterRoom(C.page, 'carol');
    await waitEntry(A.page, { kind: 'system', text: 'carol' });
  });

  test('an image from elsewhere is never fetched, in any form; a data: image renders', T, async () => {
    const base = `http://127.0.0.1:${tracker.address().port}`;
    // The listener does count: a request made on purpose shows up.
    await fetch(`${base}/control`);
    assert.deepEqual(hits.splice(0), ['/control']);
    const forms = [
      `<img src="${base}/img.png" alt="pixel">`,
      `<b><img src="${base}/in-bold.png"></b> and <a href="${base}/page"><img src="${base}/in-link.png"></a>`,
      `<p><img src='${base}/single-quoted.png'><img src=${base}/unquoted.png></p>`,
      `![markdown](${base}/markdown.png) and a bare ${base}/bare.png`,
      `<img src="${PNG}" alt="inline dot">`,
    ];
    for (const m of forms) await say(B.page, m);
    for (const p of [A.page, C.page]) await waitEntry(p, { from: 'bob', text: 'markdown' });
    // Rendered in two pages; give any lazy or late fetch time to happen.
    await sleep(1500);
    assert.deepEqual(hits, [], 'a remote image was fetched');
    for (const [name, x] of [['alice', A], ['carol', C]]) {
      const origin = new URL(server.url).origin;
      assert.deepEqual(x.events.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:')), [], `${name}: requests elsewhere`);
      assert.deepEqual(x.events.csp, [], `${name}: CSP violations (an image was attempted)`);
      const shown = await x.page.evaluate(() => {
        const body = [...document.querySelectorAll('#log [data-kind="msg"] .body')].find((b) => b.textContent.includes('pixel'));
        const dot = document.querySelector('#log img[alt="inline dot"]');
        return {
          imgs: [...document.querySelectorAll('#log img')].map((i) => i.src.slice(0, 22)),
          dot: dot && { complete: dot.complete, width: dot.naturalWidth },
          link: body && [...body.querySelectorAll('a')].map((a) => ({ href: a.href, rel: a.rel, text: a.textContent })),
        };
      });
      assert.deepEqual(shown.imgs, ['data:image/png;base64,'], `${name}: only the data: image is an image`);
      await x.page.waitForFunction(() => document.querySelector('#log img[alt="inline dot"]')?.complete);
      assert.equal((await x.page.evaluate(() => document.querySelector('#log img[alt="inline dot"]').naturalWidth)), 1, `${name}: the data: image was decoded`);
      assert.deepEqual(shown.link, [{ href: `${base}/img.png`, rel: 'noopener noreferrer nofollow', text: `[image: pixel] ${base}/img.png` }], `${name}: the remote image is a link`);
    }
    // Control: the page's CSP alone would also stop a remote image, and says so.
    await A.page.evaluate((u) => { const i = document.createElement('img'); i.src = u; document.body.append(i); }, `${base}/csp-control.png`);
    for (let i = 0; i < 50 && !A.events.csp.length; i++) await sleep(100);
    assert.equal(A.events.csp[0]?.directive, 'img-src', 'the CSP allowed a remote image');
    A.events.csp.length = 0;
    await A.page.evaluate(() => document.querySelector('body > img')?.remove());
    assert.deepEqual(hits, [], 'the CSP let the control image through');
  });

  test('a whisper relayed to a reader it does not name is shown with a warning, never as to you', T, async () => {
    await say(B.page, '/purr carol for carol only');
    await waitEntry(C.page, { kind: 'purr', from: 'bob', text: 'for carol only' });
    await say(A.page, '/purr bob from alice');
    await waitEntry(B.page, { kind: 'purr', from: 'Alice', text: 'from alice' });
    // The lying server: alice is handed, verbatim, the frame that carol got.
    const frame = C.events.wsReceived.find((f) => f.includes('"t":"purr"') && f.includes('"to":"carol"'));
    assert.ok(frame, 'carol got the whisper frame');
    route.send(frame);
    // Sealed to carol alone, it cannot be opened here: reported, never shown as to you.
    await waitEntry(A.page, { kind: 'system', text: 'whisper to carol, not meant for you' });
    assert.deepEqual((await entries(A.page, 'purr')).filter((e) => e.from === 'bob'), []);
    const [own] = (await entries(A.page, 'purr')).filter((e) => e.from === 'Alice');
    assert.deepEqual([own.addressee, own.tag], ['own', 'whisper to bob']);
    const carols = await entries(C.page, 'purr');
    assert.deepEqual(carols.map((e) => [e.addressee, e.tag]), [['you', 'whispered to you']]);
    const bobs = await entries(B.page, 'purr');
    assert.deepEqual(bobs.map((e) => [e.from, e.addressee, e.tag]), [['bob', 'own', 'whisper to carol'], ['Alice', 'you', 'whispered to you']]);
  });

  test('a member back under a look-alike spelling of its name is one entry, not two', T, async () => {
    assert.deepEqual(await members(A.page), ['Alice', 'bob', 'carol']);
    // What the server sends when bob's resume token takes his seat as "B0B".
    route.send(JSON.stringify({ t: 'joined', alias: 'B0B', rejoined: true }));
    await waitEntry(A.page, { kind: 'system', text: 'B0B reconnected' });
    assert.deepEqual(await members(A.page), ['Alice', 'B0B', 'carol'], 'bob stayed listed beside B0B');
  });
});
