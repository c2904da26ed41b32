// The terminal client `sanctuary join LINK --alias NAME`, run as a child process and
// spoken to over stdin/stdout. This file is the only place the browser tests know how
// that client is started or what it prints. Always the real Rust client: a stand-in
// here would let the terminal client break unnoticed.
import { spawn } from 'node:child_process';
import { BIN } from './server.mjs';

export function startPeer(link, alias) {
  const child = spawn(BIN, ['join', link, '--alias', alias], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = new Set();
  let partial = '', stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const line of parts) {
      lines.push(line.replace(/\r$/, ''));
      for (const w of waiters) w();
    }
  });
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise((r) => child.once('exit', (code, signal) => {
    for (const w of waiters) w();
    r({ code, signal });
  }));
  return {
    alias,
    lines,
    exited,
    get stderr() { return stderr; },
    get running() { return child.exitCode === null && child.signalCode === null; },
    send(line) {
      child.stdin.write(line + '\n');
    },
    // Resolves with the first printed line (seen so far or later) that pred accepts.
    waitForLine(pred, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.find(pred);
          if (hit !== undefined) return done(() => resolve(hit));
          if (!this.running) return done(() => reject(new Error(`${alias} exited before the line; output:\n${lines.join('\n')}\n${stderr}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${alias}: no such line within ${timeoutMs} ms; output:\n${lines.join('\n')}\n${stderr}`))), timeoutMs);
        const done = (fn) => { clearTimeout(timer); waiters.delete(check); fn(); };
        waiters.add(check);
        check();
      });
    },
    async waitForExit(timeoutMs = 10000) {
      let timer;
      const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${alias} still running after ${timeoutMs} ms`)), timeoutMs); });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      if (this.running) child.kill('SIGKILL');
    },
  };
}
