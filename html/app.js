// app.js: the page's entry point: the start form (create, join by link, join by hand),
// the room screen, commands typed in the composer, and tearing everything down when the
// conversation ends. Nothing is written to any storage; the room lives in these
// variables and on screen only.

import { randomBytes, b64uEncode, wipeKeys } from './crypto.js';
import { deriveRoomKeys } from './kdf.js';
import { Session, chatUrl, sameAlias } from './session.js';
import { ReplayGuard } from './replay.js';
import { ChatView } from './view.js';
import { COMMANDS, parseLine, suggest } from './commands.js';
import { InvitePanel, parseInvite, inviteLink, ROOM_RE, MIN_PASSPHRASE } from './invite.js';

const $ = (id) => document.getElementById(id);
const ALIAS_RE = /^[A-Za-z0-9_.-]{1,24}$/;
const MAX_COMPOSER_PX = 180;

let config = { ws_port: 9696, max_message_bytes: 65536, moderation: 'anyone' };
let configError = false;
const configReady = fetch('/config.json', { cache: 'no-store' })
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
  .then((c) => { config = { ...config, ...c }; })
  .catch(() => { configError = true; });

let invited = null; // { room, secret } read from an invite link
let session = null;
let room = null; // { id, secret, self, creator, members: [] } while in a room
let kickedBy = null;
let lastRemoved = null; // who the last `kicked` removed: a rekey right after it says so
let busy = false;

// Reconnecting (PROTOCOL.md section 8). While the connection is lost unexpectedly, the
// room's keys stay in memory (in `conn`) and the page rejoins under the same name.
const RETRY_FIRST_MS = 500; // the first try comes quickly: most drops are a blip
const RETRY_BASE_MS = 1000; // then 1, 2, 4 … 30 s, each drawn between half and all of it
const RETRY_MAX_MS = 30000;
const ATTEMPT_MS = 15000; // one attempt that neither gets in nor fails is given up
// The server lets go of a connection that went silent within --ping-interval plus
// --idle-timeout (105 s by default); until then our old self still holds our name.
const NAME_WAIT_MS = 150000;
let conn = null; // { room, secret, alias, keys, mode, via, guard, resume } of the room we are in
let away = null; // while reconnecting: { since, attempt, timer, retryAt, attemptTimer, ticker, nameTakenSince }
let outbox = []; // typed while away, sent on rejoin: { kind, to, text, node }

const view = new ChatView({
  log: $('log'),
  jump: $('jump'),
  members: $('members'),
  memberCount: $('member-count'),
  onMemberClick: (name) => {
    startWhisper(name);
    setMembersOpen(false);
  },
});

const invite = new InvitePanel({
  panel: $('invite-panel'),
  text: $('invite'),
  copyButton: $('copy-invite'),
  canvas: $('qr'),
  zoom: $('qr-zoom'),
  note: $('copy-note'),
  hint: $('loopback-hint'),
});

// ------------------------------------------------------------------ screens

function showScreen(name) {
  for (const id of ['start', 'chat', 'ended']) $(id).hidden = id !== name;
  $('room-tools').hidden = name !== 'chat';
  document.body.dataset.screen = name;
}

function startError(text, field) {
  $('start-error').textContent = text;
  for (const id of ['alias', 'room', 'passphrase']) $(id).toggleAttribute('aria-invalid', id === field);
  if (field) $(field).focus();
}

function setBusy(text) {
  busy = Boolean(text);
  $('start-form').classList.toggle('busy', busy);
  $('start-form').setAttribute('aria-busy', String(busy));
  $('enter').disabled = busy;
  $('progress').textContent = text || '';
  if (text) $('enter-label').textContent = text;
  else updateEnterLabel();
}

function updateEnterLabel() {
  $('enter-label').textContent = invited || $('room').value.trim() ? 'Join room' : 'Create room';
}

function setInvited(link) {
  invited = link;
  const on = Boolean(link);
  $('invited').hidden = !on;
  $('start-intro').hidden = on;
  $('manual').hidden = on;
  $('forget-invite').hidden = !on;
  $('start-title').textContent = on ? 'Join a private room' : 'Start a private room';
  updateEnterLabel();
}

// The secret must not linger in the address bar or in history.
function readFragment() {
  if (!location.hash || location.hash === '#') return;
  const link = parseInvite(location.hash);
  history.replaceState(null, '', location.pathname + location.search);
  if (session || busy) return;
  showScreen('start');
  if (link) {
    setInvited(link);
    startError('');
  } else {
    startError('That invite link is incomplete. Ask for it again, or create a new room.');
  }
  $('alias').focus();
}

// ------------------------------------------------------------------ entering a room

