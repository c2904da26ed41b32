// The vector checks, as one self-contained function so the same code runs under node and,
// through page.evaluate (which sends only the function's source), inside Chromium.
// v1 and v2 are the parsed tests/vectors/v1.json and v2.json (made by make_v2.py).
// Returns [{ name, failures: [text] }]; an empty failures list is a pass.

export async function vectorChecks({ v1: vectors, v2 }, crypto) {
  crypto ??= await import('/crypto.js');
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const unhex = (h) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  const results = [];
  const check = (name, body) => {
    const failures = [];
    try {
      body((ok, what) => { if (!ok) failures.push(what); });
    } catch (err) {
      failures.push(`threw: ${err && err.stack || err}`);
    }
    results.push({ name, failures });
  };
  const keysOf = (c) => ({ enc: unhex(c.k_enc), mac: unhex(c.k_mac), auth: unhex(c.k_auth) });
  const eq = (a, b) => a === b;

  check('iteration count is the protocol constant', (expect) => {
    expect(vectors.iterations === crypto.ITERATIONS, `vectors say ${vectors.iterations}, crypto.js ${crypto.ITERATIONS}`);
    expect(vectors.cases.length >= 4 && vectors.must_reject.length >= 7, 'vector file lost cases');
  });
  check('key schedule derives master, k_enc, k_mac and k_auth of every case', (expect) => {
    for (const c of vectors.cases) {
      const master = crypto.masterKey(c.room, c.secret, vectors.iterations);
      expect(eq(hex(master), c.master), `master of ${c.room}: ${hex(master)}`);
      const k = crypto.roomKeys(master);
      expect(eq(hex(k.enc), c.k_enc), `k_enc of ${c.room}`);
      expect(eq(hex(k.mac), c.k_mac), `k_mac of ${c.room}`);
      expect(eq(hex(k.auth), c.k_auth), `k_auth of ${c.room}`);
      expect(eq(crypto.b64uEncode(k.auth), c.auth_b64u), `auth_b64u of ${c.room}`);
    }
  });
  check('join proof of every case matches', (expect) => {
    for (const c of vectors.cases) {
      const p = crypto.joinProof(keysOf(c).auth, c.nonce, c.room, c.alias);
      expect(eq(p, c.join_proof), `proof of ${c.room}/${c.alias}: ${p}`);
      const other = crypto.joinProof(keysOf(c).auth, c.nonce, c.room, c.alias + 'x');
      expect(!eq(other, c.join_proof), `proof ignores the alias for ${c.room}`);
    }
  });
  check('every envelope seals to the vector body and opens to its plaintext', (expect) => {
    for (const c of vectors.cases) {
      const keys = keysOf(c);
      for (const e of c.envelopes) {
        const h = { room: c.room, kind: e.kind, from: e.from, to: e.to };
        const body = crypto.seal(keys, h, e.plaintext, null, unhex(e.iv));
        expect(eq(body, e.body), `seal ${c.room} ${e.kind} iv ${e.iv}`);
        const pt = crypto.open(keys, h, e.body);
        expect(eq(pt?.text, e.plaintext) && pt.stamp === null, `open ${c.room} ${e.kind} iv ${e.iv}: ${JSON.stringify(pt)?.slice(0, 40)}`);
      }
    }
  });
  check('every must_reject envelope is refused', (expect) => {
    for (const r of vectors.must_reject) {
      const c = vectors.cases.find((x) => x.room === r.room);
      expect(!!c, `no case for room ${r.room}`);
      if (!c) continue;
      const pt = crypto.open(keysOf(c), { room: r.room, kind: r.kind, from: r.from, to: r.to }, r.body);
      expect(pt === null, `accepted: ${r.why}`);
    }
  });
  check('the must_reject bodies are refused for their flaw, not for being unreadable', (expect) => {
    // Each rejected body differs from a valid one; opening the valid original under the
    // same case must succeed, otherwise the test above would pass for the wrong reason.
    const r = vectors.must_reject.find((x) => x.why === 'relayed under another sender');
    const c = vectors.cases.find((x) => x.room === r.room);
    const pt = crypto.open(keysOf(c), { room: r.room, kind: r.kind, from: c.alias, to: r.to }, r.body);
    expect(pt !== null, 'the untouched body does not open under its real sender');
  });
  const stampOf = (e) => ({ sid: e.sid, counter: e.counter, sentMs: e.sent_ms });
  const headerOf = (room, e) => ({ room, kind: e.kind, from: e.from, to: e.to });
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  check('v2: every envelope seals to the vector body and opens to its text and stamp', (expect) => {
    expect(v2.cases.length >= 2 && v2.must_reject.length >= 14, 'vector file lost cases');
    for (const c of v2.cases) {
      for (const e of c.envelopes) {
        const h = headerOf(c.room, e);
        const body = crypto.seal(keysOf(c), h, e.plaintext, stampOf(e), unhex(e.iv));
        expect(body === e.body, `seal ${c.room} ${e.kind} counter ${e.counter}`);
        const got = crypto.open(keysOf(c), h, e.body);
        expect(same(got, { text: e.plaintext, stamp: stampOf(e) }), `open ${e.kind} counter ${e.counter}: ${JSON.stringify(got)?.slice(0, 80)}`);
      }
    }
  });
  check('v2: every must_reject envelope is refused, and its source opens', (expect) => {
    const c = v2.cases[0];
    for (const r of v2.must_reject) {
      expect(r.room === c.room, `no case for room ${r.room}`);
      expect(crypto.open(keysOf(c), headerOf(r.room, r), r.body) === null, `accepted: ${r.why}`);
    }
    const src = v2.reject_source;
    const got = crypto.open(keysOf(c), headerOf(src.room, src), src.body);
    expect(same(got, { text: src.plaintext, stamp: stampOf(src) }), `the untouched source does not open: ${JSON.stringify(got)}`);
  });
  check('v2: a stamp is required, so nothing seals v1 by accident', (expect) => {
    const c = v2.cases[0];
    let threw = false;
    try {
      crypto.seal(keysOf(c), headerOf(c.room, c.envelopes[0]), 'x');
    } catch {
      threw = true;
    }
    expect(threw, 'seal without a stamp did not throw');
  });
  return results;
}

