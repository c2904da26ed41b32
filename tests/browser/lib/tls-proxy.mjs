// nginx in front of the real server, terminating TLS with a self-signed certificate made
// by openssl for this run: `/` goes to the page port, `/ws` (with the Upgrade headers) to
// the chat port, the Host header passed through. Everything lives in a temporary
// directory (config, certificate, pid file, logs); nothing needs root or touches /etc.
// The config is the one README.md shows ("Behind a reverse proxy with TLS"), with the
// paths and ports of this run.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NGINX = process.env.NGINX || '/usr/sbin/nginx';
export const INSTALL_HINT = 'apt-get install -y --no-install-recommends nginx openssl (or run make setup as root)';

export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function nginxConfig({ dir, name, port, pagePort, chatPort, asRoot }) {
  return `# Made by tests/browser/lib/tls-proxy.mjs for one test run.
${asRoot ? 'user root root;\n' : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;

    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }

    server {
        listen 127.0.0.1:${port} ssl;
        server_name ${name};
        ssl_certificate     ${dir}/cert.pem;
        ssl_certificate_key ${dir}/key.pem;

        # The page, /config.json and /healthz.
        location / {
            proxy_pass http://127.0.0.1:${pagePort};
            proxy_set_header Host $host;
            proxy_max_temp_file_size 0;
        }

        # The chat: a WebSocket, held open as long as the chat is.
        location = /ws {
            proxy_pass http://127.0.0.1:${chatPort};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
`;
}

// Starts nginx on a free loopback port in front of pagePort and chatPort, answering to
// `name`. Throws with the install command when nginx or openssl is missing.
export async function startTlsProxy({ name, port, pagePort, chatPort }) {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: ${INSTALL_HINT}`);
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error(`openssl is missing: ${INSTALL_HINT}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sanctuary-tls-'));
  await mkdir(path.join(dir, 'tmp'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' });
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, nginxConfig({ dir, name, port, pagePort, chatPort, asRoot: process.getuid?.() === 0 }));
  let child, output = '', exited;
  const launch = async () => {
    child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c) => { output += c; });
    child.stderr.on('data', (c) => { output += c; });
    const c = child;
    exited = new Promise((r) => c.once('exit', (code, signal) => r({ code, signal })));
    // Ready once it accepts TLS on the port.
    const deadline = Date.now() + 10000;
    for (;;) {
      if (child.exitCode !== null) {
        const log = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
        throw new Error(`nginx exited (${child.exitCode}): ${output}${log}`);
      }
      const up = await new Promise((resolve) => {
        const probe = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name], { stdio: ['pipe', 'ignore', 'ignore'] });
        probe.stdin.end();
        probe.once('exit', (code) => resolve(code === 0));
      });
      if (up) break;
      if (Date.now() > deadline) throw new Error(`nginx not answering TLS on ${port}: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  return {
    dir,
    origin: `https://${name}:${port}`,
    async errorLog() { return readFile(path.join(dir, 'error.log'), 'utf8').catch(() => ''); },
    // Stops nginx (every connection through it closes) and starts it again.
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
