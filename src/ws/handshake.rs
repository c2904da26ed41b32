//! The WebSocket handshake: path `/ws` only, a deadline for slow clients, and the
//! Origin check that stops other web sites from opening chats in a visitor's browser.
//!
//! The deadline is for the whole handshake, not for each read: tungstenite reads
//! until the request is complete without returning between reads, so a client that
//! trickles a byte every few seconds would never let a per-read timeout fire. Every
//! read of the handshake therefore goes through [`read_by`].

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{HandshakeError, WebSocket};

use crate::hosts::{HostPolicy, split_authority};

/// Which hosts and browser origins may open a chat.
#[derive(Clone, Debug)]
pub struct OriginPolicy {
    /// The page's port: a page served by this server has it in its origin.
    pub http_port: u16,
    /// Origins allowed by `--allow-origin`, compared exactly (case-insensitive).
    pub allowed: Vec<String>,
    /// The names that name this server, for `Host` and for a page's origin.
    pub hosts: Arc<HostPolicy>,
}

impl OriginPolicy {
    /// `Host` must name this server (DNS rebinding); a missing Origin (not a browser)
    /// then passes, and a browser Origin must be this server's page (a host on the
    /// allowlist, on the HTTP port) or one of `--allow-origin`.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        if !host.is_some_and(|h| self.hosts.allows(h)) {
            return false;
        }
        let Some(origin) = origin else { return true };
        let origin = origin.trim_end_matches('/');
        if self
            .allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let Some(authority) = origin.strip_prefix("http://") else {
            return false;
        };
        let (origin_host, origin_port) = split_authority(authority);
        let port_ok = match origin_port {
            Some(p) => p.parse::<u16>().ok() == Some(self.http_port),
            None => self.http_port == 80,
        };
        port_ok && self.hosts.allows_host(origin_host)
    }
}

fn refuse(status: StatusCode, text: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(text.to_owned()));
    *resp.status_mut() = status;
    resp
}

/// Why a handshake did not produce a WebSocket. Nothing is logged either way.
#[derive(Debug)]
pub enum HandshakeFailure {
    TimedOut,
    /// The request was refused (bad path, origin, host) or broke HTTP/WebSocket rules.
    Refused,
}

/// A stream whose reads can be held to a deadline (by reading with [`read_by`]).
pub trait ReadDeadline {
    /// `Some`: every read ends by `deadline`; `None`: reads are no longer bounded by it.
    fn set_read_deadline(&mut self, deadline: Option<Instant>);
}

/// One read from `socket` that cannot outlast `deadline`: the read timeout is set to
/// the time left first. A deadline already passed reads as `WouldBlock`, as an
/// expired read timeout does, which [`accept`] turns into [`HandshakeFailure::TimedOut`].
pub fn read_by(deadline: Instant, socket: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    socket.set_read_timeout(Some(left))?;
    let mut reader = socket;
    reader.read(buf)
}

/// Runs the server side of the handshake on `stream`, all of it by `deadline`.
// The large error type is tungstenite's callback signature, not ours to shrink.
#[allow(clippy::result_large_err)]
pub fn accept<S: Read + Write + ReadDeadline>(
    mut stream: S,
    policy: &OriginPolicy,
    config: WebSocketConfig,
    deadline: Instant,
    accepted: impl FnOnce(),
) -> Result<WebSocket<S>, HandshakeFailure> {
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != "/ws" {
            return Err(refuse(StatusCode::NOT_FOUND, "not found"));
        }
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        if !policy.allows(header("origin"), header("host")) {
            return Err(refuse(StatusCode::FORBIDDEN, "host or origin not allowed"));
        }
        // Before the 101 is written: once the client has it, its place is for keeps.
        accepted();
        Ok(resp)
    };
    stream.set_read_deadline(Some(deadline));
    let mut round = tungstenite::accept_hdr_with_config(stream, check, Some(config));
    loop {
        match round {
            Ok(mut ws) => {
                ws.get_mut().set_read_deadline(None);
                return Ok(ws);
            }
            Err(HandshakeError::Failure(_)) => return Err(HandshakeFailure::Refused),
            // A read timed out (or the deadline had passed before it): only the
            // deadline decides whether to go on.
            Err(HandshakeError::Interrupted(_)) if Instant::now() >= deadline => {
                return Err(HandshakeFailure::TimedOut);
            }
            Err(HandshakeError::Interrupted(mid)) => round = mid.handshake(),
        }
    }
}

