#!/usr/bin/env python3
"""Smoke test of a running sanctuary binary with real protocol-v1 clients.

Python 3 standard library only (it runs on a bare CI machine and on a Pi). It speaks
the wire protocol of docs/PROTOCOL.md the way a real client does: a WebSocket client
with masked frames, the key schedule (PBKDF2-HMAC-SHA256), join proofs, and real
envelopes (AES-256-CTR with a small pure-Python AES, HMAC-SHA256 tags), which the
receiving clients decrypt and verify.

    smoke.py --selftest [--vectors tests/vectors/v1.json]
        check this script's crypto against the shared test vectors

    smoke.py [--clients 20] [--vectors ...] -- COMMAND [ARG...]
        start COMMAND --http-port P --ws-port Q --bind 127.0.0.1 (free ports picked here),
        e.g. `-- qemu-arm -cpu arm1176 dist/sanctuary-...`, then check:
        the page, /config.json and /healthz are served; a room is created (join ->
        no_room -> create), others join with proofs (a wrong proof is refused), a message
        reaches every member, sender included, a whisper (purr) reaches only its two ends,
        stop purges the room (purged + close 4002) and the room is gone; nothing the
        clients sent shows up in the server's output. Then --clients N clients join one
        room and talk, and the RSS of the server process (of qemu, under qemu) is printed
        idle and with N clients.

    smoke.py --host H --http-port P --ws-port Q
        the same checks against a server someone else started (no RSS figures).

Exit status 0 when every check passed.
"""

import argparse
import base64
import gzip
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------- AES-256


def _rotl8(x, n):
    return ((x << n) | (x >> (8 - n))) & 0xFF


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    sbox = [0] * 256
    p = q = 1
    while True:
        p = p ^ _xtime(p)  # p * 3
        q ^= q << 1  # q / 3
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        sbox[p] = q ^ _rotl8(q, 1) ^ _rotl8(q, 2) ^ _rotl8(q, 3) ^ _rotl8(q, 4) ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63
    return sbox


SBOX = _sbox()
TE0 = []
for _s in SBOX:
    _s2 = _xtime(_s)
    TE0.append((_s2 << 24) | (_s << 16) | (_s << 8) | (_s2 ^ _s))
TE1 = [((t >> 8) | (t << 24)) & 0xFFFFFFFF for t in TE0]
TE2 = [((t >> 16) | (t << 16)) & 0xFFFFFFFF for t in TE0]
TE3 = [((t >> 24) | (t << 8)) & 0xFFFFFFFF for t in TE0]


class AES256:
    """AES-256 encryption of single blocks (all CTR mode needs)."""

    def __init__(self, key):
        assert len(key) == 32
        w = list(struct.unpack(">8I", key))
        rcon = 1
        for i in range(8, 60):
            t = w[i - 1]
            if i % 8 == 0:
                t = ((t << 8) | (t >> 24)) & 0xFFFFFFFF
                t = (SBOX[t >> 24] << 24) | (SBOX[(t >> 16) & 255] << 16) | (SBOX[(t >> 8) & 255] << 8) | SBOX[t & 255]
                t ^= rcon << 24
                rcon = _xtime(rcon)
            elif i % 8 == 4:
                t = (SBOX[t >> 24] << 24) | (SBOX[(t >> 16) & 255] << 16) | (SBOX[(t >> 8) & 255] << 8) | SBOX[t & 255]
            w.append(w[i - 8] ^ t)
        self.rk = w

    def encrypt_block(self, block):
        rk = self.rk
        s0, s1, s2, s3 = struct.unpack(">4I", block)
        s0 ^= rk[0]
        s1 ^= rk[1]
        s2 ^= rk[2]
        s3 ^= rk[3]
        for r in range(1, 14):
            k = 4 * r
            t0 = TE0[s0 >> 24] ^ TE1[(s1 >> 16) & 255] ^ TE2[(s2 >> 8) & 255] ^ TE3[s3 & 255] ^ rk[k]
            t1 = TE0[s1 >> 24] ^ TE1[(s2 >> 16) & 255] ^ TE2[(s3 >> 8) & 255] ^ TE3[s0 & 255] ^ rk[k + 1]
            t2 = TE0[s2 >> 24] ^ TE1[(s3 >> 16) & 255] ^ TE2[(s0 >> 8) & 255] ^ TE3[s1 & 255] ^ rk[k + 2]
            t3 = TE0[s3 >> 24] ^ TE1[(s0 >> 16) & 255] ^ TE2[(s1 >> 8) & 255] ^ TE3[s2 & 255] ^ rk[k + 3]
            s0, s1, s2, s3 = t0, t1, t2, t3
        S = SBOX

        def last(a, b, c, d, k):
            return ((S[a >> 24] << 24) | (S[(b >> 16) & 255] << 16) | (S[(c >> 8) & 255] << 8) | S[d & 255]) ^ k

        return struct.pack(
            ">4I",
            last(s0, s1, s2, s3, rk[56]),
            last(s1, s2, s3, s0, rk[57]),
            last(s2, s3, s0, s1, rk[58]),
            last(s3, s0, s1, s2, rk[59]),
        )


