//! One connection's thread: handshake, hello, then read frames, enforce the frame
//! rules and the rate, parse requests and pass them to the broker. Everything it
//! writes goes through the connection's [`Outbound`], like the broker's frames.
//!
//! What one connection can hold is bounded (the README adds it up): the outbound
//! bounds, a fixed kernel receive buffer, tungstenite's buffers (up to a frame and a
//! message of `--max-message-bytes`) and this thread's stack.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tungstenite::error::CapacityError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error as WsError, Message, WebSocket};

use super::outbound::{self, Bounds, Outbound};
use super::{Shared, Ticket, handshake};
use crate::broker::{Conn, Event};
use crate::crypto;
use crate::protocol::{self, Refusal};
use crate::ratelimit::{RateLimit, Verdict};
use crate::wire::{self, Code, Frame, ServerFrame, close};

/// How long a closing connection may take to answer our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Read chunk for frames; small because chat frames are small (bigger frames still
/// arrive whole: the buffer grows to the frame, up to the message limit, read this
/// much per read()). It stays allocated, and zero-filled, for the connection's whole
/// life: 2048 cost each idle client 3 KiB more RSS than 512 (17.5 against 14.5 KiB
/// at 1,000 clients, `make bench` on the static build).
const READ_BUFFER: usize = 512;
/// `SO_RCVBUF` asked for (the kernel doubles it): clients send small frames and this
/// thread reads them as they come, so a fixed 32 KiB instead of autotuning (up to
/// tcp_rmem's maximum, 6 MiB or more) only bounds what a flood can park in the kernel.
const RECV_BUFFER: usize = 16 * 1024;

/// The socket as tungstenite sees it: reads come from the socket, writes (pongs,
/// close replies, the handshake response) go through the outbound queue.
struct Duplex {
    read: TcpStream,
    out: Arc<Outbound>,
    /// During the handshake: when it must be over.
    deadline: Option<Instant>,
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.deadline {
            Some(deadline) => handshake::read_by(deadline, &self.read, buf),
            None => self.read.read(buf),
        }
    }
}

