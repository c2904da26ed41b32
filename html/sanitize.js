// sanitize.js: turns a message's HTML into safe DOM nodes for display.
// The browser's own parser reads the text into a separate document made by DOMParser
// (it has no window: nothing in it runs or loads, and unlike a <template> in the page it
// does not even trip the page's CSP); an allowlist walk then builds *fresh* elements in
// the page's document, copying only text and the few attributes checked here. Nothing
// is ever serialised and parsed again, so parser round-trip tricks (mutation XSS) have
// nothing to act on.

const ALLOWED = new Set([
  'b', 'i', 'u', 's', 'em', 'strong', 'code', 'pre', 'blockquote',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'ul', 'ol', 'li', 'a', 'img',
]);

// Elements whose content is code, markup or widgets rather than prose: gone entirely.
// Any other element is unwrapped: its text stays, the element does not.
const DROP = new Set([
  'script', 'style', 'template', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet',
  'noscript', 'noembed', 'noframes', 'textarea', 'title', 'xmp', 'plaintext', 'select',
  'option', 'head', 'meta', 'link', 'base', 'input', 'button', 'form', 'video', 'audio',
  'source', 'track', 'canvas', 'map', 'area', 'portal', 'dialog', 'slot',
]);

// Unwrapped block elements still end a line, so "<div>a</div><div>b</div>" reads "a", "b".
const BLOCKISH = new Set(['div', 'section', 'article', 'header', 'footer', 'aside', 'nav', 'main',
  'address', 'figure', 'figcaption', 'details', 'summary', 'dl', 'dt', 'dd', 'table', 'tr', 'center', 'hr']);

const HTML_NS = 'http://www.w3.org/1999/xhtml';
const MAX_DEPTH = 24;
const IMAGE_TYPES = new Set(['image/png', 'image/gif', 'image/jpeg', 'image/webp']);

// Parsing with no base URL means relative and scheme-less URLs fail; entities are already
// decoded by the HTML parser and URL parsing strips the tabs, newlines and leading
// controls that "java\tscript:" tricks rely on, so the scheme seen here is the real one.
function absoluteUrl(value, schemes) {
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return schemes.includes(url.protocol) ? url : null;
}

function linkHref(value) {
  return absoluteUrl(value, ['http:', 'https:', 'mailto:'])?.href ?? null;
}

function imageSrc(value) {
  const url = absoluteUrl(value, ['http:', 'https:', 'data:']);
  if (!url) return null;
  if (url.protocol === 'data:') {
    const meta = url.pathname.slice(0, url.pathname.indexOf(','));
    const type = meta.split(';')[0].trim().toLowerCase();
    if (!IMAGE_TYPES.has(type)) return null;
  }
  return url.href;
}

function copy(src, dst, depth, doc) {
  for (const node of src.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      // Whitespace between list items would show as blank lines (messages keep line breaks).
      if ((dst.localName === 'ul' || dst.localName === 'ol') && !node.data.trim()) continue;
      dst.append(doc.createTextNode(node.data));
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) continue; // comments, processing instructions
    // svg, math and anything else foreign go with all they contain.
    if (node.namespaceURI !== HTML_NS) continue;
    const name = node.localName;
    if (DROP.has(name)) continue;
    if (!ALLOWED.has(name) || depth >= MAX_DEPTH) {
      copy(node, dst, depth + 1, doc);
      if (BLOCKISH.has(name)) dst.append(doc.createElement('br'));
      continue;
    }
    if (name === 'img') {
      const src = imageSrc(node.getAttribute('src') ?? '');
      if (!src) continue;
      const img = doc.createElement('img');
      img.src = src;
      img.alt = node.getAttribute('alt') ?? '';
      img.referrerPolicy = 'no-referrer';
      img.loading = 'lazy';
      dst.append(img);
      continue;
    }
    if (name === 'a') {
      const href = linkHref(node.getAttribute('href') ?? '');
      if (!href) {
        copy(node, dst, depth + 1, doc);
        continue;
      }
      const a = doc.createElement('a');
      a.href = href;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      copy(node, a, depth + 1, doc);
      if (!a.textContent.trim() && !a.querySelector('img')) a.textContent = href;
      dst.append(a);
      continue;
    }
    const el = doc.createElement(name);
    copy(node, el, depth + 1, doc);
    dst.append(el);
  }
}

// Returns a DocumentFragment of `doc` holding the safe rendering of `html`.
export function sanitize(html, doc = document) {
  const parsed = new DOMParser().parseFromString(html, 'text/html');
  const out = doc.createDocumentFragment();
  copy(parsed.body, out, 0, doc);
  return out;
}