async function enter(event) {
  event.preventDefault();
  if (busy || session) return;
  startError('');
  const alias = $('alias').value.trim();
  if (!ALIAS_RE.test(alias)) {
    return startError('Your name needs 1 to 24 letters, digits, _ - or . (no spaces).', 'alias');
  }
  let target, mode, via = 'form';
  if (invited) {
    target = invited;
    mode = 'join';
    via = 'link';
  } else {
    const roomText = $('room').value.trim();
    const pass = $('passphrase').value;
    if (roomText) {
      const link = roomText.includes('.') || roomText.includes('#') ? parseInvite(roomText) : null;
      if (link) {
        target = link;
        via = 'link';
      } else if (!ROOM_RE.test(roomText)) {
        return startError('A room id is exactly 22 characters: letters, digits, - and _.', 'room');
      } else if (pass.length < MIN_PASSPHRASE) {
        return startError(`The passphrase needs at least ${MIN_PASSPHRASE} characters.`, 'passphrase');
      } else {
        target = { room: roomText, secret: pass };
      }
      mode = 'join';
    } else {
      if (pass && pass.length < MIN_PASSPHRASE) {
        return startError(`The passphrase needs at least ${MIN_PASSPHRASE} characters, or leave it empty for a random secret.`, 'passphrase');
      }
      target = { room: b64uEncode(randomBytes(16)), secret: pass || b64uEncode(randomBytes(16)) };
      mode = 'create';
    }
  }

  setBusy('Deriving key…');
  let derived;
  try {
    [derived] = await Promise.all([deriveRoomKeys(target.room, target.secret), configReady]);
  } catch {
    setBusy('');
    return startError('Could not derive the room key in this browser.');
  }
  if (configError) {
    wipeKeys(derived.keys);
    setBusy('');
    return startError('Cannot reach the Sanctuary server. Is it still running?');
  }
  setBusy('Connecting…');
  // The room's replay memory lives as long as the conversation, across rejoins.
  openSession({ ...target, alias, keys: derived.keys, mode, via, guard: new ReplayGuard() });
}

