//! The outbound side of a connection: write straight to the socket while it takes
//! bytes, queue (bounded) only what would block, and let one shared flusher thread
//! drain the queues of the sockets that are slow.
//!
//! Every writer (the broker's fan-out, the connection's own reader thread for
//! errors and pongs) goes through [`Outbound::send`], so frames never interleave and
//! nobody ever blocks on a socket.
//!
//! The queue is bounded twice: in frames, and in the bytes a client holds unread on
//! the server. Those bytes are the unsent part of the queued frames (a partly written
//! head included) plus the kernel's send buffer, which is fixed with `SO_SNDBUF` so
//! that the kernel's autotuning (up to 4 MiB a socket) cannot hold more than we count.
//! A frame that would take a client past either bound is refused ([`Overflow`]) and
//! the client is disconnected. Frames are shared between members, so the bound is on
//! what one client can pin, not on what it adds.

use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use crate::broker::{Overflow, Peer};
use crate::wire::{self, Frame};

/// How much a client may leave unread before it is disconnected.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    /// Frames in the queue.
    pub frames: usize,
    /// Bytes unread: the queue's unsent bytes plus the kernel send buffer.
    pub bytes: usize,
}

/// Largest `SO_SNDBUF` asked for. Linux doubles it (bookkeeping), so the kernel holds
/// at most about 64 KiB per socket: enough to keep a LAN link busy, small next to the
/// queue. Kept at an eighth of the byte bound at most so most of the bound is queue.
const MAX_SEND_BUFFER: usize = 32 * 1024;

#[derive(Default)]
struct State {
    queue: VecDeque<Frame>,
    /// Bytes of `queue[0]` already written.
    head_written: usize,
    /// Bytes of the queued frames not yet written (the head's rest included).
    unsent: usize,
    /// The most `unsent` ever was: a connection that held much is worth a
    /// `malloc_trim` when it ends.
    peak_unsent: usize,
    /// With the flusher: it will write the queue as the socket drains.
    registered: bool,
    /// A close frame is queued or written; nothing more may follow it.
    closing_since: Option<Instant>,
    /// The socket failed or was shut down; sends are dropped.
    dead: bool,
}

pub(crate) struct Outbound {
    stream: TcpStream,
    bounds: Bounds,
    /// The send buffer as the kernel reports it (doubled, bookkeeping included): when
    /// the queue is not empty, the kernel holds about this much unread as well.
    kernel_buffer: usize,
    state: Mutex<State>,
    flusher: FlusherHandle,
    /// This outbound itself, for handing to the flusher when the socket blocks: the
    /// broker reaches members through `&dyn Peer`, which carries no `Arc` to clone.
    me: Weak<Outbound>,
}

enum Progress {
    Drained,
    Blocked,
    Failed,
}

/// Sends without blocking and without SIGPIPE, whatever the socket's blocking mode
/// (the reader thread keeps the descriptor blocking for its reads).
pub fn send_nonblocking(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid slice for its length and `fd` an open socket we own.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Fixes a socket buffer (`SO_SNDBUF` or `SO_RCVBUF`) at `bytes`, which also turns
/// off the kernel's autotuning of it; returns the size the kernel reports (doubled).
pub(crate) fn fix_buffer(
    socket: &TcpStream,
    option: libc::c_int,
    bytes: usize,
) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a valid c_int for the call; `fd` is an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            size,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut got: libc::c_int = 0;
    let mut len = size;
    // SAFETY: `got` and `len` are valid for writes of their sizes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&mut got as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(got).unwrap_or(0))
}

impl Outbound {
    /// Takes the write half of a connection and fixes its kernel send buffer, which
    /// counts towards `bounds.bytes`.
    pub fn new(
        stream: TcpStream,
        bounds: Bounds,
        flusher: FlusherHandle,
    ) -> io::Result<Arc<Outbound>> {
        let kernel_buffer = fix_buffer(
            &stream,
            libc::SO_SNDBUF,
            (bounds.bytes / 8).min(MAX_SEND_BUFFER),
        )?;
        Ok(Arc::new_cyclic(|me| Outbound {
            stream,
            bounds,
            kernel_buffer,
            state: Mutex::new(State::default()),
            flusher,
            me: me.clone(),
        }))
    }

