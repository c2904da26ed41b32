//! The outbound side of a connection: write straight to the socket while it takes
//! bytes, queue (bounded) only what would block, and let one shared flusher thread
//! drain the queues of the sockets that are slow.
//!
//! Every writer (the broker's fan-out, the connection's own reader thread for
//! errors and pongs) goes through [`Outbound::send`], so frames never interleave and
//! nobody ever blocks on a socket.

use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::frame;

/// One encoded WebSocket frame, shared by every member it is sent to.
pub type Frame = Arc<[u8]>;

/// The queue was full: the client does not read, and must go.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

#[derive(Default)]
struct State {
    queue: VecDeque<Frame>,
    /// Bytes of `queue[0]` already written.
    head_written: usize,
    /// With the flusher: it will write the queue as the socket drains.
    registered: bool,
    /// A close frame is queued or written; nothing more may follow it.
    closing_since: Option<Instant>,
    /// The socket failed or was shut down; sends are dropped.
    dead: bool,
}

pub struct Outbound {
    stream: TcpStream,
    capacity: usize,
    state: Mutex<State>,
    flusher: FlusherHandle,
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

impl Outbound {
    pub fn new(stream: TcpStream, capacity: usize, flusher: FlusherHandle) -> Outbound {
        Outbound {
            stream,
            capacity,
            state: Mutex::new(State::default()),
            flusher,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere; the state itself is still consistent
        // (every mutation is a single push/pop), so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues or writes one frame. Err only when the bounded queue is full.
    pub fn send(self: &Arc<Self>, f: &Frame) -> Result<(), Overflow> {
        let mut st = self.lock();
        if st.dead || st.closing_since.is_some() {
            return Ok(());
        }
        if !st.queue.is_empty() {
            if st.queue.len() >= self.capacity {
                return Err(Overflow);
            }
            st.queue.push_back(f.clone());
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
        st.queue.push_back(f.clone());
        st.head_written = written;
        self.write_queue(&mut st);
        Ok(())
    }

    /// Sends a close frame; everything queued before it still goes out first.
    pub fn close(self: &Arc<Self>, code: u16, reason: &str) {
        let f: Frame = frame::close(code, reason).into();
        let mut st = self.lock();
        if st.dead || st.closing_since.is_some() {
            return;
        }
        st.closing_since = Some(Instant::now());
        // The close frame may exceed the capacity by one: it must never be refused.
        st.queue.push_back(f);
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
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Writes from the head of the queue while the socket accepts; hands the rest to
    /// the flusher. Called with the lock held so writes never interleave.
    fn write_queue(self: &Arc<Self>, st: &mut State) {
        match self.drain(st) {
            Progress::Drained | Progress::Failed => {}
            Progress::Blocked if !st.registered => {
                st.registered = true;
                self.flusher.register(self.clone());
            }
            Progress::Blocked => {}
        }
    }

    fn drain(&self, st: &mut State) -> Progress {
        let fd = self.stream.as_raw_fd();
        while let Some(head) = st.queue.front() {
            match send_nonblocking(fd, &head[st.head_written..]) {
                Ok(n) => {
                    st.head_written += n;
                    if st.head_written == head.len() {
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

/// Lets a connection hand its blocked queue to the flusher thread.
#[derive(Clone)]
pub struct FlusherHandle {
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
pub fn start_flusher() -> io::Result<FlusherHandle> {
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
        let out = Arc::new(Outbound::new(
            server,
            100_000,
            start_flusher().expect("flusher"),
        ));
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
        let out = Arc::new(Outbound::new(server, 8, start_flusher().expect("flusher")));
        let big: Frame = vec![0u8; 64 * 1024].into();
        let overflowed = (0..1000).any(|_| out.send(&big).is_err());
        assert!(overflowed);
    }
}
