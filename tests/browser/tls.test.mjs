// Issue 12: behind a reverse proxy that terminates TLS. nginx (Debian's package; the
// test fails, naming the install command, when it is missing) listens on a loopback port
// with a certificate openssl makes for this run, and passes `/` to the page port and
// `/ws` to the chat port. The server runs as README.md says for this set-up:
//   --hostname NAME --allow-origin https://NAME:PORT --public-ws-url wss://NAME:PORT/ws
// Chromium (mapping NAME to 127.0.0.1 and accepting the self-signed certificate) loads
// the page over https and two pages chat over wss, through the proxy only; when the
// proxy restarts, both reconnect through it and go on.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startServer, ROOT } from './lib/server.mjs';
import { launchBrowser, openPage } from './lib/browser.mjs';
import { startTlsProxy, freePort } from './lib/tls-proxy.mjs';
import { enterRoom, say, waitEntry, members } from './lib/room.mjs';

const SHOTS = path.join(ROOT, 'target/screenshots');
const NAME = 'chat.sanctuary.test';
const T = { timeout: 60000 };

let server, proxy, browser, A, B, port;

before(async () => {
  await mkdir(SHOTS, { recursive: true });
  port = await freePort();
  const origin = `https://${NAME}:${port}`;
  server = await startServer({ args: ['--hostname', NAME, '--allow-origin', origin, '--public-ws-url', `wss://${NAME}:${port}/ws`] });
  proxy = await startTlsProxy({ name: NAME, port, pagePort: Number(new URL(server.url).port), chatPort: server.config.ws_port });
  browser = await launchBrowser({ extraArgs: ['--ignore-certificate-errors', `--host-resolver-rules=MAP ${NAME} 127.0.0.1`] });
});

after(async () => {
  await browser?.close();
  if (proxy) {
    const log = await proxy.errorLog();
    if (log.trim()) console.log(`# nginx error log:\n${log.replace(/^/gm, '# ')}`);
    await proxy.stop();
  }
  await server?.stop();
});

describe('behind nginx terminating TLS', () => {
  test('/config.json through the proxy names the public wss URL', T, async () => {
    assert.equal(server.config.ws_url, `wss://${NAME}:${port}/ws`);
    A = await openPage(browser, { viewport: { width: 1280, height: 800 } });
    const r = await A.page.goto(`${proxy.origin}/config.json`);
    assert.equal(r.status(), 200);
    const config = JSON.parse(await r.text());
    assert.equal(config.ws_url, `wss://${NAME}:${port}/ws`);
    assert.match(r.headers()['content-security-policy'] ?? '', /connect-src 'self' ws: wss:/);
    // Opening a JSON document makes Chromium ask for /favicon.ico (a 404): not the page's.
    await A.page.waitForTimeout(300);
    assert.ok(A.events.console.every((l) => l.includes('404')), JSON.stringify(A.events.console));
    A.events.console.length = 0;
    A.events.requests.length = 0;
  });

  test('two pages load over https and chat over wss through the proxy', T, async () => {
    await A.page.goto(`${proxy.origin}/`);
    assert.ok(A.page.url().startsWith('https://'));
    await enterRoom(A.page, 'alice');
    const link = await A.page.textContent('#invite');
    assert.ok(link.startsWith(`https://${NAME}:${port}/#`), `invite link ${link}`);

    B = await openPage(browser, { viewport: { width: 360, height: 740 } });
    await B.page.goto(link);
    await enterRoom(B.page, 'bob');
    await waitEntry(A.page, { kind: 'system', text: 'bob joined' });

    await say(A.page, 'over tls from alice');
    await waitEntry(B.page, { from: 'alice', text: 'over tls from alice' });
    await say(B.page, 'over tls from bob');
    await waitEntry(A.page, { from: 'bob', text: 'over tls from bob' });
    await B.page.screenshot({ path: path.join(SHOTS, 'tls-phone-360.png') });

    for (const [name, x] of [['alice', A], ['bob', B]]) {
      assert.deepEqual(x.events.wsUrls, [`wss://${NAME}:${port}/ws`], `${name}: chat sockets`);
      const elsewhere = x.events.requests.filter((u) => !u.startsWith(proxy.origin + '/'));
      assert.deepEqual(elsewhere, [], `${name}: requests not through the proxy`);
      assert.deepEqual(x.events.pageErrors, [], `${name}: page errors`);
      assert.deepEqual(x.events.csp, [], `${name}: CSP violations`);
      assert.deepEqual(x.events.console, [], `${name}: console`);
    }
  });

  test('a restarted proxy drops both chats: they reconnect over wss and go on', T, async () => {
    const sockets = [A.events.wsUrls.length, B.events.wsUrls.length];
    await proxy.restart();
    for (const x of [A, B]) await waitEntry(x.page, { kind: 'system', event: 'gap', text: 'You were away' }, 20000);
    assert.ok(A.events.wsUrls.length > sockets[0] && B.events.wsUrls.length > sockets[1], 'new sockets');
    for (const x of [A, B]) assert.ok(x.events.wsUrls.every((u) => u === `wss://${NAME}:${port}/ws`));
    await say(B.page, 'after the proxy restart from bob');
    await waitEntry(A.page, { from: 'bob', text: 'after the proxy restart from bob' });
    await say(A.page, 'after the proxy restart from alice');
    await waitEntry(B.page, { from: 'alice', text: 'after the proxy restart from alice' });
    assert.deepEqual((await members(A.page)).sort(), ['alice', 'bob']);
  });

  test('the chat port itself still refuses the https origin without --allow-origin', T, async () => {
    // Control: the proxy set-up needs --allow-origin; a server without it answers 403.
    const bare = await startServer({ args: ['--hostname', NAME] });
    try {
      const status = await new Promise((resolve) => {
        import('node:http').then(({ request }) => {
          const req = request({
            host: '127.0.0.1', port: bare.config.ws_port, path: '/ws',
            headers: { Host: NAME, Origin: proxy.origin, Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
          });
          req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
          req.on('upgrade', (res, socket) => { socket.destroy(); resolve(101); });
          req.on('error', () => resolve(0));
          req.end();
        });
      });
      assert.equal(status, 403);
      assert.equal(bare.config.ws_url, undefined, 'no ws_url without --public-ws-url');
    } finally {
      await bare.stop();
    }
  });
});
