// session.js: one connection to one room, speaking PROTOCOL.md sections 5-7.
// It seals what we send and opens what we receive; nothing plaintext leaves this file
// except as events for the page, and nothing here touches the DOM.
//
// Events (CustomEvent detail):
//   welcome {members, creator, created, recreated, resume}   joined {alias, rejoined}
//   msg {from, text, ts, unprotected, own}   purr {from, to, text, ts, unprotected, own, addressee}
//                               (ts: the sender's authenticated clock; for a v1 envelope,
//                               unprotected: true and ts the server's)
//   unverified {kind, from, why}   (not shown: why is null when the tag failed, else a
//                               replay refusal's wording from replay.js)
//   left {alias, reason, farewell, farewellBad, farewellWhy, creator}
//   kicked {alias, by, creator} purged {by, reason}
//   refused {code, message}     (an error before we got in; the attempt is over)
//   noroom {}                   (asked to join a room nobody is in, with askCreate: the
//                               page calls createRoom() or cancel())
//   error {code, message}       (an error while in the room)
//   unsent {count, items: [{kind, to, text}]}   (the server dropped `count` frames for
//                               going too fast; items are our messages among them, oldest
//                               first, reported once per burst)
//   closed {code, reason, exiting, purged, joined, unconfirmed: [{kind, to, text}]}
//                               (the connection is gone; the session is over. The page
//                               may open a new Session to rejoin: see app.js)
//
// `resume` (PROTOCOL.md section 5, extension) is the token of our last welcome; a
// Session made to rejoin is given it and sends it with its join, so that the server
// hands it the seat our old connection may still hold (that one is closed with 4005).
//
// `guard` (a ReplayGuard, replay.js) is the room's replay memory: the page hands the same
// one to every Session of a conversation, so a rejoin does not forget what was accepted.
// Each Session stamps what it seals under its own session id.

import { joinProof, seal, open, b64uEncode } from './crypto.js';
import { Stamper, ReplayGuard, REFUSAL_TEXT } from './replay.js';

// The chat's address: the server's --public-ws-url when it gives one (a reverse proxy
// that terminates TLS), else the page's own host on the chat port.
export function chatUrl(loc, config) {
  if (typeof config.ws_url === 'string' && /^wss?:\/\//i.test(config.ws_url)) return config.ws_url;
  return wsUrl(loc, config.ws_port);
}

export function wsUrl(loc, port) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  let host = loc.hostname;
  // Browsers already bracket IPv6 literals in location.hostname; older ones did not.
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `${scheme}//${host}:${port}/ws`;
}

// Errors after which the attempt to get in cannot go on as it is.
// The alias as a reader sees it (PROTOCOL.md section 5, extension; the server's rule is
// src/alias.rs, and both are checked against tests/vectors/aliases.json): lowercase;
// 1, i, l -> l; 0 -> o; 5 -> s; 2 -> z; 8 -> b; . _ - dropped; then rn -> m, vv -> w.
const FOLD = { 1: 'l', i: 'l', 0: 'o', 5: 's', 2: 'z', 8: 'b', '.': '', _: '', '-': '' };
export function aliasSkeleton(alias) {
  let out = '';
  for (const c of alias.toLowerCase()) {
    const f = FOLD[c] ?? c;
    const pair = out.slice(-1) + f;
    if (pair === 'rn' || pair === 'vv') out = out.slice(0, -1) + (pair === 'rn' ? 'm' : 'w');
    else out += f;
  }
  return out;
}

// Whether two aliases name the same member (the server lets only one of them in a room).
export function sameAlias(a, b) {
  return aliasSkeleton(a) === aliasSkeleton(b);
}

// Who a whisper is for, as its reader (alias `self`) sees it: 'own' (we sent it: the
// server hands a whisper back to its sender), 'you' (it names us), or 'other': it names
// someone else, so a server relaying it here is misbehaving, and the page must not
// present it as ours. Exact comparisons: the server stamps `from` as each member spells
// its alias and relays a purr only to the exact alias its `to` names.
export function whisperAddressee(from, to, self) {
  if (from === self) return 'own';
  return to === self ? 'you' : 'other';
}

const REFUSALS = new Set(['bad_alias', 'alias_taken', 'bad_room', 'bad_proof', 'room_full', 'server_full', 'bad_field']);

// A burst of rate_limited errors is over when none has come for this long; by then the
// server has relayed back every message of ours it accepted before the last drop.
const BURST_SETTLE_MS = 600;

