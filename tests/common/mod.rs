//! Test support: the real server binary on ephemeral loopback ports, and clients.
#![allow(dead_code)] // each test binary uses a different part of this module

use sanctuary::client::{Client, Event, Session};
use sanctuary::crypto::{self, RoomKeys};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The `sanctuary` binary, running until dropped.
pub struct Server {
    child: Child,
    pub http: SocketAddr,
    pub ws: SocketAddr,
    pub banner: String,
    stdout: BufReader<ChildStdout>,
    stderr: ChildStderr,
    /// The server's own pid: `child`'s, or its child's when a wrapper (strace) runs it.
    pid: u32,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with_rlimit(extra, None)
    }

    /// The server under a resource limit (setrlimit, as `prlimit` does), for example
    /// `(libc::RLIMIT_AS, 128 << 20)`: an allocation driven by input past it aborts it.
    pub fn start_with_rlimit(
        extra: &[&str],
        rlimit: Option<(libc::__rlimit_resource_t, u64)>,
    ) -> Server {
        Server::spawn(&[], extra, rlimit)
    }

    /// The server run by a wrapper program, e.g. `["strace", "-f", "-o", FILE]`: the
    /// wrapper gets the binary's path and arguments after its own. [`Server::pid`] is
    /// then the server's pid (the wrapper's only child), not the wrapper's.
    pub fn start_wrapped(wrapper: &[&str], extra: &[&str]) -> Server {
        Server::spawn(wrapper, extra, None)
    }

    fn spawn(
        wrapper: &[&str],
        extra: &[&str],
        rlimit: Option<(libc::__rlimit_resource_t, u64)>,
    ) -> Server {
        use std::os::unix::process::CommandExt;
        let binary = env!("CARGO_BIN_EXE_sanctuary");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(binary);
                cmd
            }
            None => Command::new(binary),
        };
        // Ephemeral ports unless the test names its own (to restart on the same ones).
        for flag in ["--http-port", "--ws-port"] {
            if !extra.contains(&flag) {
                cmd.args([flag, "0"]);
            }
        }
        cmd.args(["--bind", "127.0.0.1"]).args(extra);
        if let Some((resource, value)) = rlimit {
            let limit = libc::rlimit {
                rlim_cur: value as libc::rlim_t,
                rlim_max: value as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe and `limit` is copied into the closure.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(resource, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the sanctuary binary");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = child.stderr.take().expect("piped stderr");
        let mut banner = String::new();
        let (mut http_port, mut ws_port) = (None, None);
        while ws_port.is_none() {
            let mut line = String::new();
            if stdout.read_line(&mut line).expect("read banner") == 0 {
                panic!("server exited during start-up; banner so far: {banner}");
            }
            if let Some(rest) = line.trim().strip_prefix("open http://127.0.0.1:") {
                http_port = rest.trim_end_matches('/').parse::<u16>().ok();
            }
            if let Some(rest) = line.trim().strip_prefix("chat port ") {
                ws_port = rest.parse::<u16>().ok();
            }
            banner.push_str(&line);
        }
        let ip = "127.0.0.1".parse().expect("ip");
        let pid = if wrapper.is_empty() {
            child.id()
        } else {
            let children = format!("/proc/{0}/task/{0}/children", child.id());
            let text = std::fs::read_to_string(children).expect("the wrapper's children");
            let mut pids = text.split_whitespace();
            let pid = pids.next().and_then(|p| p.parse().ok());
            assert!(
                pids.next().is_none(),
                "the wrapper runs more than the server"
            );
            pid.expect("the wrapper runs the server")
        };
        Server {
            http: SocketAddr::new(ip, http_port.expect("banner names the page URL")),
            ws: SocketAddr::new(ip, ws_port.expect("banner names the chat port")),
            banner,
            child,
            stdout,
            stderr,
            pid,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Open descriptors of the server (entries of /proc/PID/fd).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("proc fd")
            .count()
    }

    /// The inodes of the pipes that are the server's stdout and stderr.
    pub fn output_pipe_inodes(&self) -> [u64; 2] {
        use std::os::fd::AsRawFd;
        [self.stdout.get_ref().as_raw_fd(), self.stderr.as_raw_fd()].map(|fd| {
            // SAFETY: fstat on a descriptor this struct owns, into a zeroed stat.
            unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                assert_eq!(libc::fstat(fd, &mut st), 0, "fstat");
                st.st_ino
            }
        })
    }

    /// `/healthz`'s counts.
    pub fn healthz(&self) -> serde_json::Value {
        serde_json::from_str(&self.http_get("/healthz").2).expect("healthz json")
    }

    /// A line of /proc/PID/status, e.g. "Threads".
    pub fn status(&self, key: &str) -> u64 {
        let text =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc status"))
    }

    pub fn threads(&self) -> u64 {
        self.status("Threads")
    }

    /// Sends SIGTERM; returns the exit status and everything printed after the banner.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Duration, String, String) {
        let started = Instant::now();
        // SAFETY: plain kill(2) on the server we started (a wrapper exits with it).
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for server");
        let took = started.elapsed();
        let (mut out, mut err) = (String::new(), String::new());
        self.stdout.read_to_string(&mut out).expect("read stdout");
        self.stderr.read_to_string(&mut err).expect("read stderr");
        (status, took, out, err)
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.ws.to_string(), TIMEOUT).expect("connect and read hello")
    }

    /// A raw WebSocket after `hello` (returned too), for frames the client won't send.
    pub fn raw(&self) -> (WebSocket<TcpStream>, serde_json::Value) {
        let stream = TcpStream::connect(self.ws).expect("tcp connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let (mut ws, _) =
            tungstenite::client(format!("ws://{}/ws", self.ws), stream).expect("handshake");
        let hello = read_json(&mut ws);
        (ws, hello)
    }

    pub fn http_get(&self, path: &str) -> (u16, String, String) {
        http_request(self.http, "GET", path)
    }

    /// Whether the process is still running (not exited or killed).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Proves the server still does its job: the page loads, and two new members of a
    /// new room exchange a message.
    pub fn still_serves(&mut self) {
        assert!(self.alive(), "the server died");
        let (status, _, body) = self.http_get("/");
        assert_eq!(status, 200, "the page did not load");
        assert!(body.contains("<html"), "the page is not the page");
        let (room, keys) = (new_room(), new_keys());
        let (mut a, _) = enter(self, &room, "after-a", &keys);
        let (mut b, _) = enter(self, &room, "after-b", &keys);
        a.say("still here").expect("say");
        let got = wait_for(&mut b, "the message", |e| text_of(e).is_some());
        assert_eq!(text_of(&got), Some("still here"));
    }
}

