//! Invite links (`http://HOST:PORT/#ROOM.SECRET`) in and out, `HOST[:PORT]` server
//! addresses, and the forms of room ids and aliases, exactly as the page reads them.

use zeroize::Zeroizing;

use crate::protocol::is_valid_room;

/// The web port the server listens on unless told otherwise.
pub const DEFAULT_HTTP_PORT: u16 = 6969;
/// Shortest passphrase the page accepts.
pub const MIN_SECRET_CHARS: usize = 8;

/// A parsed invite link. The secret is wiped from memory when this is dropped.
pub struct Invite {
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    pub room: String,
    pub secret: Zeroizing<String>,
}

// Hand-written so that `{:?}` can never print the secret.
impl std::fmt::Debug for Invite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invite")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

/// `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address.
pub fn parse_server(text: &str) -> Result<(String, u16), String> {
    parse_authority(text.trim(), DEFAULT_HTTP_PORT)
}

fn parse_authority(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad_port = || format!("{text:?} does not end in a valid port number");
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{text:?} has an unclosed ["))?;
        match after {
            "" => (host, default_port),
            _ => {
                let port = after.strip_prefix(':').ok_or_else(bad_port)?;
                (host, port.parse().map_err(|_| bad_port())?)
            }
        }
    } else if text.matches(':').count() > 1 {
        (text, default_port) // a bare IPv6 address cannot carry a port
    } else if let Some((host, port)) = text.split_once(':') {
        (host, port.parse().map_err(|_| bad_port())?)
    } else {
        (text, default_port)
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'));
    if !host_ok {
        return Err(format!("{text:?} is not a host name or IP address"));
    }
    if port == 0 {
        return Err(bad_port());
    }
    Ok((host.to_owned(), port))
}

/// Reads `http://HOST[:PORT]/#ROOM.SECRET` (the secret URL-encoded, as the page writes it).
pub fn parse_invite(text: &str) -> Result<Invite, String> {
    let text = text.trim();
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err("https links are not supported: the server speaks plain HTTP".into());
    }
    if !lower.starts_with("http://") {
        return Err("an invite link starts with http:// (http://HOST:PORT/#ROOM.SECRET)".into());
    }
    let rest = &text["http://".len()..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err("an invite link has no user name in it".into());
    }
    let (host, port) = parse_authority(authority, 80)?;
    let incomplete =
        || "that invite link is incomplete (it needs #ROOM.SECRET at the end)".to_owned();
    let (_, fragment) = rest.split_once('#').ok_or_else(incomplete)?;
    let (room, encoded) = fragment.split_once('.').ok_or_else(incomplete)?;
    if !is_valid_room(room) {
        return Err(incomplete());
    }
    let secret = percent_decode(encoded).ok_or("the secret in that invite link is garbled")?;
    if secret.chars().count() < MIN_SECRET_CHARS {
        return Err(incomplete());
    }
    Ok(Invite {
        host,
        port,
        room: room.to_owned(),
        secret,
    })
}

/// The link the page would show: `http://HOST:PORT/#ROOM.` + encodeURIComponent(secret).
pub fn invite_link(host: &str, port: u16, room: &str, secret: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(format!("http://{}/#{room}.", authority(host, port)));
    for b in secret.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `host:port`, with brackets around an IPv6 address.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A link naming this machine only works for people on this machine.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// decodeURIComponent: `%XX` sequences must form valid UTF-8.
fn percent_decode(text: &str) -> Option<Zeroizing<String>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut it = text.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hi = char::from(it.next()?).to_digit(16)?;
            let lo = char::from(it.next()?).to_digit(16)?;
            bytes.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            bytes.push(b);
        }
    }
    let text = std::str::from_utf8(&bytes).ok()?;
    Some(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "abcdefghijklmnopqrstuv";

    #[test]
    fn invite_links_round_trip_including_passphrases_that_need_encoding() {
        for secret in ["0123456789abcdefABCDEF", "correct horse #1 ünïcode/?&"] {
            let link = invite_link("192.168.1.5", 6969, ROOM, secret);
            let invite = parse_invite(&link).expect("our own link parses");
            assert_eq!(invite.host, "192.168.1.5");
            assert_eq!(invite.port, 6969);
            assert_eq!(invite.room, ROOM);
            assert_eq!(invite.secret.as_str(), secret);
        }
    }

    #[test]
    fn invite_links_accept_ipv6_and_default_to_port_80() {
        let v6 = parse_invite(&format!("http://[::1]:7000/#{ROOM}.secretsecret")).expect("v6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 7000));
        let plain = parse_invite(&format!("HTTP://chat.lan/#{ROOM}.secretsecret")).expect("80");
        assert_eq!((plain.host.as_str(), plain.port), ("chat.lan", 80));
        assert_eq!(authority("::1", 7000), "[::1]:7000");
    }

    #[test]
    fn broken_invite_links_are_refused_with_a_reason() {
        for bad in [
            "https://pi.lan/#abcdefghijklmnopqrstuv.secretsecret",
            "pi.lan/#abcdefghijklmnopqrstuv.secretsecret",
            "http://pi.lan:6969/",
            "http://pi.lan:6969/#short.secretsecret",
            "http://pi.lan:6969/#abcdefghijklmnopqrstuv.short",
            "http://pi.lan:6969/#abcdefghijklmnopqrstuv.%ZZ%ZZsecretsecret",
            "http://pi.lan:6969/#abcdefghijklmnopqrstuv.%FF%FEsecretsecret",
            "http://user@pi.lan:6969/#abcdefghijklmnopqrstuv.secretsecret",
            "http://pi.lan:notaport/#abcdefghijklmnopqrstuv.secretsecret",
        ] {
            assert!(parse_invite(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn server_addresses_take_an_optional_port() {
        assert_eq!(parse_server("pi.lan"), Ok(("pi.lan".into(), 6969)));
        assert_eq!(parse_server("pi.lan:8080"), Ok(("pi.lan".into(), 8080)));
        assert_eq!(parse_server("[fe80::1]:80"), Ok(("fe80::1".into(), 80)));
        assert_eq!(parse_server("fe80::1"), Ok(("fe80::1".into(), 6969)));
        assert!(parse_server("pi.lan:0").is_err());
        assert!(parse_server("pi lan").is_err());
        assert!(parse_server("").is_err());
    }

    #[test]
    fn aliases_and_room_ids_follow_the_servers_rules() {}

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("::1"));
        assert!(!is_loopback("192.168.1.5"));
    }
}
