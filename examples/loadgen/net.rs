//! The load generator's clients: every socket non-blocking on one epoll instance,
//! driven by the calling thread (no thread per client, no async runtime).
//!
//! A client goes Upgrading -> Hello -> Joining -> In. In a room it counts every
//! relayed `msg` by the room's `seq` (a gap or a repeat is a loss), reads the send
//! stamp of each with [`RoomCrypto::peek`] for its latency, and fully verifies one
//! delivery in `verify_every`. Anything unexpected (an error frame, a close, a
//! dropped socket) is counted and fails the run.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sanctuary::crypto;
use sanctuary::ws::outbound::send_nonblocking;

use crate::msg::{self, RoomCrypto, Stamp};
use crate::ws;

/// How many clients may be between connect and welcome at once (the server's
/// listen backlog is 128; staying under it avoids SYN retries).
const JOINING_AT_ONCE: usize = 64;
/// The most one `recv` takes from a socket.
pub const READ_CHUNK: usize = 128 * 1024;

/// Nanoseconds on one monotonic clock shared by every thread of the process.
pub fn now_ns() -> u64 {
    static T0: OnceLock<Instant> = OnceLock::new();
    let t0 = *T0.get_or_init(Instant::now);
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Upgrading,
    Hello,
    Joining,
    In,
    Closed,
}

pub struct Client {
    idx: usize,
    sock: TcpStream,
    pub room: usize,
    pub alias: String,
    create: bool,
    accept: String,
    phase: Phase,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    want_out: bool,
    /// Next `seq` expected; every member joins before the room's first message.
    next_seq: u64,
    /// Relayed messages received in `seq` order (a jump counts in `gaps`, a `seq`
    /// already seen in `repeats` and not here).
    pub delivered: u64,
    gaps: u64,
    repeats: u64,
    number: u32,
}

pub struct Room {
    pub crypto: Arc<RoomCrypto>,
    pub members: Vec<usize>,
    /// Messages sent into the room: each member must receive exactly these.
    pub sent: u64,
    created: bool,
}

/// Counters of one measurement; reset with [`Net::reset_tally`].
#[derive(Default, Debug)]
pub struct Tally {
    pub deliveries: u64,
    pub verified: u64,
    pub bad_envelopes: u64,
    pub other_frames: u64,
    pub errors: u64,
    pub closed: u64,
    /// The first few unexpected things, for the report.
    pub notes: Vec<String>,
}

impl Tally {
    fn note(&mut self, what: String) {
        if self.notes.len() < 8 {
            self.notes.push(what);
        }
    }
}

/// Every delivery anomaly; any is a failure. (A lost message shows both as
/// missing and as a gap, a reordered one as a gap and a repeat.)
#[derive(Debug, Default, Clone, Copy)]
pub struct Losses {
    /// Messages a member should have and has not (after draining).
    pub missing: u64,
    pub gaps: u64,
    pub repeats: u64,
    pub bad_envelopes: u64,
    pub errors: u64,
    pub closed: u64,
}

impl Losses {
    pub fn total(&self) -> u64 {
        self.missing + self.gaps + self.repeats + self.bad_envelopes + self.errors + self.closed
    }
}

/// What a read needs besides the client itself.
struct Ctx {
    tally: Tally,
    latencies: Option<Vec<u32>>,
    verify_every: u32,
    verify_tick: u32,
    dirty: Vec<usize>,
    /// Clients closed since the last poll, to take off the epoll set.
    gone: Vec<usize>,
    mask: u64,
}

impl Ctx {
    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift64: masks need no secrecy here, only variety.
        self.mask ^= self.mask << 13;
        self.mask ^= self.mask >> 7;
        self.mask ^= self.mask << 17;
        (self.mask as u32).to_le_bytes()
    }
}

pub struct Net {
    ep: OwnedFd,
    addr: SocketAddr,
    pub clients: Vec<Client>,
    pub rooms: Vec<Room>,
    scratch: Vec<u8>,
    events: Vec<libc::epoll_event>,
    ctx: Ctx,
    iv_prefix: [u8; 8],
    iv_counter: u64,
}

/// One client to open: its room (an index into [`Net::rooms`]) and alias; the first
/// of each room creates it.
pub struct Spec {
    pub room: usize,
    pub alias: String,
}