function openSession(params) {
  const { room: id, secret, alias, keys, mode, via } = params;
  // A rejoin after a lost connection: join (the room may have died meanwhile, and is then
  // made again without asking), under the name we had.
  const rejoin = away !== null;
  if (!rejoin) kickedBy = null;
  conn = params;
  // A room id typed by hand may be mistyped: ask before making a room nobody is in. A
  // link's room that has ended is opened again without asking.
  const s = new Session({ url: chatUrl(location, config), room: id, alias, keys, mode: rejoin ? 'join' : mode, maxBytes: config.max_message_bytes, askCreate: !rejoin && mode === 'join' && via === 'form', resume: rejoin ? params.resume : null, guard: params.guard });
  session = s;
  const on = (type, fn) => s.addEventListener(type, (e) => { if (session === s) fn(e.detail); });

  on('welcome', (d) => {
    // Kept for the next rejoin: it lets that join take the seat our old connection may
    // still hold on the server instead of waiting for it to be dropped.
    conn.resume = d.resume;
    if (rejoin) return rejoined(s, d);
    room = { id, secret, self: s.alias, creator: d.creator, members: [...d.members] };
    $('room').value = '';
    $('passphrase').value = '';
    setBusy('');
    showScreen('chat');
    view.setMembers(room.members, room.self, room.creator);
    $('member-count-bar').textContent = String(room.members.length);
    invite.show(inviteLink(location, id, secret), location.hostname);
    const others = room.members.length - 1;
    view.system(`You are in the room as ${room.self}. ${others === 0 ? 'Nobody else is here yet.' : others === 1 ? '1 other person is here.' : `${others} other people are here.`}`, 'welcome');
    // We asked to join and the server made a new room: a link's room had died.
    if (mode === 'join' && d.created) {
      view.system(via === 'link'
        ? 'This room had ended, so it was opened again under the same link. Earlier messages are gone; invite people again.'
        : 'Nobody was in this room, so it was opened fresh. Others join with the same room id and passphrase.', 'info');
    }
    setInviteOpen(mode === 'create');
    $('composer').focus();
  });
  on('joined', ({ alias: who, rejoined: back }) => {
    if (!room) return;
    // A member that came back with its resume token replaced its old connection without
    // a `left` (perhaps spelling its name in another case or look-alike): one entry,
    // moved last.
    const same = (m) => sameAlias(m, who);
    if (!back && room.members.includes(who)) return;
    if (room.creator && same(room.creator)) room.creator = who;
    room.members = [...room.members.filter((m) => !same(m)), who];
    membersChanged();
    view.system(back ? `${who} reconnected.` : `${who} joined.`, 'joined');
  });
  on('left', ({ alias: who, reason, farewell, farewellBad, farewellWhy, creator }) => {
    if (!room || !room.members.includes(who)) return;
    removeMember(who, creator);
    if (farewell) view.farewell(who, farewell);
    else if (farewellBad) view.system(`${who} left. Their farewell ${farewellWhy ? `was refused: ${farewellWhy}. It` : 'failed verification and'} is not shown.`, 'unverified');
    else view.system(reason === 'gone' ? `${who} lost connection and left.` : `${who} left.`, 'left');
  });
  on('kicked', ({ alias: who, by, creator }) => {
    if (!room) return;
    if (who === room.self) {
      kickedBy = by;
      return;
    }
    removeMember(who, creator);
    lastRemoved = who;
    view.system(by ? `${who} was removed by ${by}.` : `${who} was removed.`, 'kicked');
  });
  // Rekey (PROTOCOL.md section 6a): the session switched keys; the page follows with
  // its copy (for rejoins) and the invite link, which changes with the secret.
  on('rekeying', ({ from }) => {
    if (from !== room?.self) view.system(`${from} is changing the room’s keys…`, 'info');
  });
  on('rekey', ({ from, secret, keys }) => {
    if (!room) return;
    conn.keys = keys;
    conn.secret = secret;
    room.secret = secret;
    const who = lastRemoved;
    lastRemoved = null;
    const why = who
      ? `${who} was removed; keys changed; the old link no longer admits anyone.`
      : `${from} changed the room’s keys; the old link no longer admits anyone.`;
    invite.replace(inviteLink(location, room.id, secret), location.hostname, why);
    view.system(`${why} The invite link is new: share it from Invite.`, 'rekey');
  });
  on('rekeyfailed', ({ from, why }) => {
    view.system(`${from} changed the room’s keys, but this page did not get the new ones (${why}). It cannot read the room any more: ask for the new invite link.`, 'error');
  });
  on('rekeyretry', () => view.system('The room changed while its keys were being changed; trying again.', 'info'));
  on('msg', (d) => view.message({ kind: 'msg', ...d }));
  on('purr', (d) => view.message({ kind: 'purr', ...d }));
  on('unverified', ({ kind, from, why }) => {
    const what = kind === 'purr' ? 'whisper' : 'message';
    view.system(why
      ? `A ${what} from ${from} was refused: ${why}. It is not shown.`
      : `A ${what} claiming to be from ${from} failed verification and is not shown.`, 'unverified');
  });
  on('badkey', ({ alias }) => {
    view.system(`${alias}'s whisper key failed verification: whispers with ${alias} are off (someone may be tampering with the connection).`, 'unverified');
  });
  on('noroom', async () => {
    setBusy('No such room…');
    const create = await confirmDialog('No such room: create it?', `Nobody is in room ${id}. Check the id for a typo, or create the room now: it starts empty, and others join it with the same id and passphrase.`, 'Create it', { danger: false, focus: 'room' });
    if (session !== s) return;
    if (create) {
      setBusy('Connecting…');
      return s.createRoom();
    }
    s.cancel();
    wipeKeys(keys);
    conn = null;
    session = null;
    setBusy('');
    startError('There is no room with that id. Check it for a typo.', 'room');
  });
  on('unsent', ({ count, items }) => {
    restoreUnsent(items);
    view.system(unsentText(count, items.length), 'error');
  });
  on('error', ({ code, message }) => view.system(errorText(code, message), 'error'));
  on('refused', ({ code, message, recreated }) => {
    session = null;
    // A secret that let us in before, or a random one from a link, is no typo: the room
    // id was taken by someone without the secret after the room ended (issue 17). Told
    // so, and never offered to re-create it: that would only meet the squatter again.
    if (recreated && (rejoin || via === 'link')) {
      if (rejoin) return endConversation(RECREATED);
      wipeKeys(keys);
      conn = null;
      setBusy('');
      return startError(RECREATED);
    }
    if (rejoin) return rejoinRefused(code, message);
    wipeKeys(keys);
    conn = null;
    setBusy('');
    startError(errorText(code, message), code === 'alias_taken' || code === 'bad_alias' ? 'alias' : undefined);
  });
  on('closed', (d) => {
    session = null;
    if (rejoin && !d.joined) {
      // This attempt failed (no network yet, the server is restarting): try again later.
      if (d.code === 4003) return endConversation(REKEYED_AWAY);
      return scheduleRetry();
    }
    if (!d.joined) {
      wipeKeys(keys);
      conn = null;
      setBusy('');
      return startError(d.code === 4003 ? errorText('bad_proof') : closeText(d) || 'Could not connect to the chat server.');
    }
    if (isFinal(d)) return endConversation(endText(d));
    connectionLost(d);
  });
  s.connect();
}

