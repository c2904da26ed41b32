//! The floor: what the simplest possible sender spends on the same fan-out as the
//! server, measured on this machine, in this run, on the server's own CPU.
//!
//! A server's CPU per delivery in microseconds says as much about the machine as
//! about the code (loopback TCP costs 2 µs a send() on one machine and 7 on another),
//! so budgets compare it with this floor instead: one thread pinned where the server
//! runs, one encoded frame per message in the server's own relayed-message encoding
//! and size, one send() per member, to as many loopback TCP receivers. The receivers
//! are the load generator's own clients on its own CPU, reading and checking what
//! arrives as in the measured run: how fast they drain changes what a send() costs
//! (a receiver asleep must be woken), so they must be the same. Only the sender's
//! own thread CPU time (`CLOCK_THREAD_CPUTIME_ID`) is counted. No server can deliver
//! for less than this, so the ratio of the two is the server's overhead.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sanctuary::wire::{Relayed, ServerFrame};

use crate::msg::{self, RoomCrypto, Stamp};
use crate::net::{self, Net, Spec};
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

/// The frame the server relays for message `seq` of a room from its member `m0`,
/// through the server's own encoders: the same size as in the fan-out, and read by
/// the receivers exactly as the server's frames are.
fn relayed_frame(room: &RoomCrypto, seq: u64) -> Vec<u8> {
    let stamp = Stamp {
        sender: 0,
        number: seq as u32,
        sent_ns: net::now_ns(),
    };
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(&(seq << 8).to_be_bytes());
    let body = room.seal("m0", iv, &msg::plaintext(&stamp));
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let relayed = ServerFrame::Relayed(Relayed {
        from: "m0",
        to: None,
        body: body.as_str(),
        ts,
        seq,
    });
    relayed.to_frame().to_vec()
}

/// The floor of `groups` rooms of `members`: about `sends` sends in all, each
/// message to every member of one room in turn, at most `window` messages ahead of
/// the receivers (as the load generator paces the server). The receivers are the
/// load generator's own clients ([`Net::adopt`]), so they read, count and check what
/// they get exactly as in the measured scenario, at the same speed.
pub fn measure(
    env: &Env,
    groups: usize,
    members: usize,
    sends: u64,
    window: u64,
) -> Result<Floor, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("floor: bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut net = Net::new(addr, env.verify_every)?;
    let mut senders = Vec::with_capacity(groups * members);
    let mut rooms = Vec::with_capacity(groups);
    for g in 0..groups {
        let crypto = env.room(g)?;
        let room = net.add_room(crypto.clone());
        rooms.push(crypto);
        for m in 0..members {
            let r = TcpStream::connect(addr).map_err(|e| format!("floor: connect: {e}"))?;
            let (s, _) = listener
                .accept()
                .map_err(|e| format!("floor: accept: {e}"))?;
            // TCP_NODELAY as the server sets it; the write time-out ends a send that
            // failed receivers would leave blocked.
            s.set_nodelay(true)
                .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(10))))
                .map_err(|e| format!("floor: socket options: {e}"))?;
            let alias = format!("m{m}");
            net.adopt(r, Spec { room, alias })?;
            senders.push(s);
        }
    }
    let messages = sends.div_ceil(members as u64);
    // Every frame is encoded before the clock starts: the server encodes a message
    // once for all its members, and that cost is the server's own.
    let frames: Vec<Vec<u8>> = (0..messages)
        .map(|m| relayed_frame(&rooms[m as usize % groups], m / groups as u64 + 1))
        .collect();
    let total = messages * members as u64;
    let delivered = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let cpu = env.server_cpu;
    let (sent, received) = std::thread::scope(|s| {
        let sender = s.spawn(|| -> Result<(f64, u64), String> {
            if let Some(c) = cpu {
                server::pin(c).map_err(|e| format!("floor: cannot pin to CPU {c}: {e}"))?;
            }
            let mut waits = 0u64;
            let cpu0 = server::thread_cpu();
            for (m, frame) in frames.iter().enumerate() {
                let due = m as u64 * members as u64;
                while due.saturating_sub(delivered.load(Ordering::Acquire))
                    > window * members as u64
                {
                    if failed.load(Ordering::Acquire) {
                        return Err("floor: the receivers failed".into());
                    }
                    waits += 1;
                    std::thread::sleep(Duration::from_micros(50));
                }
                let room = (m % groups) * members;
                for mut sock in &senders[room..room + members] {
                    // Blocking, so a full socket (never seen within the window) waits.
                    if let Err(e) = sock.write_all(frame) {
                        failed.store(true, Ordering::Release);
                        return Err(format!("floor: send: {e}"));
                    }
                }
            }
            Ok((server::thread_cpu() - cpu0, waits))
        });
        let received = receive(&mut net, total, &delivered, &failed);
        if received.is_err() {
            failed.store(true, Ordering::Release);
        }
        let sent = sender
            .join()
            .map_err(|_| "floor: the sending thread panicked".to_string());
        (sent, received)
    });
    let (cpu_s, waits) = sent??;
    received?;
    for (i, room) in net.rooms.iter_mut().enumerate() {
        room.sent = (messages + (groups - 1 - i) as u64) / groups as u64;
    }
    let losses = net.losses();
    if losses.total() > 0 {
        return Err(format!(
            "floor: receivers lost messages: {losses:?} {:?}",
            net.tally().notes
        ));
    }
    Ok(Floor {
        sends: total,
        cpu_s,
        frame_bytes: frames.first().map_or(0, Vec::len),
        waits,
    })
}

/// Polls the receivers until `total` deliveries, publishing the count in
/// `delivered` for the sender's window.
fn receive(
    net: &mut Net,
    total: u64,
    delivered: &AtomicU64,
    failed: &AtomicBool,
) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let got = net.tally().deliveries;
        delivered.store(got, Ordering::Release);
        if got >= total || failed.load(Ordering::Acquire) {
            return Ok(()); // on failure, the sender says why
        }
        if net.tally().closed > 0 || Instant::now() > until {
            return Err(format!(
                "floor: {got} of {total} deliveries, {:?}",
                net.tally().notes
            ));
        }
        net.poll(Duration::from_millis(20))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanctuary::crypto::RoomKeys;

    #[test]
    fn the_floor_sends_what_a_member_receives() {
        let room = RoomCrypto::new("r".repeat(22), RoomKeys::from_master(&[3; 32]));
        let frame = relayed_frame(&room, 9);
        let h = crate::ws::parse_header(&frame)
            .expect("valid")
            .expect("whole");
        assert_eq!((h.opcode, h.end), (crate::ws::OP_TEXT, frame.len()));
        let r = msg::relayed(&frame[h.start..]).expect("the server's msg encoding");
        assert_eq!((r.from, r.seq), (&b"m0"[..], 9));
        let stamp = room.peek(r.body).expect("ours");
        assert!(room.verify("m0", std::str::from_utf8(r.body).unwrap(), &stamp));
    }
}