/// Stops the server and checks it printed nothing after its banner and exited cleanly.
pub fn assert_silent_exit(srv: Server) {
    let (status, _, out, err) = srv.terminate();
    assert!(status.success(), "exit status {status:?}, stderr: {err}");
    assert!(out.is_empty() && err.is_empty(), "printed: {out}{err}");
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.pid != self.child.id() {
            // SAFETY: plain kill(2) on the server under the wrapper.
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 request; returns (status, headers, body).
pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let s = TcpStream::connect(addr).expect("connect http");
    http_request_on(s, addr, method, path)
}

/// One HTTP/1.0 request on a connected stream, as a browser sends it (any coding
/// accepted); the body is returned decoded, as a browser would read it.
pub fn http_request_on(
    s: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
) -> (u16, String, String) {
    let raw = http_exchange(
        s,
        &format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n"),
    );
    let (status, head, body) = split_response(&raw).expect("status code");
    let body = decoded_body(&head, &body).expect("the gzip body decodes");
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// Sends `request` (a whole head) and reads until the server closes.
pub fn http_exchange(mut s: TcpStream, request: &str) -> Vec<u8> {
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    raw
}

/// (status, head, body bytes as sent) of one response, if it has a status line.
pub fn split_response(raw: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    let (head, body) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&raw[..at], &raw[at + 4..]),
        None => (raw, &[][..]),
    };
    let head = String::from_utf8_lossy(head).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head, body.to_vec()))
}

/// The body a client reads: gunzipped when the head says `Content-Encoding: gzip` (and
/// there is one: a HEAD response has none); `None` if it does not decode.
pub fn decoded_body(head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let coded = head
        .to_ascii_lowercase()
        .contains("\r\ncontent-encoding: gzip\r\n");
    if !coded || body.is_empty() {
        return Some(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// Writes raw bytes to the page port and reads until the server closes (or `TIMEOUT`);
/// returns the status code of the first response, if any arrived.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    // The server may answer and close before reading it all: a failed write is fine.
    let _ = s.write_all(request);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok())
}

/// Connects from a chosen loopback source address (127.0.0.x are all loopback).
pub fn connect_from(src: [u8; 4], dst: SocketAddr) -> TcpStream {
    // SAFETY: plain socket/bind/connect on a fresh descriptor owned by the TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let stream = TcpStream::from_raw_fd(fd);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes(src);
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        assert_eq!(
            libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len),
            0,
            "bind source"
        );
        let SocketAddr::V4(d) = dst else {
            panic!("IPv4 test")
        };
        sa.sin_port = d.port().to_be();
        sa.sin_addr.s_addr = u32::from_ne_bytes(d.ip().octets());
        assert_eq!(
            libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), len),
            0,
            "connect"
        );
        stream
    }
}