// `creator` is the server's word on who moderates now (PROTOCOL.md section 6): the
// server applies the hand-over rule, the page only follows it.
function removeMember(who, creator) {
  room.members = room.members.filter((m) => m !== who);
  room.creator = creator;
  membersChanged();
}

function membersChanged() {
  view.setMembers(room.members, room.self, room.creator);
  $('member-count-bar').textContent = String(room.members.length);
}

// Whispers the session refused to seal (it never falls back to the room key), by reason.
const WHISPER_REFUSED = {
  nokey: (to) => `Cannot whisper to ${to}: no verified whisper key (their app may predate private whispers). Not sent.`,
  lowkey: (to) => `Cannot whisper to ${to}: their whisper key is a low-order point, which would give a secret anyone can work out. Not sent.`,
};

const ERRORS = {
  no_room: 'That room does not exist.',
  bad_proof: 'Wrong passphrase or invite link for this room.',
  bad_alias: 'That name is not allowed: use 1 to 24 letters, digits, _ - or .',
  alias_taken: 'Someone in this room already uses that name. Pick another.',
  bad_room: 'That room id is not valid.',
  room_full: 'This room is full.',
  server_full: 'The server is full right now. Try again in a while.',
  rate_limited: 'You are sending too fast; that message was not delivered. Wait a moment.',
  too_large: 'That message is too large to send.',
  no_member: 'Nobody with that name is in the room.',
  self_kick: 'You cannot kick yourself; use /exit to leave.',
  not_allowed: 'Only the room’s creator can do that here.',
  rekey_stale: 'The room changed while its keys were being changed. Try again.',
};

// One notice for a whole burst the server dropped; what it dropped goes back in the box.
function unsentText(count, kept) {
  const what = count === 1 ? '1 message was' : `${count} messages were`;
  if (!kept) return `You are sending too fast: ${what} not delivered. Wait a moment.`;
  return `You are sending too fast: ${what} not delivered. ${kept === 1 ? 'Its text is' : 'Their text is'} back in the message box: send again in a moment.`;
}

// As it would be typed: a whisper with its command, a text starting with / escaped.
function restoreUnsent(items) {
  if (!items.length) return;
  const lines = items.map(({ kind, to, text }) => {
    if (kind === 'purr') return `/purr ${to} ${text}`;
    return text.startsWith('/') && !text.startsWith('/me ') ? `/${text}` : text;
  });
  const c = $('composer');
  c.value = [...lines, c.value].filter((x) => x !== '').join('\n');
  autosize();
}

function errorText(code, message) {
  return ERRORS[code] || (message ? `Server: ${message}` : `Server error (${code}).`);
}

function closeText({ code }) {
  return {
    1001: 'The server is shutting down.',
    1008: 'You were disconnected for sending too much, too fast.',
    1009: 'A message was too large for the server, so it disconnected you.',
    1013: 'The server is full right now. Try again in a while.',
    4003: 'Wrong passphrase or invite link for this room.',
    4005: 'You are in this room on another connection now (this page or another tab came back), so this one was closed.',
  }[code];
}

// Closes after which there is nothing to go back to: kicked, stopped, wrong secret, our
// own /exit, the server's shutdown, or a close the server made because of what we sent.
function isFinal(d) {
  // 4005: our own newer connection took the seat; reconnecting would take it back.
  return kickedBy !== null || d.exiting || Boolean(d.purged) || [4001, 4002, 4003, 4005, 1008, 1009].includes(d.code);
}

function endText(d) {
  if (kickedBy !== null || d.code === 4001) return kickedBy ? `You were removed from the room by ${kickedBy}.` : 'You were removed from the room.';
  if (d.purged?.reason === 'shutdown') return 'The server is shutting down; the room is gone.';
  if (d.purged || d.code === 4002) return d.purged?.by ? `${d.purged.by} ended the room for everyone. Everything in it is gone.` : 'The room was ended for everyone.';
  if (d.exiting) return 'You left the room.';
  return closeText(d) || `The connection to the server was lost${d.code ? ` (code ${d.code})` : ''}.`;
}

// Kicked, purged, left or disconnected: remove the conversation from the page and from
// memory, then say why.
function endConversation(reason) {
  stopReconnecting();
  if (session) {
    session.abort();
    session = null;
  }
  if (conn) {
    wipeKeys(conn.keys);
    conn.secret = '';
    conn = null;
  }
  outbox = [];
  if (room) room.secret = '';
  room = null;
  kickedBy = null;
  lastRemoved = null;
  view.reset();
  invite.clear();
  $('composer').value = '';
  hideSuggestions();
  setInviteOpen(false);
  setMembersOpen(false);
  setInvited(null);
  $('room').value = '';
  $('passphrase').value = '';
  if ($('confirm').open) $('confirm').close();
  $('ended-reason').textContent = reason;
  showScreen('ended');
  $('restart').focus();
}

