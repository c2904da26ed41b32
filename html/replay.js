// replay.js: replay protection of v2 envelopes (PROTOCOL.md section 3, extension): the
// Stamper numbers what one connection seals; the ReplayGuard refuses an envelope already
// accepted (a server, or anyone who learnt k_auth, re-sending a captured body) or one sent
// at a time our clock cannot vouch for (an old capture whose counter we may have
// forgotten). src/replay.rs holds the same rules for the Rust clients.

import { randomBytes } from './crypto.js';

// How far a sender's clock may be from ours (either way): LAN clocks drift.
export const WINDOW_MS = 10 * 60 * 1000;
// Sender connections remembered per room; past it the one heard from least recently is
// forgotten, and raises the floor a connection we do not know must have sent after.
export const MAX_SENDERS = 64;

export const REFUSAL_TEXT = {
  repeated: 'repeated message (a replay)',
  window: 'sent at a time outside the accepted window (a replay, or a wrong clock)',
};

export class Stamper {
  constructor() {
    this.sid = Array.from(randomBytes(8), (x) => x.toString(16).padStart(2, '0')).join('');
    this.next = 1;
  }

  // The stamp of the next envelope, with our clock now. 2^32 envelopes are years at the
  // server's rate limit; receivers refuse a counter that stops growing.
  stamp() {
    const stamp = { sid: this.sid, counter: this.next, sentMs: Date.now() };
    this.next = Math.min(this.next + 1, 0xffffffff);
    return stamp;
  }
}

// What one receiver remembers of a room's senders: kept across its reconnections to the
// same room, forgotten when it leaves.
export class ReplayGuard {
  constructor() {
    this.senders = new Map(); // `${sid} ${from}` -> { counter, sentMs }
    this.floorMs = 0;
  }

  // null when the stamp of an authentic envelope from `from` is new (and remembers it),
  // else the key of REFUSAL_TEXT saying why not.
  check(from, stamp, nowMs = Date.now()) {
    if (Math.abs(stamp.sentMs - nowMs) > WINDOW_MS) return 'window';
    // A sender last heard from before the window can only be replayed out of it.
    for (const [key, s] of this.senders) if (s.sentMs + WINDOW_MS < nowMs) this.senders.delete(key);
    const key = `${stamp.sid} ${from}`;
    const known = this.senders.get(key);
    if (known) {
      if (stamp.counter <= known.counter) return 'repeated';
      known.counter = stamp.counter;
      known.sentMs = Math.max(known.sentMs, stamp.sentMs);
      return null;
    }
    if (stamp.sentMs <= this.floorMs) return 'window';
    if (this.senders.size >= MAX_SENDERS) this.#forgetStalest();
    this.senders.set(key, { counter: stamp.counter, sentMs: stamp.sentMs });
    return null;
  }

  #forgetStalest() {
    let stalest = null;
    for (const [key, s] of this.senders) if (!stalest || s.sentMs < stalest[1].sentMs) stalest = [key, s];
    this.senders.delete(stalest[0]);
    this.floorMs = Math.max(this.floorMs, stalest[1].sentMs);
  }
}