    /// The most bytes this connection ever had queued (the kernel buffer aside).
    pub fn peak_unsent(&self) -> usize {
        self.lock().peak_unsent
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere; the state itself is still consistent
        // (every mutation is a single push/pop), so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues or writes one frame. Err only when the frame would take the client past
    /// a bound; the frame is then not queued.
    ///
    /// A frame offered to an empty queue is always taken, so a client that keeps up is
    /// never refused whatever the flags; its rest can exceed the byte bound only if the
    /// frame alone does (`--queue-bytes` below the largest frame plus the kernel buffer).
    pub fn send(&self, f: &Frame) -> Result<(), Overflow> {
        let mut st = self.lock();
        if st.dead || st.closing_since.is_some() {
            return Ok(());
        }
        if !st.queue.is_empty() {
            // The queue is only non-empty after the socket refused bytes, so the kernel
            // buffer is (about) full: count it whole.
            let unread = self.kernel_buffer + st.unsent + f.len();
            if st.queue.len() >= self.bounds.frames || unread > self.bounds.bytes {
                return Err(Overflow);
            }
            st.push(f.clone(), 0);
            return Ok(());
        }
        // The common case: the socket takes the whole frame and nothing is queued.
        let written = match send_nonblocking(self.stream.as_raw_fd(), f) {
            Ok(n) if n == f.len() => return Ok(()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            Err(_) => {
                self.fail(&mut st);
                return Ok(());
            }
        };
        st.push(f.clone(), written);
        self.write_queue(&mut st);
        Ok(())
    }

    /// Sends a close frame; everything queued before it still goes out first.
    pub fn close(&self, code: u16, reason: &str) {
        let f = wire::close(code, reason);
        let mut st = self.lock();
        if st.dead || st.closing_since.is_some() {
            return;
        }
        st.closing_since = Some(Instant::now());
        // The close frame may exceed the bounds (by one frame, at most 125 bytes): it
        // must never be refused.
        st.push(f, 0);
        if st.queue.len() == 1 {
            self.write_queue(&mut st);
        }
    }

    /// The socket itself, for its options (the read timeout is shared with the reader).
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// When the close frame was sent, if it was.
    pub fn closing_since(&self) -> Option<Instant> {
        self.lock().closing_since
    }

    /// Ends the connection now: queued frames are dropped and the reader wakes up.
    pub fn kill(&self) {
        self.fail(&mut self.lock());
    }

    fn fail(&self, st: &mut State) {
        st.dead = true;
        st.queue.clear();
        // Release the queue's memory too: a killed non-reader may have held a lot.
        st.queue.shrink_to_fit();
        st.head_written = 0;
        st.unsent = 0;
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Writes from the head of the queue while the socket accepts; hands the rest to
    /// the flusher. Called with the lock held so writes never interleave.
    fn write_queue(&self, st: &mut State) {
        match self.drain(st) {
            Progress::Drained | Progress::Failed => {}
            Progress::Blocked if !st.registered => {
                // Only fails while the last `Arc` is being dropped: nobody is left to
                // send to, so nothing needs flushing.
                if let Some(me) = self.me.upgrade() {
                    st.registered = true;
                    self.flusher.register(me);
                }
            }
            Progress::Blocked => {}
        }
    }

    fn drain(&self, st: &mut State) -> Progress {
        let fd = self.stream.as_raw_fd();
        while let Some(head) = st.queue.front() {
            match send_nonblocking(fd, &head[st.head_written..]) {
                Ok(n) => {
                    let done = st.head_written + n == head.len();
                    st.wrote(n);
                    if done {
                        st.queue.pop_front();
                        st.head_written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.fail(st);
                    return Progress::Failed;
                }
            }
        }
        if st.closing_since.is_some() {
            // After the close frame only the peer's reply is expected; FIN tells it so.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Progress::Drained
    }
}

/// How the broker reaches a member: the same calls, through the broker's trait.
impl Peer for Outbound {
    fn send(&self, f: &Frame) -> Result<(), Overflow> {
        Outbound::send(self, f)
    }

    fn close(&self, code: u16, reason: &str) {
        Outbound::close(self, code, reason);
    }

    fn kill(&self) {
        Outbound::kill(self);
    }
}

impl State {
    /// Queues `f`, of which `written` bytes already went to the kernel (only ever
    /// non-zero for the head).
    fn push(&mut self, f: Frame, written: usize) {
        self.unsent += f.len() - written;
        self.head_written += written;
        self.peak_unsent = self.peak_unsent.max(self.unsent);
        self.queue.push_back(f);
    }

    /// `n` more bytes of the head went to the kernel.
    fn wrote(&mut self, n: usize) {
        self.head_written += n;
        self.unsent -= n;
    }
}

/// Lets a connection hand its blocked queue to the flusher thread.
#[derive(Clone)]
pub(crate) struct FlusherHandle {
    tx: Sender<Arc<Outbound>>,
    wake: Arc<UnixStream>,
}

impl FlusherHandle {
    fn register(&self, out: Arc<Outbound>) {
        if self.tx.send(out).is_ok() {
            // A full wake pipe already means "look again"; losing this byte is fine.
            let _ = (&*self.wake).write(&[1]);
        }
    }
}

/// Starts the one thread that drains every blocked queue, waiting on all of
/// their sockets at once with poll(2).
pub(crate) fn start_flusher() -> io::Result<FlusherHandle> {
    let (wake_tx, wake_rx) = UnixStream::pair()?;
    wake_tx.set_nonblocking(true)?;
    wake_rx.set_nonblocking(true)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("flusher".into())
        .stack_size(64 * 1024)
        .spawn(move || flush_loop(&rx, wake_rx))?;
    Ok(FlusherHandle {
        tx,
        wake: Arc::new(wake_tx),
    })
}

fn flush_loop(rx: &Receiver<Arc<Outbound>>, mut wake: UnixStream) {
    let mut pending: Vec<Arc<Outbound>> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut scratch = [0u8; 64];
    loop {
        pending.extend(rx.try_iter());
        fds.clear();
        fds.push(libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        fds.extend(pending.iter().map(|o| libc::pollfd {
            fd: o.stream.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }));
        // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd for its length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            continue; // EINTR: look again
        }
        if fds[0].revents != 0 {
            while matches!(wake.read(&mut scratch), Ok(n) if n > 0) {}
        }
        let mut i = 0;
        pending.retain(|out| {
            i += 1;
            if fds[i].revents == 0 {
                return true;
            }
            let mut st = out.lock();
            let still_blocked = !st.dead && matches!(out.drain(&mut st), Progress::Blocked);
            st.registered = still_blocked;
            still_blocked
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (b, _) = l.accept().expect("accept");
        (a, b)
    }

    #[test]
    fn queued_frames_arrive_whole_and_in_order_once_the_reader_drains() {
        let (server, mut client) = pair();
        let bounds = Bounds {
            frames: 100_000,
            bytes: 1 << 30,
        };
        let out =
            Outbound::new(server, bounds, start_flusher().expect("flusher")).expect("outbound");
        // Far more than the socket buffers hold, so most of it goes through the flusher.
        let frames: Vec<Frame> = (0..2000u32)
            .map(|i| {
                i.to_be_bytes()
                    .iter()
                    .copied()
                    .cycle()
                    .take(1024)
                    .collect::<Vec<_>>()
                    .into()
            })
            .collect();
        for f in &frames {
            out.send(f).expect("capacity is ample");
        }
        let mut got = vec![0u8; 2000 * 1024];
        client.read_exact(&mut got).expect("all bytes arrive");
        for (i, chunk) in got.chunks(1024).enumerate() {
            assert_eq!(chunk, &frames[i][..], "frame {i}");
        }
    }

    #[test]
    fn a_reader_that_never_reads_overflows_the_bounded_queue() {
        let (server, _client) = pair();
        let bounds = Bounds {
            frames: 8,
            bytes: 1 << 30,
        };
        let out =
            Outbound::new(server, bounds, start_flusher().expect("flusher")).expect("outbound");
        let big: Frame = vec![0u8; 64 * 1024].into();
        let overflowed = (0..1000).any(|_| out.send(&big).is_err());
        assert!(overflowed);
    }

    #[test]
    fn small_frames_overflow_the_byte_bound_before_the_frame_bound() {
        let (server, _client) = pair();
        let bounds = Bounds {
            frames: 1_000_000,
            bytes: 256 * 1024,
        };
        let out =
            Outbound::new(server, bounds, start_flusher().expect("flusher")).expect("outbound");
        // The kernel send buffer is fixed (not autotuned to megabytes) and counted.
        assert!(out.kernel_buffer > 0 && out.kernel_buffer <= 2 * MAX_SEND_BUFFER);
        let small: Frame = vec![0u8; 1000].into();
        let sent = (0..100_000)
            .take_while(|_| out.send(&small).is_ok())
            .count();
        assert!(sent < 100_000, "never overflowed");
        let st = out.lock();
        // Refused at the bound: what is held fits it, and one more frame would not.
        assert!(out.kernel_buffer + st.unsent <= bounds.bytes);
        assert!(out.kernel_buffer + st.unsent + small.len() > bounds.bytes);
        assert!(st.queue.len() < 1000, "{} frames queued", st.queue.len());
    }

    #[test]
    fn a_frame_offered_to_an_empty_queue_is_taken_even_past_the_byte_bound() {
        let (server, mut client) = pair();
        let bounds = Bounds {
            frames: 8,
            bytes: 16 * 1024,
        };
        let out =
            Outbound::new(server, bounds, start_flusher().expect("flusher")).expect("outbound");
        let big: Frame = vec![7u8; 1024 * 1024].into();
        out.send(&big).expect("an empty queue takes any frame");
        let mut got = vec![0u8; big.len()];
        client.read_exact(&mut got).expect("all of it arrives");
        assert_eq!(got, &big[..]);
    }
}
