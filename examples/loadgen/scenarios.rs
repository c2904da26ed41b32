//! The measurements. Each starts a fresh server, opens real clients, drives the load
//! from this one thread, and reads the server's and its own CPU time around the
//! measured interval, so a limit of the load generator shows as such.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::msg::RoomCrypto;
use crate::net::{Losses, Net, Spec};
use crate::server::{self, Footprint, Server};
use crate::ws;

pub struct Env {
    pub bin: PathBuf,
    pub server_cpu: Option<usize>,
    /// Room ids with keys derived once (PBKDF2 is slow on purpose), reused by every
    /// run; each run has a fresh server, so the ids never collide.
    pub rooms: Vec<Arc<RoomCrypto>>,
    /// One delivery in this many is fully verified (tag and whole text).
    pub verify_every: u32,
    pub join_timeout: Duration,
    /// Development aid: keep the footprint run's server and clients this long after
    /// the last step, to look at /proc/PID/smaps by hand.
    pub hold: Duration,
}

impl Env {
    fn server(&self) -> Result<Server, String> {
        Server::start(&self.bin, self.server_cpu)
    }

    pub fn room(&self, i: usize) -> Result<Arc<RoomCrypto>, String> {
        self.rooms
            .get(i)
            .cloned()
            .ok_or_else(|| format!("room {i} has no derived keys (only {})", self.rooms.len()))
    }

    /// A fresh server and a network of `rooms x members` joined clients.
    fn rooms_of(&self, rooms: usize, members: usize) -> Result<(Server, Net), String> {
        let server = self.server()?;
        let mut net = Net::new(server.ws, self.verify_every)?;
        let mut specs = Vec::new();
        for r in 0..rooms {
            let idx = net.add_room(self.room(r)?);
            specs.extend((0..members).map(|m| Spec {
                room: idx,
                alias: format!("m{m}"),
            }));
        }
        net.join_all(specs, self.join_timeout)?;
        if net.joined() != rooms * members {
            return Err(format!(
                "only {} of {} clients joined",
                net.joined(),
                rooms * members
            ));
        }
        // Let the `joined` announcements settle before measuring.
        net.idle(Duration::from_millis(100))?;
        net.reset_tally();
        Ok((server, net))
    }
}

pub struct Startup {
    /// Spawn to the banner.
    pub banner_ms: f64,
    /// Spawn to the first connection upgraded and greeted with `hello`.
    pub first_hello_ms: f64,
}

