// End to end: the real sanctuary binary, two Chromium pages (a desktop and a 360 px
// phone) and the terminal client in one room, plus checks on the page in the browser:
// crypto vectors, PBKDF2 timing, the sanitiser, XSS over the wire, CSP, storage, layout.
// The steps build on each other and run in order. Screenshots go to target/screenshots/.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startServer, hasIpv6Loopback, ROOT } from './lib/server.mjs';
import { launchBrowser, openPage } from './lib/browser.mjs';
import { startPeer } from './lib/terminal-peer.mjs';
import { vectorChecks } from './lib/vector-checks.mjs';
import { dangerousNodes, storageContents, unlabelledControls, qrCanvasRows } from './lib/page-checks.mjs';
import { importHtml } from './lib/html-module.mjs';
import { enterRoom, say, waitEntry, members } from './lib/room.mjs';
import { story } from './lib/story.mjs';
import { XSS } from './xss-corpus.mjs';

const SHOTS = path.join(ROOT, 'target/screenshots');
const REPORT = path.join(ROOT, 'target/browser-report.json');
// Shared with the terminal client's test (src/term/render.rs): one corpus for both clients.
const ORDINARY = JSON.parse(await readFile(path.join(ROOT, 'tests/fixtures/ordinary-text.json'), 'utf8')).strings;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
const T = { timeout: 60000 };

let server, browser, L, A, B, W;
const peers = [];
let link, secret;
const report = { pbkdf2: {}, screenshots: [] };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ helpers

async function shot(p, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await p.screenshot({ path: file });
  report.screenshots.push(path.relative(ROOT, file));
}

function logText(p) {
  return p.evaluate(() => document.getElementById('log').textContent);
}

function countFrom(p, from) {
  return p.evaluate((from) => document.querySelectorAll(`#log [data-kind="msg"][data-from="${from}"]`).length, from);
}

function peer(alias, at = link) {
  const x = startPeer(at, alias);
  peers.push(x);
  return x;
}

// Everything a page shows or keeps of a conversation once it has ended.
async function assertConversationGone(p, { words, secretText }) {
  const state = await p.evaluate(() => ({
    ended: !document.getElementById('ended').hidden,
    chat: !document.getElementById('chat').hidden,
    log: document.getElementById('log').children.length,
    members: document.getElementById('members').children.length,
    invite: document.getElementById('invite').textContent,
    qr: document.getElementById('qr').width,
    composer: document.getElementById('composer').value,
    html: document.documentElement.outerHTML,
    url: location.href,
    unloadWarns: (() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; })(),
  }));
  assert.ok(state.ended && !state.chat, 'the ended screen replaces the room');
  assert.equal(state.log, 0, 'no message left in the log');
  assert.equal(state.members, 0, 'no member left in the list');
  assert.equal(state.invite, '', 'the invite link is gone');
  assert.equal(state.qr, 0, 'the QR code is gone');
  assert.equal(state.composer, '');
  assert.ok(!state.url.includes('#'), 'nothing in the address bar');
  assert.equal(state.unloadWarns, false, 'no leave warning outside a room');
  for (const w of words) assert.ok(!state.html.includes(w), `"${w}" is still in the page`);
  if (secretText) assert.ok(!state.html.includes(secretText), 'the room secret is still in the page');
}

// On a failure: where each page is, to tell a page problem from a test problem.
async function describePages() {
  for (const [name, x] of [['desktop', A], ['phone', B], ['witness', W]]) {
    if (!x || x.page.isClosed()) continue;
    const state = await x.page.evaluate(() => ({
      screen: document.body.dataset.screen,
      ended: document.getElementById('ended-reason').textContent,
      error: document.getElementById('start-error').textContent,
      last: [...document.querySelectorAll('#log > *')].slice(-3).map((e) => e.textContent.slice(0, 80)),
    })).catch((e) => String(e));
    console.log(`# ${name}: ${JSON.stringify(state)} console: ${JSON.stringify(x.events.console.slice(-3))}`);
  }
  for (const p of peers) console.log(`# peer ${p.alias}: running=${p.running} last: ${JSON.stringify(p.lines.slice(-3))} ${p.stderr.slice(-200)}`);
}

// ------------------------------------------------------------------ setup