// ------------------------------------------------------------------ reconnecting

// A span of time as the log shows times; to the second when it began and ended within
// one minute.
function span(from, to) {
  const fmt = (ts, seconds) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) });
  const seconds = fmt(from) === fmt(to);
  return `from ${fmt(from, seconds)} to ${fmt(to, seconds)}`;
}

function connectionLost(d) {
  away = { since: Date.now(), attempt: 0, timer: 0, retryAt: 0, attemptTimer: 0, ticker: setInterval(countdown, 1000), nameTakenSince: 0 };
  document.body.dataset.conn = 'lost';
  view.system('Connection lost, reconnecting…', 'lost');
  const n = d.unconfirmed.length;
  if (n) {
    restoreUnsent(d.unconfirmed);
    view.system(`The connection dropped before ${n === 1 ? 'your last message was' : `${n} of your messages were`} confirmed, so ${n === 1 ? 'it' : 'they'} may not have arrived. ${n === 1 ? 'Its text is' : 'Their text is'} back in the message box.`, 'error');
  }
  scheduleRetry();
}

function banner(text, state) {
  $('conn').hidden = !state;
  $('conn').dataset.state = state || '';
  $('conn-text').textContent = text;
  $('conn-retry').hidden = state !== 'lost';
  countdown();
}

// When the next attempt comes (the banner's second half), once a second while away.
function countdown() {
  let text = '';
  if (away && navigator.onLine) {
    const s = Math.ceil((away.retryAt - Date.now()) / 1000);
    if (!away.retryAt) text = 'Trying now…';
    else if (s >= 2) text = `Next try in ${s} s.`;
  }
  if ($('conn-next').textContent !== text) $('conn-next').textContent = text;
}

function bannerText() {
  if (!away) return '';
  if (away.nameTakenSince) return `Connection lost, reconnecting… (waiting for the server to let go of your old connection, which still holds the name ${conn.alias})`;
  if (!navigator.onLine) return 'Connection lost, reconnecting… (offline: waiting for the network)';
  return 'Connection lost, reconnecting…';
}

// Exponential backoff with jitter: 0.5 s first, then between half and all of 1, 2, 4 …
// 30 s. `online`, the tab becoming visible and the Try now button skip the wait.
function scheduleRetry() {
  if (!away) return;
  clearTimeout(away.timer);
  clearTimeout(away.attemptTimer);
  const step = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(away.attempt - 1, 10));
  let delay = away.attempt === 0 ? RETRY_FIRST_MS : step / 2 + (Math.random() * step) / 2;
  // Offline, an attempt cannot work: wait for the online event (or, in case the browser
  // is wrong about it, the longest step).
  if (!navigator.onLine) delay = RETRY_MAX_MS;
  away.timer = setTimeout(retryNow, delay);
  away.retryAt = Date.now() + delay;
  banner(bannerText(), 'lost');
}

function retryNow() {
  if (!away || session) return; // not away, or an attempt is under way
  clearTimeout(away.timer);
  away.attempt += 1;
  away.retryAt = 0;
  banner(bannerText(), 'lost');
  openSession(conn);
  const s = session;
  away.attemptTimer = setTimeout(() => {
    if (session !== s || s.state === 'in') return;
    s.abort();
    session = null;
    scheduleRetry();
  }, ATTEMPT_MS);
}

function stopReconnecting() {
  if (away) {
    clearTimeout(away.timer);
    clearTimeout(away.attemptTimer);
    clearInterval(away.ticker);
  }
  away = null;
  delete document.body.dataset.conn;
  banner('', '');
}

// The secret that let us in no longer does: the room's keys changed (a kick or /rekey,
// PROTOCOL.md section 6a) while we were away, so we never got the new ones.
const RECREATED = 'This room was re-created by someone without its secret (the original room had ended): do not use it; create a new room.';
const REKEYED_AWAY = 'The room’s keys changed while you were away (someone was removed, or the keys were renewed), so this page can no longer get back in. Ask someone in the room for the new invite link.';

