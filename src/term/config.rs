//! Asks the server's web port for `/config.json`, the way the page finds the chat port:
//! one HTTP/1.1 GET over a plain `TcpStream` (no HTTP client crate for one request).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::link::authority;

/// The answer is a few dozen bytes; anything much bigger is not this server.
const MAX_RESPONSE: u64 = 64 * 1024;

/// What the terminal client needs to know about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address that answered, so the chat connection goes to the same machine.
    pub addr: SocketAddr,
    pub ws_port: u16,
    pub max_message_bytes: usize,
    /// `--moderation creator`: only the room's creator may kick and stop.
    pub creator_moderates: bool,
}

impl ServerConfig {
    /// The chat port on the machine that answered, as `Client::connect` wants it.
    pub fn chat_addr(&self) -> String {
        SocketAddr::new(self.addr.ip(), self.ws_port).to_string()
    }
}

/// Why the configuration could not be had.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Nothing answered: name unknown, refused, timed out.
    Unreachable(String),
    /// Something answered, but not the way a sanctuary server does.
    NotSanctuary(String),
}

pub fn fetch(host: &str, port: u16, timeout: Duration) -> Result<ServerConfig, ConfigError> {
    let place = authority(host, port);
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ConfigError::Unreachable(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for that name");
    // A name may resolve to several addresses (::1 and 127.0.0.1); the server may
    // listen on only one of them, so try each.
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let raw = exchange(stream, &place, timeout).map_err(|e| {
                    ConfigError::Unreachable(format!("no answer from {place}: {e}"))
                })?;
                return parse_response(&raw, addr).map_err(|why| {
                    ConfigError::NotSanctuary(format!(
                        "{place} does not answer like a sanctuary server: {why}"
                    ))
                });
            }
            Err(e) => last = e,
        }
    }
    Err(ConfigError::Unreachable(format!(
        "cannot reach {place}: {last}"
    )))
}

fn exchange(mut stream: TcpStream, place: &str, timeout: Duration) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // One write: `write!` on a bare socket would send the request in pieces.
    let request = format!(
        "GET /config.json HTTP/1.1\r\nHost: {place}\r\nAccept: application/json\r\n\
         Connection: close\r\nUser-Agent: sanctuary-term/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    match stream.take(MAX_RESPONSE).read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        // A server that closes without reading all we sent causes a reset, which can
        // arrive after its whole answer: judge what did arrive.
        Err(_) if !raw.is_empty() => Ok(raw),
        Err(e) => Err(e),
    }
}

fn parse_response(raw: &[u8], addr: SocketAddr) -> Result<ServerConfig, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the HTTP response has no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "the HTTP headers are not text")?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or("no HTTP status line")?;
    if status != "200" {
        return Err(format!("GET /config.json answered {status}"));
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked {
        dechunk(body).ok_or("broken chunked encoding")?
    } else {
        body.to_vec()
    };
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("config.json is not JSON: {e}"))?;
    let ws_port = json["ws_port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|&p| p != 0)
        .ok_or("config.json has no valid ws_port")?;
    // Older servers did not say; the server's default then applies.
    let max_message_bytes = json["max_message_bytes"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(65536);
    Ok(ServerConfig {
        addr,
        ws_port,
        max_message_bytes,
        creator_moderates: json["moderation"] == "creator",
    })
}

/// Undoes `Transfer-Encoding: chunked` (a proxy in front of the server may add it).
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..eol]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:6969".parse().expect("addr")
    }

    #[test]
    fn a_servers_config_answer_gives_the_chat_port() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n\
            {\"ws_port\":9696,\"version\":\"0.1.0\",\"moderation\":\"anyone\",\"max_message_bytes\":4096}";
        let config = parse_response(raw, addr()).expect("valid");
        assert_eq!(config.ws_port, 9696);
        assert_eq!(config.max_message_bytes, 4096);
        assert_eq!(config.chat_addr(), "127.0.0.1:9696");
    }

    #[test]
    fn chunked_answers_are_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\n{\"ws_\r\n9\r\nport\":81}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw, addr()).map(|c| c.ws_port), Ok(81));
    }

    #[test]
    fn answers_from_something_else_are_refused() {
        for raw in [
            &b"HTTP/1.1 404 Not Found\r\n\r\nnope"[..],
            b"HTTP/1.1 200 OK\r\n\r\n<html>",
            b"HTTP/1.1 200 OK\r\n\r\n{\"ws_port\":0}",
            b"HTTP/1.1 200 OK\r\n\r\n{\"ws_port\":70000}",
            b"SSH-2.0-OpenSSH_9.2\r\n",
        ] {
            assert!(parse_response(raw, addr()).is_err());
        }
    }
}