before(async () => {
  await mkdir(SHOTS, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
  console.log(`# server ${server.url} (ws ${server.config.ws_port})`);
});

after(async () => {
  for (const x of peers) x.kill();
  await browser?.close();
  const stopped = await server?.stop();
  report.serverExit = stopped;
  await writeFile(REPORT, JSON.stringify(report, null, 2));
  console.log(`# report: ${path.relative(ROOT, REPORT)}`);
});

// ------------------------------------------------------------------ the page on its own

describe('the page in Chromium', () => {
  test('crypto.js passes every vector case and every must_reject inside the browser', T, async () => {
    L = await openPage(browser, { viewport: DESKTOP });
    await L.page.goto(server.url);
    const load = async (name) => JSON.parse(await readFile(path.join(ROOT, 'tests/vectors', name), 'utf8'));
    const results = await L.page.evaluate(vectorChecks, { v1: await load('v1.json'), v2: await load('v2.json') });
    assert.ok(results.length >= 9);
    for (const r of results) assert.deepEqual(r.failures, [], `${r.name}: ${r.failures.join('; ')}`);
  });

  test('PBKDF2 (100000 iterations) is timed on the page and in the key worker', T, async () => {
    const page = await L.page.evaluate(async () => {
      const c = await import('/crypto.js');
      const times = [];
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        c.masterKey('G7BEqt7RkMfKiEM-dJA_lQ', 'wrjwHTeLDiMk-zjoiiT50w');
        times.push(performance.now() - t0);
      }
      return times;
    });
    const worker = await L.page.evaluate(async () => {
      const k = await import('/kdf.js');
      const out = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const r = await k.deriveRoomKeys('G7BEqt7RkMfKiEM-dJA_lQ', 'wrjwHTeLDiMk-zjoiiT50w');
        out.push({ inside: r.ms, wall: performance.now() - t0, where: r.where });
      }
      return out;
    });
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    report.pbkdf2 = {
      mainThreadMs: page.map((x) => Math.round(x)),
      mainThreadMedianMs: Math.round(median(page)),
      workerMs: worker.map((x) => Math.round(x.inside)),
      workerMedianMs: Math.round(median(worker.map((x) => x.inside))),
      workerWallMedianMs: Math.round(median(worker.map((x) => x.wall))),
    };
    console.log(`# PBKDF2 100000 in Chromium: main thread median ${report.pbkdf2.mainThreadMedianMs} ms ${JSON.stringify(report.pbkdf2.mainThreadMs)}; worker median ${report.pbkdf2.workerMedianMs} ms (wall ${report.pbkdf2.workerWallMedianMs} ms)`);
    assert.ok(worker.every((x) => x.where === 'worker'), 'keys are derived in the worker');
    const fallback = await L.page.evaluate(async () => {
      const k = await import('/kdf.js');
      const c = await import('/crypto.js');
      const saved = window.Worker;
      window.Worker = undefined;
      try {
        const r = await k.deriveRoomKeys('G7BEqt7RkMfKiEM-dJA_lQ', 'wrjwHTeLDiMk-zjoiiT50w');
        return { where: r.where, auth: c.b64uEncode(r.keys.auth) };
      } finally {
        window.Worker = saved;
      }
    });
    assert.deepEqual(fallback, { where: 'page', auth: 'QEjzfFmh4dJqcZHFcEHIOLcW3zO9v0sI-NOH-cMc2ww' }, 'without Workers the page derives the same key itself');
    assert.ok(report.pbkdf2.mainThreadMedianMs < 3000, 'PBKDF2 takes under 3 s');
  });

  test('the renderer shows text as typed and builds only the allowed subset, Markdown and links', T, async () => {
    const R = 'rel="noopener noreferrer nofollow" target="_blank"';
    const cases = [
      // The allowed HTML subset, closed again, renders; attributes other than checked
      // href / src / alt never survive.
      ['<b>bold</b> <i>i</i> <u>u</u> <s>s</s> <em>e</em> <strong>st</strong>', '<b>bold</b> <i>i</i> <u>u</u> <s>s</s> <em>e</em> <strong>st</strong>'],
      ['<B>upper</B> and <b class="x" onclick="y">attrs</b>', '<b>upper</b> and <b>attrs</b>'],
      ['<a href="https://example.org/a?b=1&c=2" title="t" onclick="x">l</a>', `<a href="https://example.org/a?b=1&amp;c=2" ${R}>l</a>`],
      ['<a href="HTTPS://Example.ORG">x</a>', `<a href="https://example.org/" ${R}>x</a>`],
      ['<a href=https://example.org/?q=1>unquoted</a>', `<a href="https://example.org/?q=1" ${R}>unquoted</a>`],
      ['<a href="https://example.org" target="_self" rel="opener">m</a>', `<a href="https://example.org/" ${R}>m</a>`],
      ['<a href="https://example.org"></a>', `<a href="https://example.org/" ${R}>https://example.org/</a>`],
      ['<a href="https://a.org/">x <a href="https://b.org/">y</a> z</a>', `<a href="https://a.org/" ${R}>x y z</a>`],
      // A tag that cannot be shown as what it says is shown as typed.
      ['<a href="javascript:alert(1)">x</a>', '&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;'],
      ['<a href="mailto:a@example.org">m</a>', '&lt;a href="mailto:a@example.org"&gt;m&lt;/a&gt;'],
      ['<a href="/relative">r</a>', '&lt;a href="/relative"&gt;r&lt;/a&gt;'],
      ['<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot" width="5" onload="x">', '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot" referrerpolicy="no-referrer" loading="lazy">'],
      // A remote image is never fetched: it becomes a link to follow on purpose.
      ['<img src="http://127.0.0.1:9/a.png">', `<a href="http://127.0.0.1:9/a.png" ${R}>[image] http://127.0.0.1:9/a.png</a>`],
      ['<img src="HTTPS://x.org/t.gif" alt="cat">', `<a href="https://x.org/t.gif" ${R}>[image: cat] https://x.org/t.gif</a>`],
      ['<a href="https://a.org/"><img src="https://x.org/t.gif"></a>', `<a href="https://a.org/" ${R}>[image] https://x.org/t.gif</a>`],
      ['<img src="data:image/svg+xml;base64,PHN2Zz4=">', '&lt;img src="data:image/svg+xml;base64,PHN2Zz4="&gt;'],
      ['<img src="x.png">', '&lt;img src="x.png"&gt;'],
      ['<div>a</div>', '&lt;div&gt;a&lt;/div&gt;'],
      ['<script>alert(1)</script>ok', '&lt;script&gt;alert(1)&lt;/script&gt;ok'],
      ['<b>no end', '&lt;b&gt;no end'],
      ['no start</b>', 'no start&lt;/b&gt;'],
      ['<b>a <i>b</b> c</i>', '<b>a <i>b</i></b> c'],
      ['<ul>\n<li>one</li>\n<li>two</li>\n</ul>', '<ul><li>one</li><li>two</li></ul>'],
      ['<ol><li>1</li></ol>', '<ol><li>1</li></ol>'],
      ['<pre>\n<code>x &lt; y</code></pre>', '<pre><code>x &lt; y</code></pre>'],
      ['<h1>T</h1><h6>t</h6><blockquote>q</blockquote><p>p<br>q</p>', '<h1>T</h1><h6>t</h6><blockquote>q</blockquote><p>p<br>q</p>'],
      // Character references are read in a message written as HTML, and only there.
      ['<b>x</b> &lt;&amp;&#62;&#x3C;&hellip;&bogus;', '<b>x</b> &lt;&amp;&gt;&lt;…&amp;bogus;'],
      ['&lt;b&gt; &amp;amp;', '&amp;lt;b&amp;gt; &amp;amp;amp;'],
      ['a < b && c > d', 'a &lt; b &amp;&amp; c &gt; d'],
      // Markdown: bold, italic, code spans and fenced blocks; nothing inside code is read.
      ['**bold** *it* `a<b>c</b>`', '<strong>bold</strong> <em>it</em> <code>a&lt;b&gt;c&lt;/b&gt;</code>'],
      ['*a **b** c* and **see `x`**', '<em>a <strong>b</strong> c</em> and <strong>see <code>x</code></strong>'],
      ['2*3*4 and a * b * c and *.rs *.js', '2*3*4 and a * b * c and *.rs *.js'],
      ['*_* and **!!** and *args, **kwargs', '*_* and **!!** and *args, **kwargs'],
      ['`` a ` b ``', '<code>a ` b</code>'],
      ['before\n```rust\nfn f() -> Vec<String> { **x** }\n```\nafter', 'before<pre><code>fn f() -&gt; Vec&lt;String&gt; { **x** }</code></pre>after'],
      ['```\nno closing fence', '```\nno closing fence'],
      ['<code>*not* https://x.org</code>', '<code>*not* https://x.org</code>'],
      // Bare http(s) URLs become links; the sentence's punctuation stays out.
      ['see https://example.org/a_(b)?c=1&d=2.', `see <a href="https://example.org/a_(b)?c=1&amp;d=2" ${R}>https://example.org/a_(b)?c=1&amp;d=2</a>.`],
      ['(http://x.org/y) **https://z.org/*w*/**', `(<a href="http://x.org/y" ${R}>http://x.org/y</a>) <strong><a href="https://z.org/*w*/" ${R}>https://z.org/*w*/</a></strong>`],
      ['<a href="https://a.org/">https://b.org/</a>', `<a href="https://a.org/" ${R}>https://b.org/</a>`],
      ['javascript:alert(1) ftp://x.org/ www.example.org', 'javascript:alert(1) ftp://x.org/ www.example.org'],
    ];
    const got = await L.page.evaluate(async (inputs) => {
      const { sanitize } = await import('/sanitize.js');
      return inputs.map((html) => {
        const box = document.createElement('div');
        box.append(sanitize(html));
        return box.innerHTML;
      });
    }, cases.map((c) => c[0]));
    cases.forEach(([input, want], i) => assert.equal(got[i], want, `sanitising ${input}`));
    const depth = await L.page.evaluate(async () => {
      const { sanitize } = await import('/sanitize.js');
      const box = document.createElement('div');
      box.append(sanitize('<b>'.repeat(200) + 'deep' + '</b>'.repeat(200)));
      let d = 0;
      for (let n = box.firstChild; n && n.nodeType === 1; n = n.firstChild) d++;
      return { d, text: box.textContent };
    });
    assert.equal(depth.text, 'deep');
    assert.ok(depth.d <= 24, `nesting is capped (${depth.d})`);
    // Hostile shapes the size of the largest message render promptly (no quadratic path).
    const slow = await L.page.evaluate(async () => {
      const { sanitize } = await import('/sanitize.js');
      const fill = (unit) => unit.repeat(Math.ceil(60000 / unit.length)).slice(0, 60000);
      const shapes = ['*! ', ' *! *a', '**a ', '` `` ``` ', '<', '<b a="', '<b>', '&#1', '```x\n', 'https://x.org/(', '*a `b` <i>c</i> https://d.org/ **e** '];
      return shapes.map((unit) => {
        const t0 = performance.now();
        document.createElement('div').append(sanitize(fill(unit)));
        return [unit, performance.now() - t0];
      }).filter(([, ms]) => ms > 1500);
    });
    assert.deepEqual(slow, [], 'slow to render');
  });

  test('the start page works at 320 px, labels every control and has a live log', T, async () => {
    const small = await openPage(browser, { viewport: { width: 320, height: 640 } });
    await small.page.goto(server.url);
    const layout = await small.page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, enter: document.getElementById('enter').getBoundingClientRect().right }));
    assert.ok(layout.scroll <= 320, `no sideways scrolling at 320 px (${layout.scroll})`);
    assert.ok(layout.enter <= 320);
    assert.deepEqual(await small.page.evaluate(unlabelledControls), []);
    assert.equal(await small.page.getAttribute('#log', 'role'), 'log');
    await small.context.close();
    const phone = await openPage(browser, { viewport: PHONE });
    await phone.page.goto(server.url);
    await shot(phone.page, 'start-phone-360');
    await phone.page.emulateMedia({ colorScheme: 'dark' });
    await shot(phone.page, 'start-phone-360-dark');
    await phone.context.close();
  });
});

// ------------------------------------------------------------------ one room, three participants