export class Session extends EventTarget {
  // mode 'create' sends create straight away (a fresh random room); 'join' tries join and,
  // if the server no longer knows the room, re-creates it (askCreate: only once the page
  // says so, after a 'noroom' event).
  constructor({ url, room, alias, keys, mode, maxBytes = 65536, askCreate = false, resume = null, guard = new ReplayGuard() }) {
    super();
    Object.assign(this, { url, room, alias, keys, mode, maxBytes, askCreate, resume, guard });
    this.stamper = new Stamper();
    this.state = 'connecting';
    this.recreated = false;
    this.exiting = false;
    // Our msg/purr frames not yet relayed back, by body: { kind, to, text, at }.
    this.pending = new Map();
    this.dropped = null; // { count, at, timer } during a burst of rate_limited errors
  }

  connect() {
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      // A malformed URL (a bad --public-ws-url): as a connection that failed.
      queueMicrotask(() => this.#closed(1006, ''));
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => this.#frame(e.data);
    ws.onclose = (e) => this.#closed(e.code, e.reason);
    // An error event is always followed by close, which carries the code.
    ws.onerror = () => {};
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #send(obj) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  #frame(data) {
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return;
    }
    if (!f || typeof f !== 'object' || typeof f.t !== 'string') return;
    const str = (v) => (typeof v === 'string' ? v : '');
    switch (f.t) {
      case 'hello': {
        if (this.state !== 'connecting') return;
        this.state = 'joining';
        if (this.mode === 'create') return this.#create();
        let proof;
        try {
          proof = joinProof(this.keys.auth, str(f.nonce), this.room, this.alias);
        } catch {
          this.state = 'refused';
          this.#emit('refused', { code: 'protocol', message: 'the server sent an unreadable challenge' });
          return this.ws.close(1000);
        }
        const join = { t: 'join', room: this.room, alias: this.alias, proof };
        if (typeof this.resume === 'string') join.resume = this.resume;
        this.#send(join);
        return;
      }
      case 'welcome': {
        this.state = 'in';
        if (typeof f.alias === 'string') this.alias = f.alias;
        const members = Array.isArray(f.members) ? f.members.filter((m) => typeof m === 'string') : [this.alias];
        // A server without the extension sends no token: the next rejoin has none.
        this.resume = typeof f.resume === 'string' ? f.resume : null;
        this.#emit('welcome', { members, creator: str(f.creator), created: f.created === true, recreated: this.recreated, resume: this.resume });
        return;
      }
      case 'joined':
        return this.#emit('joined', { alias: str(f.alias), rejoined: f.rejoined === true });
      case 'msg':
      case 'purr': {
        const header = { room: this.room, kind: f.t, from: str(f.from), to: f.t === 'purr' ? str(f.to) : '' };
        const { opened, why } = this.#open(header, str(f.body));
        if (!opened) return this.#emit('unverified', { kind: f.t, from: header.from, why });
        const own = header.from === this.alias;
        if (own) this.pending.delete(str(f.body));
        const { text, stamp } = opened;
        const ts = stamp ? stamp.sentMs : Number(f.ts) || Date.now();
        const d = { from: header.from, to: header.to, text, ts, unprotected: !stamp, own };
        if (f.t === 'purr') d.addressee = whisperAddressee(header.from, header.to, this.alias);
        return this.#emit(f.t, d);
      }
      case 'left': {
        const alias = str(f.alias);
        let farewell = null, farewellBad = false, farewellWhy = null;
        if (typeof f.body === 'string') {
          const { opened, why } = this.#open({ room: this.room, kind: 'exit', from: alias, to: '' }, f.body);
          farewell = opened?.text ?? null;
          farewellBad = !opened;
          farewellWhy = why;
        }
        return this.#emit('left', { alias, reason: str(f.reason), farewell, farewellBad, farewellWhy, creator: str(f.creator) });
      }
      case 'kicked':
        return this.#emit('kicked', { alias: str(f.alias), by: str(f.by), creator: str(f.creator) });
      case 'purged':
        this.purged = { by: str(f.by), reason: str(f.reason) };
        return this.#emit('purged', this.purged);
      case 'error': {
        const code = str(f.code), message = str(f.message);
        if (this.state !== 'in') {
          if (code === 'no_room' && this.mode === 'join' && !this.recreated) {
            if (this.askCreate) {
              this.state = 'asking';
              return this.#emit('noroom');
            }
            this.recreated = true;
            return this.#create();
          }
          if (REFUSALS.has(code) || code === 'no_room') {
            this.state = 'refused';
            this.#emit('refused', { code, message });
            this.ws.close(1000);
            return;
          }
        }
        if (code === 'rate_limited') return this.#droppedOne();
        return this.#emit('error', { code, message });
      }
      default:
    }
  }

