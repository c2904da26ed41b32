//! The chat port: accept TCP connections, admit them under the connection caps (where
//! a connection still in its handshake gives way to a newcomer, see
//! [`crate::admission`]), and give each admitted one its own small thread ([`conn`]).

pub(crate) mod conn;
pub mod handshake;
// Public for the load generator, which writes the way the server does.
pub mod outbound;

use crossbeam_channel::Sender;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::admission::{self, Counts, Fit};
use crate::broker::Event;
use crate::cli::Limits;
use crate::stats::Stats;
use crate::verifier::ServerKey;
use crate::wire::{Code, close};
use handshake::OriginPolicy;
use outbound::FlusherHandle;

/// Stack of a connection thread: enough for the handshake and serde_json's deepest
/// recursion, small enough that a Pi Zero holds hundreds (only touched pages count).
const CONN_STACK: usize = 128 * 1024;

/// At most this many refused connections are told "server full" over WebSocket at
/// once ([`tell_full`]); any more get the plain 503 at once, so a flood of refusals
/// costs at most this many small threads.
const MAX_TELLING_FULL: usize = 4;

/// How long a refused connection has to finish its handshake and read the close.
const TELL_FULL_WITHIN: Duration = Duration::from_secs(2);

/// Everything connection threads share: read-only settings and the ways out.
pub(crate) struct Shared {
    pub limits: Limits,
    pub origins: OriginPolicy,
    pub broker: Sender<Event>,
    pub flusher: FlusherHandle,
    pub stats: Arc<Stats>,
    /// **Extension** (issue 17): announced in `hello`; turns verifiers into proof keys.
    /// Made here, at start-up, in memory only.
    pub server_key: ServerKey,
    places: Mutex<Places>,
    next_id: AtomicU64,
    /// Threads telling refused connections that the server is full ([`tell_full`]).
    telling_full: AtomicUsize,
}

/// The places under the caps, and who may be made to give theirs up.
#[derive(Default)]
struct Places {
    counts: Counts,
    /// Connections still in their handshake (address key, since when, a handle to
    /// close them by): the ones a newcomer may displace.
    handshaking: HashMap<u64, (IpAddr, Instant, TcpStream)>,
    /// Displaced connections whose threads have not ended yet: no longer counted.
    displaced: HashSet<u64>,
}

impl Shared {
    pub fn new(
        limits: Limits,
        origins: OriginPolicy,
        broker: Sender<Event>,
        flusher: FlusherHandle,
        stats: Arc<Stats>,
    ) -> Shared {
        Shared {
            limits,
            origins,
            broker,
            flusher,
            stats,
            server_key: ServerKey::generate(),
            places: Mutex::default(),
            next_id: AtomicU64::new(1),
            telling_full: AtomicUsize::new(0),
        }
    }
}

/// A place under the connection caps; given back when dropped.
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    key: IpAddr,
    pub id: u64,
}

impl Ticket {
    fn take(shared: &Arc<Shared>, ip: IpAddr, stream: &TcpStream) -> Option<Ticket> {
        let key = admission::key(ip);
        let limits = &shared.limits;
        let mut places = shared.places.lock().unwrap_or_else(|e| e.into_inner());
        let places = &mut *places;
        if let Fit::Displace(scope) =
            places
                .counts
                .fit(key, limits.max_connections, limits.max_per_ip)
        {
            let waiting = places
                .handshaking
                .iter()
                .map(|(id, (k, since, _))| (*id, *k, *since));
            let victim = places.counts.victim(waiting, scope)?;
            if let Some((victim_key, _, stream)) = places.handshaking.remove(&victim) {
                // Its handshake read fails at once, and its thread ends.
                let _ = stream.shutdown(Shutdown::Both);
                places.counts.remove(victim_key);
                places.displaced.insert(victim);
                shared.stats.add_connection(-1);
            }
        }
        places.counts.add(key);
        shared.stats.add_connection(1);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        // Without a second handle (out of descriptors) it cannot be displaced: fine.
        if let Ok(handle) = stream.try_clone() {
            places.handshaking.insert(id, (key, Instant::now(), handle));
        }
        Some(Ticket {
            shared: shared.clone(),
            key,
            id,
        })
    }

    /// The handshake is done: this connection keeps its place from now on.
    pub fn handshake_done(&self) {
        let mut places = self.shared.places.lock().unwrap_or_else(|e| e.into_inner());
        places.handshaking.remove(&self.id);
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut places = self.shared.places.lock().unwrap_or_else(|e| e.into_inner());
        places.handshaking.remove(&self.id);
        if !places.displaced.remove(&self.id) {
            places.counts.remove(self.key);
            self.shared.stats.add_connection(-1);
        }
    }
}

/// Runs the accept loop of one listener on its own thread.
pub(crate) fn spawn_acceptor(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("ws-accept".into())
        .stack_size(64 * 1024)
        .spawn(move || accept_loop(&listener, &shared))
        .map(drop)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => admit(stream, peer.ip().to_canonical(), shared),
            // Out of descriptors or memory: back off instead of spinning.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn admit(stream: TcpStream, ip: IpAddr, shared: &Arc<Shared>) {
    let Some(ticket) = Ticket::take(shared, ip, &stream) else {
        tell_full(stream, shared);
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("ws-conn".into())
        .stack_size(CONN_STACK)
        .spawn(move || {
            conn::run(stream, ticket);
            // The thread's stack may be kept for the next one (glibc caches stacks).
            crate::wipe::scrub_stack::<{ CONN_STACK / 2 }>();
        });
    // A failed spawn drops the closure, and with it the stream and the ticket.
    drop(spawned);
}

/// Refuses a connection there is no place for. A browser is shown nothing of a refused
/// handshake, so while few refusals are under way one finishes the handshake and closes
/// with 1013 `server_full`, which the page can put in words; otherwise (or if no thread
/// can be had) the plain 503 goes out at once. The accepting thread never waits.
fn tell_full(stream: TcpStream, shared: &Arc<Shared>) {
    let busy = shared.telling_full.fetch_add(1, Ordering::AcqRel);
    if busy >= MAX_TELLING_FULL {
        shared.telling_full.fetch_sub(1, Ordering::AcqRel);
        admission::refuse(&stream, Code::ServerFull.as_str());
        return;
    }
    let deadline = Instant::now() + TELL_FULL_WITHIN.min(shared.limits.handshake_timeout);
    let mine = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("ws-full".into())
        .stack_size(CONN_STACK / 2)
        .spawn(move || {
            let reason = Code::ServerFull.as_str();
            handshake::accept_and_close(stream, &mine.origins, deadline, close::TRY_AGAIN, reason);
            mine.telling_full.fetch_sub(1, Ordering::AcqRel);
        });
    if spawned.is_err() {
        // The closure, and the stream with it, is gone: the client sees the hang-up.
        shared.telling_full.fetch_sub(1, Ordering::AcqRel);
    }
}