describe('a room with a desktop page, a phone page and the terminal client', () => {
  const step = story(describePages);
  step('creating a room by keyboard alone shows "deriving key", then the invite link and its QR code', T, async () => {
    // A fresh page: the hostile inputs of the checks above stay out of its event records.
    A = await openPage(browser, { viewport: DESKTOP });
    const p = A.page;
    await p.goto(server.url);
    await shot(p, 'start-desktop');
    await p.evaluate(() => {
      window.__progress = [];
      new MutationObserver(() => window.__progress.push(document.getElementById('progress').textContent))
        .observe(document.getElementById('progress'), { childList: true, characterData: true, subtree: true });
    });
    assert.equal(await p.evaluate(() => document.activeElement.id), 'alias', 'the name field has focus');
    await p.keyboard.type('alice');
    await p.keyboard.press('Enter');
    await p.waitForSelector('#chat:not([hidden])', { timeout: 15000 });
    const progress = await p.evaluate(() => window.__progress);
    assert.ok(progress.includes('Deriving key…'), `progress was ${JSON.stringify(progress)}`);
    link = await p.textContent('#invite');
    const m = /^http:\/\/127\.0\.0\.1:(\d+)\/#([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})$/.exec(link);
    assert.ok(m, `invite link ${link}`);
    assert.equal(Number(m[1]), Number(new URL(server.url).port));
    secret = m[3];
    assert.ok(await p.isVisible('#invite-panel'), 'the invite panel opens for the creator');
    assert.ok(await p.isVisible('#copy-invite'));
    const { encode } = await importHtml('qr.js');
    const qr = encode(link);
    const canvas = await p.evaluate(qrCanvasRows, qr.size);
    assert.ok(canvas.width >= (qr.size + 8) * 2, 'the QR code is drawn');
    const want = Array.from({ length: qr.size }, (_, y) => Array.from({ length: qr.size }, (_, x) => (qr.dark(x, y) ? '1' : '0')).join(''));
    assert.deepEqual(canvas.rows, want, 'the canvas shows the QR code of the invite link');
    assert.deepEqual(await members(p), ['alice']);
    assert.equal(await p.evaluate(() => document.activeElement.id), 'composer');
  });

  step('the copy button selects the link where the Clipboard API is refused', T, async () => {
    await A.page.evaluate(() => {
      Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true });
    });
    await A.page.click('#copy-invite');
    const selected = await A.page.evaluate(() => String(window.getSelection()));
    assert.equal(selected, link);
    assert.notEqual(await A.page.textContent('#copy-note'), '');
  });

  step('opening the invite link asks only for a name and clears the address bar', T, async () => {
    B = await openPage(browser, { viewport: PHONE });
    await B.page.goto(link);
    assert.ok(!B.page.url().includes('#'), `address bar still shows ${B.page.url()}`);
    assert.ok(await B.page.isVisible('#alias'));
    assert.ok(!(await B.page.isVisible('#room')) && !(await B.page.isVisible('#passphrase')), 'no room or passphrase asked');
    assert.equal(await B.page.textContent('#enter-label'), 'Join room');
    await shot(B.page, 'invited-phone-360');
    await enterRoom(B.page, 'bob');
    await waitEntry(A.page, { kind: 'system', text: 'bob joined' });
    assert.deepEqual(await members(A.page), ['alice', 'bob']);
    assert.equal(await A.page.textContent('#member-count'), '2');
  });

  step('the terminal client joins by the same link', T, async () => {
    const carol = peer('carol');
    await waitEntry(A.page, { kind: 'system', text: 'carol joined' }, 20000);
    await waitEntry(B.page, { kind: 'system', text: 'carol joined' });
    assert.deepEqual(await members(B.page), ['bob', 'alice', 'carol']);
    assert.ok(carol.running);
  });

  step('messages from each participant decrypt on every other side', T, async () => {
    const carol = peers[0];
    await say(A.page, 'hello from alice 1');
    await say(B.page, 'hello from bob 2');
    carol.send('hello from carol 3');
    for (const [p, from, text] of [
      [B.page, 'alice', 'hello from alice 1'], [A.page, 'bob', 'hello from bob 2'],
      [A.page, 'carol', 'hello from carol 3'], [B.page, 'carol', 'hello from carol 3'],
      [A.page, 'alice', 'hello from alice 1'], [B.page, 'bob', 'hello from bob 2'],
    ]) await waitEntry(p, { from, text });
    await carol.waitForLine((l) => l.includes('alice') && l.includes('hello from alice 1'));
    await carol.waitForLine((l) => l.includes('bob') && l.includes('hello from bob 2'));
    assert.ok(await A.page.isVisible('#log [data-from="alice"].own'), 'own messages look like own messages');
  });

  step('formatting arrives as formatting, links open safely', T, async () => {
    await say(B.page, 'look: <b>bold</b>, <code>x &lt; y</code> and <a href="https://example.org/doc">a link</a>');
    await waitEntry(A.page, { from: 'bob', text: 'a link' });
    const html = await A.page.evaluate(() => [...document.querySelectorAll('#log [data-from="bob"] .body')].pop().innerHTML);
    assert.equal(html, 'look: <b>bold</b>, <code>x &lt; y</code> and <a href="https://example.org/doc" rel="noopener noreferrer nofollow" target="_blank">a link</a>');
  });

  step('a message that fails verification shows only a warning', T, async () => {
    // A member relays a body sealed for another sender: what a server re-attributing a
    // message would produce. Done from the lab page, which speaks the protocol directly.
    const [, room, sec] = /#([^.]+)\.(.+)$/.exec(link);
    await L.page.evaluate(async ({ room, sec, port }) => {
      const c = await import('/crypto.js');
      const v = await import('/verifier.js');
      const stamper = new (await import('/replay.js')).Stamper();
      const keys = c.deriveKeys(room, sec);
      const ws = new WebSocket(`ws://${location.hostname}:${port}/ws`);
      await new Promise((resolve, reject) => {
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.t === 'hello') ws.send(JSON.stringify({ t: 'join', room, alias: 'eve', proof: c.joinProof(v.proofKey(keys.auth, f.key), f.nonce, room, 'eve') }));
          if (f.t === 'welcome') {
            ws.send(JSON.stringify({ t: 'msg', body: c.seal(keys, { room, kind: 'msg', from: 'mallory', to: '' }, 'forged text 4a', stamper.stamp()) }));
            const raw = c.b64uDecode(c.seal(keys, { room, kind: 'msg', from: 'eve', to: '' }, 'tampered text 4b', stamper.stamp()));
            raw[20] ^= 1; // one bit of ciphertext
            ws.send(JSON.stringify({ t: 'msg', body: c.b64uEncode(raw) }));
            ws.send(JSON.stringify({ t: 'exit' }));
          }
          if (f.t === 'error') reject(new Error(f.code));
        };
        ws.onclose = resolve;
      });
    }, { room, sec, port: server.config.ws_port });
    for (const x of [A, B]) {
      await waitEntry(x.page, { kind: 'system', text: 'eve left' });
      const warnings = await x.page.$$eval('#log [data-event="unverified"]', (es) => es.map((e) => e.textContent));
      assert.equal(warnings.filter((w) => w.includes('claiming to be from eve failed verification')).length, 2, JSON.stringify(warnings));
      const text = await logText(x.page);
      assert.ok(!text.includes('forged text') && !text.includes('tampered'), 'a forged text was shown');
      assert.equal(await x.page.$$eval('#log [data-kind="msg"][data-from="eve"]', (es) => es.length), 0);
    }
  });

  step('a whisper appears only at its target', T, async () => {
    const carol = peers[0];
    await say(A.page, '/purr bob secret for bob 4');
    await waitEntry(B.page, { kind: 'purr', from: 'alice', text: 'secret for bob 4' });
    await waitEntry(A.page, { kind: 'purr', from: 'alice', text: 'secret for bob 4' });
    // The server relays in order: once this later message is at carol, the whisper would be too.
    await say(A.page, 'after the whisper 5');
    await carol.waitForLine((l) => l.includes('after the whisper 5'));
    assert.ok(!carol.lines.some((l) => l.includes('secret for bob 4')), 'carol saw the whisper to bob');

    carol.send('/purr alice psst from carol 6');
    await waitEntry(A.page, { kind: 'purr', from: 'carol', text: 'psst from carol 6' });
    carol.send('carol again 7');
    await waitEntry(B.page, { from: 'carol', text: 'carol again 7' });
    assert.ok(!(await logText(B.page)).includes('psst from carol 6'), 'bob saw the whisper to alice');
  });

  step('clicking a member starts a whisper; typing / lists the commands', T, async () => {
    await A.page.click('#members button[title="Whisper to bob"]');
    assert.equal(await A.page.inputValue('#composer'), '/purr bob ');
    await A.page.fill('#composer', '');
    await A.page.type('#composer', '/');
    await A.page.waitForSelector('#suggest:not([hidden])');
    const items = await A.page.$$eval('#suggest [role="option"] .label', (xs) => xs.map((x) => x.textContent));
    assert.deepEqual(items.map((x) => x.split(' ')[0]), ['/purr', '/me', '/kick', '/rekey', '/stop', '/exit', '/who', '/clear', '/help']);
    await A.page.type('#composer', 'pu');
    await A.page.keyboard.press('Tab');
    assert.equal(await A.page.inputValue('#composer'), '/purr ');
    await A.page.type('#composer', 'c');
    const names = await A.page.$$eval('#suggest [role="option"] .label', (xs) => xs.map((x) => x.textContent));
    assert.deepEqual(names, ['carol']);
    await A.page.keyboard.press('Escape');
    assert.ok(await A.page.isHidden('#suggest'));
    await A.page.fill('#composer', '');
  });

  step('the log does not yank a reader down; the title counts unread messages while hidden', T, async () => {
    for (let i = 0; i < 12; i++) {
      await say(B.page, `<p>filler ${i}</p><p>second line</p><p>third line</p>`);
      await sleep(130);
    }
    await waitEntry(A.page, { from: 'bob', text: 'filler 11' });
    await A.page.evaluate(() => { document.getElementById('log').scrollTop = 0; });
    await say(B.page, 'while you read 8');
    await waitEntry(A.page, { from: 'bob', text: 'while you read 8' });
    assert.equal(await A.page.evaluate(() => document.getElementById('log').scrollTop), 0, 'the reader was moved');
    assert.ok(await A.page.isVisible('#jump'), 'a "new messages" button appears');
    await A.page.click('#jump');
    assert.ok(await A.page.evaluate(() => { const l = document.getElementById('log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 2; }));

    await A.page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { value: true, configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await say(B.page, 'while you were away 9');
    await waitEntry(A.page, { from: 'bob', text: 'while you were away 9' });
    assert.equal(await A.page.title(), '(1) Sanctuary');
    await A.page.evaluate(() => {
      delete document.hidden;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    assert.equal(await A.page.title(), 'Sanctuary');
  });

  step('/help lists the commands, /clear empties only this screen, sound can be switched on', T, async () => {
    await say(A.page, '/help');
    await A.page.waitForSelector('#log [data-kind="system"] dl.help');
    const help = await A.page.textContent('#log dl.help');
    for (const c of ['/purr NAME MESSAGE', '/kick NAME', '/rekey', '/stop', '/exit [farewell]', '/clear', '/help']) assert.ok(help.includes(c), `help lacks ${c}`);
    const bLog = await B.page.evaluate(() => document.getElementById('log').children.length);
    await say(A.page, '/clear');
    assert.equal(await A.page.evaluate(() => document.getElementById('log').children.length), 0);
    assert.equal(await B.page.evaluate(() => document.getElementById('log').children.length), bLog, 'clear reached another page');
    await A.page.click('#toggle-sound');
    assert.equal(await A.page.getAttribute('#toggle-sound', 'aria-pressed'), 'true');
    await A.page.click('#toggle-sound');
    assert.equal(await A.page.getAttribute('#toggle-sound', 'aria-pressed'), 'false');
  });

  step('screenshots: desktop and 360 px phone, light and dark', T, async () => {
    await say(B.page, 'Phones on the LAN can <b>scan the QR code</b> to join. <i>Nothing is kept.</i>');
    await waitEntry(A.page, { from: 'bob', text: 'scan the QR code' });
    await say(A.page, 'Lovely. Try <code>/purr</code> to whisper, or <a href="https://example.org/">a link</a>.');
    await waitEntry(B.page, { from: 'alice', text: 'Try' });
    await say(A.page, '/purr carol just between us');
    await waitEntry(A.page, { kind: 'purr', from: 'alice', text: 'just between us' });
    await shot(A.page, 'room-desktop');
    await shot(B.page, 'room-phone-360');
    await B.page.click('#toggle-members');
    await shot(B.page, 'room-phone-360-members');
    await B.page.click('#toggle-members');
    await B.page.click('#toggle-invite');
    await shot(B.page, 'room-phone-360-invite');
    await B.page.click('#qr-zoom');
    assert.equal(await B.page.getAttribute('#qr-zoom', 'aria-pressed'), 'true');
    await shot(B.page, 'room-phone-360-invite-qr');
    await B.page.click('#qr-zoom');
    await B.page.click('#toggle-invite');
    await A.page.emulateMedia({ colorScheme: 'dark' });
    await B.page.emulateMedia({ colorScheme: 'dark' });
    await shot(A.page, 'room-desktop-dark');
    await shot(B.page, 'room-phone-360-dark');
    await A.page.emulateMedia({ colorScheme: 'light' });
    await B.page.emulateMedia({ colorScheme: 'light' });
    const phone = await B.page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      composerBottom: document.getElementById('composer').getBoundingClientRect().bottom,
      send: document.getElementById('send').getBoundingClientRect().right,
    }));
    assert.ok(phone.scroll <= PHONE.width, `no sideways scrolling on the phone (${phone.scroll})`);
    assert.ok(phone.composerBottom <= PHONE.height && phone.send <= PHONE.width, 'composer and send button are on screen');
    // An on-screen keyboard leaves about half the height: the composer must stay in view.
    await B.page.setViewportSize({ width: PHONE.width, height: 380 });
    await B.page.focus('#composer');
    const keyboard = await B.page.evaluate(() => document.getElementById('composer').getBoundingClientRect().bottom);
    assert.ok(keyboard <= 380, `composer below the fold with a keyboard open (${keyboard})`);
    await shot(B.page, 'room-phone-360-keyboard');
    await B.page.setViewportSize({ width: 320, height: 640 });
    const narrow = await B.page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      leave: document.getElementById('leave').getBoundingClientRect().right,
      send: document.getElementById('send').getBoundingClientRect().right,
    }));
    assert.ok(narrow.scroll <= 320 && narrow.leave <= 320 && narrow.send <= 320, `the room does not fit 320 px: ${JSON.stringify(narrow)}`);
    await shot(B.page, 'room-phone-320');
    await B.page.setViewportSize(PHONE);
  });

  step('normal use raises no CSP violation or console error and loads nothing from elsewhere', T, async () => {
    for (const [name, x] of [['desktop', A], ['phone', B]]) {
      assert.deepEqual(x.events.csp, [], `${name}: CSP violations`);
      assert.deepEqual(x.events.console, [], `${name}: console errors`);
      assert.deepEqual(x.events.pageErrors, [], `${name}: page errors`);
      assert.deepEqual(x.events.dialogs, [], `${name}: dialogs`);
      const origin = new URL(server.url).origin;
      assert.deepEqual(x.events.requests.filter((u) => !u.startsWith(origin)), [], `${name}: requests elsewhere`);
      assert.deepEqual(await x.page.evaluate(unlabelledControls), [], `${name}: unlabelled controls`);
    }
    // Control: the listener does hear a violation when there is one.
    const control = await openPage(browser);
    await control.page.goto(server.url);
    await control.page.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<p style="color:red">styled</p>'));
    for (let i = 0; i < 50 && !control.events.csp.length; i++) await sleep(100);
    assert.equal(control.events.csp[0]?.directive, 'style-src-attr', 'the CSP listener missed a violation');
    await control.context.close();
  });

  step('the server never receives the secret, a key or a plaintext', T, async () => {
    const sent = [...A.events.wsSent, ...B.events.wsSent];
    assert.ok(sent.length > 10, 'frames were recorded');
    for (const f of sent) {
      assert.ok(!f.includes(secret), 'a frame carries the room secret');
      for (const word of ['hello from', 'secret for bob', 'filler', 'scan the QR']) assert.ok(!f.includes(word), `a frame carries "${word}"`);
    }
    const kinds = new Set(sent.map((f) => JSON.parse(f).t));
    assert.deepEqual([...kinds].sort(), ['create', 'join', 'msg', 'purr'].sort());
  });

  step('the canaries of the XSS test trip on a deliberately unsafe page (control)', T, async () => {
    // W runs with CSP bypassed, so only the sanitiser stands between a payload and the page:
    // first prove that W would notice a payload that ran.
    W = await openPage(browser, { viewport: DESKTOP, bypassCSP: true });
    await W.page.goto(link);
    await enterRoom(W.page, 'witness');
    await W.page.evaluate(() => {
      const box = document.createElement('div');
      box.innerHTML = '<img src="x" onerror="window.__pwned=1; fetch(\'/pwned?control\')"><svg></svg>';
      document.body.append(box);
    });
    await W.page.waitForFunction(() => window.__pwned === 1);
    for (let i = 0; i < 50 && !W.events.requests.some((u) => u.includes('/pwned?control')); i++) await sleep(100);
    assert.ok(W.events.requests.some((u) => u.includes('/pwned?control')), 'the request canary missed a fetch');
    const found = await W.page.evaluate(dangerousNodes);
    assert.ok(found.some((f) => f.includes('onerror')) && found.some((f) => f.includes('svg')), `detector saw ${found}`);
    await W.page.evaluate(() => {
      document.body.lastElementChild.remove();
      delete window.__pwned;
    });
    W.events.requests.length = 0;
    assert.deepEqual(await W.page.evaluate(dangerousNodes), []);
  });

  step(`${XSS.length} XSS payloads sent by the terminal client render inert on every page`, { timeout: 120000 }, async () => {
    const carol = peers[0];
    const pages = [['desktop', A], ['phone', B], ['witness (no CSP)', W]];
    const before = await Promise.all(pages.map(([, x]) => countFrom(x.page, 'carol')));
    const titles = await Promise.all(pages.map(([, x]) => x.page.title()));
    const cspBefore = A.events.csp.length;
    for (const payload of XSS) {
      carol.send(payload);
      await sleep(120); // under the server's 10 messages/s
    }
    for (const [i, [name, x]] of pages.entries()) {
      await x.page.waitForFunction(([n]) => document.querySelectorAll('#log [data-kind="msg"][data-from="carol"]').length >= n,
        [before[i] + XSS.length], { timeout: 30000 }).catch(() => assert.fail(`${name}: not every payload arrived`));
    }
    await sleep(1500); // time for anything that would load, fire or navigate
    await shot(A.page, 'xss-desktop');
    for (const [i, [name, x]] of pages.entries()) {
      const state = await x.page.evaluate(() => ({ pwned: window.__pwned, title: document.title, url: location.href, inRoom: !document.getElementById('chat').hidden }));
      assert.equal(state.pwned, undefined, `${name}: a payload ran`);
      assert.equal(state.title, titles[i], `${name}: a payload changed the title`);
      assert.ok(state.inRoom && !state.url.includes('pwned'), `${name}: a payload navigated`);
      assert.deepEqual(x.events.dialogs, [], `${name}: a payload opened a dialog`);
      assert.deepEqual(x.events.requests.filter((u) => u.includes('pwned')), [], `${name}: a payload made a request`);
      assert.deepEqual(await x.page.evaluate(dangerousNodes), [], `${name}: dangerous nodes in the page`);
      assert.deepEqual(x.events.pageErrors, [], `${name}: page errors`);
    }
    // Chromium applies the page's CSP even to the sanitiser's detached parse, so hostile
    // attributes are reported (and blocked) there; nothing may come from anywhere else.
    const csp = A.events.csp.slice(cspBefore);
    report.xssCspReports = csp.length;
    assert.deepEqual(csp.filter((v) => !v.source.endsWith('/sanitize.js')), [], 'CSP blocked something outside the sanitiser');
    // And what was safe to keep was kept, as text or allowed markup.
    const text = await logText(A.page);
    for (const t of ['plain javascript link', 'hover me', 'bold with handler', 'heading', 'styled paragraph']) assert.ok(text.includes(t), `"${t}" lost`);
    const good = await A.page.$$eval('#log a[href="https://example.org/"]', (as) => as.map((a) => `${a.rel}|${a.target}|${a.getAttributeNames().sort()}`));
    assert.ok(good.includes('noopener noreferrer nofollow|_blank|href,rel,target'));
  });

  step('exit with a farewell shows the farewell to everyone left', T, async () => {
    const carol = peers[0];
    carol.send('/exit see you <b>soon</b>');
    for (const x of [A, B]) {
      await waitEntry(x.page, { kind: 'system', text: 'see you soon' });
    }
    const farewell = await A.page.evaluate(() => [...document.querySelectorAll('#log [data-event="left"] .farewell')].pop().innerHTML);
    assert.equal(farewell, 'see you <b>soon</b>');
    assert.deepEqual(await members(A.page), ['alice', 'bob', 'witness']);
    const { code } = await carol.waitForExit();
    assert.equal(code, 0);
  });

  step('kick removes the terminal client, and everyone is told', T, async () => {
    const dave = peer('dave');
    await waitEntry(A.page, { kind: 'system', text: 'dave joined' }, 20000);
    await say(A.page, '/kick dave');
    await dave.waitForExit();
    await waitEntry(B.page, { kind: 'system', text: 'dave was removed by alice' });
    assert.deepEqual(await members(B.page), ['bob', 'alice', 'witness']);
  });

  step('a kicked page loses the conversation and says who removed it', T, async () => {
    await say(A.page, '/kick witness');
    await W.page.waitForSelector('#ended:not([hidden])');
    assert.equal(await W.page.textContent('#ended-reason'), 'You were removed from the room by alice.');
    await assertConversationGone(W.page, { words: ['hello from alice', 'bold with handler', 'witness joined'], secretText: secret });
    await waitEntry(A.page, { kind: 'system', text: 'witness was removed by alice' });
  });

  step('leaving the tab warns while in a room', T, async () => {
    const warns = await B.page.evaluate(() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; });
    assert.equal(warns, true);
  });

  step('stop asks first, then clears both pages', T, async () => {
    await say(B.page, '/stop');
    await B.page.waitForSelector('#confirm[open]');
    await B.page.click('#confirm-cancel');
    assert.ok(await B.page.isVisible('#chat'), 'cancel keeps the room');
    await say(B.page, '/stop');
    await B.page.waitForSelector('#confirm[open]');
    await B.page.click('#confirm-ok');
    for (const x of [A, B]) {
      await x.page.waitForSelector('#ended:not([hidden])');
      assert.equal(await x.page.textContent('#ended-reason'), 'bob ended the room for everyone. Everything in it is gone.');
      await assertConversationGone(x.page, { words: ['hello from alice', 'hello from bob', 'secret for bob', 'filler', 'carol'], secretText: secret });
    }
    await shot(B.page, 'ended-phone-360');
  });

  step('web storage and cookies stay empty (and the check would see them)', T, async () => {
    for (const [name, x] of [['desktop', A], ['phone', B], ['witness', W]]) {
      assert.deepEqual(await x.page.evaluate(storageContents), { localStorage: [], sessionStorage: [], cookie: '', indexedDB: [], caches: [] }, name);
      assert.deepEqual(await x.context.cookies(), [], `${name}: cookies`);
      assert.deepEqual((await x.context.storageState()).origins, [], `${name}: origins with storage`);
    }
    const control = await openPage(browser);
    await control.page.goto(server.url);
    await control.page.evaluate(() => localStorage.setItem('k', 'v'));
    assert.deepEqual((await control.page.evaluate(storageContents)).localStorage, ['k']);
    await control.context.close();
  });
});

