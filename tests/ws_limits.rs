//! Memory and time bounds of the chat port, against the real server binary: members
//! that never read are cut at the byte bound of their queue while the server stays
//! small (also under an address-space limit), and a handshake trickled a byte at a
//! time is closed at the whole-handshake deadline.

mod common;

use common::*;
use sanctuary::crypto::RoomKeys;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// `--queue-bytes` default.
const QUEUE_BYTES: usize = 256 * 1024;
/// What one connection may cost at most with the default flags (README, "Worst-case
/// memory").
const PER_CONNECTION: u64 = 620 * 1024 + 512;

/// VmRSS or VmSize of a process, in bytes; None once it has gone.
fn try_vm(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(kib * 1024)
}

fn vm(pid: u32, key: &str) -> u64 {
    try_vm(pid, key).unwrap_or_else(|| panic!("no {key} for process {pid}"))
}

/// Caps the server's address space (what `prlimit --as` does) while it runs.
fn limit_address_space(pid: u32, bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: prlimit(2) on our own child with a valid rlimit; no old value wanted.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_AS,
            &lim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max address space") && l.contains(&bytes.to_string())),
        "{limits}"
    );
}

/// A raw WebSocket from `src` that joins `room` by hand (the test controls every read).
fn join_raw(
    srv: &Server,
    src: [u8; 4],
    room: &str,
    alias: &str,
    keys: &RoomKeys,
) -> WebSocket<TcpStream> {
    let stream = connect_from(src, srv.ws);
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let (mut ws, _) =
        tungstenite::client(format!("ws://{}/ws", srv.ws), stream).expect("handshake");
    let hello = read_json(&mut ws);
    let proof = proof(&hello, &keys.k_auth, room, alias);
    let join = serde_json::json!({"t":"join","room":room,"alias":alias,"proof":proof});
    ws.send(Message::text(join.to_string())).expect("join");
    let welcome = read_json(&mut ws);
    assert_eq!(welcome["t"], "welcome", "{welcome}");
    ws
}

