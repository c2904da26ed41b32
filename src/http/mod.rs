//! The page port: [`request`] reads a bounded request head (with [`accept`] reading
//! `Accept-Encoding`), [`routes`] answers it from what is embedded in the binary, and
//! [`server`] runs every connection on one thread.

mod accept;
pub mod request;
pub mod routes;
pub mod server;

pub use routes::PageConfig;
pub use server::Limits;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use crate::hosts::HostPolicy;
use crate::stats::Stats;

/// Starts the page port's thread on `listeners`.
pub fn start(
    listeners: Vec<TcpListener>,
    page: &PageConfig,
    limits: Limits,
    hosts: Arc<HostPolicy>,
    stats: Arc<Stats>,
) -> io::Result<()> {
    for l in &listeners {
        l.set_nonblocking(true)?;
    }
    let site = server::Site {
        config: page.to_json(),
        stats,
        hosts,
    };
    std::thread::Builder::new()
        .name("http".into())
        .stack_size(64 * 1024)
        .spawn(move || server::run(&listeners, &site, &limits))
        .map(drop)
}
