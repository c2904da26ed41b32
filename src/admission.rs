//! Who may hold a connection, on both ports: a total cap and a per-address share, and
//! when either is reached, a connection still waiting for its whole request (or
//! handshake) gives way to the newcomer: of the address holding the most places, the
//! one waiting longest. Holding connections open (slowloris) keeps nobody out.
//!
//! An IPv6 host is given a whole /64 (it picks addresses in it at will, privacy
//! addresses rotate), so a /64 counts as one address; an IPv4-mapped IPv6 address counts
//! as the IPv4 address it is.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// The address a connection is counted under.
pub fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Whether a newcomer fits under the caps.
#[derive(Debug, PartialEq, Eq)]
pub enum Fit {
    Fits,
    /// A waiting connection must give way: one of this address (its share is full), or
    /// anyone's (`None`: the total is full).
    Displace(Option<IpAddr>),
}

/// Refuses a newcomer for whom no place could be made: a plain 503 whose body is
/// `word`, sent without waiting (an accepting thread never blocks on a refused client);
/// the caller then drops the stream, which hangs up.
pub fn refuse(stream: &TcpStream, word: &str) {
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: {}\r\nConnection: close\r\n\r\n{word}\n",
        word.len() + 1
    );
    // SAFETY: `reply` is a valid buffer of its length for the whole call.
    unsafe {
        libc::send(
            stream.as_raw_fd(),
            reply.as_ptr().cast(),
            reply.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

/// Connections held, in all and per address (by [`key`]).
#[derive(Debug, Default)]
pub struct Counts {
    per_addr: HashMap<IpAddr, usize>,
    total: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.total
    }

    /// Connections held by the address `key` stands for.
    pub fn of(&self, key: IpAddr) -> usize {
        self.per_addr.get(&key).copied().unwrap_or(0)
    }

    /// Of `waiting` (id, address key, waiting since), the one to displace within
    /// `scope`: of the address holding the most places, the one waiting longest. So a
    /// flood from many addresses displaces its own connections, never a newcomer from
    /// an address that holds few, however fast the flood reconnects.
    pub fn victim<T>(
        &self,
        waiting: impl Iterator<Item = (T, IpAddr, Instant)>,
        scope: Option<IpAddr>,
    ) -> Option<T> {
        waiting
            .filter(|(_, key, _)| scope.is_none_or(|s| s == *key))
            .min_by_key(|(_, key, since)| (std::cmp::Reverse(self.of(*key)), *since))
            .map(|(id, _, _)| id)
    }

    /// Whether a newcomer from `key` fits under `max_total` and `max_per_addr`.
    pub fn fit(&self, key: IpAddr, max_total: usize, max_per_addr: usize) -> Fit {
        if self.of(key) >= max_per_addr {
            Fit::Displace(Some(key))
        } else if self.total >= max_total {
            Fit::Displace(None)
        } else {
            Fit::Fits
        }
    }

    pub fn add(&mut self, key: IpAddr) {
        *self.per_addr.entry(key).or_default() += 1;
        self.total += 1;
    }

    pub fn remove(&mut self, key: IpAddr) {
        if let Some(n) = self.per_addr.get_mut(&key) {
            *n -= 1;
            self.total -= 1;
            if *n == 0 {
                self.per_addr.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_address_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            key(ip("2001:db8:1:2:aaaa::1")),
            key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(key(ip("2001:db8:1:2::1")), key(ip("2001:db8:1:3::1")));
        assert_eq!(key(ip("::ffff:10.0.0.2")), ip("10.0.0.2"));
        assert_eq!(key(ip("10.0.0.2")), ip("10.0.0.2"));
    }

    #[test]
    fn counts_go_up_and_down_per_address_and_in_all() {
        let mut c = Counts::default();
        let (a, b) = (key(ip("10.0.0.1")), key(ip("2001:db8::1")));
        c.add(a);
        c.add(a);
        c.add(key(ip("2001:db8::2")));
        assert_eq!((c.of(a), c.of(b), c.total()), (2, 1, 3));
        c.remove(a);
        c.remove(b);
        c.remove(b); // already gone: no underflow
        assert_eq!((c.of(a), c.of(b), c.total()), (1, 0, 1));
    }

    #[test]
    fn a_full_address_displaces_its_own_longest_waiting_and_a_full_port_the_heaviest_addresss() {
        let mut c = Counts::default();
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        c.add(a);
        c.add(a);
        c.add(b);
        assert_eq!(c.fit(b, 4, 2), Fit::Fits);
        assert_eq!(c.fit(a, 4, 2), Fit::Displace(Some(a)));
        assert_eq!(c.fit(b, 3, 2), Fit::Displace(None));
        let t0 = Instant::now();
        let t1 = t0 + std::time::Duration::from_secs(1);
        let waiting = || [(1, b, t0), (2, a, t1), (3, a, t1 + (t1 - t0))].into_iter();
        assert_eq!(c.victim(waiting(), Some(a)), Some(2));
        // The port is full: the address holding the most places gives one up, even
        // though another address's connection has waited longer.
        assert_eq!(c.victim(waiting(), None), Some(2));
        c.add(b);
        c.add(b);
        assert_eq!(c.victim(waiting(), None), Some(1));
        assert_eq!(c.victim(waiting(), Some(ip("10.0.0.3"))), None);
    }
}
