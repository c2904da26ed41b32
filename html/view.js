// view.js: the conversation on screen: the message log, the member list, the unread count
// in the title and the optional beep. Every name and server-supplied field goes in as
// text; message bodies go in only through sanitize().

import { sanitize } from './sanitize.js';
import { actionText } from './commands.js';

const NEAR_BOTTOM_PX = 48;
const BASE_TITLE = 'Sanctuary';

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function timeEl(ts) {
  const d = new Date(ts);
  const t = el('time', 'when', d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  t.dateTime = d.toISOString();
  t.title = d.toLocaleString();
  return t;
}

function hue(name) {
  let h = 0;
  for (const ch of name.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// ------------------------------------------------------------------ name colours

// The backgrounds a name is drawn on (style.css: --bubble and --whisper, light and dark).
// The e2e test checks these against the stylesheet.
export const NAME_BACKGROUNDS = {
  light: ['#ffffff', '#fdf3e1'],
  dark: ['#201e2b', '#2e2616'],
};
const MIN_CONTRAST = 4.6; // WCAG AA asks 4.5:1 for text this size; a little to spare

function hslToRgb(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1));
  return [f(0), f(8), f(4)].map((x) => Math.round(x * 255));
}

function luminance(rgb) {
  const [r, g, b] = rgb.map((v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const hexRgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

// The name's hue at the lightness nearest the design's (38% light, 74% dark) that still
// reads at MIN_CONTRAST on every background of that scheme: yellows and greens get
// darker in light mode, blues lighter in dark mode.
const colourCache = new Map();
export function nameColours(name) {
  return hueColours(hue(name));
}

export function hueColours(h) {
  if (colourCache.has(h)) return colourCache.get(h);
  const pick = (start, step, backs) => {
    for (let l = start; l >= 0 && l <= 100; l += step) {
      const rgb = hslToRgb(h, 0.55, l / 100);
      if (backs.every((b) => contrast(rgb, hexRgb(b)) >= MIN_CONTRAST)) return `rgb(${rgb.join(' ')})`;
    }
    return step < 0 ? 'rgb(0 0 0)' : 'rgb(255 255 255)';
  };
  const colours = { light: pick(38, -1, NAME_BACKGROUNDS.light), dark: pick(74, 1, NAME_BACKGROUNDS.dark) };
  colourCache.set(h, colours);
  return colours;
}

// What /help says about formatting (sanitize.js is what does it).
const FORMATTING = [
  ['**bold**  *italic*', 'Markdown: bold and italic'],
  ['`code`', 'code in a line; ``` on lines of their own fences a code block'],
  ['https://…', 'addresses starting with http:// or https:// become links'],
  ['<b> <i> <u> <s> <code> <pre> <a href> <img src> …', 'this HTML too, when the tag is closed again (<b>…</b>; <br> and <img> stand alone): also <em>, <strong>, <blockquote>, <p>, <br>, <h1>–<h6>, lists. Images show from data: URLs only; an http(s) image becomes a link you may follow, never loaded by itself'],
  ['everything else', 'shows exactly as typed: <String>, a<b, <bob@example.com>, <3'],
];

export class ChatView {
  constructor({ log, jump, members, memberCount, onMemberClick }) {
    Object.assign(this, { log, jump, members, memberCount, onMemberClick });
    this.unseen = 0; // arrived while scrolled up
    this.unread = 0; // arrived while the tab was hidden
    this.sound = false;
    this.audio = null;
    jump.addEventListener('click', () => this.scrollToEnd());
    log.addEventListener('scroll', () => {
      if (this.#nearBottom()) this.#setUnseen(0);
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) {
        this.unread = 0;
        document.title = BASE_TITLE;
      }
    });
  }

  #nearBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < NEAR_BOTTOM_PX;
  }

  #setUnseen(n) {
    this.unseen = n;
    this.jump.hidden = n === 0;
    this.jump.textContent = n === 1 ? '1 new message ↓' : `${n} new messages ↓`;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
    this.#setUnseen(0);
  }

  // Appends without yanking: stays pinned to the end only if the reader already was there
  // (or wrote the message), otherwise counts it on the "new messages" button.
  #append(node, { own = false, notify = false } = {}) {
    const pinned = own || this.#nearBottom();
    this.log.append(node);
    if (pinned) this.scrollToEnd();
    else this.#setUnseen(this.unseen + 1);
    if (notify) this.#notify();
  }

  #notify() {
    if (document.hidden) {
      this.unread += 1;
      document.title = `(${this.unread}) ${BASE_TITLE}`;
    }
    if (this.sound && (document.hidden || !document.hasFocus())) this.#beep();
  }

  // queued: typed while the connection was lost, shown as waiting until it is sent.
  // addressee (whispers): 'own' or 'you' (session.js whisperAddressee; a whisper naming
  // someone else is never opened, so never shown here).
  // earlier: opened only with the keys before the last rekey (sealed before the change).
  // ts: the sender's authenticated clock; unprotected: a v1 envelope (no stamp), which
  // could be a replay and is marked so.
  message({ kind, from, to, text, ts, own, addressee, queued = false, earlier = false, unprotected = false }) {
    // "/me waves" reads "* alice waves", with the name the message is authenticated under.
    const action = actionText(text);
    const item = el('article', `entry ${kind}${own ? ' own' : ''}${action !== null ? ' action' : ''}${queued ? ' queued' : ''}`);
    item.dataset.kind = kind;
    item.dataset.from = from;
    if (kind === 'purr') item.dataset.to = to;
    // A stable colour per name helps tell people apart (set through CSSOM: CSP-safe).
    const colours = nameColours(from);
    item.style.setProperty('--name-light', colours.light);
    item.style.setProperty('--name-dark', colours.dark);
    const head = el('header', 'meta');
    head.append(el('span', 'who', own ? 'You' : from));
    if (kind === 'purr') {
      item.dataset.addressee = own ? 'own' : addressee;
      head.append(el('span', 'tag', own ? `whisper to ${to}` : 'whispered to you'));
    }
    if (earlier) {
      item.dataset.keys = 'earlier';
      head.append(el('span', 'tag', 'sent before the key change'));
    }
    if (queued) {
      item.dataset.state = 'queued';
      head.append(el('span', 'tag state', 'not sent yet: waiting for the connection'));
    }
    if (unprotected) {
      item.dataset.unprotected = 'true';
      head.append(el('span', 'tag warning unprotected', 'old format: not protected against replay'));
    }
    head.append(timeEl(ts));
    const body = el('div', 'body');
    if (action !== null) body.append(el('span', 'actor', `* ${from} `));
    body.append(sanitize(action ?? text));
    if (action === null && !body.textContent.trim() && !body.querySelector('img')) {
      // Only markup that is not shown (scripts, frames...): say so rather than show a blank.
      body.classList.add('nothing');
      body.textContent = text.trim() ? 'Nothing to show: this message held only markup that is not displayed.' : '(empty message)';
    }
    item.append(head, body);
    this.#append(item, { own, notify: !own });
    return item;
  }

  // A queued message that could not be sent after all.
  markUnsent(item, why) {
    item.dataset.state = 'unsent';
    item.classList.replace('queued', 'unsent');
    const tag = item.querySelector('.tag.state');
    if (tag) tag.textContent = why;
  }

  // event: joined | left | kicked | purged | error | unverified | info | welcome | lost | gap
  system(text, event = 'info', ts = Date.now(), extraNode = null) {
    const item = el('div', `entry system ${event}`);
    item.dataset.kind = 'system';
    item.dataset.event = event;
    item.append(el('span', 'text', text));
    if (extraNode) item.append(extraNode);
    item.append(timeEl(ts));
    this.#append(item, { notify: event === 'joined' || event === 'left' });
  }

  // A farewell is a message too: sanitised the same way.
  farewell(alias, html, ts = Date.now()) {
    const q = el('q', 'farewell');
    q.append(sanitize(html));
    this.system(`${alias} left:`, 'left', ts, q);
  }

  help(commands) {
    const list = el('dl', 'help');
    for (const c of commands) {
      list.append(el('dt', '', `/${c.name}${c.args ? ' ' + c.args : ''}`), el('dd', '', c.help));
    }
    list.append(el('dt', '', '//text'), el('dd', '', 'send a line that starts with /'));
    list.append(el('dt', '', 'Shift+Enter'), el('dd', '', 'a new line in the message (on a phone: the ↵ button)'));
    for (const [what, how] of FORMATTING) list.append(el('dt', '', what), el('dd', '', how));
    this.system('Commands:', 'info', Date.now(), list);
  }

  // As the terminal client's /who: everyone, in joining order, you marked.
  who(members, self) {
    const names = members.map((m) => (m === self ? `${m} (you)` : m));
    this.system(`In the room (${members.length}): ${names.join(', ')}.`, 'info');
  }

  clear() {
    this.log.replaceChildren();
    this.#setUnseen(0);
  }

  setMembers(list, self, creator) {
    const sorted = [...list].sort((a, b) => (a === self ? -1 : b === self ? 1 : a.localeCompare(b)));
    const items = sorted.map((name) => {
      const li = el('li');
      li.dataset.alias = name;
      if (name === self) {
        li.append(el('span', 'member self', name), el('span', 'badge', 'you'));
      } else {
        const b = el('button', 'member', name);
        b.type = 'button';
        b.title = `Whisper to ${name}`;
        b.addEventListener('click', () => this.onMemberClick(name));
        li.append(b);
      }
      if (name === creator) li.append(el('span', 'badge', 'creator'));
      return li;
    });
    this.members.replaceChildren(...items);
    this.memberCount.textContent = String(list.length);
  }

  setSound(on) {
    this.sound = on;
    if (on && !this.audio && typeof AudioContext === 'function') this.audio = new AudioContext();
    this.audio?.resume?.();
    if (on) this.#beep();
  }

  #beep() {
    const ctx = this.audio;
    if (!ctx) return;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 660;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.15, ctx.currentTime + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.2);
  }

  // Everything the conversation left on screen, gone.
  reset() {
    this.clear();
    this.members.replaceChildren();
    this.memberCount.textContent = '0';
    this.unread = 0;
    document.title = BASE_TITLE;
  }
}
