//! Listening sockets (an IPv6 wildcard listens on IPv6 only, so IPv4 gets its own
//! socket whatever the system's `bindv6only`), and the addresses worth printing in
//! the start-up banner.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::FromRawFd;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn set_opt(fd: libc::c_int, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` outlives the call and the length matches its type.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        )
    })
    .map(drop)
}

/// Binds a listening TCP socket; IPv6 sockets are IPv6-only.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    if addr.is_ipv4() {
        return TcpListener::bind(addr);
    }
    let SocketAddr::V6(v6) = addr else {
        unreachable!("checked above")
    };
    // SAFETY: plain socket(2); the descriptor is owned by the TcpListener below.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just created and nothing else owns it.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    set_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?;
    set_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    let sa = libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: v6.port().to_be(),
        sin6_flowinfo: v6.flowinfo(),
        sin6_addr: libc::in6_addr {
            s6_addr: v6.ip().octets(),
        },
        sin6_scope_id: v6.scope_id(),
    };
    // SAFETY: `sa` is a valid sockaddr_in6 and the length is its size.
    check(unsafe {
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_in6).cast(),
            size_of::<libc::sockaddr_in6>() as u32,
        )
    })?;
    // SAFETY: `fd` is a bound stream socket.
    check(unsafe { libc::listen(fd, 128) })?;
    Ok(listener)
}

/// Binds one listener per address on the same port. Port 0 takes the port the
/// first bind picked for all the others, so every address shares one port.
/// With `v6_optional` (the default "both families"), a machine without IPv6 is
/// served on IPv4 alone instead of refusing to start.
pub fn listen_all(addrs: &[IpAddr], port: u16, v6_optional: bool) -> io::Result<Vec<TcpListener>> {
    let mut port = port;
    let mut out = Vec::with_capacity(addrs.len());
    for &ip in addrs {
        let listener = match listen(SocketAddr::new(ip, port)) {
            Ok(l) => l,
            Err(e) if v6_optional && ip.is_ipv6() && ipv6_unavailable(&e) => continue,
            Err(e) => {
                let at = SocketAddr::new(ip, port);
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {at}: {e}"),
                ));
            }
        };
        port = listener.local_addr()?.port();
        out.push(listener);
    }
    Ok(out)
}

fn ipv6_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

/// The interface addresses of the machine (loopback included), from getifaddrs(3).
pub(crate) fn interface_addresses() -> Vec<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, which is freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned and has not been freed.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: a non-null ifa_addr points to a sockaddr, whose family field
            // says which sockaddr type it really is.
            match i32::from(unsafe { (*ifa.ifa_addr).sa_family }) {
                libc::AF_INET => {
                    // SAFETY: AF_INET means the pointer holds a sockaddr_in.
                    let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
                }
                libc::AF_INET6 => {
                    // SAFETY: AF_INET6 means the pointer holds a sockaddr_in6.
                    let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    out.push(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    out
}

/// The addresses a person could type into a browser to reach these listeners:
/// wildcards expand to the interface addresses of their family (link-local IPv6
/// left out, as browsers cannot open those without a zone), LAN addresses first.
pub fn reachable(bound: &[IpAddr]) -> Vec<IpAddr> {
    let interfaces = interface_addresses();
    let mut out: Vec<IpAddr> = Vec::new();
    for &ip in bound {
        let expanded: Vec<IpAddr> = if ip.is_unspecified() {
            interfaces
                .iter()
                .copied()
                .filter(|a| a.is_ipv4() == ip.is_ipv4())
                .collect()
        } else {
            vec![ip]
        };
        for a in expanded {
            let link_local = matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if !link_local && !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out.sort_by_key(|a| (a.is_loopback(), a.is_ipv6()));
    out
}

/// `http://ADDR:PORT/` with brackets around IPv6.
pub fn url(ip: IpAddr, port: u16) -> String {
    format!("http://{}/", SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_gives_every_address_the_same_port() {
        let addrs = ["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")];
        // IPv6 may be missing in a container: it is optional here, as by default.
        let listeners = listen_all(&addrs, 0, true).expect("bind");
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        assert!(ports.iter().all(|&p| p == ports[0] && p != 0));
    }

    #[test]
    fn wildcards_expand_to_loopback_at_least_and_urls_bracket_ipv6() {
        assert!(
            reachable(&["0.0.0.0".parse().expect("ip")])
                .contains(&"127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(url("::1".parse().expect("ip"), 6969), "http://[::1]:6969/");
    }
}