  // Opens a relayed body and checks its stamp against the room's replay memory:
  // { opened: { text, stamp } } when it is to be shown, else { opened: null, why } (why
  // null: the tag failed).
  #open(header, body) {
    const opened = open(this.keys, header, body);
    if (opened === null) return { opened: null, why: null };
    const refusal = opened.stamp && this.guard.check(header.from, opened.stamp);
    if (refusal) return { opened: null, why: REFUSAL_TEXT[refusal] };
    return { opened, why: null };
  }

  // The server drops a frame over its rate with an error that does not say which frame
  // (and may overtake our relayed messages, which go round through the room). Once the
  // burst settles, our messages not relayed back by then are the dropped ones.
  #droppedOne() {
    const now = performance.now();
    if (this.dropped) clearTimeout(this.dropped.timer);
    this.dropped = { count: (this.dropped?.count ?? 0) + 1, at: now };
    this.dropped.timer = setTimeout(() => this.#burstOver(), BURST_SETTLE_MS);
  }

  #burstOver() {
    const { count, at } = this.dropped;
    this.dropped = null;
    if (this.state !== 'in') return;
    const items = [];
    for (const [body, p] of this.pending) {
      if (p.at > at) continue;
      this.pending.delete(body);
      items.push({ kind: p.kind, to: p.to, text: p.text });
    }
    this.#emit('unsent', { count, items });
  }

  #sendSealed(frame, kind, to, text) {
    if (!this.#fits(frame)) return 'too_large';
    if (!this.#send(frame)) return 'offline';
    const now = performance.now();
    // Anything still here long after a burst was relayed or lost with the connection.
    for (const [body, p] of this.pending) if (now - p.at > 60000) this.pending.delete(body);
    this.pending.set(frame.body, { kind, to, text, at: now });
    return 'ok';
  }

  // After a 'noroom' event: make the room after all, or give up.
  createRoom() {
    if (this.state !== 'asking') return;
    this.state = 'joining';
    this.recreated = true;
    this.#create();
  }

  cancel() {
    if (this.state !== 'asking') return;
    this.state = 'refused';
    this.ws.close(1000);
  }

  #create() {
    this.#send({ t: 'create', room: this.room, alias: this.alias, auth: b64uEncode(this.keys.auth) });
  }

  #closed(code, reason) {
    if (this.state === 'closed') return;
    if (this.dropped) clearTimeout(this.dropped.timer);
    // Our messages the server had not relayed back: they may or may not have arrived.
    const unconfirmed = [...this.pending.values()].map(({ kind, to, text }) => ({ kind, to, text }));
    this.pending.clear();
    const was = this.state;
    this.state = 'closed';
    if (was === 'refused') return;
    this.#emit('closed', { code, reason, exiting: this.exiting, purged: this.purged, joined: was === 'in', unconfirmed });
  }

  // Bytes of the frame as the server will measure it, so an oversize message is refused
  // here with an explanation instead of costing us the connection (close 1009).
  #fits(frame) {
    return new TextEncoder().encode(JSON.stringify(frame)).length <= this.maxBytes;
  }

  #seal(kind, to, text) {
    return seal(this.keys, { room: this.room, kind, from: this.alias, to }, text, this.stamper.stamp());
  }

  send(text) {
    const frame = { t: 'msg', body: this.#seal('msg', '', text) };
    return this.#sendSealed(frame, 'msg', '', text);
  }

  purr(to, text) {
    const frame = { t: 'purr', to, body: this.#seal('purr', to, text) };
    return this.#sendSealed(frame, 'purr', to, text);
  }

  kick(alias) {
    return this.#send({ t: 'kick', alias }) ? 'ok' : 'offline';
  }

  stop() {
    return this.#send({ t: 'stop' }) ? 'ok' : 'offline';
  }

  exit(farewell) {
    const frame = { t: 'exit' };
    if (farewell) frame.body = this.#seal('exit', '', farewell);
    if (!this.#fits(frame)) return 'too_large';
    this.exiting = true;
    if (!this.#send(frame)) this.ws?.close(1000);
    return 'ok';
  }

  // Gives this connection up without any further event (the page has moved on: a
  // reconnection attempt that took too long, or the person left meanwhile).
  abort() {
    if (this.dropped) clearTimeout(this.dropped.timer);
    this.pending.clear();
    this.state = 'closed';
    this.ws?.close(1000);
  }

  // The network is gone (the browser went offline): the connection is lost now, without
  // waiting for a close handshake that may never finish. 'closed' follows at once.
  drop() {
    if (this.state === 'closed') return;
    const ws = this.ws;
    this.#closed(1006, 'offline');
    ws?.close(1000);
  }

  // Drops the connection without a farewell; used when the page itself goes away.
  abandon() {
    this.exiting = true;
    this.ws?.close(1000);
  }
}
