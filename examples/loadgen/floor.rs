//! The floor: what the simplest possible sender spends on the same fan-out as the
//! server, measured on this machine, in this run, on the server's own CPU.
//!
//! A server's CPU per delivery in microseconds says as much about the machine as
//! about the code (loopback TCP costs 2 µs a send() on one machine and 7 on another),
//! so budgets compare it with this floor instead: one thread pinned where the server
//! runs, one encoded relayed frame of the server's own encoding and size, one
//! send() per member, to as many loopback TCP receivers, which this thread drains
//! from the load generator's CPU as the clients of a real run do. Only the sender's
//! own thread CPU time (`CLOCK_THREAD_CPUTIME_ID`) is counted. No server can deliver
//! for less than this, so the ratio of the two is the server's overhead.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sanctuary::{protocol, ws::frame};

use crate::msg::{self, RoomCrypto, Stamp};
use crate::net;
use crate::scenarios::Env;
use crate::server;

/// One measurement of the floor.
pub struct Floor {
    pub sends: u64,
    /// CPU seconds of the sending thread over all its sends.
    pub cpu_s: f64,
    pub frame_bytes: usize,
    /// Times the sender got `window` messages ahead of the receivers and paused.
    pub waits: u64,
}

impl Floor {
    pub fn us_per_send(&self) -> f64 {
        self.cpu_s * 1e6 / self.sends.max(1) as f64
    }
}

/// The frame the server relays for one benchmark message: the same sealed body,
/// sender alias, timestamp and `seq` widths, through the server's own encoders.
fn relayed_frame(room: &RoomCrypto) -> Vec<u8> {
    let stamp = Stamp {
        sender: 0,
        number: 1,
        sent_ns: net::now_ns(),
    };
    let body = room.seal("m0", [7; 16], &msg::plaintext(&stamp));
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // A `seq` of five digits, as a few seconds of full-speed fan-out reach.
    let json = protocol::relayed("m0", None, &body, ts, 12_345);
    frame::text(&json)
}

/// Opens `n` loopback connections: the receivers (non-blocking, on epoll `ep`, keyed
/// by index) and the sender's ends, with TCP_NODELAY as the server sets it.
fn connect(
    n: usize,
    ep: &std::os::fd::OwnedFd,
) -> Result<(Vec<TcpStream>, Vec<TcpStream>), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("floor: bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut receivers = Vec::with_capacity(n);
    let mut senders = Vec::with_capacity(n);
    for i in 0..n {
        let r = TcpStream::connect(addr).map_err(|e| format!("floor: connect: {e}"))?;
        let (s, _) = listener
            .accept()
            .map_err(|e| format!("floor: accept: {e}"))?;
        // The write time-out ends a send that a failed drain would leave blocked.
        s.set_nodelay(true)
            .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(10))))
            .and_then(|()| r.set_nodelay(true))
            .and_then(|()| r.set_nonblocking(true))
            .map_err(|e| format!("floor: socket options: {e}"))?;
        net::epoll_ctl(
            ep,
            libc::EPOLL_CTL_ADD,
            r.as_raw_fd(),
            libc::EPOLLIN as u32,
            i,
        )
        .map_err(|e| format!("floor: epoll_ctl: {e}"))?;
        receivers.push(r);
        senders.push(s);
    }
    Ok((receivers, senders))
}

/// The floor of `groups` rooms of `members`: `sends` sends in all, each message to
/// every member of one room in turn, at most `window` messages ahead of the
/// receivers (as the load generator paces the server).
pub fn measure(
    env: &Env,
    groups: usize,
    members: usize,
    sends: u64,
    window: u64,
) -> Result<Floor, String> {
    let frame = relayed_frame(&*env.room(0)?);
    let ep = net::epoll_create()?;
    let (receivers, senders) = connect(groups * members, &ep)?;
    let messages = sends.div_ceil(members as u64);
    let total = messages * members as u64 * frame.len() as u64;
    let ahead = window * members as u64 * frame.len() as u64;
    let drained = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let cpu = env.server_cpu;
    std::thread::scope(|s| {
        let sender = s.spawn(|| -> Result<(f64, u64), String> {
            if let Some(c) = cpu {
                server::pin(c).map_err(|e| format!("floor: cannot pin to CPU {c}: {e}"))?;
            }
            let (mut sent, mut waits) = (0u64, 0u64);
            let cpu0 = server::thread_cpu();
            for m in 0..messages {
                while sent.saturating_sub(drained.load(Ordering::Acquire)) > ahead {
                    if failed.load(Ordering::Acquire) {
                        return Err("floor: the receivers failed".into());
                    }
                    waits += 1;
                    std::thread::sleep(Duration::from_micros(50));
                }
                let room = (m as usize % groups) * members;
                for mut sock in &senders[room..room + members] {
                    // Blocking, so a full socket (never seen within the window) waits.
                    if let Err(e) = sock.write_all(&frame) {
                        failed.store(true, Ordering::Release);
                        return Err(format!("floor: send: {e}"));
                    }
                }
                sent += (members * frame.len()) as u64;
            }
            Ok((server::thread_cpu() - cpu0, waits))
        });
        let drain = drain(&ep, &receivers, total, &drained, &failed);
        if drain.is_err() {
            failed.store(true, Ordering::Release);
        }
        let sent = sender
            .join()
            .map_err(|_| "floor: the sending thread panicked".to_string())?;
        drain?;
        let (cpu_s, waits) = sent?;
        Ok(Floor {
            sends: messages * members as u64,
            cpu_s,
            frame_bytes: frame.len(),
            waits,
        })
    })
}

/// Reads every receiver until `total` bytes have arrived in all, publishing the
/// count in `drained` for the sender's window.
fn drain(
    ep: &std::os::fd::OwnedFd,
    receivers: &[TcpStream],
    total: u64,
    drained: &AtomicU64,
    failed: &AtomicBool,
) -> Result<(), String> {
    let mut buf = vec![0u8; net::READ_CHUNK];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let until = Instant::now() + Duration::from_secs(60);
    let mut got = 0u64;
    while got < total {
        if failed.load(Ordering::Acquire) {
            return Ok(()); // the sender says why
        }
        if Instant::now() > until {
            return Err(format!(
                "floor: only {got} of {total} bytes arrived in 60 s"
            ));
        }
        let n = net::epoll_wait(ep, &mut events, Duration::from_millis(20))?;
        for ev in &events[..n] {
            let fd = receivers[ev.u64 as usize].as_raw_fd();
            match net::recv(fd, &mut buf) {
                Ok(0) => return Err("floor: a receiver was closed".into()),
                Ok(k) => got += k as u64,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(format!("floor: recv: {e}")),
            }
        }
        drained.store(got, Ordering::Release);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanctuary::crypto::RoomKeys;

    #[test]
    fn the_floor_sends_what_a_member_receives() {
        let room = RoomCrypto::new("r".repeat(22), RoomKeys::from_master(&[3; 32]));
        let frame = relayed_frame(&room);
        let h = crate::ws::parse_header(&frame)
            .expect("valid")
            .expect("whole");
        assert_eq!((h.opcode, h.end), (crate::ws::OP_TEXT, frame.len()));
        let r = msg::relayed(&frame[h.start..]).expect("the server's msg encoding");
        assert_eq!((r.from, r.seq), (&b"m0"[..], 12_345));
        assert!(room.peek(r.body).is_some());
    }
}
