//! Which `Host` names name this server: the guard against DNS rebinding on both ports.
//!
//! A web page on `evil.example` whose name is rebound to the Pi's address reaches the
//! server with `Host: evil.example`; answering it would hand that page our page and our
//! chat. So a request is served only when its Host is one of this machine's IP
//! literals, `localhost`, the machine's host name (and `NAME.local`), or a name given
//! with `--hostname`.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Interface addresses change (DHCP, Wi-Fi roaming): re-read them on a miss, at most
/// this often, so a flood of foreign IP literals costs no more than one read a second.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The names and addresses accepted in `Host` (and in a page's `Origin`).
#[derive(Debug)]
pub struct HostPolicy {
    /// Lower-case names without a trailing dot.
    names: Vec<String>,
    /// The interface addresses, and when they were last read.
    addrs: Mutex<(Vec<IpAddr>, Instant)>,
}

/// Splits `host[:port]` or `[v6][:port]` into the host and the port text. Anything
/// else after a bracketed address makes the port text invalid (an empty host with
/// no `]` is invalid too), so the caller refuses it.
pub fn split_authority(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => (host, Some(after.strip_prefix(':').unwrap_or(after))),
            None => ("", None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// The machine's host name from gethostname(2), if it has one.
fn machine_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is what we pass.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl HostPolicy {
    /// `localhost`, the machine's name and `NAME.local`, and `extra` (`--hostname`).
    pub fn new(extra: &[String]) -> HostPolicy {
        let mut names = vec!["localhost".to_owned()];
        if let Some(name) = machine_name() {
            // A name given with its domain also answers to its first label + .local.
            let short = name.split('.').next().unwrap_or(&name).to_owned();
            names.push(format!("{short}.local"));
            names.push(short);
            names.push(name);
        }
        names.extend(extra.iter().map(|n| normalise(n)));
        names.sort();
        names.dedup();
        HostPolicy {
            names,
            addrs: Mutex::new((crate::net::interface_addresses(), Instant::now())),
        }
    }

    /// Whether `ip` is one of this machine's addresses.
    fn is_own_address(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let mut addrs = self.addrs.lock().unwrap_or_else(|e| e.into_inner());
        if addrs.0.contains(&ip) {
            return true;
        }
        if addrs.1.elapsed() >= REFRESH_EVERY {
            *addrs = (crate::net::interface_addresses(), Instant::now());
            return addrs.0.contains(&ip);
        }
        false
    }

    /// Whether a bare host (no port, no brackets) names this server.
    pub fn allows_host(&self, host: &str) -> bool {
        // A zone (`fe80::1%eth0`) is the client's business, not part of the address.
        let literal = host.split('%').next().unwrap_or(host);
        match literal.parse::<IpAddr>() {
            Ok(ip) => self.is_own_address(ip),
            Err(_) => !host.is_empty() && self.names.contains(&normalise(host)),
        }
    }

    /// Whether a `Host` header value (`name`, `name:port`, `[v6]:port`) names this server.
    /// The port is not compared: a reverse proxy may forward from another one.
    pub fn allows(&self, authority: &str) -> bool {
        let (host, port) = split_authority(authority.trim());
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
        port_ok && self.allows_host(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HostPolicy {
        HostPolicy::new(&["Chat.Example.".to_owned()])
    }

    #[test]
    fn loopback_literals_localhost_and_hostname_flags_are_this_server() {
        let p = policy();
        for ok in [
            "127.0.0.1:6969",
            "127.0.0.1",
            "[::1]:9696",
            "localhost:6969",
            "LOCALHOST.",
            "chat.example",
            "chat.example:443",
        ] {
            assert!(p.allows(ok), "{ok} refused");
        }
        if let Some(name) = machine_name() {
            let short = name.split('.').next().unwrap_or(&name).to_owned();
            assert!(p.allows(&format!("{name}:6969")));
            assert!(p.allows(&format!("{short}.local:6969")));
        }
    }

    #[test]
    fn rebound_names_and_foreign_addresses_are_refused() {
        let p = policy();
        for bad in [
            "evil.example:6969",
            "evil.example",
            "localhost.evil.example",
            "chat.example.evil",
            "8.8.8.8:6969",
            "[2001:db8::1]:6969",
            "",
            ":6969",
            "localhost:notaport",
            "127.0.0.1:99999",
            "[::1] l6l[",
            "[::1]x",
            "[::1",
            "[::1]:",
        ] {
            assert!(!p.allows(bad), "{bad} accepted");
        }
    }

    #[test]
    fn authorities_split_with_and_without_brackets_and_ports() {
        assert_eq!(split_authority("[::1]:80"), ("::1", Some("80")));
        assert_eq!(split_authority("[::1]"), ("::1", None));
        assert_eq!(split_authority("pi.local:6969"), ("pi.local", Some("6969")));
        assert_eq!(split_authority("pi"), ("pi", None));
    }
}