def aes256_ctr(key, iv, data):
    """AES-256-CTR; the counter is the whole 16-byte block, big-endian, wrapping."""
    aes = AES256(key)
    ctr = int.from_bytes(iv, "big")
    out = bytearray()
    for off in range(0, len(data), 16):
        ks = aes.encrypt_block(ctr.to_bytes(16, "big"))
        chunk = data[off : off + 16]
        out += bytes(a ^ b for a, b in zip(chunk, ks))
        ctr = (ctr + 1) & ((1 << 128) - 1)
    return bytes(out)


# --------------------------------------------------------------------------- protocol v1 crypto

ITERATIONS = 100000


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def lp(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


# --------------------------------------------------------------------------- X25519

_P25519 = 2**255 - 19


def x25519(scalar, u):
    """RFC 7748 section 5, as written there (Python integers: plain, not constant time,
    which a test client does not need)."""
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = x2 + z2, x2 - z2
        aa, bb = a * a % _P25519, b * b % _P25519
        e = aa - bb
        c, d = x3 + z3, x3 - z3
        da, cb = d * a % _P25519, c * b % _P25519
        x3, z3 = (da + cb) ** 2 % _P25519, x1 * (da - cb) ** 2 % _P25519
        x2, z2 = aa * bb % _P25519, e * (aa + 121665 * e) % _P25519
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, _P25519 - 2, _P25519) % _P25519).to_bytes(32, "little")


BASE_POINT = (9).to_bytes(32, "little")


class Keys:
    def __init__(self, room, secret):
        self.room = room
        self.master = hashlib.pbkdf2_hmac(
            "sha256", secret.encode("utf-8"), b"sanctuary/v1/" + room.encode("utf-8"), ITERATIONS, 32
        )
        self.k_enc = hmac256(self.master, b"enc")
        self.k_mac = hmac256(self.master, b"mac")
        self.k_auth = hmac256(self.master, b"auth")

    def proof(self, nonce_b64u, alias, server_key=None):
        """v1's proof; with the server's `hello` key, the proof of PROTOCOL.md section 5a,
        keyed by X25519(k_auth, server key) instead of k_auth."""
        key = self.k_auth if server_key is None else x25519(self.k_auth, unb64u(server_key))
        return b64u(hmac256(key, lp("join") + lp(unb64u(nonce_b64u)) + lp(self.room) + lp(alias)))

    def verifier(self):
        return b64u(x25519(self.k_auth, BASE_POINT))

    def _tag(self, kind, frm, to, iv, ct):
        return hmac256(
            self.k_mac, lp("sanctuary/v1") + lp(self.room) + lp(kind) + lp(frm) + lp(to) + lp(iv) + lp(ct)
        )

    def seal(self, kind, frm, to, plaintext, iv=None):
        iv = iv or os.urandom(16)
        ct = aes256_ctr(self.k_enc, iv, plaintext.encode("utf-8"))
        return b64u(b"\x01" + iv + ct + self._tag(kind, frm, to, iv, ct))

    def open(self, kind, frm, to, body):
        """The plaintext, or ValueError when the envelope does not verify."""
        raw = unb64u(body)
        if len(raw) < 1 + 16 + 32 or raw[0] != 1:
            raise ValueError("bad envelope")
        iv, ct, tag = raw[1:17], raw[17:-32], raw[-32:]
        if not hmac.compare_digest(tag, self._tag(kind, frm, to, iv, ct)):
            raise ValueError("tag mismatch")
        return aes256_ctr(self.k_enc, iv, ct).decode("utf-8")


