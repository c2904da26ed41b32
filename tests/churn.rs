//! Churn: thousands of members joining and leaving a hundred rooms, as real WebSocket
//! clients, leave nothing behind: no room, member or connection on /healthz, no extra
//! thread or descriptor, and no growth of memory beyond a tenth of the warmed-up
//! baseline.

mod common;

use common::*;
use sanctuary::client::Event;
use sanctuary::crypto::RoomKeys;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROOMS: usize = 100;
const THREADS: usize = 20;

/// Join/leave cycles of the main round: 10,000, or SANCTUARY_CHURN_CYCLES (`make soak`).
fn cycles() -> usize {
    std::env::var("SANCTUARY_CHURN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// `total` join/leave cycles over `THREADS` threads: each cycle is a new connection
/// that enters a room (creating it when it is gone), leaves it with `exit` and reads
/// until the server closes.
fn churn(srv: &Server, rooms: &Arc<Vec<(String, RoomKeys)>>, total: usize) {
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let rooms = rooms.clone();
            scope.spawn(move || {
                let alias = format!("churn-{t}");
                for i in 0..total.div_ceil(THREADS) {
                    let (room, keys) = &rooms[(t * 7 + i) % ROOMS];
                    let (mut s, _) = enter(srv, room, &alias, keys);
                    s.exit(None).expect("exit");
                    // Bounded: at most 100 events, each within TIMEOUT.
                    let closed = (0..100)
                        .any(|_| matches!(s.next_event(), Ok(Event::Closed { .. }) | Err(_)));
                    assert!(closed, "thread {t} cycle {i}: no close after exit");
                }
            });
        }
    });
}

/// Waits (at most 10 s) until /healthz is all zeroes and the server is back to
/// `threads` threads and `fds` descriptors; returns what it last saw.
fn settle(srv: &Server, threads: u64, fds: usize) -> (serde_json::Value, u64, usize) {
    let empty = serde_json::json!({"rooms": 0, "members": 0, "connections": 0});
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = (srv.healthz(), srv.threads(), srv.fds());
        if (seen.0 == empty && seen.1 <= threads && seen.2 <= fds) || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ten_thousand_joins_and_leaves_over_100_rooms_leave_no_room_thread_descriptor_or_memory() {
    let srv = Server::start(&["--max-per-ip", "128"]);
    let rooms: Arc<Vec<(String, RoomKeys)>> =
        Arc::new((0..ROOMS).map(|_| (new_room(), new_keys())).collect());
    let (idle_threads, idle_fds) = (srv.threads(), srv.fds());
    // Warm-up: the allocator's arenas and the broker's tables reach their working size.
    churn(&srv, &rooms, 1_000);
    let (health, threads, fds) = settle(&srv, idle_threads, idle_fds);
    let rss = srv.status("VmRSS");
    eprintln!(
        "churn baseline after 1,000-cycle warm-up: RSS {rss} KiB, {threads} threads \
         (idle {idle_threads}), {fds} fds (idle {idle_fds}), healthz {health}"
    );
    let total = cycles();
    let started = Instant::now();
    churn(&srv, &rooms, total);
    let took = started.elapsed();
    let (health_after, threads_after, fds_after) = settle(&srv, threads, fds);
    let rss_after = srv.status("VmRSS");
    eprintln!(
        "churn: {total} join/leave cycles over {ROOMS} rooms by {THREADS} threads in \
         {took:.1?} ({:.0}/s); after: RSS {rss_after} KiB ({:+.1}%), {threads_after} \
         threads, {fds_after} fds, healthz {health_after}",
        total as f64 / took.as_secs_f64(),
        (rss_after as f64 / rss as f64 - 1.0) * 100.0
    );
    assert_eq!(
        health_after,
        serde_json::json!({"rooms": 0, "members": 0, "connections": 0})
    );
    assert_eq!(threads_after, threads, "threads");
    assert_eq!(fds_after, fds, "descriptors");
    assert!(
        rss_after * 10 <= rss * 11,
        "RSS grew from {rss} KiB to {rss_after} KiB"
    );
    assert_silent_exit(srv);
}
