//! What the page port answers: the page and its assets (embedded at build time from
//! `html/`), `/config.json` (how the page finds the chat port) and `/healthz` (counts
//! only), every response with the security headers.

use std::fmt::Write as _;

use super::request::{Method, Refusal, Request};
use crate::stats::Stats;

/// (URL path, content type, bytes) of every file in `html/`.
static ASSETS: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// No inline script or style, nothing from elsewhere (images in messages only as `data:`
/// URLs: a remote one would tell its server who reads the room), no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// What the page needs to know about the server, fixed at start-up.
pub struct PageConfig {
    pub ws_port: u16,
    pub moderation: &'static str,
    pub max_message_bytes: usize,
    /// `--public-ws-url`: where browsers open the chat instead of ws://HOST:ws_port/ws.
    /// Checked at start-up to need no JSON escaping.
    pub ws_url: Option<String>,
}

impl PageConfig {
    pub fn to_json(&self) -> String {
        let ws_url = match &self.ws_url {
            Some(url) => format!(",\"ws_url\":\"{url}\""),
            None => String::new(),
        };
        format!(
            "{{\"ws_port\":{},\"version\":\"{}\",\"moderation\":\"{}\",\"max_message_bytes\":{}{ws_url}}}",
            self.ws_port,
            env!("CARGO_PKG_VERSION"),
            self.moderation,
            self.max_message_bytes
        )
    }
}

/// A body: an embedded file is sent from the binary itself, never copied.
pub enum Body {
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl Body {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Owned(b) => b,
        }
    }
}

/// A response ready to be written: the head's bytes, and the body unless it was HEAD.
pub struct Response {
    pub head: Vec<u8>,
    pub body: Body,
    /// Whether the connection closes after this response.
    pub close: bool,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Builds a response; `head_only` (a HEAD request) keeps the length but not the body.
fn respond(status: u16, content_type: &str, body: Body, head_only: bool, close: bool) -> Response {
    let mut head = String::with_capacity(512);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
Content-Security-Policy: {CSP}\r\nX-Content-Type-Options: nosniff\r\n\
Referrer-Policy: no-referrer\r\nCache-Control: no-store\r\nX-Frame-Options: DENY\r\n\
Cross-Origin-Opener-Policy: same-origin\r\n",
        reason(status),
        body.bytes().len()
    );
    if status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "\r\n"
    });
    Response {
        head: head.into_bytes(),
        body: if head_only { Body::Static(b"") } else { body },
        close,
    }
}

/// A plain-text error; the connection closes after it.
pub fn error(status: u16) -> Response {
    let text = match status {
        // The person at the browser needs to know what to do; the name is not echoed.
        421 => "misdirected request: this server does not answer to the name in the \
address bar. Open it by its IP address, or start it with --hostname NAME.\n"
            .to_owned(),
        _ => format!("{}\n", reason(status).to_ascii_lowercase()),
    };
    respond(
        status,
        "text/plain; charset=utf-8",
        Body::Owned(text.into_bytes()),
        false,
        true,
    )
}

/// The answer to a request refused before routing.
pub fn refused(r: Refusal) -> Response {
    error(r.status())
}

/// Routes a parsed request whose Host was accepted.
pub fn route(req: &Request, config: &str, stats: &Stats) -> Response {
    let head_only = match req.method {
        Method::Get => false,
        Method::Head => true,
        Method::Other => return error(405),
    };
    let close = !req.keep_alive;
    let path = if req.path == "/" {
        "/index.html"
    } else {
        req.path
    };
    let json = "application/json";
    match path {
        "/config.json" => respond(
            200,
            json,
            Body::Owned(config.as_bytes().to_vec()),
            head_only,
            close,
        ),
        "/healthz" => respond(
            200,
            json,
            Body::Owned(stats.to_json().into_bytes()),
            head_only,
            close,
        ),
        _ => match ASSETS.iter().find(|(p, _, _)| *p == path) {
            Some((_, ctype, bytes)) => respond(200, ctype, Body::Static(bytes), head_only, close),
            None => respond(
                404,
                "text/plain; charset=utf-8",
                Body::Static(b"not found\n"),
                head_only,
                close,
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Response {
        let req = Request {
            method: Method::Get,
            path,
            host: Some("localhost"),
            keep_alive: true,
        };
        route(&req, "{}", &Stats::default())
    }

    fn head_text(r: &Response) -> String {
        String::from_utf8_lossy(&r.head).into_owned()
    }

    #[test]
    fn the_root_is_the_embedded_page_with_its_length() {
        let r = get("/");
        let head = head_text(&r);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains(&format!("Content-Length: {}\r\n", r.body.bytes().len())));
        assert!(head.contains("Content-Security-Policy: default-src 'none'"));
        assert!(!head.contains("Connection: close"));
        assert!(r.body.bytes().starts_with(b"<!doctype html>"));
    }

    #[test]
    fn head_requests_keep_the_length_but_send_no_body() {
        let req = Request {
            method: Method::Head,
            path: "/app.js",
            host: None,
            keep_alive: false,
        };
        let r = route(&req, "{}", &Stats::default());
        assert!(r.body.bytes().is_empty() && r.close);
        assert!(!head_text(&r).contains("Content-Length: 0\r\n"));
    }

    #[test]
    fn the_config_names_a_public_ws_url_only_when_one_is_given() {
        let mut page = PageConfig {
            ws_port: 9696,
            moderation: "anyone",
            max_message_bytes: 65536,
            ws_url: None,
        };
        assert!(!page.to_json().contains("ws_url"));
        page.ws_url = Some("wss://chat.example.org/ws".into());
        let json = page.to_json();
        assert!(json.starts_with("{\"ws_port\":9696,"));
        assert!(
            json.ends_with(",\"ws_url\":\"wss://chat.example.org/ws\"}"),
            "{json}"
        );
    }

    #[test]
    fn errors_close_the_connection_and_405_says_what_is_allowed() {
        let r = error(431);
        assert!(r.close);
        assert!(head_text(&r).starts_with("HTTP/1.1 431 Request Header Fields Too Large"));
        assert!(head_text(&error(405)).contains("Allow: GET, HEAD\r\n"));
        assert!(head_text(&get("/nope")).starts_with("HTTP/1.1 404"));
    }
}