def selftest(vectors_path):
    # FIPS-197 C.3: AES-256
    k = bytes(range(32))
    assert AES256(k).encrypt_block(bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == (
        "8ea2b7ca516745bfeafc49904b496089"
    ), "AES-256 known answer"
    # NIST SP 800-38A F.5.5: CTR-AES256.Encrypt, first two blocks
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    iv = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    pt = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    assert aes256_ctr(key, iv, pt).hex() == (
        "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
    ), "AES-256-CTR known answer"
    # counter wraps as a 128-bit integer
    assert aes256_ctr(key, b"\xff" * 16, bytes(32))[16:] == AES256(key).encrypt_block(bytes(16))

    with open(vectors_path, encoding="utf-8") as f:
        vec = json.load(f)
    assert vec["iterations"] == ITERATIONS
    keys_by_room = {}
    n_env = 0
    for case in vec["cases"]:
        keys = Keys(case["room"], case["secret"])
        keys_by_room[case["room"]] = keys
        assert keys.master.hex() == case["master"], "master"
        assert keys.k_enc.hex() == case["k_enc"], "k_enc"
        assert keys.k_mac.hex() == case["k_mac"], "k_mac"
        assert keys.k_auth.hex() == case["k_auth"], "k_auth"
        assert b64u(keys.k_auth) == case["auth_b64u"], "auth_b64u"
        assert keys.proof(case["nonce"], case["alias"]) == case["join_proof"], "join proof"
        for env in case["envelopes"]:
            body = keys.seal(env["kind"], env["from"], env["to"], env["plaintext"], bytes.fromhex(env["iv"]))
            assert body == env["body"], "envelope %s %r" % (env["kind"], env["plaintext"][:20])
            assert keys.open(env["kind"], env["from"], env["to"], env["body"]) == env["plaintext"]
            n_env += 1
    for bad in vec.get("must_reject", []):
        keys = keys_by_room[bad["room"]]
        try:
            keys.open(bad["kind"], bad["from"], bad["to"], bad["body"])
        except ValueError:
            continue
        raise AssertionError("accepted a forged envelope: " + bad["why"])
    # RFC 7748 5.2, then the verifier join's vectors (tests/vectors/join-v2.json).
    assert x25519(
        bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    ).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552", "X25519 known answer"
    with open(os.path.join(os.path.dirname(vectors_path), "join-v2.json"), encoding="utf-8") as f:
        joins = json.load(f)["cases"]
    for case in joins:
        k_auth = bytes.fromhex(case["k_auth"])
        assert b64u(x25519(k_auth, BASE_POINT)) == case["verifier"], "verifier"
        assert x25519(k_auth, unb64u(case["server_public"])).hex() == case["dh"], "proof key"
        assert x25519(bytes.fromhex(case["server_secret"]), unb64u(case["verifier"])).hex() == case["dh"], "dh"
        keys = Keys.__new__(Keys)
        keys.room, keys.k_auth = case["room"], k_auth
        assert keys.proof(case["nonce"], case["alias"], case["server_public"]) == case["proof"], "v2 proof"
    print(
        "selftest: AES-256/CTR and X25519 known answers, %d key schedules + proofs, %d envelopes, %d forgeries refused, %d verifier joins: ok"
        % (len(vec["cases"]), n_env, len(vec.get("must_reject", [])), len(joins))
    )


# --------------------------------------------------------------------------- WebSocket client


class Closed(Exception):
    def __init__(self, code, reason=""):
        super().__init__("closed %s %s" % (code, reason))
        self.code = code
        self.reason = reason


class WS:
    """A minimal RFC 6455 client: text frames out (masked), text/close/ping in."""

    def __init__(self, host, port, path="/ws", timeout=15.0, name="?"):
        self.name = name
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        req = (
            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)
        )
        self.sock.sendall(req.encode("ascii"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("%s: connection closed during the WebSocket handshake" % name)
            buf += chunk
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].split(" ")[1] == "101", "%s: handshake answered %r" % (name, lines[0])
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert headers.get("sec-websocket-accept") == want.decode(), "%s: bad Sec-WebSocket-Accept" % name
        self.closed = None

    def _send_frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, obj):
        self._send_frame(0x1, json.dumps(obj).encode("utf-8"))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None, "EOF")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=None):
        """The next JSON object; raises Closed on a close frame or EOF."""
        if self.closed is not None:
            raise self.closed
        self.sock.settimeout(timeout or self.timeout)
        message = b""
        while True:
            try:
                b0, b1 = self._read(2)
            except socket.timeout:
                raise AssertionError("%s: nothing received in %ss" % (self.name, timeout or self.timeout))
            except Closed as e:
                self.closed = e
                raise
            assert not b1 & 0x80, "%s: server frames must not be masked" % self.name
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._read(8))
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:  # pong
                continue
            if opcode == 0x8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    self._send_frame(0x8, payload[:2])
                except OSError:
                    pass
                self.closed = Closed(code, payload[2:].decode("utf-8", "replace"))
                raise self.closed
            assert opcode in (0x0, 0x1), "%s: unexpected opcode %d" % (self.name, opcode)
            message += payload
            if b0 & 0x80:
                return json.loads(message.decode("utf-8"))

    def expect(self, t, timeout=None, **fields):
        obj = self.recv(timeout)
        assert obj.get("t") == t, "%s: expected %r, got %r" % (self.name, t, obj)
        for k, v in fields.items():
            assert obj.get(k) == v, "%s: %r: expected %s=%r" % (self.name, obj, k, v)
        return obj

    def expect_close(self, code, timeout=None):
        try:
            obj = self.recv(timeout)
        except Closed as e:
            assert e.code == code, "%s: closed with %r, expected %r" % (self.name, e.code, code)
            return
        raise AssertionError("%s: expected close %r, got %r" % (self.name, code, obj))

    def close(self):
        try:
            if self.closed is None:
                self._send_frame(0x8, struct.pack(">H", 1000))
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- the checks