#[test]
fn members_that_never_read_are_cut_at_the_byte_bound_and_the_server_stays_small() {
    let srv = Server::start(&["--rate", "100000", "--burst", "100000"]);
    let pid = srv.pid();
    let _ = srv.http_get("/healthz");
    std::thread::sleep(Duration::from_millis(200));
    let (rss_before, size_before) = (vm(pid, "VmRSS"), vm(pid, "VmSize"));
    // A real limit: what the server has mapped now plus 64 MiB for the 35 connection
    // threads' stacks and their buffers. glibc cannot add arenas (64 MiB of address
    // space each) under it and must share the ones it has.
    let limit = size_before + 64 * 1024 * 1024;
    limit_address_space(pid, limit);

    let (room, keys) = (new_room(), new_keys());
    let (mut sender, _) = enter(&srv, &room, "sender", &keys);
    let mut reader = join_raw(&srv, [127, 0, 0, 1], &room, "reader", &keys);
    // 32 members from one address (the per-address cap) join and never read again.
    let stalled: Vec<_> = (0..32)
        .map(|i| join_raw(&srv, [127, 0, 0, 2], &room, &format!("stalled{i}"), &keys))
        .collect();

    // They ping every half second, so the idle timeout is not what removes them.
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut open = stalled;
            while !stop.load(Ordering::Relaxed) {
                open.retain_mut(|ws| ws.send(Message::Ping(Vec::new().into())).is_ok());
                std::thread::sleep(Duration::from_millis(500));
            }
            // The cuts may have come after the last round (a fast run ends within half a
            // second of them): go on until each closed connection shows it, or time out.
            let deadline = std::time::Instant::now() + TIMEOUT;
            while !open.is_empty() && std::time::Instant::now() < deadline {
                open.retain_mut(|ws| ws.send(Message::Ping(Vec::new().into())).is_ok());
                std::thread::sleep(Duration::from_millis(100));
            }
            open.len()
        })
    };
    let rss_peak = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                let Some(rss) = try_vm(pid, "VmRSS") else {
                    break;
                };
                peak = peak.max(rss);
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };

    // The healthy reader reads everything on its own thread and notes how many bytes
    // of messages the room had carried when each stalled member was announced gone.
    let total = 400u64;
    // How far the healthy reader has got: the sender never runs more than 16 messages
    // (128 KiB, half the bound) ahead of it, so on a loaded machine it is the stalled
    // members that pass the bound, never the reader that merely runs late.
    let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reading = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            let (mut seq, mut carried, mut cuts) = (0u64, 0usize, Vec::new());
            while seq < total {
                let Message::Text(t) = reader.read().expect("reader frame") else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                match v["t"].as_str() {
                    Some("msg") => {
                        seq += 1;
                        assert_eq!(v["seq"].as_u64(), Some(seq), "in order, none lost");
                        carried += t.len();
                        progress.store(seq, Ordering::Relaxed);
                    }
                    Some("joined") => {}
                    Some("left") => {
                        assert_eq!(v["reason"], "gone", "{v}");
                        cuts.push(carried);
                    }
                    _ => panic!("reader got {v}"),
                }
            }
            (carried, cuts)
        })
    };
    let text = "z".repeat(8000);
    let mut echoed = 0;
    for i in 0..total {
        let waiting_since = std::time::Instant::now();
        while i > progress.load(Ordering::Relaxed) + 16 {
            assert!(
                waiting_since.elapsed() < TIMEOUT,
                "the reader stopped at {i}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        sender.say(&text).expect("send");
        // Drain our own echoes as we go so the sender is never the slow one.
        while echoed < i {
            if let sanctuary::client::Event::Message { .. } = next(&mut sender) {
                echoed += 1;
            }
        }
    }
    let (carried, cuts) = reading.join().expect("reader thread");
    stop.store(true, Ordering::Relaxed);
    let still_open = pinger.join().expect("pinger");
    let rss_during = rss_peak.join().expect("rss thread");

    eprintln!(
        "carried {carried} B per member; stalled members cut after {:?} KiB",
        cuts.iter().map(|c| c / 1024).collect::<Vec<_>>()
    );
    assert_eq!(cuts.len(), 32, "every stalled member is cut: {cuts:?}");
    assert_eq!(still_open, 0, "and its connection closed");
    for &c in &cuts {
        // Not before it could hold the bound (the kernel buffers hold some of it), and
        // not long after: the client's own receive buffer and one frame are the slack.
        assert!(c >= QUEUE_BYTES / 2, "cut early, after {c} B");
        assert!(c <= QUEUE_BYTES + 512 * 1024, "cut late, after {c} B");
    }
    let bound = rss_before + 35 * PER_CONNECTION;
    eprintln!(
        "RSS before {} KiB, peak during {} KiB (bound {} KiB), VmSize {} KiB under a {} KiB limit",
        rss_before / 1024,
        rss_during / 1024,
        bound / 1024,
        vm(pid, "VmSize") / 1024,
        limit / 1024
    );
    assert!(rss_during <= bound, "RSS {rss_during} over {bound}");

    // Still serving, within the limit: the page loads and a fresh client joins.
    let (status, _, _) = srv.http_get("/");
    assert_eq!(status, 200);
    let (mut fresh, _) = enter(&srv, &new_room(), "fresh", &new_keys());
    fresh.say("after the storm").expect("send");
    assert_eq!(text_of(&next(&mut fresh)), Some("after the storm"));
    drop((fresh, sender));
    std::thread::sleep(Duration::from_millis(500));
    eprintln!("RSS after they all left {} KiB", vm(pid, "VmRSS") / 1024);
}

#[test]
fn a_handshake_trickled_a_byte_a_second_is_closed_at_the_deadline() {
    let srv = Server::start(&["--handshake-timeout", "2"]);
    let mut s = TcpStream::connect(srv.ws).expect("connect");
    let mut watch = s.try_clone().expect("clone");
    let started = Instant::now();
    // Each byte comes within any per-read timeout; the request never ends.
    let trickle = std::thread::spawn(move || {
        for b in b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n".iter() {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });

    // Meanwhile a normal client joins and talks.
    let (mut a, _) = enter(&srv, &new_room(), "alice", &new_keys());
    a.say("not blocked").expect("send");
    assert_eq!(text_of(&next(&mut a)), Some("not blocked"));

    watch.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut buf = Vec::new();
    let end = watch.read_to_end(&mut buf);
    let took = started.elapsed();
    eprintln!("trickled handshake closed after {took:?} ({end:?})");
    assert!(end.is_ok(), "closed, not timed out on our side: {end:?}");
    assert!(buf.is_empty(), "nothing answered: {buf:?}");
    assert!(
        took >= Duration::from_millis(1900) && took <= Duration::from_secs(3),
        "closed after {took:?}"
    );
    trickle.join().expect("trickle");
}
