// sanitize.js: turns a message's text into safe DOM nodes for display.
//
// Messages are plain text first: what someone typed is shown as typed, character for
// character, so code (`Vec<String>`, `a<b && c>d`), addresses (`<bob@example.com>`),
// arrows and `<3` survive. On top of that a few things render:
//   - the allowed HTML subset (ALLOWED below), but only tags that are well formed and, for
//     non-void ones, closed later in the message; a link needs an http(s) href and an
//     image a usable src. Anything else that looks like a tag stays literal text.
//     Images are shown only from data: URLs. An http(s) image becomes a link the reader
//     may follow, "[image: alt] URL", never fetched by itself: an image fetched on display
//     would tell its server who reads the room, and when (the CSP's img-src allows no
//     other site either).
//   - a small Markdown subset: **bold**, *italic*, `code` and ``` fenced code blocks ```.
//   - bare http(s) URLs become links.
// The text is read by this file's own small tokeniser, never by the browser's HTML parser,
// and the output is built with createElement / textContent only: no untrusted string is
// ever assigned to innerHTML, so there is no markup for a browser to misread. Only the
// attributes made here exist (href, rel, target on links; src, alt, referrerpolicy,
// loading on images), each value checked.
//
// HTML character references (&lt; &amp; &#60; ...) are decoded only in messages that use
// at least one allowed HTML tag: a message written as HTML reads as HTML, while plain text
// that happens to contain "&amp;" shows it as typed.

const ALLOWED = new Set([
  'b', 'i', 'u', 's', 'em', 'strong', 'code', 'pre', 'blockquote',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'ul', 'ol', 'li', 'a', 'img',
]);
const VOID = new Set(['br', 'img']);
// Inside these, text is shown as it is: no Markdown, no automatic links.
const LITERAL = new Set(['code', 'pre']);

const MAX_DEPTH = 24;
const MAX_EMPHASIS_DEPTH = 8;
const IMAGE_TYPES = new Set(['image/png', 'image/gif', 'image/jpeg', 'image/webp']);
export const LINK_REL = 'noopener noreferrer nofollow';

// ------------------------------------------------------------------ URLs

// Values arrive with character references decoded; URL parsing strips the tabs, newlines
// and leading controls that "java\tscript:" tricks rely on, and with no base URL a
// relative or scheme-less value fails, so the scheme checked is the real one.
function absoluteUrl(value, schemes) {
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return schemes.includes(url.protocol) && url.hostname ? url : null;
}

function linkHref(value) {
  return absoluteUrl(value, ['http:', 'https:'])?.href ?? null;
}

// { src } for a data: image of a raster type, { href } for an http(s) one (shown as a
// link, never loaded), null for anything else.
function imageSource(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return url.hostname ? { href: url.href } : null;
  if (url.protocol !== 'data:') return null;
  const meta = url.pathname.slice(0, url.pathname.indexOf(','));
  return IMAGE_TYPES.has(meta.split(';')[0].trim().toLowerCase()) ? { src: url.href } : null;
}