// ------------------------------------------------------------------ other ways in

describe('joining by hand and re-opening dead rooms', () => {
  const step = story(describePages);
  step('a room id and passphrase open a room; a wrong passphrase is refused', T, async () => {
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    const pass = 'correct horse battery';
    await A.page.click('#restart');
    await A.page.fill('#room', id);
    await A.page.fill('#passphrase', 'short');
    await A.page.fill('#alias', 'ann');
    await A.page.click('#enter');
    assert.match(await A.page.textContent('#start-error'), /at least 8/);
    await A.page.fill('#passphrase', pass);
    assert.equal(await A.page.textContent('#enter-label'), 'Join room');
    await A.page.click('#enter');
    // Nobody is in a fresh random room: the page asks before making it.
    await A.page.waitForSelector('#confirm[open]', { timeout: 15000 });
    assert.equal(await A.page.textContent('#confirm-title'), 'No such room: create it?');
    await A.page.click('#confirm-ok');
    await A.page.waitForSelector('#chat:not([hidden])');
    await waitEntry(A.page, { kind: 'system', text: 'opened fresh' });

    await B.page.click('#restart');
    await B.page.fill('#alias', 'ben');
    await B.page.fill('#room', id);
    await B.page.fill('#passphrase', 'incorrect horse battery');
    await B.page.click('#enter');
    await B.page.waitForFunction(() => document.getElementById('start-error').textContent !== '');
    assert.equal(await B.page.textContent('#start-error'), 'Wrong passphrase or invite link for this room.');
    assert.ok(await B.page.isVisible('#start'));
    await B.page.fill('#passphrase', pass);
    await B.page.click('#enter');
    await B.page.waitForSelector('#chat:not([hidden])');
    assert.deepEqual(await members(B.page), ['ben', 'ann']);
    await say(B.page, 'typed my way in');
    await waitEntry(A.page, { from: 'ben', text: 'typed my way in' });
    await say(A.page, 'welcome ben');
    await waitEntry(B.page, { from: 'ann', text: 'welcome ben' });
  });

  step('a name already in the room is refused before anything is shown', T, async () => {
    const C = await openPage(browser);
    await C.page.goto(await A.page.textContent('#invite'));
    await C.page.fill('#alias', 'ANN');
    await C.page.click('#enter');
    await C.page.waitForFunction(() => document.getElementById('start-error').textContent !== '');
    assert.match(await C.page.textContent('#start-error'), /already uses that name/);
    assert.ok(await C.page.isHidden('#chat'));
    await C.context.close();
  });

  step('/exit leaves with a farewell that the others see', T, async () => {
    await say(A.page, '/exit bye <i>ben</i>');
    await A.page.waitForSelector('#ended:not([hidden])');
    assert.equal(await A.page.textContent('#ended-reason'), 'You left the room.');
    await waitEntry(B.page, { kind: 'system', text: 'ann left:' });
    assert.equal(await B.page.evaluate(() => [...document.querySelectorAll('#log .farewell')].pop().innerHTML), 'bye <i>ben</i>');
    assert.deepEqual(await members(B.page), ['ben']);
  });

  step('reloading the tab warns, then leaves the room and keeps nothing', T, async () => {
    await A.page.goto(await B.page.textContent('#invite'));
    await enterRoom(A.page, 'cy');
    await waitEntry(B.page, { kind: 'system', text: 'cy joined' });
    await say(B.page, 'before the reload');
    await waitEntry(A.page, { from: 'ben', text: 'before the reload' });
    const dialogs = B.events.dialogs.length;
    await B.page.reload();
    assert.deepEqual(B.events.dialogs.slice(dialogs), ['beforeunload: '], 'the leave warning was shown');
    await waitEntry(A.page, { kind: 'system', text: 'ben left' });
    assert.deepEqual(await members(A.page), ['cy']);
    assert.ok(await B.page.isVisible('#start'));
    assert.ok(!(await B.page.content()).includes('before the reload'));
    await say(A.page, '/exit');
    await A.page.waitForSelector('#ended:not([hidden])');
  });

  step('an invite link to a room that has ended re-creates it and says so', T, async () => {
    await A.page.goto(server.url);
    await enterRoom(A.page, 'first');
    const dead = await A.page.textContent('#invite');
    await say(A.page, '/exit');
    await A.page.waitForSelector('#ended:not([hidden])');
    await B.page.goto(dead);
    await enterRoom(B.page, 'second');
    await waitEntry(B.page, { kind: 'system', text: 'This room had ended, so it was opened again' });
    assert.deepEqual(await members(B.page), ['second']);
    // The re-created room is the same room: the old link works for the next person.
    await A.page.goto(dead);
    await enterRoom(A.page, 'third');
    await say(A.page, 'same link, same room');
    await waitEntry(B.page, { from: 'third', text: 'same link, same room' });
    const frames = B.events.wsSent.map((f) => JSON.parse(f)).filter((f) => f.t === 'join' || f.t === 'create').slice(-2);
    assert.deepEqual(frames.map((f) => f.t), ['join', 'create'], 'joined first, created after no_room');
  });

  step('an invite link to a room a squatter re-created says so and offers nothing (issue 17)', T, async () => {
    // Everyone leaves: the room ends and the server keeps nothing of it.
    const dead = await B.page.textContent('#invite');
    const id = /#([^.]+)\./.exec(dead)[1];
    for (const x of [A, B]) {
      await say(x.page, '/exit');
      await x.page.waitForSelector('#ended:not([hidden])');
    }
    // A squatter who knows only the id makes it again with a passphrase of its own.
    await B.page.goto(server.url);
    await B.page.fill('#room', id);
    await B.page.fill('#passphrase', 'squatter passphrase');
    await B.page.fill('#alias', 'squatter');
    await B.page.click('#enter');
    await B.page.waitForSelector('#confirm[open]', { timeout: 15000 });
    await B.page.click('#confirm-ok');
    await B.page.waitForSelector('#chat:not([hidden])');
    // A returning member with the link is not let in, is told why, and is not offered
    // to re-create the room (only the join was sent, no dialog opened).
    await A.page.goto(dead);
    const sent = A.events.wsSent.length;
    await A.page.fill('#alias', 'returning');
    await A.page.click('#enter');
    await A.page.waitForFunction(() => document.getElementById('start-error').textContent !== '', null, { timeout: 15000 });
    assert.equal(await A.page.textContent('#start-error'), 'This room was re-created by someone without its secret (the original room had ended): do not use it; create a new room.');
    assert.ok(await A.page.isVisible('#start'));
    assert.ok(await A.page.isHidden('#chat'));
    assert.ok(!(await A.page.isVisible('#confirm')), 'no offer to create it');
    const kinds = A.events.wsSent.slice(sent).map((f) => JSON.parse(f).t);
    assert.deepEqual(kinds, ['join'], 'joined, never created');
    assert.deepEqual(await members(B.page), ['squatter'], 'the squatter saw nobody come in');
    // Doing as told: a new room (and both pages in a room for the shutdown below).
    await A.page.goto(server.url);
    await enterRoom(A.page, 'returning');
  });

  step('a server shutdown removes the conversation from every page', T, async () => {
    await server.stop();
    for (const x of [A, B]) {
      await x.page.waitForSelector('#ended:not([hidden])', { timeout: 15000 });
      assert.match(await x.page.textContent('#ended-reason'), /shutting down|connection to the server was lost/);
      await assertConversationGone(x.page, { words: ['same link, same room'] });
    }
  });
});