def http_get(host, port, path):
    # The page's files are stored gzip-coded only (http.client would ask for identity and
    # get 406): ask as a browser does, and decode as it would.
    conn = http.client.HTTPConnection(host, port, timeout=15)
    conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if (resp.getheader("Content-Encoding") or "").lower() == "gzip":
        body = gzip.decompress(body)
    return resp.status, resp.getheader("Content-Type") or "", body


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("  ok  " + what)


class Client:
    def __init__(self, host, port, keys, alias):
        self.ws = WS(host, port, name=alias)
        self.alias = alias
        self.keys = keys
        hello = self.ws.expect("hello", v=1)
        self.nonce = hello["nonce"]
        self.server_key = hello["key"]
        assert len(unb64u(self.nonce)) == 32, "hello nonce must be 32 bytes"
        assert len(unb64u(self.server_key)) == 32, "hello key must be 32 bytes"

    def proof(self):
        return self.keys.proof(self.nonce, self.alias, self.server_key)

    def join(self):
        self.ws.send({"t": "join", "room": self.keys.room, "alias": self.alias, "proof": self.proof()})
        return self.ws.recv()

    def create(self):
        # The room's verifier, never k_auth (PROTOCOL.md section 5a).
        msg = {"t": "create", "room": self.keys.room, "alias": self.alias, "verifier": self.keys.verifier(), "proof": self.proof()}
        self.ws.send(msg)
        return self.ws.recv()

    def say(self, text):
        self.ws.send({"t": "msg", "body": self.keys.seal("msg", self.alias, "", text)})

    def whisper(self, to, text):
        self.ws.send({"t": "purr", "to": to, "body": self.keys.seal("purr", self.alias, to, text)})

    def expect_msg(self, kind, frm, text, to=None):
        fields = {"from": frm}
        if to is not None:
            fields["to"] = to
        m = self.ws.expect(kind, **fields)
        assert isinstance(m.get("seq"), int) and isinstance(m.get("ts"), int), "%s: seq/ts: %r" % (self.alias, m)
        assert abs(m["ts"] - time.time() * 1000) < 300000, "%s: ts %r is not the server clock" % (self.alias, m["ts"])
        got = self.keys.open(kind, m["from"], m.get("to", "") if kind == "purr" else "", m["body"])
        assert got == text, "%s: decrypted %r, expected %r" % (self.alias, got, text)
        return m