// http(s) URLs in running text. Trailing punctuation is the sentence's, not the URL's,
// and a closing bracket belongs to the URL only when the URL opened it.
const URL_RE = /\bhttps?:\/\/[^\s<>"`]+/gi;
const TRAILING = new Set(['.', ',', ';', ':', '!', '?', "'", '"', '*', '_', '~']);
const PAIRS = { ')': '(', ']': '[', '}': '{' };

function trimUrl(s) {
  for (;;) {
    const last = s[s.length - 1];
    if (TRAILING.has(last)) {
      s = s.slice(0, -1);
    } else if (PAIRS[last] && count(s, last) > count(s, PAIRS[last])) {
      s = s.slice(0, -1);
    } else {
      return s;
    }
  }
}

function count(s, ch) {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

// ------------------------------------------------------------------ character references

const NAMED = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', shy: '\u00ad',
  copy: '©', reg: '®', trade: '™', hellip: '…', mdash: '—', ndash: '–', middot: '·',
  bull: '•', laquo: '«', raquo: '»', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”',
  times: '×', divide: '÷', plusmn: '±', deg: '°', euro: '€', pound: '£', yen: '¥',
  cent: '¢', sect: '§', para: '¶', larr: '←', rarr: '→', uarr: '↑', darr: '↓',
  harr: '↔', hearts: '♥', check: '✓', Tab: '\t', NewLine: '\n',
};
const ENTITY_RE = /&(?:#(\d{1,8});?|#[xX]([0-9a-fA-F]{1,7});?|([A-Za-z][A-Za-z0-9]{1,31});)/g;

function codePoint(n) {
  if (n === 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return '\ufffd';
  return String.fromCodePoint(n);
}

export function decodeEntities(s) {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY_RE, (all, dec, hex, name) => {
    if (dec !== undefined) return codePoint(parseInt(dec, 10));
    if (hex !== undefined) return codePoint(parseInt(hex, 16));
    return Object.hasOwn(NAMED, name) ? NAMED[name] : all;
  });
}

// ------------------------------------------------------------------ tokens

// One tag: a name, then attributes of the usual forms, then ">" or "/>". A name or an
// attribute that does not fit (as in "a<b && c>d") means it is not a tag at all.
const TAG_RE = /<(\/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>`]+))?)*)\s*(\/?)>/y;
const ATTR_RE = /([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+)))?/g;

function attributes(text) {
  const out = new Map();
  for (const m of text.matchAll(ATTR_RE)) {
    const name = m[1].toLowerCase();
    if (!out.has(name)) out.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return out;
}

// Text, `code` spans and candidate tags, left to right. A code span wins over a tag inside
// it; a run of backticks with no equal run later is text.
function tokenize(src) {
  const tokens = [];
  let text = '';
  const noCloser = new Map(); // run length -> position from which no such run exists
  const flush = () => {
    if (text) tokens.push({ t: 'text', s: text });
    text = '';
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '`') {
      let n = 1;
      while (src[i + n] === '`') n++;
      const end = (noCloser.get(n) ?? Infinity) <= i + n ? -1 : backtickRun(src, i + n, n);
      if (end < 0) {
        noCloser.set(n, Math.min(noCloser.get(n) ?? Infinity, i + n));
        text += src.slice(i, i + n);
        i += n;
        continue;
      }
      flush();
      let body = src.slice(i + n, end);
      if (body.length > 2 && body.startsWith(' ') && body.endsWith(' ') && body.trim()) body = body.slice(1, -1);
      tokens.push({ t: 'code', s: body, raw: src.slice(i, end + n) });
      i = end + n;
      continue;
    }
    if (c === '<') {
      TAG_RE.lastIndex = i;
      const m = TAG_RE.exec(src);
      const name = m?.[2].toLowerCase();
      if (m && ALLOWED.has(name) && !(m[1] && (m[3] || m[4]))) {
        flush();
        const raw = m[0];
        if (m[1]) tokens.push({ t: 'close', name, raw });
        else tokens.push({ t: VOID.has(name) ? 'void' : 'open', name, attrs: attributes(m[3]), raw });
        i = TAG_RE.lastIndex;
        continue;
      }
    }
    text += c;
    i++;
  }
  flush();
  return tokens;
}

// Start of the next run of exactly n backticks at or after `from`, or -1.
function backtickRun(src, from, n) {
  let j = from;
  for (;;) {
    j = src.indexOf('`', j);
    if (j < 0) return -1;
    let k = j;
    while (src[k] === '`') k++;
    if (k - j === n) return j;
    j = k;
  }
}

// A tag is kept only when it can be shown as what it says: an opening tag needs a closing
// one later (and the other way round), a link an http(s) href, an image a usable src.
// Every other tag becomes text again. Returns whether any tag was kept.
function settleTags(tokens) {
  for (const tok of tokens) {
    if (tok.t === 'open' && tok.name === 'a') {
      tok.href = linkHref(tok.attrs.get('href') ?? '');
      if (!tok.href) tok.t = 'text';
    }
    if (tok.t === 'void' && tok.name === 'img') {
      tok.image = imageSource(tok.attrs.get('src') ?? '');
      if (!tok.image) tok.t = 'text';
    }
  }
  const open = new Map();
  for (const tok of tokens) {
    if (tok.t === 'open') {
      if (!open.has(tok.name)) open.set(tok.name, []);
      open.get(tok.name).push(tok);
    } else if (tok.t === 'close') {
      const opener = open.get(tok.name)?.pop();
      if (opener) opener.closed = true;
      else tok.t = 'text';
    }
  }
  let html = false;
  for (const tok of tokens) {
    if (tok.t === 'open' && !tok.closed) tok.t = 'text';
    if (tok.t === 'text' && tok.raw !== undefined) tok.s = tok.raw;
    if (tok.t === 'open' || tok.t === 'close' || tok.t === 'void') html = true;
  }
  return html;
}

// ------------------------------------------------------------------ Markdown emphasis

