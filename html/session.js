// session.js: one connection to one room, speaking PROTOCOL.md sections 5-7.
// It seals what we send and opens what we receive; nothing plaintext leaves this file
// except as events for the page, and nothing here touches the DOM.
//
// Events (CustomEvent detail):
//   welcome {members, creator, created, recreated, resume}   joined {alias, rejoined}
//   msg {from, text, ts, unprotected, own, earlier}
//   purr {from, to, text, ts, unprotected, own, addressee, earlier}
//                               (ts: the sender's authenticated clock; for a v1 envelope,
//                               unprotected: true and ts the server's; earlier: opened
//                               only with the keys before the last rekey, section 6a)
//   unverified {kind, from, why}   (not shown: why is null when the tag failed, else a
//                               replay refusal's wording from replay.js)
//   left {alias, reason, farewell, farewellBad, farewellWhy, creator}
//   kicked {alias, by, creator} purged {by, reason}
//   rekeying {from}             (extension: a rekey came; its keys are being derived, and
//                               frames wait for them)
//   rekey {from, epoch, to, secret, keys}   (the room's keys changed; this session now
//                               uses `keys`; `secret` makes the new invite link)
//   rekeyfailed {from, why}     (a rekey this session cannot use: it can no longer read
//                               the room)
//   rekeyretry {attempt}        (our rekey crossed a change in the room; sent again)
//   refused {code, message, recreated}   (an error before we got in; the attempt is
//                               over. recreated: a bad_proof from a room made afresh
//                               under this id by someone without its secret, told apart
//                               by its verifier, issue 17; app.js says so only when the
//                               secret is not a typed passphrase, where a typo is likelier)
//   badkey {alias}              (a member's whisper key failed its tag: whispers to it
//                               are refused, whispers from it fail)
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
//
// Whispers (PROTOCOL.md section 5, extension) are sealed to the recipient alone: each
// Session makes its own X25519 key pair, announces it with join/create, and keeps the
// verified keys of the others; purr() returns 'nokey' for a member without one (and
// 'lowkey' for one whose key is a low-order point) rather
// than fall back to the room key.

import { joinProof, seal, open, b64uEncode, randomBytes, wipeKeys } from './crypto.js';
import { deriveRoomKeys } from './kdf.js';
import { newKeyPair, announceKey, verifyKey, whisperKeys } from './whisper.js';
import { verifier, proofKey, isRecreated } from './verifier.js';
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
// someone else, so a server relaying it here is misbehaving; it cannot be opened (only
// its two ends hold its keys) and is reported, never presented as ours. Exact comparisons: the server stamps `from` as each member spells
// its alias and relays a purr only to the exact alias its `to` names.
export function whisperAddressee(from, to, self) {
  if (from === self) return 'own';
  return to === self ? 'you' : 'other';
}

const REFUSALS = new Set(['bad_alias', 'alias_taken', 'bad_room', 'bad_proof', 'room_full', 'server_full', 'bad_field']);

// A burst of rate_limited errors is over when none has come for this long; by then the
// server has relayed back every message of ours it accepted before the last drop.
const BURST_SETTLE_MS = 600;

