//! The HTTP port: the page and its assets (embedded at build time from `html/`),
//! `/config.json` (how the page finds the chat port) and `/healthz` (counts only),
//! each with the security headers.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::stats::Stats;

/// (URL path, content type, bytes) of every file in `html/`.
static ASSETS: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// No inline script or style, nothing from elsewhere but message images, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data: http: https:; connect-src 'self' ws: wss:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

const WORKERS: usize = 2;

/// What the page needs to know about the server, fixed at start-up.
pub struct PageConfig {
    pub ws_port: u16,
    pub moderation: &'static str,
    pub max_message_bytes: usize,
}

impl PageConfig {
    fn to_json(&self) -> String {
        format!(
            "{{\"ws_port\":{},\"version\":\"{}\",\"moderation\":\"{}\",\"max_message_bytes\":{}}}",
            self.ws_port,
            env!("CARGO_PKG_VERSION"),
            self.moderation,
            self.max_message_bytes
        )
    }
}

fn header(name: &str, value: &str) -> Header {
    // Names and values here are ASCII constants or digits: always valid.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn respond(req: Request, status: u16, content_type: &str, body: Vec<u8>, extra: Option<Header>) {
    let mut resp = Response::from_data(body)
        .with_status_code(status)
        .with_header(header("Content-Type", content_type))
        .with_header(header("Content-Security-Policy", CSP))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("X-Frame-Options", "DENY"))
        .with_header(header("Cross-Origin-Opener-Policy", "same-origin"));
    if let Some(h) = extra {
        resp = resp.with_header(h);
    }
    // A client that went away is not worth reporting (nothing is logged anyway).
    let _ = req.respond(resp);
}

fn handle(req: Request, config: &str, stats: &Stats) {
    if !matches!(req.method(), Method::Get | Method::Head) {
        let allow = Some(header("Allow", "GET, HEAD"));
        return respond(
            req,
            405,
            "text/plain; charset=utf-8",
            b"method not allowed\n".to_vec(),
            allow,
        );
    }
    // The fragment never reaches us; a query string is ignored.
    let path = req.url().split('?').next().unwrap_or("/");
    let path = if path == "/" { "/index.html" } else { path };
    match path {
        "/config.json" => respond(
            req,
            200,
            "application/json",
            config.as_bytes().to_vec(),
            None,
        ),
        "/healthz" => respond(
            req,
            200,
            "application/json",
            stats.to_json().into_bytes(),
            None,
        ),
        _ => match ASSETS.iter().find(|(p, _, _)| *p == path) {
            Some((_, ctype, bytes)) => respond(req, 200, ctype, bytes.to_vec(), None),
            None => respond(
                req,
                404,
                "text/plain; charset=utf-8",
                b"not found\n".to_vec(),
                None,
            ),
        },
    }
}

/// Serves HTTP on each listener with a couple of worker threads apiece.
pub fn start(listeners: Vec<TcpListener>, page: &PageConfig, stats: &Arc<Stats>) -> io::Result<()> {
    let config: Arc<str> = page.to_json().into();
    for listener in listeners {
        let server = Arc::new(Server::from_listener(listener, None).map_err(io::Error::other)?);
        for _ in 0..WORKERS {
            let (server, config, stats) = (server.clone(), config.clone(), stats.clone());
            std::thread::Builder::new()
                .name("http".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    while let Ok(req) = server.recv() {
                        handle(req, &config, &stats);
                    }
                })?;
        }
    }
    Ok(())
}