/// Start-up time: spawn, banner, then one connection until its `hello`.
pub fn startup(env: &Env) -> Result<Startup, String> {
    let server = env.server()?;
    let mut sock = TcpStream::connect(server.ws).map_err(|e| format!("connect: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let key = tungstenite::handshake::client::generate_key();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    sock.write_all(&ws::upgrade_request(&server.ws.to_string(), &key))
        .map_err(|e| format!("upgrade request: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let greeted = loop {
        let n = sock
            .read(&mut chunk)
            .map_err(|e| format!("waiting for hello: {e}"))?;
        if n == 0 {
            return Err("server closed before hello".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head) = ws::check_upgrade(&buf, &accept)?
            && let Some(h) = ws::parse_header(&buf[head..])?
        {
            let payload = &buf[head + h.start..head + h.end];
            if !payload.starts_with(br#"{"t":"hello","v":1,"#) {
                return Err(format!(
                    "expected hello, got {}",
                    String::from_utf8_lossy(payload)
                ));
            }
            break server.spawned.elapsed();
        }
    };
    let out = Startup {
        banner_ms: server.banner_after.as_secs_f64() * 1e3,
        first_hello_ms: greeted.as_secs_f64() * 1e3,
    };
    drop(sock);
    server.stop()?;
    Ok(out)
}

/// The footprint at one number of connected clients.
pub struct RssStep {
    pub clients: usize,
    pub fp: Footprint,
}

/// Idle footprint, then with `steps` clients connected and joined (rooms of
/// `room_size`), each reading taken after the joins have settled.
pub fn rss(env: &Env, steps: &[usize], room_size: usize) -> Result<Vec<RssStep>, String> {
    let server = env.server()?;
    std::thread::sleep(Duration::from_millis(300));
    let mut out = vec![RssStep {
        clients: 0,
        fp: server.footprint()?,
    }];
    let mut net = Net::new(server.ws, env.verify_every)?;
    let mut have = 0;
    for &step in steps {
        let mut specs = Vec::new();
        for i in have..step {
            let room = i / room_size;
            while net.rooms.len() <= room {
                let idx = net.rooms.len();
                net.add_room(env.room(idx)?);
            }
            specs.push(Spec {
                room,
                alias: format!("m{}", i % room_size),
            });
        }
        net.join_all(specs, env.join_timeout)?;
        have = step;
        net.idle(Duration::from_millis(300))?;
        if net.joined() != step {
            return Err(format!("only {} of {step} clients connected", net.joined()));
        }
        let l = net.losses();
        if l.total() > 0 {
            return Err(format!(
                "clients failed while idle: {l:?} {:?}",
                net.tally().notes
            ));
        }
        out.push(RssStep {
            clients: step,
            fp: server.footprint()?,
        });
    }
    if !env.hold.is_zero() {
        println!(
            "  holding server {} with {have} clients for {:?}",
            server.pid(),
            env.hold
        );
        net.idle(env.hold)?;
    }
    server.stop()?;
    Ok(out)
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub samples: usize,
}

pub fn percentiles(mut ns: Vec<u32>) -> Percentiles {
    if ns.is_empty() {
        return Percentiles::default();
    }
    ns.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
        f64::from(ns[rank - 1]) / 1e3
    };
    Percentiles {
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
        samples: ns.len(),
    }
}

/// One measured interval of traffic.
pub struct Traffic {
    pub messages: u64,
    pub deliveries: u64,
    pub secs: f64,
    pub server_cpu_s: f64,
    pub loadgen_cpu_s: f64,
    /// CPU time of everything else on the machine meanwhile (other people's builds).
    pub others_cpu_s: f64,
    /// Time the server's threads were runnable but waited for a CPU.
    pub server_wait_s: f64,
    pub latency: Percentiles,
    pub losses: Losses,
    pub verified: u64,
    pub notes: Vec<String>,
}

impl Traffic {
    pub fn per_sec(&self) -> f64 {
        self.deliveries as f64 / self.secs
    }
    pub fn server_us_per_delivery(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.deliveries.max(1) as f64
    }
    pub fn loadgen_us_per_delivery(&self) -> f64 {
        self.loadgen_cpu_s * 1e6 / self.deliveries.max(1) as f64
    }
}

/// How the senders of a run pick their moments.
#[derive(Clone, Copy)]
pub enum Pace {
    /// As fast as the server delivers: at most `window` messages per room sent
    /// and not yet received by the room's slowest member, from the room's first
    /// `senders` members in turn.
    Window { window: u64, senders: usize },
    /// `per_sec` messages per second into each room, from its first member.
    Rate(f64),
}

/// Drives `rooms x members` clients for `secs`, then waits for every delivery.
pub fn traffic(
    env: &Env,
    rooms: usize,
    members: usize,
    pace: Pace,
    secs: f64,
) -> Result<Traffic, String> {
    let (server, mut net) = env.rooms_of(rooms, members)?;
    net.record_latencies(true);
    let cpu_s0 = server.cpu()?;
    let cpu_l0 = server::self_cpu();
    let busy0 = server::machine_busy();
    let wait0 = server.run_queue_wait();
    let t0 = Instant::now();
    let run_for = Duration::from_secs_f64(secs);
    let mut next_sender = vec![0usize; rooms];
    let mut sent_at_rate = 0u64;
    while t0.elapsed() < run_for {
        if net.tally().closed > 0 {
            break; // a client is gone: the run has failed, say so now
        }
        match pace {
            Pace::Window { window, senders } => {
                for (r, turn) in next_sender.iter_mut().enumerate() {
                    let free = window.saturating_sub(net.rooms[r].sent - net.room_floor(r));
                    // Top up in batches, so each write carries several frames.
                    if free * 4 >= window {
                        for _ in 0..free {
                            let sender = net.rooms[r].members[*turn % senders.max(1)];
                            *turn += 1;
                            net.queue_msg(sender);
                        }
                    }
                }
                net.flush_all();
                net.poll(Duration::from_millis(1))?;
            }
            Pace::Rate(per_sec) => {
                let due = (t0.elapsed().as_secs_f64() * per_sec) as u64 + 1;
                if sent_at_rate < due {
                    for r in 0..rooms {
                        let sender = net.rooms[r].members[0];
                        net.queue_msg(sender);
                    }
                    sent_at_rate += 1;
                    net.flush_all();
                }
                let next = Duration::from_secs_f64(sent_at_rate as f64 / per_sec);
                let wait = next.saturating_sub(t0.elapsed());
                net.poll(wait.min(run_for.saturating_sub(t0.elapsed())))?;
            }
        }
    }
    let drained = net.tally().closed == 0 && net.drain(Duration::from_secs(10))?;
    let secs = t0.elapsed().as_secs_f64();
    let server_cpu_s = server.cpu()? - cpu_s0;
    let loadgen_cpu_s = server::self_cpu() - cpu_l0;
    let busy = server::machine_busy() - busy0;
    let server_wait_s = server.run_queue_wait() - wait0;
    let losses = net.losses();
    let mut notes = net.tally().notes.clone();
    if !drained {
        notes.push(format!("not drained within 10 s: {losses:?}"));
    }
    let out = Traffic {
        messages: net.rooms.iter().map(|r| r.sent).sum(),
        deliveries: net.tally().deliveries,
        secs,
        server_cpu_s,
        loadgen_cpu_s,
        others_cpu_s: (busy - server_cpu_s - loadgen_cpu_s).max(0.0),
        server_wait_s,
        latency: percentiles(net.take_latencies()),
        losses,
        verified: net.tally().verified,
        notes,
    };
    server.stop()?;
    Ok(out)
}
