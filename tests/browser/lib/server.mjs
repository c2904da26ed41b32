// The real sanctuary binary on ephemeral loopback ports, for the browser tests.
// Its banner names the page's URL; the chat port comes from /config.json.
// SANCTUARY_BIN overrides the binary. SANCTUARY_HTML=disk serves html/ from the working
// tree instead of the copy embedded at build time (same headers, copied from the real
// server), so page changes can be tried without a rebuild; CI always uses the embedded one.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HTML_DIR } from './html-module.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.SANCTUARY_BIN || path.join(ROOT, 'target/release/sanctuary');

function waitForBanner(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no banner within ${timeoutMs} ms; stdout so far: ${out}`)), timeoutMs);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const url = /https?:\/\/\S+/.exec(out);
      if (url && out.includes('\n', url.index)) {
        clearTimeout(timer);
        resolve({ banner: out, url: url[0].endsWith('/') ? url[0] : url[0] + '/' });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before its banner: ${out}`));
    });
  });
}

export async function startServer({ bind = '127.0.0.1', args: extraArgs = [] } = {}) {
  const disk = process.env.SANCTUARY_HTML === 'disk';
  const dev = disk ? await startDiskServer(bind) : null;
  let child, stderr = '', exited;
  const spawnServer = async (httpPort, wsPort) => {
    const args = ['--http-port', String(httpPort), '--ws-port', String(wsPort), '--bind', bind, ...extraArgs];
    if (dev) args.push('--allow-origin', dev.origin);
    child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.on('data', (c) => { stderr += c; });
    const c = child;
    exited = new Promise((r) => c.once('exit', (code, signal) => r({ code, signal })));
    const { banner, url } = await waitForBanner(child, 15000);
    const config = await (await fetch(new URL('/config.json', url))).json();
    return { banner, url, config };
  };
  const first = await spawnServer(0, 0);
  if (dev) await dev.attach(first.url);
  const ports = { http: Number(new URL(first.url).port), ws: first.config.ws_port };
  return {
    url: dev ? dev.origin + '/' : first.url,
    realUrl: first.url,
    banner: first.banner,
    config: first.config,
    ports,
    get stderr() { return stderr; },
    // Kills the server at once (SIGKILL: no purge, the sockets just close, as when a Pi
    // loses power); restart() starts a new one on the same ports, with nothing in memory.
    async crash() {
      child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await spawnServer(ports.http, ports.ws);
    },
    async crashAndRestart({ downMs = 0 } = {}) {
      await this.crash();
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await this.restart();
    },
    async stop() {
      dev?.close();
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

async function startDiskServer(host) {
  let headers = null;
  let config = null;
  const server = createServer(async (req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/config.json') {
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      return res.end(config);
    }
    const name = p === '/' ? 'index.html' : p.slice(1);
    const types = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml', png: 'image/png', json: 'application/json' };
    try {
      if (name.includes('/') || name.startsWith('.')) throw new Error('flat files only');
      const body = await readFile(path.join(HTML_DIR, name));
      res.writeHead(200, { ...headers, 'content-type': types[name.split('.').pop()] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end('not found\n');
    }
  });
  await new Promise((r) => server.listen(0, host, r));
  return {
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${server.address().port}`,
    // The real server's headers (CSP and all) and config, read once.
    async attach(url) {
      const r = await fetch(url);
      headers = Object.fromEntries([...r.headers].filter(([k]) => !['content-type', 'content-length', 'content-encoding', 'vary', 'date', 'connection', 'keep-alive', 'transfer-encoding'].includes(k)));
      config = Buffer.from(await (await fetch(new URL('/config.json', url))).arrayBuffer());
    },
    close() { server.close(); },
  };
}

// Whether this machine can listen on the IPv6 loopback at all.
export function hasIpv6Loopback() {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}