def scenario(host, http_port, ws_port):
    """The protocol smoke test. Returns the strings that must never reach the server's output."""
    print("page and endpoints (http://%s:%d/)" % (host, http_port))
    status, ctype, body = http_get(host, http_port, "/")
    check(status == 200 and "text/html" in ctype and b"<html" in body.lower(), "GET / serves the page (%d bytes)" % len(body))
    # Every same-server asset the page names (and the modules its scripts import) is served.
    todo = ["/" + u.lstrip("/") for u in re.findall(r'(?:src|href)="(/?[A-Za-z0-9_./-]+)"', body.decode("utf-8", "replace"))]
    done = set()
    while todo:
        path = todo.pop()
        if path in done or path.startswith("//"):
            continue
        done.add(path)
        status, _, asset = http_get(host, http_port, path)
        assert status == 200, "GET %s (named by the page): %d" % (path, status)
        if path.endswith(".js"):
            base = path.rsplit("/", 1)[0]
            for mod in re.findall(r'["\'](\./[A-Za-z0-9_./-]+\.js)["\']', asset.decode("utf-8", "replace")):
                todo.append(base + "/" + mod[2:])
    check(len(done) > 0, "GET of every asset the page uses: %d served (%s)" % (len(done), ", ".join(sorted(done))))
    status, _, body = http_get(host, http_port, "/config.json")
    cfg = json.loads(body)
    check(status == 200 and cfg.get("ws_port") == ws_port, "GET /config.json names ws_port %d" % ws_port)
    status, _, body = http_get(host, http_port, "/healthz")
    check(status == 200, "GET /healthz: %s" % body.decode("utf-8", "replace").strip()[:120])

    print("protocol v1 on ws://%s:%d/ws" % (host, ws_port))
    room = b64u(os.urandom(16))
    secret = b64u(os.urandom(16))
    keys = Keys(room, secret)
    a, b, c = "smk_alice", "smk.bob", "smk-carol"
    alice = Client(host, ws_port, keys, a)
    r = alice.join()
    check(r.get("t") == "error" and r.get("code") == "no_room", "join of a new room: error no_room")
    r = alice.create()
    check(r.get("t") == "welcome" and r.get("room") == room and r.get("alias") == a and r.get("members") == [a], "create -> welcome, members [%s]" % a)

    bob = Client(host, ws_port, keys, b)
    r = bob.join()
    check(r.get("t") == "welcome" and sorted(r.get("members", [])) == sorted([a, b]), "join with a proof -> welcome with both members")
    alice.ws.expect("joined", alias=b)
    check(True, "the others are told: joined %s" % b)

    mallory = Client(host, ws_port, Keys(room, "not the secret at all"), "smk_mallory")
    r = mallory.join()
    check(r.get("t") == "error" and r.get("code") == "bad_proof", "a wrong proof -> error bad_proof")
    try:
        extra = mallory.ws.recv(timeout=10)
        raise AssertionError("after bad_proof the server sent %r instead of closing" % extra)
    except Closed:
        check(True, "... and the connection is closed")

    carol = Client(host, ws_port, keys, c)
    r = carol.join()
    check(r.get("t") == "welcome" and sorted(r.get("members", [])) == sorted([a, b, c]), "a third member joins")
    alice.ws.expect("joined", alias=c)
    bob.ws.expect("joined", alias=c)

    text1 = "hello from the Pi smoke test \u2014 na\u00efve caf\u00e9 \U0001f980"
    alice.say(text1)
    seqs = [cl.expect_msg("msg", a, text1)["seq"] for cl in (alice, bob, carol)]
    check(len(set(seqs)) == 1, "msg reaches every member, sender included; all decrypt and verify it (seq %d)" % seqs[0])

    text2 = "a whisper only alice may read"
    bob.whisper(a, text2)
    m1 = alice.expect_msg("purr", b, text2, to=a)
    m2 = bob.expect_msg("purr", b, text2, to=a)
    # seq counts only what every member gets (msg): a purr repeats the last one's, so
    # nobody learns from a gap that others whispered.
    check(m1["seq"] == m2["seq"] == seqs[0], "purr reaches its target and its sender, with the last msg's seq %d" % m1["seq"])

    text3 = "carol speaks after the whisper"
    carol.say(text3)
    m3 = carol.expect_msg("msg", c, text3)  # carol's next frame: her own msg, not the purr
    alice.expect_msg("msg", c, text3)
    bob.expect_msg("msg", c, text3)
    check(m3["seq"] == seqs[0] + 1, "the third member never saw the whisper, and sees no gap (next frame is seq %d)" % m3["seq"])

    alice.ws.send({"t": "stop"})
    for cl in (alice, bob, carol):
        cl.ws.expect("purged", by=a)
        cl.ws.expect_close(4002)
    check(True, "stop -> purged by %s to every member, all closed with 4002" % a)

    dave = Client(host, ws_port, keys, "smk_dave")
    r = dave.join()
    check(r.get("t") == "error" and r.get("code") == "no_room", "the stopped room is forgotten (no_room)")
    for cl in (alice, bob, carol, mallory, dave):
        cl.ws.close()
    return [room, secret, b64u(keys.k_auth), a, b, c, "smk_mallory", "smk_dave", text1, text2, text3]


