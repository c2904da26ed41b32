//! The HTTP port: embedded page and assets (gzip-coded, 406 to a client refusing
//! gzip), config and health endpoints, status codes and the security headers on every
//! response.

mod common;

use common::*;

const SECURITY_HEADERS: [&str; 4] = [
    "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self';",
    "x-content-type-options: nosniff",
    "referrer-policy: no-referrer",
    "cache-control: no-store",
];

fn assert_secure(head: &str) {
    let head = head.to_ascii_lowercase();
    for h in SECURITY_HEADERS {
        assert!(head.contains(h), "missing {h} in\n{head}");
    }
    assert!(head.contains("frame-ancestors 'none'"));
    assert!(!head.contains("unsafe-inline") && !head.contains("unsafe-eval"));
    // Images from the page itself and data: URLs only: an image in a message that the
    // browser fetched from elsewhere would tell that server who reads the room.
    let img_src = head
        .split("img-src")
        .nth(1)
        .and_then(|rest| rest.split([';', '\r']).next())
        .map(str::trim);
    assert_eq!(img_src, Some("'self' data:"), "{head}");
}

#[test]
fn the_page_is_html_with_the_security_headers() {
    let srv = Server::start(&[]);
    let (status, head, body) = srv.http_get("/");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{head}"
    );
    assert!(
        body.trim_start()
            .to_ascii_lowercase()
            .starts_with("<!doctype html>")
    );
    assert_secure(&head);
    // No inline script: every <script> names a same-origin file.
    for tag in body.split("<script").skip(1) {
        let open = &tag[..tag.find('>').expect("tag closes")];
        assert!(open.contains("src="), "inline script: <script{open}>");
    }
}

#[test]
fn every_embedded_asset_is_served_with_its_type_and_head_works() {
    let srv = Server::start(&[]);
    let (_, _, page) = srv.http_get("/");
    let assets: Vec<&str> = page
        .split("src=\"")
        .chain(page.split("href=\""))
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|s| s.starts_with('/') || s.ends_with(".js") || s.ends_with(".css"))
        .collect();
    assert!(!assets.is_empty(), "the page links its assets");
    for asset in assets {
        let path = if asset.starts_with('/') {
            asset.to_owned()
        } else {
            format!("/{asset}")
        };
        let (status, head, _) = srv.http_get(&path);
        assert_eq!(status, 200, "{path}");
        assert_secure(&head);
    }
    let (status, head, body) = http_request(srv.http, "HEAD", "/");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html")
    );
    assert!(body.is_empty());
}

/// One request with an `Accept-Encoding` field (none if `None`); (status, head, body as
/// sent).
fn get_with(
    srv: &Server,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let field = accept.map_or(String::new(), |a| format!("Accept-Encoding: {a}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {}\r\n{field}\r\n",
        srv.http
    );
    let stream = std::net::TcpStream::connect(srv.http).expect("connect http");
    split_response(&http_exchange(stream, &request)).expect("a response")
}

/// The value of header `name` (lower case) in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn every_file_of_html_is_sent_gzip_coded_and_decodes_to_exactly_that_file() {
    let srv = Server::start(&[]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("html");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("html/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && dir.join(n).is_file())
        .collect();
    names.sort();
    assert!(names.len() > 5, "{names:?}");
    let (mut plain, mut coded) = (0, 0);
    for name in &names {
        let file = std::fs::read(dir.join(name)).expect("read html/ file");
        // As Chromium asks, and as a client that sends no Accept-Encoding at all.
        for accept in [Some("gzip, deflate, br, zstd"), None] {
            let path = format!("/{name}");
            let (status, head, body) = get_with(&srv, "GET", &path, accept);
            assert_eq!(status, 200, "{path}");
            assert_secure(&head);
            assert_eq!(header(&head, "content-encoding"), Some("gzip"), "{path}");
            assert_eq!(header(&head, "vary"), Some("Accept-Encoding"), "{path}");
            let length = header(&head, "content-length").and_then(|l| l.parse().ok());
            assert_eq!(length, Some(body.len()), "{path}: Content-Length");
            assert!(body.starts_with(&[0x1f, 0x8b]), "{path} is not gzip");
            let decoded = decoded_body(&head, &body).expect("decodes");
            assert!(decoded == file, "{path} does not decode to html/{name}");
            let (status, head_of_head, nothing) = get_with(&srv, "HEAD", &path, accept);
            assert_eq!((status, nothing.len()), (200, 0), "HEAD {path}");
            assert_eq!(
                header(&head_of_head, "content-length"),
                header(&head, "content-length")
            );
            assert_eq!(header(&head_of_head, "content-encoding"), Some("gzip"));
            if accept.is_none() {
                plain += file.len();
                coded += body.len();
            }
        }
    }
    let (_, _, root) = get_with(&srv, "GET", "/", None);
    let index = std::fs::read(dir.join("index.html")).expect("index.html");
    assert_eq!(
        decoded_body("\r\ncontent-encoding: gzip\r\n", &root),
        Some(index)
    );
    eprintln!(
        "html/: {} files, {plain} bytes, {coded} bytes as sent",
        names.len()
    );
    assert!(
        coded * 2 < plain,
        "gzip saved too little: {coded} of {plain}"
    );
}

#[test]
fn a_client_that_refuses_gzip_gets_406_and_an_explanation_but_json_as_ever() {
    let srv = Server::start(&[]);
    for accept in [
        "identity",
        "",
        "gzip;q=0",
        "br, deflate",
        "*;q=0",
        "gzip;q=0, *",
    ] {
        for method in ["GET", "HEAD"] {
            let (status, head, body) = get_with(&srv, method, "/app.js", Some(accept));
            assert_eq!(status, 406, "{method} with Accept-Encoding: {accept:?}");
            assert_secure(&head);
            assert_eq!(header(&head, "vary"), Some("Accept-Encoding"));
            assert_eq!(header(&head, "content-encoding"), None);
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains("gzip-compressed only"), "{text}");
        }
    }
    for accept in ["*", "GZIP;q=0.5", "identity, gzip;q=0.001", "x-gzip"] {
        let (status, head, _) = get_with(&srv, "GET", "/", Some(accept));
        assert_eq!(status, 200, "Accept-Encoding: {accept:?}");
        assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    }
    // The dynamic JSON is never coded, so it is served to any client.
    for path in ["/config.json", "/healthz"] {
        let (status, head, body) = get_with(&srv, "GET", path, Some("identity"));
        assert_eq!(status, 200, "{path}");
        assert_secure(&head);
        assert_eq!(header(&head, "content-encoding"), None, "{path}");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert!(v.is_object(), "{path}");
    }
    // An unknown path is not found, whatever the client accepts.
    assert_eq!(get_with(&srv, "GET", "/nope.js", Some("identity")).0, 404);
}

#[test]
fn config_tells_the_page_the_chat_port() {
    let srv = Server::start(&["--moderation", "creator"]);
    let (status, head, body) = srv.http_get("/config.json");
    assert_eq!(status, 200);
    assert_secure(&head);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["ws_port"].as_u64(), Some(u64::from(srv.ws.port())));
    assert_eq!(v["moderation"], "creator");
}