// ------------------------------------------------------------------ IPv6

describe('over the IPv6 loopback', () => {
  test('the page brackets the address for the chat socket and in the invite link', T, async (t) => {
    if (!(await hasIpv6Loopback())) return t.skip('no IPv6 loopback on this machine');
    const six = await startServer({ bind: '::1' });
    try {
      assert.match(six.url, /^http:\/\/\[::1\]:\d+\/$/);
      const P = await openPage(browser);
      const Q = await openPage(browser, { viewport: PHONE });
      await P.page.goto(six.url);
      await enterRoom(P.page, 'six');
      const invite = await P.page.textContent('#invite');
      assert.ok(invite.startsWith(six.url + '#'), invite);
      assert.deepEqual(P.events.wsUrls, [`ws://[::1]:${six.config.ws_port}/ws`]);
      await Q.page.goto(invite);
      await enterRoom(Q.page, 'vier');
      await say(Q.page, 'over v6');
      await waitEntry(P.page, { from: 'vier', text: 'over v6' });
      await P.context.close();
      await Q.context.close();
    } finally {
      await six.stop();
    }
  });
});

// ------------------------------------------------------------------ two terminals, one page

describe('two terminal clients and a page in one room', () => {
  const step = story(describePages);
  let srv, P, tom, tess, invite;
  const whisperLine = (from, to, text) => (l) => l.includes(`${from} -> ${to} (whisper): ${text}`);
  // Its own server: stopped here whatever happened, or node would wait on it forever.
  after(async () => {
    await P?.context.close();
    await srv?.stop();
  });

  step('both terminal clients join the room the page made', T, async () => {
    srv = await startServer();
    P = await openPage(browser);
    await P.page.goto(srv.url);
    await enterRoom(P.page, 'pia');
    invite = await P.page.textContent('#invite');
    tom = peer('tom', invite);
    await waitEntry(P.page, { kind: 'system', text: 'tom joined' }, 20000);
    tess = peer('tess', invite);
    await waitEntry(P.page, { kind: 'system', text: 'tess joined' }, 20000);
    await tom.waitForLine((l) => l.includes('tess joined'));
    assert.deepEqual((await members(P.page)).sort(), ['pia', 'tess', 'tom']);
  });

  step('messages go every way between the page and both terminals', T, async () => {
    await say(P.page, 'from the page 1');
    tom.send('from tom 2');
    tess.send('from tess 3');
    await waitEntry(P.page, { from: 'tom', text: 'from tom 2' });
    await waitEntry(P.page, { from: 'tess', text: 'from tess 3' });
    for (const [t, other] of [[tom, 'tess'], [tess, 'tom']]) {
      await t.waitForLine((l) => l.includes('pia: from the page 1'));
      await t.waitForLine((l) => l.includes(`${other}: from ${other}`));
    }
  });

  step('whispers reach only their target, from and to either kind of client', T, async () => {
    await say(P.page, '/purr tom page to tom 4');
    tom.send('/purr pia tom to page 5');
    tom.send('/purr tess tom to tess 6');
    tess.send('/purr pia tess to page 7');
    await tom.waitForLine(whisperLine('pia', 'you', 'page to tom 4'));
    await waitEntry(P.page, { kind: 'purr', from: 'tom', text: 'tom to page 5' });
    await tess.waitForLine(whisperLine('tom', 'you', 'tom to tess 6'));
    await waitEntry(P.page, { kind: 'purr', from: 'tess', text: 'tess to page 7' });
    await tom.waitForLine(whisperLine('you', 'tess', 'tom to tess 6'));
    // Relayed in order: once these later messages arrive, a stray whisper would have too.
    await say(P.page, 'after the whispers 8');
    tess.send('after the whispers 9');
    await tom.waitForLine((l) => l.includes('after the whispers 9'));
    await tess.waitForLine((l) => l.includes('after the whispers 8'));
    await waitEntry(P.page, { from: 'tess', text: 'after the whispers 9' });
    assert.ok(!tess.lines.some((l) => /page to tom 4|tom to page 5/.test(l)), 'tess saw a whisper between pia and tom');
    assert.ok(!tom.lines.some((l) => l.includes('tess to page 7')), 'tom saw a whisper from tess to pia');
    const pageLog = await logText(P.page);
    assert.ok(!pageLog.includes('tom to tess 6'), 'the page saw a whisper between the terminals');
  });

  step('/me from the page reaches the terminals as "/me …"; //me and code from a terminal show on the page', T, async () => {
    await say(P.page, '/me waves to the terminals');
    await tom.waitForLine((l) => l.includes('pia: /me waves to the terminals'));
    tess.send('//me waves back');
    await waitEntry(P.page, { from: 'tess', text: '* tess waves back' });
    assert.ok(await P.page.isVisible('#log .entry.action[data-from="tess"]'));
    tom.send('fn f() -> Vec<String> {} // mail <bob@example.com>');
    await waitEntry(P.page, { from: 'tom', text: 'Vec<String>' });
    const last = await P.page.evaluate(() => [...document.querySelectorAll('#log [data-from="tom"] .body')].pop().textContent);
    assert.equal(last, 'fn f() -> Vec<String> {} // mail <bob@example.com>');
  });

  step('a kick from the page ends that terminal with status 5', T, async () => {
    await say(P.page, '/kick tess');
    const { code } = await tess.waitForExit();
    assert.equal(code, 5, tess.stderr);
    assert.match(tess.stderr, /removed from the room by pia/);
    await tom.waitForLine((l) => l.includes('tess was removed by pia'));
  });

  step('a stop from a terminal clears the page and ends the stopper with status 0', T, async () => {
    tom.send('/stop');
    const { code } = await tom.waitForExit();
    assert.equal(code, 0, tom.stderr);
    await P.page.waitForSelector('#ended:not([hidden])');
    assert.match(await P.page.textContent('#ended-reason'), /tom/);
    await assertConversationGone(P.page, { words: ['from the page 1', 'tom to page 5'] });
  });
});

