// kdf-worker.js: runs the 100000-iteration PBKDF2 off the main thread so the page keeps
// painting its "deriving key" state. Receives {room, secret}, answers {keys, ms}.
import { deriveKeys } from './crypto.js';

self.onmessage = (e) => {
  const t0 = performance.now();
  try {
    const keys = deriveKeys(e.data.room, e.data.secret);
    self.postMessage({ keys, ms: performance.now() - t0 }, [keys.enc.buffer, keys.mac.buffer, keys.auth.buffer]);
  } catch (err) {
    self.postMessage({ error: String(err) });
  }
};