function rejoinRefused(code, message) {
  if (code === 'alias_taken') {
    // Our old connection may not be gone yet on the server's side: wait for it. Past the
    // time it takes to be dropped, somebody else has the name: come back under another.
    if (!away.nameTakenSince) {
      away.nameTakenSince = Date.now();
      view.system(`Your name ${conn.alias} is still in use in the room, most likely by your previous connection until the server notices it is gone. Still trying…`, 'info');
    } else if (Date.now() - away.nameTakenSince > NAME_WAIT_MS) {
      const old = conn.alias;
      conn = { ...conn, alias: `${old.slice(0, 21)}-${Math.floor(Math.random() * 90) + 10}`, resume: null };
      away.nameTakenSince = 0;
      view.system(`Someone else took the name ${old} in this room while you were away, so you are rejoining as ${conn.alias}.`, 'error');
    }
    return scheduleRetry();
  }
  if (code === 'room_full' || code === 'server_full') {
    view.system(`${errorText(code, message)} Still trying…`, 'error');
    return scheduleRetry();
  }
  endConversation(code === 'bad_proof' ? REKEYED_AWAY : errorText(code, message));
}

function rejoined(s, d) {
  const since = away.since;
  stopReconnecting();
  const before = room.members;
  room.self = s.alias;
  room.creator = d.creator;
  room.members = [...d.members];
  membersChanged();
  document.body.dataset.conn = 'back';
  banner('Reconnected.', 'back');
  setTimeout(() => {
    if (document.body.dataset.conn === 'back') {
      delete document.body.dataset.conn;
      banner('', '');
    }
  }, 4000);
  view.system(`Reconnected. You were away ${span(since, Date.now())}; messages sent then are not shown.`, 'gap');
  if (d.created) {
    view.system('The room had ended while you were away (everyone had left it), so it was opened again under the same link. Nobody else is here yet; the others get back in with the same invite link.', 'info');
  } else {
    const gone = before.filter((m) => !room.members.includes(m) && m !== room.self);
    const came = room.members.filter((m) => !before.includes(m) && m !== room.self);
    if (gone.length || came.length) {
      const parts = [];
      if (gone.length) parts.push(`${gone.join(', ')} left`);
      if (came.length) parts.push(`${came.join(', ')} joined`);
      view.system(`While you were away: ${parts.join('; ')}.`, 'info');
    }
  }
  sendOutbox();
}

// Messages typed while away, in order; one that cannot go any more says so and goes back
// in the message box.
function sendOutbox() {
  const queued = outbox;
  outbox = [];
  const back = [];
  for (const item of queued) {
    let result;
    if (item.kind === 'purr' && !room.members.includes(item.to)) result = 'no_member';
    else result = item.kind === 'purr' ? session.purr(item.to, item.text) : session.send(item.text);
    if (result === 'ok') {
      item.node.remove(); // the server's echo shows it, with the time it was sent
    } else if (result === 'offline') {
      outbox.push(item); // lost again already: stays queued
    } else {
      const why = { no_member: `${item.to} is no longer here`, nokey: `${item.to} has no verified whisper key`, lowkey: `${item.to}'s whisper key is unusable` }[result] ?? 'too long';
      view.markUnsent(item.node, `not sent: ${why}`);
      back.push(item);
    }
  }
  if (back.length) {
    restoreUnsent(back);
    view.system(`${back.length === 1 ? '1 message' : `${back.length} messages`} typed while you were away could not be sent; the text is back in the message box.`, 'error');
  }
}

function queueMessage(kind, to, text) {
  const node = view.message({ kind, from: room.self, to, text, ts: Date.now(), own: true, queued: true });
  outbox.push({ kind, to, text, node });
}

// ------------------------------------------------------------------ the composer

function canModerate() {
  return config.moderation !== 'creator' || (room && room.self === room.creator);
}

function resolveMember(name) {
  const lower = name.toLowerCase();
  return room.members.find((m) => m.toLowerCase() === lower) ?? null;
}

function startWhisper(name) {
  const c = $('composer');
  c.value = `/purr ${name} `;
  autosize();
  c.focus();
  c.setSelectionRange(c.value.length, c.value.length);
}