pub fn read_json(ws: &mut WebSocket<TcpStream>) -> serde_json::Value {
    loop {
        match ws.read().expect("read frame") {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str()).expect("server sends JSON");
            }
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

/// Reads until the server closes; returns its close code.
pub fn close_code(ws: &mut WebSocket<TcpStream>) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

/// The join proof for the connection that got `hello`, as our clients make it
/// (PROTOCOL.md section 5: keyed with `X25519(k_auth, hello.key)`), b64u.
pub fn proof(hello: &serde_json::Value, k_auth: &[u8; 32], room: &str, alias: &str) -> String {
    let field =
        |name: &str| crypto::b64u_decode(hello[name].as_str().expect("hello field")).expect("b64u");
    let server: [u8; 32] = field("key").try_into().expect("a 32-byte server key");
    let key = sanctuary::verifier::proof_key(k_auth, &server).expect("a valid server key");
    crypto::b64u_encode(&crypto::join_proof(&key, &field("nonce"), room, alias))
}

/// A `create` as our clients send it: the room's verifier and a join proof.
pub fn create_frame(
    hello: &serde_json::Value,
    keys: &RoomKeys,
    room: &str,
    alias: &str,
) -> serde_json::Value {
    let verifier = crypto::b64u_encode(&sanctuary::verifier::verifier(&keys.k_auth));
    let proof = proof(hello, &keys.k_auth, room, alias);
    serde_json::json!({"t":"create","room":room,"alias":alias,"verifier":verifier,"proof":proof})
}

/// A raw WebSocket that joined `room` as `alias` with a valid proof (so it holds
/// `k_auth`), for a member that sends what no client would: captured or forged bodies.
pub fn raw_member(srv: &Server, room: &str, alias: &str, keys: &RoomKeys) -> WebSocket<TcpStream> {
    let (mut ws, hello) = srv.raw();
    let proof = proof(&hello, &keys.k_auth, room, alias);
    let join = serde_json::json!({"t":"join","room":room,"alias":alias,"proof":proof});
    ws.send(Message::text(join.to_string())).expect("send join");
    assert_eq!(read_json(&mut ws)["t"], "welcome", "{alias} joins {room}");
    ws
}

/// Seals `text` as a `msg` from `from` with the given stamp and sends it on `ws`: what a
/// member holding the keys (or only `k_auth`, with other keys) can send under any stamp.
pub fn send_sealed(
    ws: &mut WebSocket<TcpStream>,
    keys: &RoomKeys,
    room: &str,
    from: &str,
    stamp: &crypto::Stamp,
    text: &str,
) {
    let h = crypto::Header {
        room,
        kind: crypto::Kind::Msg,
        from,
        to: "",
    };
    let body = crypto::seal(keys, &h, stamp, text.as_bytes());
    let frame = serde_json::json!({"t":"msg","body":body});
    ws.send(Message::text(frame.to_string())).expect("send msg");
}

pub fn new_room() -> String {
    crypto::b64u_encode(&crypto::random_bytes::<16>())
}

/// Room keys without PBKDF2 (tests do not need a passphrase).
pub fn new_keys() -> RoomKeys {
    RoomKeys::from_master(&crypto::random_bytes())
}

/// Creates or joins `room` as `alias`; panics on refusal.
pub fn enter(srv: &Server, room: &str, alias: &str, keys: &RoomKeys) -> (Session, Event) {
    let (mut s, welcome) = srv
        .connect()
        .enter(room, alias, keys.clone(), true)
        .expect("enter room");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    (s, welcome)
}

/// Next event that is not a `joined` (joins of others are noise for most tests).
pub fn next(s: &mut Session) -> Event {
    loop {
        match s.next_event().expect("event") {
            Event::Joined { .. } => {}
            e => return e,
        }
    }
}

/// Reads events until one matches; panics on timeout or close.
pub fn wait_for(s: &mut Session, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = s
            .next_event()
            .unwrap_or_else(|err| panic!("waiting for {what}: {err}"));
        if pred(&e) {
            return e;
        }
        if let Event::Closed { .. } = e {
            panic!("closed while waiting for {what}");
        }
    }
}

pub fn text_of(e: &Event) -> Option<&str> {
    match e {
        Event::Message { text: Ok(t), .. } => Some(t),
        _ => None,
    }
}

/// A small deterministic generator (xorshift64): the same cases on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `seed` with up to 8 mutations (a byte replaced by one of `alphabet` or a random
    /// one, inserted, removed, a span repeated, or the tail cut), or one time in ten
    /// pure noise of up to `noise` bytes.
    pub fn mutate(&mut self, seed: &[u8], alphabet: &[u8], noise: usize) -> Vec<u8> {
        if self.below(10) == 0 {
            let len = self.below(noise + 1);
            return (0..len).map(|_| self.next() as u8).collect();
        }
        let mut input = seed.to_vec();
        for _ in 0..self.below(9) {
            if input.is_empty() {
                input.push(*self.pick(alphabet));
            }
            let at = self.below(input.len());
            let byte = if self.below(4) == 0 {
                self.next() as u8
            } else {
                *self.pick(alphabet)
            };
            match self.below(5) {
                0 => input[at] = byte,
                1 => input.insert(at, byte),
                2 => {
                    input.remove(at);
                }
                3 => {
                    let end = (at + 1 + self.below(16)).min(input.len());
                    let span = input[at..end].to_vec();
                    input.splice(at..at, span);
                }
                _ => input.truncate(at),
            }
        }
        input
    }
}

/// `base` times SANCTUARY_FUZZ_ITERATIONS (default 1; `make fuzz` raises it).
pub fn fuzz_iterations(base: usize) -> usize {
    let times = std::env::var("SANCTUARY_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    base.saturating_mul(times.max(1))
}