const SPACE_RE = /\s/u;
const PUNCT_RE = /[\p{P}\p{S}]/u;
const WORDY_RE = /[\p{L}\p{N}]/u;

// Characters around a run of '*': at the edge of the text counts as space; a code span or
// a link counts as punctuation.
function charClass(item) {
  if (item === undefined) return 'space';
  if (typeof item !== 'string') return 'punct';
  if (SPACE_RE.test(item)) return 'space';
  return PUNCT_RE.test(item) ? 'punct' : 'word';
}

// Every maximal run of '*' with whether it may open or close emphasis. An opener must be
// followed by a non-space and not stand inside a word ("2*3*4" stays as typed); a closer
// the other way round. Also counts, for every position, the letters, digits, code spans and links before it:
// emphasis needs something to emphasise, so emoticons such as "*_*" stay as typed.
function starRuns(items) {
  const runs = new Map(); // start -> { len, open, close }
  const closers = { 1: [], 2: [] };
  const wordy = new Uint32Array(items.length + 1);
  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    wordy[k + 1] = wordy[k] + (typeof item !== 'string' || WORDY_RE.test(item) ? 1 : 0);
  }
  for (let i = 0; i < items.length;) {
    if (items[i] !== '*') {
      i++;
      continue;
    }
    let j = i;
    while (items[j] === '*') j++;
    const before = charClass(items[i - 1]), after = charClass(items[j]);
    const run = { len: j - i, open: after !== 'space' && before !== 'word', close: before !== 'space' && after !== 'word' };
    runs.set(i, run);
    if (run.close && closers[run.len]) closers[run.len].push(i);
    i = j;
  }
  return { runs, closers, wordy };
}

function firstAtOrAfter(sorted, from) {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return sorted[lo];
}

// items[from, to) -> nodes: strings, { code }, { link, text }, { tag, children }.
function emphasis(items, from, to, marks, depth) {
  const out = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push(buf);
    buf = '';
  };
  let i = from;
  while (i < to) {
    const item = items[i];
    if (typeof item !== 'string') {
      flush();
      out.push(item);
      i++;
      continue;
    }
    const run = item === '*' ? marks.runs.get(i) : undefined;
    if (!run) {
      buf += item;
      i++;
      continue;
    }
    const j = i + run.len;
    if (run.open && marks.closers[run.len] && depth < MAX_EMPHASIS_DEPTH) {
      const close = firstAtOrAfter(marks.closers[run.len], j + 1);
      if (close !== undefined && close + run.len <= to && marks.wordy[close] > marks.wordy[j]) {
        flush();
        out.push({ tag: run.len === 2 ? 'strong' : 'em', children: emphasis(items, j, close, marks, depth + 1) });
        i = close + run.len;
        continue;
      }
    }
    buf += '*'.repeat(run.len);
    i = j;
  }
  flush();
  return out;
}

// ------------------------------------------------------------------ building the DOM

function appendNodes(parent, nodes, doc) {
  for (const n of nodes) {
    if (typeof n === 'string') {
      parent.append(doc.createTextNode(n));
    } else if (n.code !== undefined) {
      parent.append(textElement(doc, 'code', n.code));
    } else if (n.link) {
      parent.append(link(doc, n.link, n.text));
    } else {
      const el = doc.createElement(n.tag);
      appendNodes(el, n.children, doc);
      parent.append(el);
    }
  }
}

function textElement(doc, tag, text) {
  const el = doc.createElement(tag);
  el.textContent = text;
  return el;
}

function link(doc, href, text) {
  const a = doc.createElement('a');
  a.href = href;
  a.rel = LINK_REL;
  a.target = '_blank';
  if (text !== undefined) a.textContent = text;
  return a;
}

// Text with its http(s) URLs taken out as links, as the items emphasis() reads.
function pushText(items, s, autolink) {
  let at = 0;
  if (autolink) {
    for (const m of s.matchAll(URL_RE)) {
      const text = trimUrl(m[0]);
      const href = linkHref(text);
      if (!href) continue;
      for (const ch of s.slice(at, m.index)) items.push(ch);
      items.push({ link: href, text });
      at = m.index + text.length;
    }
  }
  for (const ch of s.slice(at)) items.push(ch);
}