// How many times a rekey that crossed a change in the room is sent in all.
const REKEY_TRIES = 3;

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
    // Rekey (PROTOCOL.md section 6a): the room's key epoch, who is in it (exact aliases:
    // a rekey's recipients), the keys before the last rekey (to open what was in flight),
    // our own rekey on its way, and frames held while a new secret's keys are derived.
    this.epoch = 0;
    this.members = [];
    this.previousKeys = null;
    this.rekeying = null; // { kick, secret, keys, sent }
    this.held = null;
    this.pair = newKeyPair();
    // Members whose whisper key verified, by alias as relayed: { publicKey, keys }, the
    // envelope keys made on the first whisper with them.
    this.peers = new Map();
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
    ws.onmessage = (e) => this.#receive(e.data);
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

  // Frames wait, in order, while a rekey's keys are being derived.
  #receive(data) {
    if (this.held) this.held.push(data);
    else this.#frame(data);
  }

  // Opens a relayed body with `keys` (a whisper's own), else with the current room keys
  // and then those before the last rekey (earlier: true), and checks its stamp against
  // the room's replay memory: { opened: { text, stamp }, earlier } when it is to be
  // shown, else { opened: null, why } (why null: the tag failed).
  #open(header, body, keys = null) {
    let opened = open(keys ?? this.keys, header, body);
    let earlier = false;
    if (opened === null && !keys && this.previousKeys) {
      opened = open(this.previousKeys, header, body);
      earlier = opened !== null;
    }
    if (opened === null) return { opened: null, why: null, earlier };
    const refusal = opened.stamp && this.guard.check(header.from, opened.stamp);
    if (refusal) return { opened: null, why: REFUSAL_TEXT[refusal], earlier };
    return { opened, why: null, earlier };
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
        // The proof is keyed with X25519(k_auth, the server's key): create sends it too.
        let key;
        try {
          key = proofKey(this.keys.auth, str(f.key));
          this.proof = joinProof(key, str(f.nonce), this.room, this.alias);
        } catch {
          this.state = 'refused';
          this.#emit('refused', { code: 'protocol', message: 'the server sent an unreadable challenge' });
          return this.ws.close(1000);
        } finally {
          key?.fill(0);
        }
        if (this.mode === 'create') return this.#create();
        const proof = this.proof;
        const join = { t: 'join', room: this.room, alias: this.alias, proof, key: this.#announced() };
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
        this.members = [...members];
        // None from a server without rekeys (PROTOCOL.md section 5): its kicks do not stick.
        this.epoch = Number.isSafeInteger(f.epoch) ? f.epoch : null;
        this.#forgetPeers(() => true);
        if (f.keys && typeof f.keys === 'object') {
          for (const [alias, key] of Object.entries(f.keys)) this.#learnKey(alias, key);
        }
        this.#emit('welcome', { members, creator: str(f.creator), created: f.created === true, recreated: this.recreated, resume: this.resume });
        return;
      }
      case 'joined': {
        const alias = str(f.alias);
        // A rejoin may spell the alias another way: one entry, moved last, with the new
        // connection's key.
        this.members = [...this.members.filter((m) => !sameAlias(m, alias)), alias];
        this.#forgetPeers((a) => sameAlias(a, alias));
        if (typeof f.key === 'string') this.#learnKey(alias, f.key);
        return this.#emit('joined', { alias, rejoined: f.rejoined === true });
      }
      case 'msg':
      case 'purr': {
        const header = { room: this.room, kind: f.t, from: str(f.from), to: f.t === 'purr' ? str(f.to) : '' };
        // A whisper opens only with the keys shared with its other end, and only when
        // one end is us: anything else is not "whispered to you".
        const addressee = f.t === 'purr' ? whisperAddressee(header.from, header.to, this.alias) : null;
        let result;
        if (addressee === 'other') {
          const why = `it was a whisper to ${header.to}, not meant for you (the server should not have relayed it here)`;
          result = { opened: null, why, earlier: false };
        } else if (addressee) {
          const keys = this.#whisperKeysWith(addressee === 'own' ? header.to : header.from);
          result = keys ? this.#open(header, str(f.body), keys) : { opened: null, why: null, earlier: false };
        } else {
          result = this.#open(header, str(f.body));
        }
        const { opened, why, earlier } = result;
        if (!opened) return this.#emit('unverified', { kind: f.t, from: header.from, why });
        const own = header.from === this.alias;
        if (own) this.pending.delete(str(f.body));
        const { text, stamp } = opened;
        const ts = stamp ? stamp.sentMs : Number(f.ts) || Date.now();
        const d = { from: header.from, to: header.to, text, ts, unprotected: !stamp, own, earlier };
        if (addressee) d.addressee = addressee;
        return this.#emit(f.t, d);
      }
      case 'left': {
        const alias = str(f.alias);
        this.members = this.members.filter((m) => m !== alias);
        this.#forgetPeers((a) => a === alias);
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
        this.members = this.members.filter((m) => m !== str(f.alias));
        this.#forgetPeers((a) => a === str(f.alias));
        return this.#emit('kicked', { alias: str(f.alias), by: str(f.by), creator: str(f.creator) });
      case 'rekey':
        return this.#rekeyed(str(f.from), Number(f.epoch), Array.isArray(f.to) ? f.to.filter((m) => typeof m === 'string') : [], str(f.body));
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
            const recreated = code === 'bad_proof' && isRecreated(f, this.keys.auth);
            this.#emit('refused', { code, message, recreated });
            this.ws.close(1000);
            return;
          }
        }
        if (code === 'rate_limited') return this.#droppedOne();
        if (code === 'rekey_stale' && this.#retryRekey()) return;
        // Refused for good: our rekey, if any, will not come back.
        if (['rekey_stale', 'not_allowed', 'no_member', 'self_kick'].includes(code)) this.#dropRekey();
        return this.#emit('error', { code, message });
      }
      default:
    }
  }

  // A rekey frame: the new secret, opened with the keys it was sealed under (ours now),
  // taken into use if it names us; the keys it replaces are kept for what is in flight.
  #rekeyed(from, epoch, to, body) {
    // No replay check: an old rekey was sealed under keys we no longer use, and the
    // epoch must be the next one.
    const secret = open(this.keys, { room: this.room, kind: 'rekey', from, to: to.join(',') }, body)?.text ?? null;
    let why = null;
    if (secret === null) why = 'it failed verification';
    else if (!to.includes(this.alias)) why = 'it was not meant for this page';
    else if (epoch !== (this.epoch ?? 0) + 1) why = 'a key change was missed';
    if (why) return this.#emit('rekeyfailed', { from, why });
    const mine = this.rekeying?.secret === secret ? this.rekeying : null;
    if (mine) {
      this.rekeying = null; // our own: its keys were derived before it was sent
      return this.#switchKeys(mine.keys, { from, epoch, to, secret });
    }
    this.held = [];
    this.#emit('rekeying', { from });
    deriveRoomKeys(this.room, secret).then(({ keys }) => {
      if (this.state === 'closed') return wipeKeys(keys);
      this.#switchKeys(keys, { from, epoch, to, secret });
    }, () => this.#emit('rekeyfailed', { from, why: 'its keys could not be derived' })).finally(() => {
      const held = this.held ?? [];
      this.held = null;
      for (const data of held) this.#receive(data);
    });
  }

  #switchKeys(keys, { from, epoch, to, secret }) {
    if (this.previousKeys) wipeKeys(this.previousKeys);
    this.previousKeys = this.keys;
    this.keys = keys;
    this.epoch = epoch;
    this.#emit('rekey', { from, epoch, to, secret, keys });
  }

  // Kicks `kick` (or nobody) and changes the room's keys in the same step (PROTOCOL.md
  // section 6a). Resolves to 'ok' once sent (the new keys come back as 'rekey'),
  // 'offline', or 'unsupported' (a server without rekeys). Derives the new keys first
  // (PBKDF2): the server needs the new verifier.
  async rekey(kick = null) {
    if (this.state !== 'in') return 'offline';
    if (this.epoch === null) return 'unsupported';
    const secret = b64uEncode(randomBytes(16));
    const { keys } = await deriveRoomKeys(this.room, secret);
    if (this.state !== 'in') {
      wipeKeys(keys);
      return 'offline';
    }
    this.#dropRekey();
    this.rekeying = { kick, secret, keys, sent: 0 };
    return this.#sendRekey() ? 'ok' : 'offline';
  }

  // Seals the pending secret for the room as this session sees it now, and sends it.
  #sendRekey() {
    const p = this.rekeying;
    p.sent += 1;
    const to = this.members.filter((m) => !p.kick || !sameAlias(m, p.kick));
    const body = this.#seal(this.keys, 'rekey', to.join(','), p.secret);
    // The verifier, never k_auth (issue 17): a sniffer of it cannot join.
    const frame = { t: 'rekey', epoch: this.epoch, to, body, verifier: verifier(p.keys.auth) };
    if (p.kick) Object.assign(frame, { t: 'kick', alias: p.kick });
    return this.#send(frame);
  }

  // rekey_stale: what crossed our rekey came first and is applied; make it again for the
  // room as it is now, a bounded number of times, unless whom it removes is gone.
  #retryRekey() {
    const p = this.rekeying;
    if (!p || p.sent >= REKEY_TRIES) return false;
    if (p.kick && !this.members.some((m) => sameAlias(m, p.kick))) return false;
    this.#sendRekey();
    this.#emit('rekeyretry', { attempt: p.sent - 1 });
    return true;
  }

  #dropRekey() {
    if (this.rekeying) wipeKeys(this.rekeying.keys);
    this.rekeying = null;
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
    this.#send({ t: 'create', room: this.room, alias: this.alias, verifier: verifier(this.keys.auth), proof: this.proof, key: this.#announced() });
  }

  #announced() {
    return announceKey(this.keys, this.room, this.alias, this.pair.publicKey);
  }

  // Keeps `alias`'s announced key when its tag verifies; says so when it does not.
  #learnKey(alias, field) {
    if (alias === this.alias) return;
    const publicKey = typeof field === 'string' ? verifyKey(this.keys, this.room, alias, field) : null;
    if (!publicKey) return this.#emit('badkey', { alias });
    this.peers.set(alias, { publicKey, keys: null });
  }

  #forgetPeers(which) {
    for (const [alias, peer] of this.peers) {
      if (!which(alias)) continue;
      wipeKeys(peer.keys);
      this.peers.delete(alias);
    }
  }

  // The envelope keys of whispers with `alias`, or null when it has no verified key or
  // its key is a low-order point.
  #whisperKeysWith(alias) {
    const peer = alias === null ? undefined : this.peers.get(alias);
    if (!peer) return null;
    if (!peer.keys) {
      try {
        peer.keys = whisperKeys(this.pair.secretKey, peer.publicKey, this.room, this.alias, alias);
      } catch {
        peer.lowOrder = true; // a secret anyone could compute: never used
        return null;
      }
    }
    return peer.keys;
  }

  // Forgets this connection's secrets once it is over.
  #wipe() {
    this.#forgetPeers(() => true);
    this.pair.secretKey.fill(0);
  }

  #closed(code, reason) {
    if (this.state === 'closed') return;
    if (this.dropped) clearTimeout(this.dropped.timer);
    // Our messages the server had not relayed back: they may or may not have arrived.
    const unconfirmed = [...this.pending.values()].map(({ kind, to, text }) => ({ kind, to, text }));
    this.pending.clear();
    const was = this.state;
    this.state = 'closed';
    this.#forgetOldKeys();
    this.#wipe();
    if (was === 'refused') return;
    this.#emit('closed', { code, reason, exiting: this.exiting, purged: this.purged, joined: was === 'in', unconfirmed });
  }

  // The keys before the last rekey and a rekey of ours still on its way go with the
  // connection (the current keys are the page's, for its rejoin).
  #forgetOldKeys() {
    if (this.previousKeys) wipeKeys(this.previousKeys);
    this.previousKeys = null;
    this.#dropRekey();
  }

  // Bytes of the frame as the server will measure it, so an oversize message is refused
  // here with an explanation instead of costing us the connection (close 1009).
  #fits(frame) {
    return new TextEncoder().encode(JSON.stringify(frame)).length <= this.maxBytes;
  }

  #seal(keys, kind, to, text) {
    return seal(keys, { room: this.room, kind, from: this.alias, to }, text, this.stamper.stamp());
  }

  send(text) {
    const frame = { t: 'msg', body: this.#seal(this.keys, 'msg', '', text) };
    return this.#sendSealed(frame, 'msg', '', text);
  }

  // 'nokey' when `to` has no verified whisper key, 'lowkey' when it is a low-order
  // point: nothing is sent.
  purr(to, text) {
    const keys = this.#whisperKeysWith(to);
    if (!keys) return this.peers.get(to)?.lowOrder ? 'lowkey' : 'nokey';
    const frame = { t: 'purr', to, body: this.#seal(keys, 'purr', to, text) };
    return this.#sendSealed(frame, 'purr', to, text);
  }


  stop() {
    return this.#send({ t: 'stop' }) ? 'ok' : 'offline';
  }

  exit(farewell) {
    const frame = { t: 'exit' };
    if (farewell) frame.body = this.#seal(this.keys, 'exit', '', farewell);
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
    this.#forgetOldKeys();
    this.state = 'closed';
    this.#wipe();
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