async function submitComposer(event) {
  event.preventDefault();
  if (!room || (!session && !away)) return;
  const c = $('composer');
  const cmd = parseLine(c.value);
  if (!cmd) return;
  if (away) {
    // Not connected: messages wait for the rejoin, room commands wait for the person.
    if (cmd.type === 'msg' || cmd.type === 'purr') {
      const to = cmd.type === 'purr' ? resolveMember(cmd.to) : '';
      if (to === null) return view.system(`Nobody called ${cmd.to} is in the room.`, 'error');
      if (to === room.self) return view.system('Whispering to yourself? Nobody would hear it.', 'error');
      queueMessage(cmd.type, to, cmd.text);
      return clearComposer();
    }
    if (cmd.type === 'exit') {
      clearComposer();
      return endConversation('You left the room.');
    }
    if (cmd.type === 'kick' || cmd.type === 'rekey' || cmd.type === 'stop') {
      return view.system('Not connected right now: try that again once the page has reconnected.', 'error');
    }
  }
  let result = 'ok';
  switch (cmd.type) {
    case 'msg':
      result = session.send(cmd.text);
      break;
    case 'purr': {
      const to = resolveMember(cmd.to);
      if (!to) return view.system(`Nobody called ${cmd.to} is in the room.`, 'error');
      if (to === room.self) return view.system('Whispering to yourself? Nobody would hear it.', 'error');
      result = session.purr(to, cmd.text);
      if (WHISPER_REFUSED[result]) return view.system(WHISPER_REFUSED[result](to), 'error');
      break;
    }
    case 'kick': {
      const who = resolveMember(cmd.alias);
      if (!who) return view.system(`Nobody called ${cmd.alias} is in the room.`, 'error');
      if (who === room.self) return view.system(ERRORS.self_kick, 'error');
      clearComposer();
      return changeKeys(who);
    }
    case 'rekey':
      clearComposer();
      return changeKeys(null);
    case 'stop':
      clearComposer();
      if (await confirmDialog('End the room for everyone?', 'Everyone is disconnected and the room is forgotten. This cannot be undone.', 'End room')) {
        // The connection may have dropped while the question was open.
        if (away || session?.stop() === 'offline') view.system('Not connected right now: try that again once the page has reconnected.', 'error');
      }
      return;
    case 'exit':
      result = session.exit(cmd.farewell.trim());
      break;
    case 'clear':
      view.clear();
      break;
    case 'who':
      view.who(room.members, room.self);
      break;
    case 'help':
      view.help(COMMANDS.filter((x) => canModerate() || !x.moderator));
      break;
    case 'usage':
      return view.system(cmd.message, 'error');
    default:
  }
  if (result === 'too_large') {
    return view.system(`That is too long to send (the server takes at most ${Math.floor(config.max_message_bytes / 1024)} KiB per message, and encryption adds a third).`, 'error');
  }
  if (result === 'offline') return view.system('Not connected.', 'error');
  clearComposer();
}

// A kick (with `who`) or a rekey: new keys are derived first (PBKDF2 takes a moment in
// JavaScript), with the composer disabled meanwhile so nothing is sealed half-way.
async function changeKeys(who) {
  const s = session;
  const c = $('composer');
  view.system(who ? `Removing ${who} and changing the room’s keys…` : 'Changing the room’s keys…', 'info');
  c.disabled = true;
  try {
    const result = await s.rekey(who);
    if (result === 'offline') view.system('Not connected.', 'error');
    // Only a chat server older than this page (behind --public-ws-url) lacks rekeys.
    if (result === 'unsupported') view.system('This chat server cannot change a room’s keys, so nothing was done: a kick there would not keep anyone out.', 'error');
  } finally {
    c.disabled = false;
    c.focus();
  }
}

function clearComposer() {
  $('composer').value = '';
  autosize();
  hideSuggestions();
}

// Grows with its content up to a limit (CSSOM writes are allowed by the CSP; style
// attributes in markup are not).
function autosize() {
  const c = $('composer');
  c.style.height = 'auto';
  c.style.height = `${Math.min(c.scrollHeight + 2, MAX_COMPOSER_PX)}px`;
}

// ------------------------------------------------------------------ suggestions

let suggestions = [];
let active = -1;

function renderSuggestions() {
  const c = $('composer');
  suggestions = room ? suggest(c.value, room.members, room.self, canModerate()) : [];
  const list = $('suggest');
  if (!suggestions.length) return hideSuggestions();
  if (active >= suggestions.length) active = suggestions.length - 1;
  list.replaceChildren(...suggestions.map((s, i) => {
    const li = document.createElement('li');
    li.id = `suggest-${i}`;
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', String(i === active));
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = s.label;
    const detail = document.createElement('span');
    detail.className = 'detail';
    detail.textContent = s.detail;
    li.append(label, detail);
    li.addEventListener('mousedown', (e) => e.preventDefault()); // keep focus in the composer
    li.addEventListener('click', () => applySuggestion(i));
    return li;
  }));
  list.hidden = false;
  c.setAttribute('aria-expanded', 'true');
  if (active >= 0) c.setAttribute('aria-activedescendant', `suggest-${active}`);
  else c.removeAttribute('aria-activedescendant');
}

function hideSuggestions() {
  suggestions = [];
  active = -1;
  $('suggest').hidden = true;
  $('suggest').replaceChildren();
  $('composer').setAttribute('aria-expanded', 'false');
  $('composer').removeAttribute('aria-activedescendant');
}

function applySuggestion(i) {
  const c = $('composer');
  c.value = suggestions[i].value;
  active = -1;
  c.focus();
  c.setSelectionRange(c.value.length, c.value.length);
  renderSuggestions();
}

