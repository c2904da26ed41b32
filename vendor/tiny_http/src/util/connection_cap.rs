//! sanctuary patch: how many connections are served at once, in all and per client
//! address.
//!
//! Every open connection holds a pool thread, so without a cap the pool grows a thread
//! per idle connection without bound. Without a per-address share, one host holding
//! idle connections would take every place and turn every other visitor away until
//! the idle timeout. The share only bites once the server is half full: a browser
//! keeps up to six idle keep-alive connections per profile, and several profiles or
//! devices behind one address must not be refused while places are plentiful.
//! Counted here, in the accept thread, at accept time: the pool's own counts lag
//! behind threads that have not started yet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most connections served at once.
const MAX_CONNECTIONS: usize = 128;

/// Connections one client address may always hold, however full the server is.
const SHARE_PER_ADDRESS: usize = 16;

/// From this many open connections on, an address past its share is refused, so at
/// least this many places stay for addresses within their share.
const CROWDED: usize = MAX_CONNECTIONS / 2;

#[derive(Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Open connections, in all and per client address (addresses with none are forgotten).
#[derive(Clone, Default)]
pub struct ConnectionCap {
    open: Arc<Mutex<Open>>,
}

/// One place taken, given back when dropped.
pub struct ConnectionSlot {
    open: Arc<Mutex<Open>>,
    ip: Option<IpAddr>,
}

fn lock(open: &Mutex<Open>) -> MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|e| e.into_inner())
}

impl ConnectionCap {
    /// A place for a connection from `ip` (None: a Unix socket), or None when the
    /// server is full, or crowded and that address past its share.
    pub fn take(&self, ip: Option<IpAddr>) -> Option<ConnectionSlot> {
        let mut open = lock(&self.open);
        let total = open.total;
        if total >= MAX_CONNECTIONS {
            return None;
        }
        if let Some(ip) = ip {
            let count = open.per_address.entry(ip).or_insert(0);
            if *count >= SHARE_PER_ADDRESS && total >= CROWDED {
                return None;
            }
            *count += 1;
        }
        open.total += 1;
        Some(ConnectionSlot {
            open: self.open.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        open.total -= 1;
        if let Some(ip) = self.ip {
            if let Some(count) = open.per_address.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    open.per_address.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: usize) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, (n / 256) as u8, n as u8]))
    }

    #[test]
    fn one_address_takes_at_most_half_and_the_rest_stay_for_others() {
        let cap = ConnectionCap::default();
        let flood: Vec<_> = (0..CROWDED).map(|_| cap.take(ip(1)).expect("place")).collect();
        assert!(cap.take(ip(1)).is_none(), "past its share on a crowded server");
        let others: Vec<_> = (0..MAX_CONNECTIONS - CROWDED)
            .map(|n| cap.take(ip(2 + n / SHARE_PER_ADDRESS)).expect("others get in"))
            .collect();
        assert!(cap.take(ip(99)).is_none(), "full");
        assert!(cap.take(None).is_none(), "full, Unix sockets too");
        drop(flood);
        assert!(cap.take(ip(1)).is_some(), "places come back");
        drop(others);
    }

    #[test]
    fn the_share_holds_on_a_crowded_server_and_addresses_are_forgotten() {
        let cap = ConnectionCap::default();
        let crowd: Vec<_> = (0..CROWDED).map(|n| cap.take(ip(n)).expect("place")).collect();
        let mine: Vec<_> = (0..SHARE_PER_ADDRESS)
            .map(|_| cap.take(ip(500)).expect("within the share"))
            .collect();
        assert!(cap.take(ip(500)).is_none());
        drop((crowd, mine));
        let open = lock(&cap.open);
        assert!(open.per_address.is_empty(), "addresses with none are forgotten");
        assert_eq!(open.total, 0);
    }
}
