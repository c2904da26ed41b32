//! What the page port answers: the page and its assets (embedded gzip-compressed at
//! build time from `html/`, sent as they are stored), `/config.json` (how the page finds
//! the chat port) and `/healthz` (counts only), every response with the security headers.

use std::fmt::Write as _;

use super::request::{Method, Refusal, Request};
use crate::stats::Stats;

/// (URL path, content type, gzip bytes) of every file in `html/`.
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
        406 => "Not Acceptable",
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

/// Headers of an embedded file: it is stored gzip-coded only, and whether a client gets
/// it depends on its Accept-Encoding.
const GZIP: &str = "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n";

/// Builds a response; `head_only` (a HEAD request) keeps the length but not the body.
/// `extra` is more header lines, each ending in CRLF.
fn respond(
    status: u16,
    content_type: &str,
    extra: &str,
    body: Body,
    head_only: bool,
    close: bool,
) -> Response {
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
    head.push_str(extra);
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
        // Said to whoever asked without gzip (curl, wget, a script): what to send instead.
        406 => "not acceptable: this server keeps its page gzip-compressed only and \
cannot send it uncompressed. Ask with Accept-Encoding: gzip, or with no Accept-Encoding \
at all (curl --compressed, wget --compression=gzip).\n"
            .to_owned(),
        _ => format!("{}\n", reason(status).to_ascii_lowercase()),
    };
    let extra = match status {
        405 => "Allow: GET, HEAD\r\n",
        406 => "Vary: Accept-Encoding\r\n",
        _ => "",
    };
    respond(
        status,
        "text/plain; charset=utf-8",
        extra,
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
            "",
            Body::Owned(config.as_bytes().to_vec()),
            head_only,
            close,
        ),
        "/healthz" => respond(
            200,
            json,
            "",
            Body::Owned(stats.to_json().into_bytes()),
            head_only,
            close,
        ),
        _ => match ASSETS.iter().find(|(p, _, _)| *p == path) {
            Some(_) if !req.accepts_gzip => error(406),
            Some((_, ctype, gz)) => respond(200, ctype, GZIP, Body::Static(gz), head_only, close),
            None => respond(
                404,
                "text/plain; charset=utf-8",
                "",
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
            accepts_gzip: true,
        };
        route(&req, "{}", &Stats::default())
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .expect("valid gzip");
        out
    }

    fn head_text(r: &Response) -> String {
        String::from_utf8_lossy(&r.head).into_owned()
    }

    #[test]
    fn the_root_is_the_embedded_page_gzip_coded_with_its_compressed_length() {
        let r = get("/");
        let head = head_text(&r);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains(&format!("Content-Length: {}\r\n", r.body.bytes().len())));
        assert!(head.contains("\r\nContent-Encoding: gzip\r\nVary: Accept-Encoding\r\n"));
        assert!(head.contains("Content-Security-Policy: default-src 'none'"));
        assert!(!head.contains("Connection: close"));
        assert!(gunzip(r.body.bytes()).starts_with(b"<!doctype html>"));
    }

    #[test]
    fn a_client_refusing_gzip_gets_406_for_a_file_but_the_json_uncoded() {
        for method in [Method::Get, Method::Head] {
            let req = Request {
                method,
                path: "/app.js",
                host: None,
                keep_alive: true,
                accepts_gzip: false,
            };
            let r = route(&req, "{}", &Stats::default());
            let head = head_text(&r);
            assert!(
                head.starts_with("HTTP/1.1 406 Not Acceptable\r\n"),
                "{head}"
            );
            assert!(head.contains("Vary: Accept-Encoding\r\n") && r.close);
            assert!(!head.contains("Content-Encoding"));
            let text = String::from_utf8_lossy(r.body.bytes());
            assert!(text.contains("Accept-Encoding: gzip"), "{text}");
            // Nothing else depends on the coding: the JSON and 404s are sent as they are.
            for (path, status) in [("/config.json", "200"), ("/healthz", "200"), ("/x", "404")] {
                let r = route(&Request { path, ..req }, "{}", &Stats::default());
                let head = head_text(&r);
                assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
                assert!(!head.contains("Content-Encoding") && !head.contains("Vary"));
            }
        }
    }

    #[test]
    fn head_requests_keep_the_length_but_send_no_body() {
        let req = Request {
            method: Method::Head,
            path: "/app.js",
            host: None,
            keep_alive: false,
            accepts_gzip: true,
        };
        let r = route(&req, "{}", &Stats::default());
        assert!(r.body.bytes().is_empty() && r.close);
        let head = head_text(&r);
        let gz_len = get("/app.js").body.bytes().len();
        assert!(
            head.contains(&format!("Content-Length: {gz_len}\r\n")),
            "{head}"
        );
        assert!(head.contains("Content-Encoding: gzip\r\n"));
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