def crowd(host, ws_port, n):
    """n clients in one room, each says something; returns them (still connected)."""
    keys = Keys(b64u(os.urandom(16)), b64u(os.urandom(16)))
    clients = []
    for i in range(n):
        cl = Client(host, ws_port, keys, "crowd%02d" % i)
        r = cl.join()
        if i == 0:
            assert r.get("code") == "no_room", r
            r = cl.create()
        assert r.get("t") == "welcome" and len(r["members"]) == i + 1, r
        for other in clients:
            other.ws.expect("joined", alias=cl.alias)
        clients.append(cl)
    for cl in clients:
        text = "message from %s" % cl.alias
        cl.say(text)
        for other in clients:
            other.expect_msg("msg", cl.alias, text)
    return clients


def rss_kib(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def guest_rss_kib(pid, binary):
    """Under qemu-arm (a 32-bit guest, guest_base 0 on a 64-bit host) the guest's own pages
    are the mappings below 4 GiB: its binary, heap and thread stacks. Their RSS sum is a
    closer idea of what the process needs on a Pi than qemu's RSS (which adds qemu itself,
    its libraries and translated code). None when the layout is not that one."""
    total, seen_binary, start = 0, False, None
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                head = line.split()
                if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                    start = int(head[0].split("-")[0], 16)
                    if start < 1 << 32 and len(head) >= 6 and os.path.realpath(head[5]) == os.path.realpath(binary):
                        seen_binary = True
                elif head[0] == "Rss:" and start is not None and start < 1 << 32:
                    total += int(head[1])
    except OSError:
        return None
    return total if seen_binary else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc, host, ports, deadline):
    for port in ports:
        while True:
            if proc.poll() is not None:
                raise AssertionError("the server exited early with status %s" % proc.returncode)
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError("the server does not listen on %s:%d" % (host, port))
                time.sleep(0.1)