function composerKey(e) {
  if (suggestions.length) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = suggestions.length;
      active = e.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n;
      return renderSuggestions();
    }
    if (e.key === 'Tab' && !e.shiftKey) {
      e.preventDefault();
      return applySuggestion(Math.max(active, 0));
    }
    if (e.key === 'Enter' && active >= 0) {
      e.preventDefault();
      return applySuggestion(active);
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      return hideSuggestions();
    }
  }
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('composer-form').requestSubmit();
  }
}

// ------------------------------------------------------------------ panels and dialog

function setInviteOpen(open) {
  $('invite-panel').hidden = !open;
  $('toggle-invite').setAttribute('aria-expanded', String(open));
}

function setMembersOpen(open) {
  $('chat').classList.toggle('members-open', open);
  $('toggle-members').setAttribute('aria-expanded', String(open));
}

function confirmDialog(title, text, okLabel, { danger = true, focus = 'composer' } = {}) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  $('confirm-ok').classList.toggle('danger', danger);
  return new Promise((resolve) => {
    const done = (answer) => {
      $('confirm-ok').onclick = null;
      $('confirm-cancel').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
      $(focus).focus();
    };
    $('confirm-ok').onclick = () => done(true);
    $('confirm-cancel').onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

// ------------------------------------------------------------------ wiring

$('start-form').addEventListener('submit', enter);
$('room').addEventListener('input', updateEnterLabel);
$('forget-invite').addEventListener('click', () => {
  setInvited(null);
  $('alias').focus();
});
$('restart').addEventListener('click', () => {
  showScreen('start');
  startError('');
  $('alias').focus();
});
$('composer-form').addEventListener('submit', submitComposer);
$('composer').addEventListener('keydown', composerKey);
// A new line where Shift+Enter is out of reach (phone keyboards). Pressing it must not
// take the focus, or the on-screen keyboard would close.
$('newline').addEventListener('pointerdown', (e) => e.preventDefault());
$('newline').addEventListener('click', () => {
  const c = $('composer');
  c.focus();
  c.setRangeText('\n', c.selectionStart, c.selectionEnd, 'end');
  autosize();
  hideSuggestions();
});
$('composer').addEventListener('input', () => {
  autosize();
  active = -1;
  renderSuggestions();
});
// Later than a click on a suggestion, and not at all if the composer got focus back.
$('composer').addEventListener('blur', () => setTimeout(() => {
  if (document.activeElement !== $('composer')) hideSuggestions();
}, 150));
$('toggle-invite').addEventListener('click', () => setInviteOpen($('invite-panel').hidden));
$('toggle-members').addEventListener('click', () => setMembersOpen(!$('chat').classList.contains('members-open')));
$('chat').addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && $('chat').classList.contains('members-open')) {
    setMembersOpen(false);
    $('toggle-members').focus();
  }
});
$('toggle-sound').addEventListener('click', () => {
  const on = $('toggle-sound').getAttribute('aria-pressed') !== 'true';
  $('toggle-sound').setAttribute('aria-pressed', String(on));
  view.setSound(on);
});
$('leave').addEventListener('click', async () => {
  if (!room || !await confirmDialog('Leave the room?', 'The conversation disappears from this page. You can come back with the invite link while others are still there.', 'Leave')) return;
  if (away) endConversation('You left the room.');
  else session?.exit('');
});
$('conn-retry').addEventListener('click', retryNow);
// Back online, or back to the tab (a phone waking up): try at once rather than wait.
window.addEventListener('online', retryNow);
// Offline means the network this connection ran over is gone (a phone between networks,
// airplane mode): count it lost now rather than when a send finally times out.
window.addEventListener('offline', () => {
  if (session?.state === 'in') session.drop();
  else if (away) banner(bannerText(), 'lost');
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') retryNow();
});

// Leaving or reloading the tab leaves the room; warn first.
window.addEventListener('beforeunload', (e) => {
  if (session?.state === 'in' || away) {
    e.preventDefault();
    e.returnValue = '';
  }
});
window.addEventListener('pagehide', () => session?.exit(''));
window.addEventListener('hashchange', readFragment);

// Keep the composer above an on-screen keyboard where the browser does not resize the
// layout viewport itself (iOS Safari): size the app to the visual viewport.
if (window.visualViewport) {
  const vv = window.visualViewport;
  const fit = () => {
    if (Math.abs(vv.scale - 1) < 0.01) document.documentElement.style.setProperty('--app-height', `${vv.height}px`);
  };
  vv.addEventListener('resize', fit);
  fit();
}

showScreen('start');
readFragment();
updateEnterLabel();
if (!document.activeElement || document.activeElement === document.body) $('alias').focus();