// ------------------------------------------------------------------ replays (issue 17 part C)

describe('a captured message replayed to a page', () => {
  const step = story();
  let srv, P, Q;
  after(async () => {
    await P?.context.close();
    await Q?.context.close();
    await srv?.stop();
  });

  step('is shown once; the replay and a 1999 copy are warnings; the time is the sender\'s; v1 is marked', T, async () => {
    srv = await startServer();
    P = await openPage(browser);
    await P.page.goto(srv.url);
    await enterRoom(P.page, 'pia');
    const [, room, sec] = /#([^.]+)\.(.+)$/.exec(await P.page.textContent('#invite'));
    // alice's clock runs 5 minutes slow, so her time and the server's differ on screen.
    const sentMs = Date.now() - 5 * 60 * 1000;
    // The attacker holds the room secret and speaks the protocol from a second page:
    // alice says something and leaves; then "alice" comes back and re-sends the captured
    // body, a copy sealed with a 1999 clock, and a fresh marker.
    Q = await openPage(browser);
    await Q.page.goto(srv.url);
    await Q.page.evaluate(async ({ room, sec, port, sentMs }) => {
      const c = await import('/crypto.js');
      const v = await import('/verifier.js');
      const keys = c.deriveKeys(room, sec);
      const header = { room, kind: 'msg', from: 'alice', to: '' };
      // Joins as alice, sends `bodies`, leaves once the last is relayed back; resolves
      // to the first body relayed back.
      const visit = (bodies) => new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.hostname}:${port}/ws`);
        let first = null;
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.t === 'hello') ws.send(JSON.stringify({ t: 'join', room, alias: 'alice', proof: c.joinProof(v.proofKey(keys.auth, f.key), f.nonce, room, 'alice') }));
          if (f.t === 'welcome') for (const body of bodies) ws.send(JSON.stringify({ t: 'msg', body }));
          if (f.t === 'msg') {
            first ??= f.body;
            if (f.body === bodies.at(-1)) ws.send(JSON.stringify({ t: 'exit' }));
          }
          if (f.t === 'error') reject(new Error(f.code));
        };
        ws.onclose = () => resolve(first);
      });
      const captured = await visit([c.seal(keys, header, 'meet me at noon 1', { sid: '0123456789abcdef', counter: 1, sentMs })]);
      await visit([
        captured,
        c.seal(keys, header, 'party like it is 1999', { sid: 'fedcba9876543210', counter: 1, sentMs: 915148800000 }),
        c.seal(keys, header, 'from an old page 3', null),
        c.seal(keys, header, 'the marker 2', { sid: 'fedcba9876543211', counter: 1, sentMs: Date.now() }),
      ]);
    }, { room, sec, port: srv.config.ws_port, sentMs });

    await waitEntry(P.page, { from: 'alice', text: 'the marker 2' });
    const shown = await P.page.$$eval('#log [data-kind="msg"][data-from="alice"]', (es) => es.map((e) => ({
      text: e.querySelector('.body').textContent,
      time: e.querySelector('time').dateTime,
      unprotected: e.querySelector('.tag.unprotected')?.textContent ?? null,
    })));
    assert.deepEqual(shown.map((m) => m.text), ['meet me at noon 1', 'from an old page 3', 'the marker 2']);
    // A v1 envelope (a page from before the extension) is shown, marked.
    assert.deepEqual(shown.map((m) => m.unprotected), [null, 'old format: not protected against replay', null]);
    assert.equal(shown[0].time, new Date(sentMs).toISOString(), 'the time shown is alice\'s own');
    const warnings = await P.page.$$eval('#log [data-event="unverified"]', (es) => es.map((e) => e.querySelector('.text').textContent));
    assert.deepEqual(warnings, [
      'A message from alice was refused: repeated message (a replay). It is not shown.',
      'A message from alice was refused: sent at a time outside the accepted window (a replay, or a wrong clock). It is not shown.',
    ]);
    assert.ok(!(await logText(P.page)).includes('1999'));
    await shot(P.page, 'replay-refused');
    for (const x of [P, Q]) {
      assert.deepEqual(x.events.csp, [], 'CSP violations');
      assert.deepEqual(x.events.pageErrors, [], 'page errors');
      assert.deepEqual(x.events.console, [], 'console errors');
    }
  });
});

// ------------------------------------------------------------------ what people type

describe('plain text, Markdown, links and the smaller fixes between two pages', () => {
  const step = story(describePages);
  let srv, D, P;
  const opened = [];
  const open = async (viewport) => {
    const x = await openPage(browser, { viewport });
    opened.push(x);
    return x;
  };
  after(async () => {
    for (const x of opened) await x.context.close().catch(() => {});
    await srv?.stop();
  });
  // Every message body on a page, oldest first: its text and the elements built in it.
  const bodies = (p) => p.evaluate(() => [...document.querySelectorAll('#log [data-kind="msg"] .body')]
    .map((b) => ({ text: b.textContent, tags: [...b.querySelectorAll('*')].map((e) => e.localName) })));
  const rooms = async () => (await (await fetch(new URL('/healthz', srv.realUrl))).json()).rooms;

  step('a desktop page and a phone page share a room', T, async () => {
    srv = await startServer();
    D = await open(DESKTOP);
    await D.page.goto(srv.url);
    await enterRoom(D.page, 'dana');
    const invite = await D.page.textContent('#invite');
    await D.page.click('#toggle-invite');
    P = await open(PHONE);
    await P.page.goto(invite);
    await enterRoom(P.page, 'pat');
    await waitEntry(D.page, { kind: 'system', text: 'pat joined' });
  });

  step(`${ORDINARY.length} ordinary strings (code, addresses, arrows, <3) show character for character on both pages`, { timeout: 120000 }, async () => {
    assert.ok(ORDINARY.length >= 30);
    for (const [i, text] of ORDINARY.entries()) {
      await say(i % 2 ? P.page : D.page, text);
      await sleep(130); // under the server's 10 messages/s, and in order
    }
    for (const [name, x] of [['desktop', D], ['phone', P]]) {
      await x.page.waitForFunction((n) => document.querySelectorAll('#log [data-kind="msg"]').length >= n, ORDINARY.length, { timeout: 30000 });
      const got = await bodies(x.page);
      assert.equal(got.length, ORDINARY.length);
      got.forEach((b, i) => {
        assert.equal(b.text, ORDINARY[i], `${name} shows message ${i} differently`);
        assert.deepEqual(b.tags.filter((t) => t !== 'a'), [], `${name} built markup for ${JSON.stringify(ORDINARY[i])}`);
      });
    }
    await shot(D.page, 'ordinary-text-desktop');
    await shot(P.page, 'ordinary-text-phone-360');
  });

  step('Markdown, bare links and the HTML subset render on both pages (screenshots)', T, async () => {
    const code = 'fn main() {\n    let v: Vec<u8> = vec![1, 2];\n    if v.len() < 3 && v[0] > 0 { println!("<ok>"); }\n}';
    const show = [
      [D, 'Rust: `fn f() -> Vec<String>` is **bold**, *italic* and <b>HTML bold</b> at once'],
      [P, 'Mail me <bob@example.com> if a<b && c>d <3'],
      [D, 'Docs: https://example.org/guide?x=1 (read *all* of it).'],
      [P, '```rust\n' + code + '\n```'],
    ];
    const before = (await bodies(P.page)).length;
    for (const [x, text] of show) {
      await say(x.page, text);
      await sleep(130);
    }
    for (const x of [D, P]) {
      await x.page.waitForFunction((n) => document.querySelectorAll('#log [data-kind="msg"]').length >= n, before + show.length);
      const [md, mail, link, fence] = (await bodies(x.page)).slice(before);
      assert.equal(md.text, 'Rust: fn f() -> Vec<String> is bold, italic and HTML bold at once');
      assert.deepEqual(md.tags, ['code', 'strong', 'em', 'b']);
      assert.deepEqual(mail, { text: show[1][1], tags: [] });
      assert.deepEqual(link, { text: 'Docs: https://example.org/guide?x=1 (read all of it).', tags: ['a', 'em'] });
      assert.deepEqual(fence, { text: code, tags: ['pre', 'code'] });
      const a = await x.page.evaluate(() => { const l = [...document.querySelectorAll('#log .body a')].pop(); return [l.href, l.rel, l.target, l.textContent]; });
      assert.deepEqual(a, ['https://example.org/guide?x=1', 'noopener noreferrer nofollow', '_blank', 'https://example.org/guide?x=1']);
    }
    await shot(D.page, 'formatting-desktop');
    await shot(P.page, 'formatting-phone-360');
    await D.page.emulateMedia({ colorScheme: 'dark' });
    await shot(D.page, 'formatting-desktop-dark');
    await D.page.emulateMedia({ colorScheme: 'light' });
  });

  step('/who lists the room as the terminal client does; /me shows an action; /help explains both and the formatting', T, async () => {
    await say(D.page, '/who');
    await waitEntry(D.page, { kind: 'system', text: 'In the room (2): dana (you), pat.' });
    await say(P.page, '/me waves <3');
    for (const x of [D, P]) {
      await waitEntry(x.page, { from: 'pat', text: '* pat waves <3' });
      const action = await x.page.evaluate(() => { const e = [...document.querySelectorAll('#log .entry.action')].pop(); return { from: e.dataset.from, text: e.querySelector('.body').textContent }; });
      assert.deepEqual(action, { from: 'pat', text: '* pat waves <3' });
    }
    assert.ok(P.events.wsSent.every((f) => !f.includes('waves')), 'an action travels encrypted like any message');
    await say(D.page, '/me');
    await waitEntry(D.page, { kind: 'system', text: 'Usage: /me ACTION' });
    await D.page.fill('#composer', '');
    await say(D.page, '/help');
    await D.page.waitForSelector('#log dl.help');
    const help = await D.page.textContent('#log dl.help');
    for (const c of ['/who', '/me ACTION', 'Shift+Enter', '**bold**', '`code`', 'https://', 'shows exactly as typed']) assert.ok(help.includes(c), `help lacks ${c}`);
    await shot(D.page, 'help-desktop');
    await say(P.page, '/help');
    await P.page.waitForSelector('#log dl.help');
    await P.page.evaluate(() => document.querySelector('#log dl.help').closest('.entry').scrollIntoView());
    await shot(P.page, 'help-phone-360');
  });

  step('Shift+Enter on a desktop and the ↵ button on a phone write multi-line messages', T, async () => {
    await D.page.fill('#composer', '');
    await D.page.focus('#composer');
    await D.page.keyboard.type('first line');
    await D.page.keyboard.press('Shift+Enter');
    await D.page.keyboard.type('second <line>');
    assert.equal(await D.page.inputValue('#composer'), 'first line\nsecond <line>');
    await D.page.keyboard.press('Enter');
    assert.ok(await D.page.isHidden('#newline'), 'a desktop has Shift+Enter instead of the button');

    assert.ok(await P.page.isVisible('#newline'), 'the phone shows a new-line button');
    await P.page.fill('#composer', 'top');
    await P.page.click('#newline');
    assert.equal(await P.page.evaluate(() => document.activeElement.id), 'composer', 'the button keeps the keyboard open');
    await P.page.keyboard.type('bottom');
    assert.equal(await P.page.inputValue('#composer'), 'top\nbottom');
    await P.page.click('#send');
    for (const x of [D, P]) {
      await waitEntry(x.page, { from: 'pat', text: 'bottom' });
      const [a, b] = (await bodies(x.page)).slice(-2);
      assert.equal(a.text, 'first line\nsecond <line>');
      assert.equal(b.text, 'top\nbottom');
      const lines = await x.page.evaluate(() => {
        const body = [...document.querySelectorAll('#log [data-kind="msg"] .body')].pop();
        return body.getBoundingClientRect().height / parseFloat(getComputedStyle(body).lineHeight);
      });
      assert.ok(lines > 1.8, `the message shows on two lines (${lines})`);
    }
  });

  step('on a phone the header buttons, Send and ↵ are at least 44 px tall', T, async () => {
    for (const width of [360, 320]) {
      await P.page.setViewportSize({ width, height: PHONE.height });
      const sizes = await P.page.evaluate(() => ['toggle-invite', 'toggle-members', 'leave', 'newline', 'send'].map((id) => {
        const r = document.getElementById(id).getBoundingClientRect();
        return { id, h: r.height, w: r.width, right: r.right };
      }));
      for (const x of sizes) {
        assert.ok(x.h >= 44 && x.w >= 44, `${x.id} is ${x.w}x${x.h} px at ${width} px`);
        assert.ok(x.right <= width, `${x.id} is off screen at ${width} px`);
      }
      assert.ok(await P.page.evaluate(() => document.documentElement.scrollWidth) <= width, `sideways scrolling at ${width} px`);
    }
    await P.page.setViewportSize(PHONE);
    await shot(P.page, 'room-phone-360-buttons');
  });

  step('names reach 4.5:1 contrast on every background, for every hue, light and dark', T, async () => {
    await say(P.page, '/purr dana a whisper to show a name on the whisper background');
    await waitEntry(D.page, { kind: 'purr', from: 'pat', text: 'a whisper' });
    const check = () => D.page.evaluate(async () => {
      const { hueColours, contrast, NAME_BACKGROUNDS } = await import('/view.js');
      const rgb = (css) => css.match(/[\d.]+/g).slice(0, 3).map(Number);
      const hex = (c) => '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
      const dark = matchMedia('(prefers-color-scheme: dark)').matches;
      const bg = (sel) => hex(rgb(getComputedStyle([...document.querySelectorAll(sel)].pop()).backgroundColor));
      const hexes = [bg('#log .entry.msg:not(.own)'), bg('#log .entry.purr:not(.own)')];
      const backs = hexes.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
      let worst = Infinity, oldWorst = Infinity, oldUnder = 0;
      for (let h = 0; h < 360; h++) {
        const c = rgb(hueColours(h)[dark ? 'dark' : 'light']);
        for (const b of backs) worst = Math.min(worst, contrast(c, b));
        // What the page did before: hsl(h 55% 38%) / hsl(h 55% 74%) whatever the hue.
        const probe = document.createElement('span');
        probe.style.color = `hsl(${h} 55% ${dark ? 74 : 38}%)`;
        document.body.append(probe);
        const old = rgb(getComputedStyle(probe).color);
        probe.remove();
        const o = Math.min(...backs.map((b) => contrast(old, b)));
        oldWorst = Math.min(oldWorst, o);
        if (o < 4.5) oldUnder++;
      }
      const shown = [...document.querySelectorAll('#log .entry .who')].map((w) =>
        contrast(rgb(getComputedStyle(w).color), rgb(getComputedStyle(w.closest('.entry')).backgroundColor)));
      return { backs: hexes, listed: NAME_BACKGROUNDS[dark ? 'dark' : 'light'], worst, oldWorst, oldUnder, shown: Math.min(...shown), count: shown.length };
    });
    for (const scheme of ['light', 'dark']) {
      await D.page.emulateMedia({ colorScheme: scheme });
      const r = await check();
      console.log(`# ${scheme}: worst name contrast ${r.worst.toFixed(2)}:1 over 360 hues (before: ${r.oldWorst.toFixed(2)}:1, ${r.oldUnder} hues under 4.5)`);
      assert.deepEqual(r.backs, r.listed, `view.js's ${scheme} backgrounds are not the stylesheet's`);
      assert.ok(r.worst >= 4.5, `${scheme}: a hue reaches only ${r.worst}:1`);
      assert.ok(r.count >= 2 && r.shown >= 4.5, `${scheme}: a name on screen reaches only ${r.shown}:1`);
    }
    await D.page.emulateMedia({ colorScheme: 'light' });
  });

  step('a mistyped room id asks "No such room: create it?"; Cancel makes nothing, Create makes the room', T, async () => {
    const M = await open(PHONE);
    await M.page.goto(srv.url);
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    await M.page.fill('#alias', 'mo');
    await M.page.fill('#room', id);
    await M.page.fill('#passphrase', 'correct horse battery');
    const roomsBefore = await rooms();
    await M.page.click('#enter');
    await M.page.waitForSelector('#confirm[open]', { timeout: 15000 });
    assert.equal(await M.page.textContent('#confirm-title'), 'No such room: create it?');
    assert.ok((await M.page.textContent('#confirm-text')).includes(id));
    await shot(M.page, 'no-such-room-phone-360');
    assert.equal(await rooms(), roomsBefore, 'a room exists before anyone said yes');
    await M.page.click('#confirm-cancel');
    await M.page.waitForFunction(() => document.getElementById('start-error').textContent !== '');
    assert.equal(await M.page.textContent('#start-error'), 'There is no room with that id. Check it for a typo.');
    assert.ok(await M.page.isVisible('#start') && await M.page.isHidden('#chat'));
    assert.equal(await M.page.evaluate(() => document.activeElement.id), 'room');
    assert.equal(await rooms(), roomsBefore);

    await M.page.click('#enter');
    await M.page.waitForSelector('#confirm[open]', { timeout: 15000 });
    await M.page.click('#confirm-ok');
    await M.page.waitForSelector('#chat:not([hidden])');
    await waitEntry(M.page, { kind: 'system', text: 'opened fresh' });
    assert.equal(await rooms(), roomsBefore + 1);
    const frames = M.events.wsSent.map((f) => JSON.parse(f).t).filter((t) => t === 'join' || t === 'create');
    assert.deepEqual(frames, ['join', 'join', 'create'], 'created only after the yes');
    await say(M.page, '/exit');
    await M.page.waitForSelector('#ended:not([hidden])');
  });

  step('a burst over the server\'s rate gives one notice and puts the unsent text back', T, async () => {
    const slow = await startServer({ args: ['--rate', '2', '--burst', '3'] });
    try {
      const X = await open(DESKTOP);
      const Y = await open(PHONE);
      await X.page.goto(slow.url);
      await enterRoom(X.page, 'xena');
      await Y.page.goto(await X.page.textContent('#invite'));
      await enterRoom(Y.page, 'yuri');
      await waitEntry(X.page, { kind: 'system', text: 'yuri joined' });
      await sleep(1700); // xena's bucket is full again: three messages
      await X.page.evaluate(() => {
        const c = document.getElementById('composer');
        for (let i = 1; i <= 6; i++) {
          c.value = `burst ${i}`;
          document.getElementById('composer-form').requestSubmit();
        }
      });
      await X.page.waitForSelector('#log [data-event="error"]');
      await sleep(1500); // a second notice would be here by now
      const notices = await X.page.$$eval('#log [data-event="error"]', (es) => es.map((e) => e.textContent));
      assert.equal(notices.length, 1, JSON.stringify(notices));
      assert.match(notices[0], /^You are sending too fast: 3 messages were not delivered\. Their text is back in the message box/);
      assert.equal(await X.page.inputValue('#composer'), 'burst 4\nburst 5\nburst 6');
      await waitEntry(Y.page, { from: 'xena', text: 'burst 3' });
      assert.deepEqual((await bodies(Y.page)).map((b) => b.text), ['burst 1', 'burst 2', 'burst 3']);
      await shot(X.page, 'rate-limited-desktop');
      await sleep(600);
      await X.page.press('#composer', 'Enter');
      await waitEntry(Y.page, { from: 'xena', text: 'burst 6' });
      assert.equal((await bodies(Y.page)).pop().text, 'burst 4\nburst 5\nburst 6');
      assert.equal(await X.page.inputValue('#composer'), '');
    } finally {
      await slow.stop();
    }
  });

  step('a full chat port is shown as "the server is full", not as a failed connection', T, async () => {
    const full = await startServer({ args: ['--max-connections', '1'] });
    try {
      const X = await open(DESKTOP);
      const Y = await open(PHONE);
      await X.page.goto(full.url);
      await enterRoom(X.page, 'xena'); // holds the only place
      await Y.page.goto(await X.page.textContent('#invite'));
      await Y.page.fill('#alias', 'yuri');
      await Y.page.click('#enter');
      await Y.page.waitForFunction(() => document.getElementById('start-error').textContent !== '');
      assert.equal(await Y.page.textContent('#start-error'), 'The server is full right now. Try again in a while.');
      await say(X.page, '/exit');
      await X.page.waitForSelector('#ended:not([hidden])');
      await Y.page.click('#enter'); // the place is free again
      await Y.page.waitForSelector('#chat:not([hidden])', { timeout: 15000 });
    } finally {
      await full.stop();
    }
  });

  step('none of it raised a CSP violation, a console error or a page error', T, async () => {
    for (const x of opened) {
      assert.deepEqual(x.events.csp, [], 'CSP violations');
      assert.deepEqual(x.events.pageErrors, [], 'page errors');
      assert.deepEqual(x.events.console, [], 'console errors');
    }
  });
});
