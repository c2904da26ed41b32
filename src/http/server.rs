//! The page port's one thread: every connection non-blocking under one poll(2), each
//! with a deadline for its whole request and for its whole response, and a fixed
//! number of places in which a connection that has not sent a request gives way to a
//! newcomer (see [`crate::admission`]).
//!
//! One thread, because every answer is a few kilobytes already in memory: nothing can
//! make a response wait but the client itself, and a slow client only slows its own
//! socket. Holding connections open (slowloris) buys nothing: each has a deadline, and
//! when the places are full an idle one of the heaviest address is dropped, not the
//! newcomer.

use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::request::{self, Request};
use super::routes::{self, Response};
use crate::admission::{self, Counts, Fit};
use crate::hosts::HostPolicy;
use crate::stats::Stats;

/// How long a closing connection may still send before it is dropped (reading what it
/// sends keeps the kernel from resetting the connection before the answer arrives).
const DRAIN_FOR: Duration = Duration::from_secs(2);
/// Requests served on one connection before it is closed.
const MAX_REQUESTS: u32 = 100;
/// Connections accepted per wake-up, so a flood cannot starve the ones already open.
const ACCEPTS_PER_WAKE: usize = 64;
/// Pause after an accept error such as running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Bytes read at once; a request head is smaller than this.
const READ_CHUNK: usize = 4096;

/// The page port's limits, from flags.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_ip: usize,
    /// From connecting (or the end of the previous response) to a complete request.
    pub request_timeout: Duration,
    /// For writing a whole response.
    pub response_timeout: Duration,
}

/// What every response is made from.
pub struct Site {
    pub config: String,
    pub stats: Arc<Stats>,
    pub hosts: Arc<HostPolicy>,
}

enum State {
    /// Waiting for a complete request head.
    Reading,
    Writing {
        resp: Response,
        sent: usize,
    },
    /// Answered and shut for writing: reading what the client still sends, then closed.
    Draining,
}

struct Conn {
    stream: TcpStream,
    key: IpAddr,
    buf: Vec<u8>,
    state: State,
    /// When it started waiting for its current request (for choosing whom to drop).
    since: Instant,
    deadline: Instant,
    served: u32,
}

/// What became of a connection after it was ready.
#[derive(PartialEq, Eq)]
enum Next {
    Keep,
    Close,
}

impl Conn {
    fn waiting(&self) -> bool {
        !matches!(self.state, State::Writing { .. })
    }

    fn interest(&self) -> libc::c_short {
        match self.state {
            State::Writing { .. } => libc::POLLOUT,
            _ => libc::POLLIN,
        }
    }

    fn on_ready(&mut self, site: &Site, limits: &Limits, now: Instant) -> Next {
        match self.state {
            State::Reading => self.read_request(site, limits, now),
            State::Writing { .. } => self.write_response(site, limits, now),
            State::Draining => self.drain(),
        }
    }

    fn read_request(&mut self, site: &Site, limits: &Limits, now: Instant) -> Next {
        let mut chunk = [0u8; READ_CHUNK];
        match self.stream.read(&mut chunk) {
            Ok(0) => return Next::Close,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Next::Keep,
            Err(_) => return Next::Close,
        }
        chunk.fill(0);
        self.serve_buffered(site, limits, now)
    }

    /// Answers every whole request in the buffer (pipelined ones too), in order, until
    /// one cannot be written at once.
    fn serve_buffered(&mut self, site: &Site, limits: &Limits, now: Instant) -> Next {
        while matches!(self.state, State::Reading) {
            let resp = match request::head_end(&self.buf) {
                Some(end) => {
                    let resp = answer(request::parse(&self.buf[..end]), site);
                    self.buf.drain(..end);
                    resp
                }
                None => match request::check_partial(&self.buf) {
                    Ok(()) => return Next::Keep,
                    Err(refusal) => routes::refused(refusal),
                },
            };
            self.served += 1;
            self.state = State::Writing { resp, sent: 0 };
            self.deadline = now + limits.response_timeout;
            // Most answers fit the socket's buffer: write now rather than after a poll.
            if self.write_some(limits, now) == Next::Close {
                return Next::Close;
            }
        }
        Next::Keep
    }

