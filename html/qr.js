// qr.js: a small QR Code encoder (ISO/IEC 18004) for the invite link, so the link, which
// carries the room secret, is turned into a picture on this device and never sent
// anywhere. Byte mode, error correction level M (15% of the symbol may be damaged),
// versions 1 to 40 (up to 2331 bytes), mask chosen by the standard penalty rules.
// encode() is pure (works under node); drawQr() paints the result on a canvas.

// Per version 1..40 (index 0 unused): error correction codewords per block and block count.
const ECC = {
  M: {
    bits: 0,
    perBlock: [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
    blocks: [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
  },
};

function rawModules(ver) {
  let n = (16 * ver + 128) * ver + 64;
  if (ver >= 2) {
    const align = Math.floor(ver / 7) + 2;
    n -= (25 * align - 10) * align - 55;
    if (ver >= 7) n -= 36;
  }
  return n;
}

function dataCodewords(ver, ecl) {
  return Math.floor(rawModules(ver) / 8) - ECC[ecl].perBlock[ver] * ECC[ecl].blocks[ver];
}

function alignmentPositions(ver) {
  if (ver === 1) return [];
  const size = ver * 4 + 17;
  const count = Math.floor(ver / 7) + 2;
  const step = Math.floor((ver * 8 + count * 3 + 5) / (count * 4 - 4)) * 2;
  const out = [6];
  for (let pos = size - 7; out.length < count; pos -= step) out.splice(1, 0, pos);
  return out;
}

// ---------------------------------------------------------------- Reed-Solomon over GF(2^8), poly 0x11d

function gfMul(a, b) {
  let z = 0;
  for (let i = 7; i >= 0; i--) {
    z = (z << 1) ^ ((z >>> 7) * 0x11d);
    z ^= ((b >>> i) & 1) * a;
  }
  return z & 0xff;
}

function rsDivisor(degree) {
  const poly = new Uint8Array(degree);
  poly[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      poly[j] = gfMul(poly[j], root);
      if (j + 1 < degree) poly[j] ^= poly[j + 1];
    }
    root = gfMul(root, 2);
  }
  return poly;
}

function rsRemainder(data, divisor) {
  const out = new Uint8Array(divisor.length);
  for (const b of data) {
    const factor = b ^ out[0];
    out.copyWithin(0, 1);
    out[out.length - 1] = 0;
    for (let i = 0; i < divisor.length; i++) out[i] ^= gfMul(divisor[i], factor);
  }
  return out;
}

// ---------------------------------------------------------------- codewords

function chooseVersion(len) {
  for (let ver = 1; ver <= 40; ver++) {
    const countBits = ver <= 9 ? 8 : 16;
    if (4 + countBits + len * 8 <= dataCodewords(ver, 'M') * 8) return { ver, ecl: 'M' };
  }
  throw new RangeError('text too long for a QR code');
}

function dataBytes(text, ver, ecl) {
  const capacity = dataCodewords(ver, ecl);
  const bits = [];
  const put = (value, n) => { for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
  put(0b0100, 4);
  put(text.length, ver <= 9 ? 8 : 16);
  for (const b of text) put(b, 8);
  put(0, Math.min(4, capacity * 8 - bits.length));
  put(0, (8 - (bits.length % 8)) % 8);
  const out = new Uint8Array(capacity);
  for (let i = 0; i < bits.length; i += 8) {
    let v = 0;
    for (let j = 0; j < 8; j++) v = (v << 1) | bits[i + j];
    out[i >> 3] = v;
  }
  for (let i = bits.length >> 3, pad = 0xec; i < capacity; i++, pad ^= 0xec ^ 0x11) out[i] = pad;
  return out;
}

// Splits into blocks, appends each block's error correction and interleaves them.
function allCodewords(data, ver, ecl) {
  const nBlocks = ECC[ecl].blocks[ver];
  const eccLen = ECC[ecl].perBlock[ver];
  const raw = Math.floor(rawModules(ver) / 8);
  const nShort = nBlocks - (raw % nBlocks);
  const shortLen = Math.floor(raw / nBlocks) - eccLen;
  const divisor = rsDivisor(eccLen);
  const blocks = [];
  for (let i = 0, k = 0; i < nBlocks; i++) {
    const len = shortLen + (i < nShort ? 0 : 1);
    const d = data.subarray(k, k + len);
    k += len;
    blocks.push({ d, e: rsRemainder(d, divisor) });
  }
  const out = [];
  for (let i = 0; i <= shortLen; i++) for (const b of blocks) if (i < b.d.length) out.push(b.d[i]);
  for (let i = 0; i < eccLen; i++) for (const b of blocks) out.push(b.e[i]);
  return out;
}

// ---------------------------------------------------------------- the matrix

const MASKS = [
  (x, y) => (x + y) % 2 === 0,
  (x, y) => y % 2 === 0,
  (x, y) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

class Grid {
  constructor(ver) {
    this.size = ver * 4 + 17;
    this.dark = new Uint8Array(this.size * this.size);
    this.fixed = new Uint8Array(this.size * this.size);
  }
  get(x, y) { return this.dark[y * this.size + x]; }
  setFixed(x, y, dark) {
    this.dark[y * this.size + x] = dark ? 1 : 0;
    this.fixed[y * this.size + x] = 1;
  }
}

function drawFunctionPatterns(g, ver, ecl) {
  const n = g.size;
  for (let i = 0; i < n; i++) {
    g.setFixed(6, i, i % 2 === 0);
    g.setFixed(i, 6, i % 2 === 0);
  }
  for (const [cx, cy] of [[3, 3], [n - 4, 3], [3, n - 4]]) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx, y = cy + dy;
        const d = Math.max(Math.abs(dx), Math.abs(dy));
        if (x >= 0 && x < n && y >= 0 && y < n) g.setFixed(x, y, d !== 2 && d !== 4);
      }
    }
  }
  const pos = alignmentPositions(ver);
  for (let i = 0; i < pos.length; i++) {
    for (let j = 0; j < pos.length; j++) {
      const corner = (i === 0 && j === 0) || (i === 0 && j === pos.length - 1) || (i === pos.length - 1 && j === 0);
      if (corner) continue;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) g.setFixed(pos[i] + dx, pos[j] + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }
  }
  drawFormat(g, ecl, 0); // reserves the area; redrawn with the real mask later
  if (ver >= 7) {
    let rem = ver;
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    const bits = (ver << 12) | rem;
    for (let i = 0; i < 18; i++) {
      const bit = (bits >>> i) & 1;
      const a = n - 11 + (i % 3), b = Math.floor(i / 3);
      g.setFixed(a, b, bit);
      g.setFixed(b, a, bit);
    }
  }
}