def run_server(command, n_clients):
    host = "127.0.0.1"
    http_port = free_port()
    ws_port = free_port()
    while ws_port == http_port:
        ws_port = free_port()
    cmd = list(command) + ["--http-port", str(http_port), "--ws-port", str(ws_port), "--bind", host]
    print("starting: " + " ".join(cmd))
    out = tempfile.TemporaryFile()
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    ok = False
    try:
        wait_listening(proc, host, [http_port, ws_port], time.time() + 60)
        print("listening after %.1fs" % (time.time() - t0))
        time.sleep(1.0)
        binary = command[-1]
        idle, _ = rss_kib(proc.pid)
        # Only for a 32-bit guest under qemu-arm: see guest_rss_kib.
        guest = os.path.basename(command[0]) == "qemu-arm"
        guest_idle = guest_rss_kib(proc.pid, binary) if guest else None
        secrets = scenario(host, http_port, ws_port)
        clients = []
        if n_clients:
            print("%d clients in one room" % n_clients)
            clients = crowd(host, ws_port, n_clients)
            time.sleep(0.5)
            loaded, peak = rss_kib(proc.pid)
            guest_loaded = guest_rss_kib(proc.pid, binary) if guest else None
            check(True, "%d clients joined and each message reached all %d" % (n_clients, n_clients))
            secrets += [cl.alias for cl in clients]
            clients[0].ws.send({"t": "stop"})
            for cl in clients:
                cl.ws.expect("purged")
                cl.ws.close()
        check(proc.poll() is None, "the server is still running")
        status, _, body = http_get(host, http_port, "/healthz")
        print("  healthz after: %s" % body.decode("utf-8", "replace").strip()[:200])
        ok = True
    finally:
        stopped = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
                stopped = proc.returncode == 0
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                stopped = False
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
        if not ok:
            print("---- server output ----\n" + output + "-----------------------")
    if stopped is not None:
        check(stopped, "on SIGTERM the server purges and exits by itself, status 0, within 10 s")
    leaked = [s for s in secrets if s in output]
    check(not leaked, "the server wrote none of the room ids, secrets, aliases or texts (%d bytes of output)" % len(output))
    line = "RSS of the server process (%s): idle %d KiB" % (os.path.basename(command[0]), idle)
    if n_clients:
        line += ", with %d clients %d KiB (peak %d KiB)" % (n_clients, loaded, peak)
    print(line)
    if guest_idle is not None:
        line = "RSS of the guest's own mappings (< 4 GiB): idle %d KiB" % guest_idle
        if n_clients and guest_loaded is not None:
            line += ", with %d clients %d KiB" % (n_clients, guest_loaded)
        print(line)
    if os.path.basename(command[0]).startswith("qemu"):
        print("(under qemu-user these figures are only indicative of the RSS on a real Pi)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true", help="check the crypto against the vectors and exit")
    ap.add_argument("--vectors", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vectors", "v1.json"))
    ap.add_argument("--clients", type=int, default=20, help="clients in the crowd phase (0: none)")
    ap.add_argument("--host", help="test a server already running on HOST (with --http-port, --ws-port)")
    ap.add_argument("--http-port", type=int)
    ap.add_argument("--ws-port", type=int)
    ap.add_argument("command", nargs="*", help="server command (after --)")
    args = ap.parse_args()
    try:
        if os.path.exists(args.vectors):
            selftest(args.vectors)
        elif args.selftest:
            raise AssertionError("no vectors at " + args.vectors)
        if args.selftest:
            return 0
        if args.host:
            scenario(args.host, args.http_port, args.ws_port)
            if args.clients:
                for cl in crowd(args.host, args.ws_port, args.clients):
                    cl.ws.close()
        elif args.command:
            run_server(args.command, args.clients)
        else:
            ap.error("give a server command after --, or --host, or --selftest")
    except (AssertionError, Closed, OSError, ValueError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