/// A new epoll instance.
pub fn epoll_create() -> Result<OwnedFd, String> {
    // SAFETY: plain epoll_create1; the descriptor is owned right away.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(format!("epoll_create1: {}", io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits at most `timeout` for events into `events`; how many arrived (0 when a
/// signal interrupted the wait).
pub fn epoll_wait(
    ep: &OwnedFd,
    events: &mut [libc::epoll_event],
    timeout: Duration,
) -> Result<usize, String> {
    let ms = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
    // SAFETY: `events` is a valid buffer of at least `max` entries.
    let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), max, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(format!("epoll_wait: {e}"));
    }
    Ok(n as usize)
}

pub fn epoll_ctl(
    ep: &OwnedFd,
    op: libc::c_int,
    fd: i32,
    events: u32,
    key: usize,
) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: key as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the call's duration.
    if unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `recv` without blocking into `buf`.
pub fn recv(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Net {
    pub fn new(addr: SocketAddr, verify_every: u32) -> Result<Net, String> {
        let ep = epoll_create()?;
        let seed: [u8; 8] = crypto::random_bytes();
        Ok(Net {
            ep,
            addr,
            clients: Vec::new(),
            rooms: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 512],
            ctx: Ctx {
                tally: Tally::default(),
                latencies: None,
                verify_every: verify_every.max(1),
                verify_tick: 0,
                dirty: Vec::new(),
                gone: Vec::new(),
                mask: u64::from_le_bytes(seed) | 1,
            },
            iv_prefix: crypto::random_bytes(),
            iv_counter: 0,
        })
    }

    pub fn add_room(&mut self, crypto: Arc<RoomCrypto>) -> usize {
        self.rooms.push(Room {
            crypto,
            members: Vec::new(),
            sent: 0,
            created: false,
        });
        self.rooms.len() - 1
    }

    /// Starts recording every delivery's latency (ns), or stops.
    pub fn record_latencies(&mut self, on: bool) {
        self.ctx.latencies = on.then(Vec::new);
    }

    pub fn take_latencies(&mut self) -> Vec<u32> {
        self.ctx.latencies.take().unwrap_or_default()
    }

    pub fn tally(&self) -> &Tally {
        &self.ctx.tally
    }

    pub fn reset_tally(&mut self) {
        self.ctx.tally = Tally::default();
    }

    fn connect(&mut self, spec: Spec) -> Result<usize, String> {
        let sock = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect to {}: {e}", self.addr))?;
        let key = tungstenite::handshake::client::generate_key();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let wbuf = ws::upgrade_request(&self.addr.to_string(), &key);
        let idx = self.add_client(sock, spec, Phase::Upgrading, accept, wbuf)?;
        self.flush(idx);
        Ok(idx)
    }

    /// Takes `sock` as a member of `spec.room` that is already in it: no handshake,
    /// it only receives relayed messages (`seq` from 1), read and counted as any
    /// client's are. The floor's receivers are these.
    pub fn adopt(&mut self, sock: TcpStream, spec: Spec) -> Result<usize, String> {
        self.add_client(sock, spec, Phase::In, String::new(), Vec::new())
    }

    fn add_client(
        &mut self,
        sock: TcpStream,
        spec: Spec,
        phase: Phase,
        accept: String,
        wbuf: Vec<u8>,
    ) -> Result<usize, String> {
        sock.set_nodelay(true)
            .and_then(|()| sock.set_nonblocking(true))
            .map_err(|e| format!("socket options: {e}"))?;
        let idx = self.clients.len();
        epoll_ctl(
            &self.ep,
            libc::EPOLL_CTL_ADD,
            sock.as_raw_fd(),
            libc::EPOLLIN as u32,
            idx,
        )
        .map_err(|e| format!("epoll_ctl: {e}"))?;
        // Only the first member of a room creates it.
        let create = self.rooms[spec.room].members.is_empty() && !self.rooms[spec.room].created;
        self.rooms[spec.room].members.push(idx);
        let mut c = Client {
            idx,
            sock,
            room: spec.room,
            alias: spec.alias,
            create,
            accept,
            phase,
            rbuf: Vec::new(),
            wbuf,
            wpos: 0,
            want_out: false,
            next_seq: 1,
            delivered: 0,
            gaps: 0,
            repeats: 0,
            number: 0,
        };
        c.rbuf.reserve(256);
        self.clients.push(c);
        Ok(idx)
    }

    /// Opens, upgrades and joins every client (the first of a room creates it and
    /// the others wait for that), at most [`JOINING_AT_ONCE`] in progress at a time.
    pub fn join_all(&mut self, specs: Vec<Spec>, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let (first, rest): (Vec<Spec>, Vec<Spec>) = {
            let mut seen = vec![false; self.rooms.len()];
            specs.into_iter().partition(|s| {
                let creator = !self.rooms[s.room].created
                    && self.rooms[s.room].members.is_empty()
                    && !seen[s.room];
                seen[s.room] = true;
                creator
            })
        };
        for wave in [first, rest] {
            let mut queue: VecDeque<Spec> = wave.into();
            let mut joining: Vec<usize> = Vec::new();
            while !queue.is_empty() || !joining.is_empty() {
                while joining.len() < JOINING_AT_ONCE {
                    let Some(spec) = queue.pop_front() else { break };
                    joining.push(self.connect(spec)?);
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{} clients still joining and {} not started after {within:?}",
                        joining.len(),
                        queue.len()
                    ));
                }
                self.poll(Duration::from_millis(50))?;
                if let Some(&c) = joining
                    .iter()
                    .find(|&&c| self.clients[c].phase == Phase::Closed)
                {
                    return Err(format!(
                        "client {} closed while joining: {:?}",
                        self.clients[c].alias, self.ctx.tally.notes
                    ));
                }
                joining.retain(|&c| self.clients[c].phase != Phase::In);
            }
        }
        if self.ctx.tally.errors > 0 {
            return Err(format!("errors while joining: {:?}", self.ctx.tally.notes));
        }
        Ok(())
    }

    /// Clients that are in their room now.
    pub fn joined(&self) -> usize {
        self.clients.iter().filter(|c| c.phase == Phase::In).count()
    }

    /// Waits for events at most `timeout` and handles them all.
    pub fn poll(&mut self, timeout: Duration) -> Result<(), String> {
        let n = epoll_wait(&self.ep, &mut self.events, timeout)?;
        for i in 0..n {
            let ev = self.events[i];
            let idx = ev.u64 as usize;
            if ev.events & libc::EPOLLOUT as u32 != 0 {
                self.flush(idx);
            }
            if ev.events & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                self.read(idx);
            }
        }
        self.flush_dirty();
        for idx in std::mem::take(&mut self.ctx.gone) {
            let fd = self.clients[idx].sock.as_raw_fd();
            // Level-triggered HUP would otherwise report it forever.
            let _ = epoll_ctl(&self.ep, libc::EPOLL_CTL_DEL, fd, 0, idx);
            let _ = self.clients[idx].sock.shutdown(std::net::Shutdown::Both);
        }
        Ok(())
    }

    fn read(&mut self, idx: usize) {
        let Net {
            clients,
            rooms,
            scratch,
            ctx,
            ..
        } = self;
        let c = &mut clients[idx];
        if c.phase == Phase::Closed {
            return;
        }
        let n = match recv(c.sock.as_raw_fd(), scratch) {
            Ok(0) => {
                close(c, ctx, "connection closed by the server".into());
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => {
                close(c, ctx, format!("read failed: {e}"));
                return;
            }
        };
        let now = now_ns();
        if c.rbuf.is_empty() {
            let used = consume(idx, c, rooms, &scratch[..n], now, ctx);
            c.rbuf.extend_from_slice(&scratch[used..n]);
        } else {
            let mut buf = std::mem::take(&mut c.rbuf);
            buf.extend_from_slice(&scratch[..n]);
            let used = consume(idx, c, rooms, &buf, now, ctx);
            buf.drain(..used);
            c.rbuf = buf;
        }
    }

    fn flush_dirty(&mut self) {
        while let Some(idx) = self.ctx.dirty.pop() {
            self.flush(idx);
        }
    }

    /// Writes what a client has pending; waits for EPOLLOUT if the socket is full.
    fn flush(&mut self, idx: usize) {
        let Net {
            clients, ep, ctx, ..
        } = self;
        let c = &mut clients[idx];
        while c.wpos < c.wbuf.len() {
            match send_nonblocking(c.sock.as_raw_fd(), &c.wbuf[c.wpos..]) {
                Ok(n) => c.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !c.want_out {
                        c.want_out = true;
                        let ev = (libc::EPOLLIN | libc::EPOLLOUT) as u32;
                        if let Err(e) =
                            epoll_ctl(ep, libc::EPOLL_CTL_MOD, c.sock.as_raw_fd(), ev, idx)
                        {
                            close(c, ctx, format!("epoll_ctl: {e}"));
                        }
                    }
                    return;
                }
                Err(e) => {
                    close(c, ctx, format!("write failed: {e}"));
                    return;
                }
            }
        }
        c.wbuf.clear();
        c.wpos = 0;
        if c.want_out {
            c.want_out = false;
            if let Err(e) = epoll_ctl(
                ep,
                libc::EPOLL_CTL_MOD,
                c.sock.as_raw_fd(),
                libc::EPOLLIN as u32,
                idx,
            ) {
                close(c, ctx, format!("epoll_ctl: {e}"));
            }
        }
    }

    /// Queues one sealed, stamped `msg` from client `idx` into its room; it leaves
    /// with the next [`Net::flush_all`] or poll.
    pub fn queue_msg(&mut self, idx: usize) {
        let c = &mut self.clients[idx];
        let room = &mut self.rooms[c.room];
        c.number = c.number.wrapping_add(1);
        room.sent += 1;
        let stamp = Stamp {
            sender: idx as u32,
            number: c.number,
            sent_ns: now_ns(),
        };
        // A unique IV per message: a random prefix and a counter leaving 256 blocks
        // of CTR space per message, so no two messages share a keystream block.
        self.iv_counter += 1;
        let mut iv = [0u8; 16];
        iv[..8].copy_from_slice(&self.iv_prefix);
        iv[8..].copy_from_slice(&(self.iv_counter << 8).to_be_bytes());
        let body = room.crypto.seal(&c.alias, iv, &msg::plaintext(&stamp));
        let json = format!(r#"{{"t":"msg","body":"{body}"}}"#);
        let mask = self.ctx.next_mask();
        ws::push_masked(&mut c.wbuf, ws::OP_TEXT, json.as_bytes(), mask);
        self.ctx.dirty.push(idx);
    }

    /// Sends everything queued.
    pub fn flush_all(&mut self) {
        self.flush_dirty();
    }

    /// The fewest messages any member of `room` has received.
    pub fn room_floor(&self, room: usize) -> u64 {
        self.rooms[room]
            .members
            .iter()
            .map(|&m| self.clients[m].delivered)
            .min()
            .unwrap_or(0)
    }

    /// True when every member of every room has every message sent into it.
    pub fn caught_up(&self) -> bool {
        self.rooms.iter().all(|r| {
            r.members
                .iter()
                .all(|&m| self.clients[m].delivered >= r.sent)
        })
    }

    /// Polls until [`Net::caught_up`] or `within` has passed; false on time-out.
    pub fn drain(&mut self, within: Duration) -> Result<bool, String> {
        let until = Instant::now() + within;
        while !self.caught_up() {
            if Instant::now() >= until {
                return Ok(false);
            }
            self.poll(Duration::from_millis(20))?;
        }
        Ok(true)
    }

    /// Polls for `d`, handling whatever arrives (joins settling, pings).
    pub fn idle(&mut self, d: Duration) -> Result<(), String> {
        let until = Instant::now() + d;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            self.poll(left)?;
        }
        Ok(())
    }

    /// Every way a delivery went wrong since the last reset (call after draining).
    pub fn losses(&self) -> Losses {
        let t = &self.ctx.tally;
        let mut l = Losses {
            bad_envelopes: t.bad_envelopes,
            errors: t.errors,
            closed: t.closed,
            ..Losses::default()
        };
        for r in &self.rooms {
            for &m in &r.members {
                let c = &self.clients[m];
                l.missing += r.sent.saturating_sub(c.delivered);
                l.gaps += c.gaps;
                l.repeats += c.repeats;
            }
        }
        l
    }
}

