// The page's files must load promptly when a browser fetches them the way browsers do:
// six keep-alive connections at once (the module graph of app.js is ten files). Each
// attempt uses a fresh server, since a stall shows up while its connection pool is cold.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer } from './lib/server.mjs';

const FILES = ['/', '/style.css', '/app.js', '/favicon.svg', '/crypto.js', '/kdf.js', '/session.js',
  '/view.js', '/commands.js', '/invite.js', '/sanitize.js', '/qr.js', '/kdf-worker.js', '/replay.js', '/config.json'];
const SERVERS = 20;
const STALL_MS = 2000;

function fetchAll(url) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
  return Promise.all(FILES.map((path) => new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.get(new URL(path, url), { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ path, status: res.statusCode, ms: Date.now() - t0 }));
    });
    req.on('error', () => resolve({ path, stalled: true }));
    req.setTimeout(STALL_MS, () => {
      req.destroy();
      resolve({ path, stalled: true });
    });
  }))).finally(() => agent.destroy());
}

test(`every file of the page loads within ${STALL_MS} ms over six parallel keep-alive connections (${SERVERS} fresh servers)`, { timeout: 120000 }, async () => {
  const stalls = [];
  for (let i = 0; i < SERVERS; i++) {
    const server = await startServer();
    try {
      for (const r of await fetchAll(server.url)) {
        if (r.stalled) stalls.push(`server ${i}: ${r.path}`);
        else assert.equal(r.status, 200, `${r.path} answered ${r.status}`);
      }
    } finally {
      await server.stop();
    }
  }
  assert.deepEqual(stalls, [], `requests that got no answer within ${STALL_MS} ms`);
});
