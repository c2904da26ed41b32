// Functions that run inside a page through page.evaluate (only their source is sent, so
// each is self-contained) and report what they find; the tests decide what is wrong.

// Everything an injected payload could have left behind: handlers, script-capable
// elements and URLs with a dangerous scheme, anywhere in the document.
export function dangerousNodes() {
  const found = [];
  // Never anywhere in the page; the widget elements are the page's own outside the log.
  const FORBIDDEN = ['iframe', 'object', 'embed', 'svg', 'math', 'style', 'frame', 'frameset', 'portal', 'base', 'applet', 'template', 'noscript'];
  const NOT_IN_LOG = ['form', 'input', 'textarea', 'select', 'button', 'video', 'audio', 'dialog'];
  const describe = (el) => `${el.localName}${el.id ? '#' + el.id : ''} in ${el.closest('[data-kind]')?.dataset.kind ?? el.parentElement?.localName}`;
  for (const el of document.querySelectorAll('*')) {
    const name = el.localName;
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith('on')) found.push(`${describe(el)} has ${attr.name}`);
      if (/^[\s\u0000-\u001f]*(javascript|vbscript|data\s*:\s*text)/i.test(attr.value.replace(/[\t\n\r]/g, ''))) found.push(`${describe(el)} ${attr.name}=${attr.value.slice(0, 40)}`);
      if (attr.name === 'srcdoc' || attr.name === 'formaction' || attr.name.includes(':')) found.push(`${describe(el)} has ${attr.name}`);
      // The page sets a few styles itself through CSSOM; message content may carry none.
      if (attr.name === 'style' && el.closest('#log .body, #log .farewell')) found.push(`${describe(el)} has style`);
    }
    if (el.closest('#log .body, #log .farewell') && !el.matches('.body, .farewell')) {
      const allowed = { a: ['href', 'rel', 'target'], img: ['src', 'alt', 'referrerpolicy', 'loading'] }[name] ?? [];
      for (const attr of el.attributes) if (!allowed.includes(attr.name)) found.push(`${name} in a message keeps ${attr.name}`);
    }
    if (FORBIDDEN.includes(name)) found.push(`element ${describe(el)}`);
    if (NOT_IN_LOG.includes(name) && el.closest('#log')) found.push(`element ${describe(el)}`);
    if (name === 'script' && !(el.parentNode === document.head && el.getAttribute('src') === '/app.js')) found.push(`script ${el.outerHTML.slice(0, 60)}`);
    if (name === 'link' && !(el.parentNode === document.head && ['/style.css', '/favicon.svg'].includes(el.getAttribute('href')))) found.push(`link ${el.outerHTML.slice(0, 60)}`);
    if (name === 'meta' && el.hasAttribute('http-equiv')) found.push('meta http-equiv');
    if (name === 'a' && el.hasAttribute('href')) {
      const proto = new URL(el.href, location.href).protocol;
      if (!['http:', 'https:', 'mailto:'].includes(proto)) found.push(`a with ${proto} href`);
      const rel = el.rel.split(/\s+/);
      if (el.closest('#log') && (!rel.includes('noopener') || !rel.includes('noreferrer') || el.target !== '_blank')) found.push(`a without rel/target: ${el.outerHTML.slice(0, 80)}`);
      if (el.closest('#log .body, #log .farewell') && !['http:', 'https:'].includes(proto)) found.push(`a message links to ${proto}`);
    }
    if (name === 'img' && el.closest('#log')) {
      const src = el.getAttribute('src') ?? '';
      const ok = /^https?:/i.test(src) || /^data:image\/(png|gif|jpeg|webp)[;,]/i.test(src);
      if (!ok) found.push(`img src ${src.slice(0, 40)}`);
    }
  }
  return found;
}

// What the page keeps in any storage the browser offers it.
export async function storageContents() {
  const out = {
    localStorage: Object.keys(localStorage),
    sessionStorage: Object.keys(sessionStorage),
    cookie: document.cookie,
    indexedDB: indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : [],
    caches: typeof caches !== 'undefined' ? await caches.keys() : [],
  };
  return out;
}

// Form controls without an accessible name (label, aria-label(ledby) or button text).
export function unlabelledControls() {
  const missing = [];
  for (const el of document.querySelectorAll('input, textarea, select, button')) {
    const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.localName === 'button' && el.textContent.trim());
    if (!named) missing.push(el.id || el.outerHTML.slice(0, 60));
  }
  return missing;
}

// Module-centre pixels of the QR canvas as rows of 0/1, quiet zone of 4 modules removed.
export function qrCanvasRows(size) {
  const canvas = document.getElementById('qr');
  const ctx = canvas.getContext('2d');
  const px = canvas.width / (size + 8);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const rows = [];
  for (let y = 0; y < size; y++) {
    let row = '';
    for (let x = 0; x < size; x++) {
      const cx = Math.floor((x + 4 + 0.5) * px), cy = Math.floor((y + 4 + 0.5) * px);
      row += data[(cy * canvas.width + cx) * 4] < 128 ? '1' : '0';
    }
    rows.push(row);
  }
  return { width: canvas.width, rows };
}