fn close(c: &mut Client, ctx: &mut Ctx, why: String) {
    if c.phase != Phase::Closed {
        c.phase = Phase::Closed;
        ctx.gone.push(c.idx);
        ctx.tally.closed += 1;
        ctx.tally.note(format!("{}: {why}", c.alias));
    }
}

/// Handles every whole frame (or the upgrade answer) at the start of `data`;
/// returns how many bytes were used.
fn consume(
    idx: usize,
    c: &mut Client,
    rooms: &mut [Room],
    data: &[u8],
    now: u64,
    ctx: &mut Ctx,
) -> usize {
    let mut used = 0;
    if c.phase == Phase::Upgrading {
        match ws::check_upgrade(data, &c.accept) {
            Ok(None) => return 0,
            Ok(Some(n)) => {
                used = n;
                c.phase = Phase::Hello;
            }
            Err(e) => {
                close(c, ctx, e);
                return data.len();
            }
        }
    }
    while c.phase != Phase::Closed {
        let h = match ws::parse_header(&data[used..]) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                close(c, ctx, e);
                return data.len();
            }
        };
        let payload = &data[used + h.start..used + h.end];
        used += h.end;
        match h.opcode {
            ws::OP_TEXT => text(idx, c, rooms, payload, now, ctx),
            ws::OP_PING => {
                let mask = ctx.next_mask();
                ws::push_masked(&mut c.wbuf, ws::OP_PONG, payload, mask);
                ctx.dirty.push(idx);
            }
            ws::OP_CLOSE => {
                let code = payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                close(c, ctx, format!("server closed with {code:?} {reason}"));
            }
            _ => {}
        }
    }
    used
}