    /// Writes what the socket takes; once the response is out, waits for the next
    /// request or, if this one was the last, shuts the connection for writing.
    fn write_some(&mut self, limits: &Limits, now: Instant) -> Next {
        let State::Writing { resp, sent } = &mut self.state else {
            return Next::Keep;
        };
        let (head, body) = (&resp.head, resp.body.bytes());
        while *sent < head.len() + body.len() {
            let slices = if *sent < head.len() {
                [IoSlice::new(&head[*sent..]), IoSlice::new(body)]
            } else {
                [IoSlice::new(&body[*sent - head.len()..]), IoSlice::new(&[])]
            };
            match self.stream.write_vectored(&slices) {
                Ok(0) => return Next::Close,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        self.since = now;
        if resp.close || self.served >= MAX_REQUESTS {
            let _ = self.stream.shutdown(Shutdown::Write);
            self.state = State::Draining;
            self.buf = Vec::new();
            self.deadline = now + DRAIN_FOR;
        } else {
            self.state = State::Reading;
            self.deadline = now + limits.request_timeout;
        }
        Next::Keep
    }

    fn write_response(&mut self, site: &Site, limits: &Limits, now: Instant) -> Next {
        match self.write_some(limits, now) {
            Next::Close => Next::Close,
            // A pipelined request may already be buffered.
            Next::Keep => self.serve_buffered(site, limits, now),
        }
    }

    fn drain(&mut self) -> Next {
        let mut sink = [0u8; READ_CHUNK];
        match self.stream.read(&mut sink) {
            Ok(0) => Next::Close,
            Ok(_) => Next::Keep,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Next::Keep,
            Err(_) => Next::Close,
        }
    }
}

/// The response to a complete head: refused, misdirected (a Host that does not name
/// this server: DNS rebinding), or routed.
fn answer(parsed: Result<Request, request::Refusal>, site: &Site) -> Response {
    match parsed {
        Err(refusal) => routes::refused(refusal),
        Ok(req) if req.host.is_some_and(|h| !site.hosts.allows(h)) => routes::error(421),
        Ok(req) => routes::route(&req, &site.config, &site.stats),
    }
}

/// Every connection of the page port, and the places they hold.
struct Connections {
    list: Vec<Conn>,
    counts: Counts,
}

impl Connections {
    fn close(&mut self, i: usize) {
        let c = self.list.swap_remove(i);
        self.counts.remove(c.key);
    }

    /// The waiting connection to displace (of one address, or of the heaviest).
    fn victim(&self, scope: Option<IpAddr>) -> Option<usize> {
        let waiting = self.list.iter().enumerate().filter(|(_, c)| c.waiting());
        self.counts
            .victim(waiting.map(|(i, c)| (i, c.key, c.since)), scope)
    }

    /// Takes a newcomer, making room for it if the places (in all or for its address)
    /// are full; refuses it only when every connection there is being answered.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, limits: &Limits, now: Instant) {
        let key = admission::key(peer.ip());
        if let Fit::Displace(scope) =
            self.counts
                .fit(key, limits.max_connections, limits.max_per_ip)
        {
            match self.victim(scope) {
                Some(i) => self.close(i),
                None => return admission::refuse(&stream, "server_busy"),
            }
        }
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        self.counts.add(key);
        self.list.push(Conn {
            stream,
            key,
            buf: Vec::new(),
            state: State::Reading,
            since: now,
            deadline: now + limits.request_timeout,
            served: 0,
        });
    }
}

fn pollfd(fd: libc::c_int, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Serves the page port on `listeners` until the process ends.
pub fn run(listeners: &[TcpListener], site: &Site, limits: &Limits) {
    let mut conns = Connections {
        list: Vec::new(),
        counts: Counts::default(),
    };
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut accept_paused_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let accepting = accept_paused_until.is_none_or(|t| now >= t);
        fds.clear();
        let listen_events = if accepting { libc::POLLIN } else { 0 };
        fds.extend(
            listeners
                .iter()
                .map(|l| pollfd(l.as_raw_fd(), listen_events)),
        );
        fds.extend(
            conns
                .list
                .iter()
                .map(|c| pollfd(c.stream.as_raw_fd(), c.interest())),
        );
        let wake = conns
            .list
            .iter()
            .map(|c| c.deadline)
            .chain(accept_paused_until)
            .min()
            .map_or(1000, |t| {
                t.saturating_duration_since(now).as_millis().min(1000) as libc::c_int + 1
            });
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wake) };
        if ready < 0 {
            continue; // EINTR; nothing else can fail with valid arguments
        }
        let now = Instant::now();
        // From the back, so that swap_remove only moves connections already seen.
        for i in (0..conns.list.len()).rev() {
            let revents = fds[listeners.len() + i].revents;
            let c = &mut conns.list[i];
            let next = if revents != 0 {
                c.on_ready(site, limits, now)
            } else {
                Next::Keep
            };
            if next == Next::Close || c.deadline <= now {
                conns.close(i);
            }
        }
        for (l, fd) in listeners.iter().zip(&fds) {
            if fd.revents == 0 {
                continue;
            }
            for _ in 0..ACCEPTS_PER_WAKE {
                match l.accept() {
                    Ok((stream, peer)) => conns.admit(stream, peer, limits, now),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Out of descriptors or memory: give the longest-waiting connection's
                    // descriptor back and pause, never closing the listener.
                    Err(_) => {
                        if let Some(i) = conns.victim(None) {
                            conns.close(i);
                        }
                        accept_paused_until = Some(now + ACCEPT_BACKOFF);
                        break;
                    }
                }
            }
        }
        if accept_paused_until.is_some_and(|t| now >= t) {
            accept_paused_until = None;
        }
    }
}
