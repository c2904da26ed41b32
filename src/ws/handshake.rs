//! The WebSocket handshake: path `/ws` only, a deadline for slow clients, and the
//! Origin check that stops other web sites from opening chats in a visitor's browser.

use std::io::{self, Read, Write};
use std::time::Instant;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{HandshakeError, WebSocket};

/// Which browser origins may open a chat.
#[derive(Clone, Debug)]
pub struct OriginPolicy {
    /// The page's port: a page served by this server has it in its origin.
    pub http_port: u16,
    /// Origins allowed by `--allow-origin`, compared exactly (case-insensitive).
    pub allowed: Vec<String>,
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    // "[v6]:port", "[v6]", "host:port" or "host".
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

impl OriginPolicy {
    /// A missing Origin (not a browser) passes; a browser Origin must be this server's
    /// page (same host as `Host`, on the HTTP port) or one of `--allow-origin`.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
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
        let Some(host) = host else { return false };
        let (origin_host, origin_port) = split_host_port(authority);
        let (host_name, _) = split_host_port(host);
        let port_ok = match origin_port {
            Some(p) => p.parse::<u16>().ok() == Some(self.http_port),
            None => self.http_port == 80,
        };
        port_ok && !origin_host.is_empty() && origin_host.eq_ignore_ascii_case(host_name)
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
    Refused(tungstenite::Error),
}

/// Runs the server side of the handshake on `stream` until `deadline`.
/// `set_timeout` adjusts the socket's read timeout to the time that is left.
// The large error type is tungstenite's callback signature, not ours to shrink.
#[allow(clippy::result_large_err)]
pub fn accept<S: Read + Write>(
    stream: S,
    policy: &OriginPolicy,
    config: WebSocketConfig,
    deadline: Instant,
    set_timeout: impl Fn(std::time::Duration) -> io::Result<()>,
) -> Result<WebSocket<S>, HandshakeFailure> {
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != "/ws" {
            return Err(refuse(StatusCode::NOT_FOUND, "not found"));
        }
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        if !policy.allows(header("origin"), header("host")) {
            return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
        }
        Ok(resp)
    };
    let mut round = tungstenite::accept_hdr_with_config(stream, check, Some(config));
    loop {
        match round {
            Ok(ws) => return Ok(ws),
            Err(HandshakeError::Failure(e)) => return Err(HandshakeFailure::Refused(e)),
            Err(HandshakeError::Interrupted(mid)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || set_timeout(left).is_err() {
                    return Err(HandshakeFailure::TimedOut);
                }
                round = mid.handshake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy {
            http_port: 6969,
            allowed: vec!["https://chat.example".into()],
        }
    }

    #[test]
    fn non_browser_clients_without_origin_pass() {
        assert!(policy().allows(None, Some("10.0.0.2:9696")));
    }

    #[test]
    fn the_servers_own_page_passes_on_every_host_spelling() {
        let p = policy();
        assert!(p.allows(Some("http://10.0.0.2:6969"), Some("10.0.0.2:9696")));
        assert!(p.allows(Some("http://[fe80::1]:6969"), Some("[fe80::1]:9696")));
        assert!(p.allows(Some("http://Pi.local:6969"), Some("pi.local:9696")));
    }

    #[test]
    fn foreign_origins_are_refused() {
        let p = policy();
        assert!(!p.allows(Some("http://evil.example:6969"), Some("10.0.0.2:9696")));
        assert!(!p.allows(Some("http://10.0.0.2:8080"), Some("10.0.0.2:9696")));
        assert!(!p.allows(Some("http://10.0.0.2"), Some("10.0.0.2:9696")));
        assert!(!p.allows(Some("null"), Some("10.0.0.2:9696")));
        assert!(!p.allows(Some("http://10.0.0.2:6969"), None));
        assert!(!p.allows(Some("http://10.0.0.2.evil:6969"), Some("10.0.0.2:9696")));
    }

    #[test]
    fn allow_listed_origins_pass() {
        assert!(policy().allows(Some("https://chat.example"), Some("10.0.0.2:9696")));
        assert!(policy().allows(Some("HTTPS://CHAT.EXAMPLE/"), Some("x")));
    }
}