fn text(idx: usize, c: &mut Client, rooms: &mut [Room], payload: &[u8], now: u64, ctx: &mut Ctx) {
    if c.phase == Phase::In
        && let Some(r) = msg::relayed(payload)
    {
        deliver(c, &rooms[c.room], &r, now, ctx);
        return;
    }
    let v: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => {
            ctx.tally.errors += 1;
            ctx.tally
                .note(format!("{}: invalid JSON from the server: {e}", c.alias));
            return;
        }
    };
    let t = v["t"].as_str().unwrap_or_default();
    match (c.phase, t) {
        (Phase::Hello, "hello") => {
            let Some(nonce) = v["nonce"].as_str().and_then(crypto::b64u_decode) else {
                close(c, ctx, "hello without a valid nonce".into());
                return;
            };
            let room = &rooms[c.room].crypto;
            let server = v["key"]
                .as_str()
                .and_then(crypto::b64u_decode)
                .and_then(|k| <[u8; 32]>::try_from(k).ok());
            let Some(proof_key) = server.and_then(|s| room.proof_key(&s)) else {
                close(c, ctx, "hello without a valid server key".into());
                return;
            };
            let proof = crypto::join_proof(&proof_key, &nonce, &room.id, &c.alias);
            let proof = crypto::b64u_encode(&proof);
            let json = if c.create {
                format!(
                    r#"{{"t":"create","room":"{}","alias":"{}","proof":"{proof}","verifier":"{}"}}"#,
                    room.id,
                    c.alias,
                    room.verifier()
                )
            } else {
                format!(
                    r#"{{"t":"join","room":"{}","alias":"{}","proof":"{proof}"}}"#,
                    room.id, c.alias
                )
            };
            let mask = ctx.next_mask();
            ws::push_masked(&mut c.wbuf, ws::OP_TEXT, json.as_bytes(), mask);
            ctx.dirty.push(idx);
            c.phase = Phase::Joining;
        }
        (Phase::Joining, "welcome") => {
            c.phase = Phase::In;
            rooms[c.room].created = true;
        }
        (Phase::In, "msg") => {
            // Not in the server's usual encoding: read it the slow way.
            let (Some(from), Some(body), Some(seq)) =
                (v["from"].as_str(), v["body"].as_str(), v["seq"].as_u64())
            else {
                ctx.tally.errors += 1;
                ctx.tally.note(format!("{}: malformed msg {v}", c.alias));
                return;
            };
            let r = msg::Relayed {
                from: from.as_bytes(),
                body: body.as_bytes(),
                seq,
            };
            deliver(c, &rooms[c.room], &r, now, ctx);
        }
        (_, "error") => {
            ctx.tally.errors += 1;
            ctx.tally.note(format!("{}: error frame {v}", c.alias));
        }
        _ => ctx.tally.other_frames += 1,
    }
}