/// A plain socket whose reads keep to a deadline (see [`read_by`]).
pub(crate) struct Deadlined(pub TcpStream, pub Option<Instant>);

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.1 {
            Some(deadline) => read_by(deadline, &self.0, buf),
            None => self.0.read(buf),
        }
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl ReadDeadline for Deadlined {
    fn set_read_deadline(&mut self, deadline: Option<Instant>) {
        self.1 = deadline;
    }
}

/// Completes the handshake of a connection there is no place for, only to close it at
/// once with `code` and `reason`, all by `deadline`. A browser is shown nothing of a
/// refused handshake (its WebSocket just fails), but it reads a close code, so the page
/// can say "the server is full" instead of "cannot connect".
pub(crate) fn accept_and_close(
    stream: TcpStream,
    policy: &OriginPolicy,
    deadline: Instant,
    code: u16,
    reason: &str,
) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(4096))
        .max_frame_size(Some(4096));
    let Ok(mut ws) = accept(Deadlined(stream, None), policy, config, deadline, || {}) else {
        return;
    };
    ws.get_mut().set_read_deadline(Some(deadline));
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    if ws.close(Some(frame)).is_err() {
        return;
    }
    // Wait for the client's close (or the deadline), so it reads ours before the FIN.
    while ws.read().is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn a_handshake_trickled_a_byte_at_a_time_fails_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (server, _) = l.accept().expect("accept");
        let trickle = std::thread::spawn(move || {
            // Each byte comes well within any per-read timeout; the whole never ends.
            for b in b"GET /ws HTTP/1.1\r\nHost: x\r\n".iter().cycle().take(40) {
                if client.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let started = Instant::now();
        let deadline = started + Duration::from_millis(700);
        let result = accept(
            Deadlined(server, None),
            &policy(),
            WebSocketConfig::default(),
            deadline,
            || panic!("a trickled handshake was accepted"),
        );
        let took = started.elapsed();
        assert!(matches!(result, Err(HandshakeFailure::TimedOut)));
        assert!(took < Duration::from_millis(900), "took {took:?}");
        drop(result);
        trickle.join().expect("trickle");
    }

    fn policy() -> OriginPolicy {
        OriginPolicy {
            http_port: 6969,
            allowed: vec!["https://chat.example".into()],
            hosts: Arc::new(HostPolicy::new(&["pi.lan".to_owned()])),
        }
    }

    #[test]
    fn non_browser_clients_without_origin_pass_if_the_host_names_this_server() {
        assert!(policy().allows(None, Some("127.0.0.1:9696")));
        assert!(policy().allows(None, Some("pi.lan:9696")));
        assert!(!policy().allows(None, Some("evil.example:9696")));
        assert!(!policy().allows(None, None));
    }

    #[test]
    fn the_servers_own_page_passes_on_every_host_spelling() {
        let p = policy();
        assert!(p.allows(Some("http://127.0.0.1:6969"), Some("127.0.0.1:9696")));
        assert!(p.allows(Some("http://[::1]:6969"), Some("[::1]:9696")));
        assert!(p.allows(Some("http://Pi.LAN:6969"), Some("pi.lan:9696")));
        assert!(p.allows(Some("http://localhost:6969"), Some("127.0.0.1:9696")));
    }

    #[test]
    fn foreign_and_rebound_origins_are_refused() {
        let p = policy();
        let host = Some("127.0.0.1:9696");
        assert!(!p.allows(Some("http://evil.example:6969"), host));
        // A rebound name: the page's origin and the Host agree, but name someone else.
        assert!(!p.allows(Some("http://evil.example:6969"), Some("evil.example:9696")));
        assert!(!p.allows(Some("http://127.0.0.1:8080"), host));
        assert!(!p.allows(Some("http://127.0.0.1"), host));
        assert!(!p.allows(Some("null"), host));
        assert!(!p.allows(Some("http://127.0.0.1.evil:6969"), host));
    }

    #[test]
    fn allow_listed_origins_pass() {
        let host = Some("127.0.0.1:9696");
        assert!(policy().allows(Some("https://chat.example"), host));
        assert!(policy().allows(Some("HTTPS://CHAT.EXAMPLE/"), host));
    }
}