function drawFormat(g, ecl, mask) {
  const data = (ECC[ecl].bits << 3) | mask;
  let rem = data;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  const bits = ((data << 10) | rem) ^ 0x5412;
  const bit = (i) => (bits >>> i) & 1;
  const n = g.size;
  for (let i = 0; i <= 5; i++) g.setFixed(8, i, bit(i));
  g.setFixed(8, 7, bit(6));
  g.setFixed(8, 8, bit(7));
  g.setFixed(7, 8, bit(8));
  for (let i = 9; i < 15; i++) g.setFixed(14 - i, 8, bit(i));
  for (let i = 0; i < 8; i++) g.setFixed(n - 1 - i, 8, bit(i));
  for (let i = 8; i < 15; i++) g.setFixed(8, n - 15 + i, bit(i));
  g.setFixed(8, n - 8, 1);
}

function placeCodewords(g, codewords) {
  const n = g.size;
  let i = 0;
  for (let right = n - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5; // the vertical timing pattern column is skipped
    const upward = ((right + 1) & 2) === 0;
    for (let v = 0; v < n; v++) {
      const y = upward ? n - 1 - v : v;
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        if (g.fixed[y * n + x] || i >= codewords.length * 8) continue;
        g.dark[y * n + x] = (codewords[i >>> 3] >>> (7 - (i & 7))) & 1;
        i++;
      }
    }
  }
}