// Text and code spans between two tags, into the element open at that point.
function flushRun(run, frame, html, doc) {
  if (!run.length) return;
  if (frame.list && run.every((t) => t.t === 'text' && !t.s.trim())) return; // between <li>s
  const dec = (s) => (html ? decodeEntities(s) : s);
  if (frame.literal) {
    let text = run.map((t) => (t.t === 'code' ? t.raw : dec(t.s))).join('');
    if (frame.fresh && frame.name === 'pre' && text.startsWith('\n')) text = text.slice(1);
    frame.fresh = false;
    frame.el.append(doc.createTextNode(text));
    return;
  }
  const items = [];
  for (const t of run) {
    if (t.t === 'code') items.push({ code: t.s });
    else pushText(items, dec(t.s), !frame.link);
  }
  appendNodes(frame.el, emphasis(items, 0, items.length, starRuns(items), 0), doc);
}

function renderInline(src, out, doc) {
  const tokens = tokenize(src);
  const html = settleTags(tokens);
  const stack = [{ el: out, name: '', depth: 0 }];
  const popTo = (k) => {
    while (stack.length > k) {
      const f = stack.pop();
      // A link with no text shows its address.
      if (f.href && !f.el.textContent.trim() && !f.el.querySelector('img')) f.el.textContent = f.href;
    }
  };
  let run = [];
  for (const tok of tokens) {
    if (tok.t === 'text' || tok.t === 'code') {
      run.push(tok);
      continue;
    }
    const top = stack[stack.length - 1];
    flushRun(run, top, html, doc);
    run = [];
    if (tok.t === 'close') {
      for (let k = stack.length - 1; k > 0; k--) {
        if (stack[k].name === tok.name) {
          popTo(k);
          break;
        }
      }
      continue;
    }
    if (tok.t === 'void') {
      if (tok.name === 'br') {
        top.el.append(doc.createElement('br'));
      } else if (tok.image.href) {
        // A remote image: its address, to follow on purpose (plain text inside a link).
        const alt = tok.attrs.get('alt');
        const label = `[image${alt ? `: ${alt}` : ''}] ${tok.image.href}`;
        top.el.append(top.link ? doc.createTextNode(label) : link(doc, tok.image.href, label));
      } else {
        const img = doc.createElement('img');
        img.src = tok.image.src;
        img.alt = tok.attrs.get('alt') ?? '';
        img.referrerPolicy = 'no-referrer';
        img.loading = 'lazy';
        top.el.append(img);
      }
      continue;
    }
    // An opening tag. Too deep, or a link inside a link: its content goes on in the
    // enclosing element, and its closing tag still ends it.
    const frame = { ...top, name: tok.name, href: null, fresh: true };
    if (top.depth < MAX_DEPTH && !(tok.name === 'a' && top.link)) {
      const el = tok.name === 'a' ? link(doc, tok.href) : doc.createElement(tok.name);
      top.el.append(el);
      Object.assign(frame, {
        el,
        depth: top.depth + 1,
        href: tok.name === 'a' ? tok.href : null,
        literal: top.literal || LITERAL.has(tok.name),
        link: top.link || tok.name === 'a',
        list: tok.name === 'ul' || tok.name === 'ol',
      });
    }
    stack.push(frame);
  }
  flushRun(run, stack[stack.length - 1], html, doc);
  popTo(1);
}

// ``` fenced code blocks ``` on lines of their own, and the text around them. A fence
// with no closing fence is ordinary text.
const FENCE_OPEN_RE = /^ {0,3}(`{3,})[^`]*$/;
const FENCE_CLOSE_RE = /^ {0,3}(`{3,})\s*$/;

function blocks(text) {
  const lines = text.split('\n');
  const out = [];
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN_RE.exec(lines[i]);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && !(FENCE_CLOSE_RE.exec(lines[j])?.[1].length >= open[1].length)) j++;
    if (j === lines.length) break; // no closing fence: nor for any later opening one
    if (i > start) out.push({ t: 'inline', s: lines.slice(start, i).join('\n') });
    out.push({ t: 'fence', s: lines.slice(i + 1, j).join('\n') });
    start = j + 1;
    i = j;
  }
  if (start < lines.length) out.push({ t: 'inline', s: lines.slice(start).join('\n') });
  return out;
}

// Returns a DocumentFragment of `doc` holding the safe rendering of a message's text.
export function sanitize(text, doc = document) {
  const out = doc.createDocumentFragment();
  for (const part of blocks(String(text))) {
    if (part.t === 'fence') {
      const pre = doc.createElement('pre');
      pre.append(textElement(doc, 'code', part.s));
      out.append(pre);
    } else {
      renderInline(part.s, out, doc);
    }
  }
  return out;
}