fn deliver(c: &mut Client, room: &Room, r: &msg::Relayed<'_>, now: u64, ctx: &mut Ctx) {
    if r.seq == c.next_seq {
        c.delivered += 1;
    } else if r.seq > c.next_seq {
        c.gaps += r.seq - c.next_seq;
        c.delivered += 1;
    } else {
        c.repeats += 1;
        return;
    }
    c.next_seq = r.seq + 1;
    ctx.tally.deliveries += 1;
    let Some(stamp) = room.crypto.peek(r.body) else {
        ctx.tally.bad_envelopes += 1;
        ctx.tally
            .note(format!("{}: undecodable body at seq {}", c.alias, r.seq));
        return;
    };
    if let Some(lat) = ctx.latencies.as_mut() {
        lat.push(u32::try_from(now.saturating_sub(stamp.sent_ns)).unwrap_or(u32::MAX));
    }
    ctx.verify_tick += 1;
    if ctx.verify_tick >= ctx.verify_every {
        ctx.verify_tick = 0;
        let ok = std::str::from_utf8(r.from)
            .ok()
            .zip(std::str::from_utf8(r.body).ok())
            .is_some_and(|(from, body)| room.crypto.verify(from, body, &stamp));
        if ok {
            ctx.tally.verified += 1;
        } else {
            ctx.tally.bad_envelopes += 1;
            ctx.tally.note(format!(
                "{}: envelope failed verification at seq {}",
                c.alias, r.seq
            ));
        }
    }
}