function applyMask(g, mask) {
  const n = g.size, f = MASKS[mask];
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) if (!g.fixed[y * n + x] && f(x, y)) g.dark[y * n + x] ^= 1;
  }
}

// The penalty score of ISO 18004 section 7.8.3 (runs, 2x2 boxes, finder look-alikes,
// dark/light balance); the mask with the lowest score is used.
function penalty(g) {
  const n = g.size;
  let score = 0;
  const finderLike = (h) => {
    const m = h[1];
    const core = m > 0 && h[2] === m && h[3] === m * 3 && h[4] === m && h[5] === m;
    return (core && h[0] >= m * 4 && h[6] >= m ? 1 : 0) + (core && h[6] >= m * 4 && h[0] >= m ? 1 : 0);
  };
  const push = (h, run) => {
    if (h[0] === 0) run += n; // the light border before the first run
    h.pop();
    h.unshift(run);
  };
  for (const byRow of [true, false]) {
    for (let a = 0; a < n; a++) {
      const h = [0, 0, 0, 0, 0, 0, 0];
      let color = 0, run = 0;
      for (let b = 0; b < n; b++) {
        const m = byRow ? g.get(b, a) : g.get(a, b);
        if (m === color) {
          run++;
          if (run === 5) score += 3;
          else if (run > 5) score++;
        } else {
          push(h, run);
          if (!color) score += finderLike(h) * 40;
          color = m;
          run = 1;
        }
      }
      if (color) { push(h, run); run = 0; }
      push(h, run + n);
      score += finderLike(h) * 40;
    }
  }
  let darkCount = 0;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const c = g.get(x, y);
      darkCount += c;
      if (x < n - 1 && y < n - 1 && c === g.get(x + 1, y) && c === g.get(x, y + 1) && c === g.get(x + 1, y + 1)) score += 3;
    }
  }
  const total = n * n;
  score += (Math.ceil(Math.abs(darkCount * 20 - total * 10) / total) - 1) * 10;
  return score;
}

// Returns { size, version, ecl, mask, dark(x, y) }. `mask` forces a mask (tests use it).
export function encode(text, { mask } = {}) {
  const bytes = new TextEncoder().encode(text);
  const { ver, ecl } = chooseVersion(bytes.length);
  const codewords = allCodewords(dataBytes(bytes, ver, ecl), ver, ecl);
  const g = new Grid(ver);
  drawFunctionPatterns(g, ver, ecl);
  placeCodewords(g, codewords);
  let best = mask;
  if (best === undefined) {
    let bestScore = Infinity;
    for (let m = 0; m < 8; m++) {
      applyMask(g, m);
      drawFormat(g, ecl, m);
      const s = penalty(g);
      if (s < bestScore) { bestScore = s; best = m; }
      applyMask(g, m); // XOR again to undo
    }
  }
  applyMask(g, best);
  drawFormat(g, ecl, best);
  return { size: g.size, version: ver, ecl, mask: best, dark: (x, y) => g.get(x, y) === 1 };
}

// Paints the code dark-on-white with the 4-module quiet zone the standard asks for, in
// both colour schemes: scanners expect dark modules on a light ground.
export function drawQr(canvas, text, pixelsPerModule = 4) {
  const qr = encode(text);
  const quiet = 4;
  const dim = (qr.size + quiet * 2) * pixelsPerModule;
  canvas.width = dim;
  canvas.height = dim;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, dim, dim);
  ctx.fillStyle = '#000';
  for (let y = 0; y < qr.size; y++) {
    for (let x = 0; x < qr.size; x++) {
      if (qr.dark(x, y)) ctx.fillRect((x + quiet) * pixelsPerModule, (y + quiet) * pixelsPerModule, pixelsPerModule, pixelsPerModule);
    }
  }
  return qr;
}