#[test]
fn config_passes_a_public_ws_url_to_the_page_only_when_given() {
    let srv = Server::start(&[]);
    let (_, _, body) = srv.http_get("/config.json");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(v.get("ws_url").is_none(), "{body}");
    let srv = Server::start(&["--public-ws-url", "wss://chat.example.org:8443/ws"]);
    let (status, _, body) = srv.http_get("/config.json");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["ws_url"], "wss://chat.example.org:8443/ws");
    assert_eq!(v["ws_port"].as_u64(), Some(u64::from(srv.ws.port())));
}

#[test]
fn unknown_paths_are_404_and_other_methods_405_with_headers() {
    let srv = Server::start(&[]);
    let (status, head, _) = srv.http_get("/../../etc/passwd");
    assert_eq!(status, 404);
    assert_secure(&head);
    let (status, head, _) = http_request(srv.http, "POST", "/");
    assert_eq!(status, 405);
    assert_secure(&head);
    assert!(head.to_ascii_lowercase().contains("allow: get, head"));
    let (status, _, _) = http_request(srv.http, "DELETE", "/healthz");
    assert_eq!(status, 405);
}

#[test]
fn idle_connections_cannot_grow_the_server_without_bound() {
    let srv = Server::start(&[]);
    let _ = srv.http_get("/healthz");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = srv.threads();
    // Idle connections that never send a request (slowloris) hold no thread: one thread
    // serves the whole page port. (15 from each of 20 addresses, under the share.)
    let idle: Vec<_> = (0..300)
        .map(|i| connect_from([127, 0, 0, 1 + (i % 20) as u8], srv.http))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let during = srv.threads();
    assert_eq!(
        during, before,
        "threads: {before} before, {during} with 300 idle connections"
    );
    // When they close, the page is served at once.
    drop(idle);
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let attempt = std::panic::catch_unwind(|| srv.http_get("/"));
        if let Ok((200, _, _)) = attempt {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page was not served again"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn one_address_holding_idle_connections_does_not_lock_others_out() {
    let srv = Server::start(&[]);
    let get_from = |src: [u8; 4]| {
        let (status, _, body) = http_request_on(connect_from(src, srv.http), srv.http, "GET", "/");
        status == 200 && body.contains("<html")
    };
    // One address floods the port with idle connections: past its share (32), each new
    // one pushes out that address's own longest-waiting connection, nobody else's.
    let flood: Vec<_> = (0..200)
        .map(|_| connect_from([127, 0, 0, 9], srv.http))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let open = flood
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).expect("nonblocking");
            let mut buf = [0u8; 1];
            let read = std::io::Read::read(&mut &**s, &mut buf);
            matches!(read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert_eq!(open, 32, "connections the flooding address still holds");
    // The newest ones are the ones kept: the flooder itself still gets the page...
    assert!(
        get_from([127, 0, 0, 9]),
        "the flooder's newest request refused"
    );
    // ...and every other visitor gets it at once, each holding several connections.
    let mut held = Vec::new();
    for visitor in 1..=8u8 {
        held.extend((0..6).map(|_| connect_from([127, 0, 1, visitor], srv.http)));
        assert!(
            get_from([127, 0, 1, visitor]),
            "visitor {visitor} locked out"
        );
    }
    drop((flood, held));
}
