//! sanctuary: an ephemeral, end-to-end encrypted LAN chat server.
//!
//! Data flows one way: socket -> connection thread ([`ws::conn`]) -> [`broker`] (the
//! one owner of rooms, which encodes each frame once into a [`wire::Frame`]) -> each
//! member's [`broker::Peer`], the outbound queue of [`ws::outbound`] -> socket. The
//! broker knows no transport: `ws` depends on it, never the reverse.
//! The page and its assets are served by [`http`]. Nothing is logged or stored.

// The library's API is what the binary (src/main.rs), tests/ and examples/ use; the
// rest is the server's inside, visible to the crate only. `hosts` and `protocol` are
// public for the fuzz tests in tests/fuzz.rs, which drive their validators directly.
pub mod cli;
pub mod client;
pub mod crypto;
pub mod hosts;
pub mod protocol;
pub mod replay;
pub mod signals;
pub mod stack;
pub mod term;
pub mod verifier;
pub mod whisper;
pub mod wipe;
pub mod wire;
pub mod ws;
pub mod x25519;

pub(crate) mod admission;
pub(crate) mod alias;
pub(crate) mod broker;
pub(crate) mod http;
pub(crate) mod net;
pub(crate) mod ratelimit;
pub(crate) mod stats;

use crossbeam_channel::Sender;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::Event;
use cli::ServeArgs;
use stats::Stats;

/// A started server: where it listens, and the way to stop it.
pub struct Running {
    pub http_addrs: Vec<SocketAddr>,
    pub ws_addrs: Vec<SocketAddr>,
    broker: Sender<Event>,
}

fn local_addrs(listeners: &[std::net::TcpListener]) -> io::Result<Vec<SocketAddr>> {
    listeners.iter().map(|l| l.local_addr()).collect()
}

/// Binds every port, then starts the broker, the flusher, HTTP and the acceptors.
pub fn start(args: &ServeArgs) -> io::Result<Running> {
    let addrs = args.addresses();
    let v6_optional = args.bind.is_empty() && !args.ipv6;
    let http_listeners = net::listen_all(&addrs, args.http_port, v6_optional)?;
    let ws_listeners = net::listen_all(&addrs, args.ws_port, v6_optional)?;
    let http_addrs = local_addrs(&http_listeners)?;
    let ws_addrs = local_addrs(&ws_listeners)?;
    let http_port = http_addrs[0].port();
    let ws_port = ws_addrs[0].port();

    let limits = args.limits();
    let stats = Arc::new(Stats::default());
    let broker = broker::start(&limits, args.moderation, stats.clone())?;
    let page = http::PageConfig {
        ws_port,
        moderation: args.moderation.as_str(),
        max_message_bytes: limits.max_message_bytes,
        ws_url: args.public_ws_url.clone(),
    };
    let hosts = Arc::new(hosts::HostPolicy::new(&args.hostname));
    http::start(
        http_listeners,
        &page,
        args.http_limits(),
        hosts.clone(),
        stats.clone(),
    )?;
    let origins = ws::handshake::OriginPolicy {
        http_port,
        allowed: args.allow_origin.clone(),
        hosts,
    };
    let shared = Arc::new(ws::Shared::new(
        limits,
        origins,
        broker.clone(),
        ws::outbound::start_flusher()?,
        stats,
    ));
    for listener in ws_listeners {
        ws::spawn_acceptor(listener, shared.clone())?;
    }
    Ok(Running {
        http_addrs,
        ws_addrs,
        broker,
    })
}

impl Running {
    /// Tells every room it is purged and closes every member, waiting at most `within`
    /// for the broker; the caller then exits, which closes every other socket.
    pub fn shutdown(&self, within: Duration) {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        if self
            .broker
            .send_timeout(Event::Shutdown(done_tx), within)
            .is_ok()
        {
            let _ = done_rx.recv_timeout(within);
        }
    }

    /// The start-up banner: the URLs to open, one per reachable address.
    pub fn banner(&self) -> String {
        let ips: Vec<_> = self.http_addrs.iter().map(|a| a.ip()).collect();
        let port = self.http_addrs[0].port();
        let mut out = format!(
            "sanctuary {}: nothing is logged, rooms live in memory only.\n",
            env!("CARGO_PKG_VERSION")
        );
        for ip in net::reachable(&ips) {
            out.push_str(&format!("  open {}\n", net::url(ip, port)));
        }
        out.push_str(&format!("  chat port {}\n", self.ws_addrs[0].port()));
        out
    }
}
