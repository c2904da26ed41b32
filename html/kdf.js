// kdf.js: derives a room's keys (PBKDF2, once per join) in a Worker, falling back to the
// main thread, after letting the "deriving key" state paint, where Workers are missing.

import { deriveKeys } from './crypto.js';

function inWorker(room, secret) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./kdf-worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (e) => {
      worker.terminate();
      if (e.data.error) reject(new Error(e.data.error));
      else resolve(e.data);
    };
    worker.onerror = (e) => {
      worker.terminate();
      e.preventDefault();
      reject(new Error('worker failed'));
    };
    worker.postMessage({ room, secret });
  });
}

const nextPaint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

// Resolves to { keys: {enc, mac, auth}, ms, where: 'worker' | 'page' }.
export async function deriveRoomKeys(room, secret) {
  if (typeof Worker === 'function') {
    try {
      return { ...(await inWorker(room, secret)), where: 'worker' };
    } catch {
      // fall through to the main thread
    }
  }
  await nextPaint();
  const t0 = performance.now();
  const keys = deriveKeys(room, secret);
  return { keys, ms: performance.now() - t0, where: 'page' };
}