impl handshake::ReadDeadline for Duplex {
    fn set_read_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f: Frame = buf.into();
        self.out
            .send(&f)
            .map_err(|_| io::Error::other("outbound queue full"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How the read loop ended: with a close frame of ours to send, or without.
struct End(Option<(u16, &'static str)>);

pub fn run(stream: TcpStream, ticket: Ticket) {
    let peak = serve(stream, &ticket);
    let stats = ticket.shared().stats.clone();
    drop(ticket);
    if peak >= release::AFTER || stats.connections() == 0 {
        release::to_os();
    }
}

/// Serves one connection to its end; returns the most bytes its queue ever held.
fn serve(stream: TcpStream, ticket: &Ticket) -> usize {
    let shared = ticket.shared();
    let limits = &shared.limits;
    let _ = stream.set_nodelay(true);
    if outbound::fix_buffer(&stream, libc::SO_RCVBUF, RECV_BUFFER).is_err() {
        return 0;
    }
    let Ok(write_half) = stream.try_clone() else {
        return 0;
    };
    let bounds = Bounds {
        frames: limits.queue_frames,
        bytes: limits.queue_bytes,
    };
    let Ok(out) = Outbound::new(write_half, bounds, shared.flusher.clone()) else {
        return 0;
    };
    let socket = out.socket();
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let deadline = Instant::now() + limits.handshake_timeout;
    let duplex = Duplex {
        read: stream,
        out: out.clone(),
        deadline: None,
    };
    let handshake = handshake::accept(duplex, &shared.origins, config, deadline, || {
        ticket.handshake_done();
    });
    let Ok(mut ws) = handshake else {
        linger(&out, socket);
        return out.peak_unsent();
    };
    // The handshake is the deepest this thread goes until it is quiet again.
    crate::stack::release_unused();

    let conn = Arc::new(Conn {
        id: ticket.id,
        out: out.clone(),
        nonce: crypto::random_bytes(),
        pending: AtomicUsize::new(0),
    });
    let hello = ServerFrame::Hello {
        nonce: crypto::b64u_encode(&conn.nonce),
        key: crypto::b64u_encode(shared.server_key.public()),
    };
    let end = if out.send(&hello.to_frame()).is_err() {
        End(None)
    } else {
        read_loop(&mut ws, &conn, &out, shared)
    };
    let _ = shared.broker.send(Event::Gone(conn.id));
    if let End(Some((code, reason))) = end {
        out.close(code, reason);
    }
    linger(&out, socket);
    out.peak_unsent()
}

/// Waits until `bytes` more of this connection's requests may wait for the broker:
/// at most `bound` bytes of them (`--max-message-bytes`, the one message per
/// connection the README's worst case counts on its way to the broker), but always one
/// request however large. Meanwhile this thread reads nothing, so the client's frames
/// wait in its socket. Polls: it only waits when the broker is that far behind this
/// one connection, which the rate limit keeps a client from doing in normal use. False
/// if the connection is `closing` or `give_up` passes first.
fn wait_for_broker(
    pending: &AtomicUsize,
    bytes: usize,
    bound: usize,
    give_up: Duration,
    closing: impl Fn() -> bool,
) -> bool {
    let since = Instant::now();
    loop {
        let waiting = pending.load(Ordering::Acquire);
        if waiting == 0 || waiting + bytes <= bound {
            return true;
        }
        if closing() || since.elapsed() >= give_up {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Giving freed memory back to the OS. glibc returns only the free top of an arena
/// (past 128 KiB), so frames freed below live allocations (a room still busy, members
/// who joined since) stay resident after the members that pinned them leave;
/// `malloc_trim` also releases the free pages inside the arenas. It walks every arena,
/// so it is only called when a connection that held much ends, or the last one does.
mod release {
    /// A connection whose queue held this much may have left freed memory behind.
    pub const AFTER: usize = 64 * 1024;

    #[cfg(target_env = "gnu")]
    pub fn to_os() {
        // SAFETY: malloc_trim only touches the allocator's own free lists.
        unsafe { libc::malloc_trim(0) };
    }

    /// Other C libraries (the static musl builds) have no `malloc_trim`.
    #[cfg(not(target_env = "gnu"))]
    pub fn to_os() {}
}

/// Waits briefly for the peer to read our last frames and hang up. Closing a socket
/// with unread input would reset it and could destroy the close frame in flight.
fn linger(out: &Outbound, socket: &TcpStream) {
    if out.closing_since().is_some() {
        let until = Instant::now() + CLOSE_GRACE;
        let mut sink = [0u8; 512];
        let mut reader = socket;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match reader.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    out.kill();
}

/// `out` is `conn`'s own outbound, seen as the transport it is rather than as the
/// broker's [`crate::broker::Peer`].
fn read_loop(ws: &mut WebSocket<Duplex>, conn: &Arc<Conn>, out: &Outbound, shared: &Shared) -> End {
    let limits = &shared.limits;
    let socket = out.socket();
    let ping = wire::ping();
    let mut rate = RateLimit::new(limits.rate, limits.burst, Instant::now());
    let mut last_seen = Instant::now();
    let mut next_ping = last_seen + limits.ping_interval;
    // The timeout is only re-armed when it fires, not per frame: frames only push
    // the deadlines later, so an early wake-up just re-computes them.
    if socket.set_read_timeout(Some(limits.ping_interval)).is_err() {
        return End(None);
    }
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                let now = Instant::now();
                last_seen = now;
                let refusal = match rate.check(now) {
                    Verdict::Accept => match protocol::parse_request(text.as_str())
                        .and_then(|req| req.authenticate(&shared.server_key))
                    {
                        Ok(req) => {
                            let bytes = text.len();
                            let bound = limits.max_message_bytes;
                            let closing = || out.closing_since().is_some();
                            let give_up = limits.idle_timeout;
                            if !wait_for_broker(&conn.pending, bytes, bound, give_up, closing) {
                                return End(Some((close::TRY_AGAIN, "server busy")));
                            }
                            conn.pending.fetch_add(bytes, Ordering::AcqRel);
                            let event = Event::Request(conn.clone(), Box::new(req), bytes);
                            if shared.broker.send(event).is_err() {
                                return End(Some((close::GOING_AWAY, "server shutting down")));
                            }
                            continue;
                        }
                        Err(r) => r,
                    },
                    Verdict::Drop => {
                        Refusal::new(Code::RateLimited, "too many messages; this one was dropped")
                    }
                    Verdict::Close => return End(Some((close::POLICY, "too many messages"))),
                };
                if out.send(&refusal.to_frame()).is_err() {
                    return End(None);
                }
            }
            Ok(Message::Binary(_)) => return End(Some((close::UNSUPPORTED, "text frames only"))),
            Ok(Message::Close(_)) => return End(None),
            Ok(_) => last_seen = Instant::now(), // ping, pong
            Err(WsError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let now = Instant::now();
                if out.closing_since().is_some_and(|t| now - t >= CLOSE_GRACE) {
                    return End(None);
                }
                if now - last_seen >= limits.idle_timeout {
                    return End(Some((close::GOING_AWAY, "no pong")));
                }
                if now >= next_ping {
                    if out.send(&ping).is_err() {
                        return End(None);
                    }
                    next_ping = now + limits.ping_interval;
                    // Quiet for a ping interval: what its last frames touched goes back.
                    crate::stack::release_unused();
                }
                let wake = next_ping.min(last_seen + limits.idle_timeout);
                let wait = wake
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(10));
                if socket.set_read_timeout(Some(wait)).is_err() {
                    return End(None);
                }
            }
            Err(WsError::Capacity(CapacityError::MessageTooLong { .. })) => {
                let r = Refusal::new(Code::TooLarge, "message larger than the server accepts");
                let _ = out.send(&r.to_frame());
                return End(Some((close::TOO_BIG, "message too big")));
            }
            Err(WsError::Utf8(_)) => return End(Some((close::BAD_UTF8, "invalid UTF-8"))),
            Err(WsError::Protocol(_) | WsError::Capacity(_)) => {
                return End(Some((close::PROTOCOL, "protocol error")));
            }
            Err(_) => return End(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn one_request_always_goes_however_large_and_more_go_within_the_bound() {
        let pending = AtomicUsize::new(0);
        assert!(wait_for_broker(&pending, 100_000, 1000, LONG, || false));
        pending.store(400, Ordering::Release);
        assert!(wait_for_broker(&pending, 600, 1000, LONG, || false));
    }

    #[test]
    fn over_the_bound_it_waits_until_the_broker_has_caught_up() {
        let pending = Arc::new(AtomicUsize::new(900));
        let handled = Arc::new(AtomicBool::new(false));
        let broker = {
            let (pending, handled) = (pending.clone(), handled.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                handled.store(true, Ordering::Release);
                pending.fetch_sub(900, Ordering::Release);
            })
        };
        assert!(wait_for_broker(&pending, 200, 1000, LONG, || false));
        assert!(
            handled.load(Ordering::Acquire),
            "returned before the broker handled what was pending"
        );
        broker.join().expect("broker thread");
    }

    #[test]
    fn a_closing_connection_or_a_broker_that_never_catches_up_stops_the_wait() {
        let pending = AtomicUsize::new(900);
        assert!(!wait_for_broker(&pending, 200, 1000, LONG, || true));
        let started = Instant::now();
        let give_up = Duration::from_millis(30);
        assert!(!wait_for_broker(&pending, 200, 1000, give_up, || false));
        assert!(started.elapsed() >= give_up);
    }
}
