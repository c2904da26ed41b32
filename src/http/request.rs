//! One HTTP/1.x request head, read from bytes with hard limits: the page needs GET and
//! HEAD of a handful of small files, so anything larger or odder is refused with a
//! status instead of being buffered.

use super::accept::AcceptEncoding;

/// Largest request line (method, target, version).
pub const MAX_REQUEST_LINE: usize = 2048;
/// Largest whole head (request line and headers, with the blank line).
pub const MAX_HEAD: usize = 8192;
/// Most header lines.
pub const MAX_HEADERS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

/// What the server needs of a request: nothing else is kept.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    /// The path, without the query string.
    pub path: &'a str,
    pub host: Option<&'a str>,
    /// Whether the client asked to keep the connection after the response.
    pub keep_alive: bool,
    /// Whether a gzip-coded response is acceptable (`Accept-Encoding`).
    pub accepts_gzip: bool,
}

/// Why a request is refused before it is routed; each maps to one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not HTTP/1.x, a malformed line, or a missing Host on HTTP/1.1.
    BadRequest,
    /// A body was announced: the page takes none.
    BodyNotAccepted,
    RequestLineTooLong,
    HeadersTooLarge,
    VersionNotSupported,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest => 400,
            Refusal::BodyNotAccepted => 413,
            Refusal::RequestLineTooLong => 414,
            Refusal::HeadersTooLarge => 431,
            Refusal::VersionNotSupported => 505,
        }
    }
}

/// Where the head ends (the index just past its blank line), if it has ended.
/// Bare `\n` line ends are accepted, as most servers do.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(at) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + at;
        let next = &buf[nl + 1..];
        if next.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// Whether bytes received so far (with no complete head yet) are already over a limit.
pub fn check_partial(buf: &[u8]) -> Result<(), Refusal> {
    let first_line = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if first_line > MAX_REQUEST_LINE {
        return Err(Refusal::RequestLineTooLong);
    }
    if buf.len() > MAX_HEAD {
        return Err(Refusal::HeadersTooLarge);
    }
    Ok(())
}

/// Parses a complete head (as delimited by [`head_end`]).
pub fn parse(head: &[u8]) -> Result<Request<'_>, Refusal> {
    if head.len() > MAX_HEAD {
        return Err(Refusal::HeadersTooLarge);
    }
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let mut lines = text.lines();
    let line = lines.next().ok_or(Refusal::BadRequest)?;
    if line.len() > MAX_REQUEST_LINE {
        return Err(Refusal::RequestLineTooLong);
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(Refusal::VersionNotSupported),
        _ => return Err(Refusal::BadRequest),
    };
    // Origin-form only: an absolute URL would name a host other than the Host header.
    if !target.starts_with('/') {
        return Err(Refusal::BadRequest);
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Method::Other,
        _ => return Err(Refusal::BadRequest),
    };
    let mut host = None;
    let mut connection = None;
    let mut accept = AcceptEncoding::default();
    let mut count = 0;
    for line in lines.take_while(|l| !l.is_empty()) {
        count += 1;
        if count > MAX_HEADERS {
            return Err(Refusal::HeadersTooLarge);
        }
        let (name, value) = line.split_once(':').ok_or(Refusal::BadRequest)?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(Refusal::BadRequest);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(Refusal::BadRequest);
            }
            host = Some(value);
        } else if name.eq_ignore_ascii_case("connection") {
            connection = Some(value);
        } else if name.eq_ignore_ascii_case("accept-encoding") {
            accept.add(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::BodyNotAccepted);
        } else if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<u64>() {
                Ok(0) => {}
                Ok(_) => return Err(Refusal::BodyNotAccepted),
                Err(_) => return Err(Refusal::BadRequest),
            }
        }
    }
    if http11 && host.is_none() {
        return Err(Refusal::BadRequest);
    }
    let says = |word: &str| {
        connection.is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(word)))
    };
    let keep_alive = if http11 {
        !says("close")
    } else {
        says("keep-alive")
    };
    let path = target.split(['?', '#']).next().unwrap_or("/");
    Ok(Request {
        method,
        path,
        host,
        keep_alive,
        accepts_gzip: accept.allows_gzip(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Request<'_>, Refusal> {
        let end = head_end(s.as_bytes()).expect("complete head");
        parse(&s.as_bytes()[..end])
    }

    #[test]
    fn a_browser_get_is_read_with_its_host_path_and_keep_alive() {
        let r = parse_str(
            "GET /app.js?v=1 HTTP/1.1\r\nHost: pi.local:6969\r\nAccept: */*\r\n\r\nleftover",
        )
        .expect("valid");
        assert_eq!(
            r,
            Request {
                method: Method::Get,
                path: "/app.js",
                host: Some("pi.local:6969"),
                keep_alive: true,
                accepts_gzip: true,
            }
        );
        let r = parse_str("HEAD / HTTP/1.0\nConnection: Keep-Alive\n\n").expect("bare LF");
        assert_eq!((r.method, r.host, r.keep_alive), (Method::Head, None, true));
        let r = parse_str("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("ok");
        assert!(!r.keep_alive);
    }

    #[test]
    fn every_accept_encoding_field_counts_towards_whether_gzip_is_accepted() {
        let gzip = |fields: &str| {
            let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
            parse_str(&head).expect("valid").accepts_gzip
        };
        assert!(gzip(""));
        assert!(gzip("accept-encoding: GZIP, br\r\n"));
        assert!(!gzip("Accept-Encoding: identity\r\n"));
        assert!(!gzip("Accept-Encoding:\r\n"));
        assert!(gzip(
            "Accept-Encoding: br\r\nAccept-Encoding: gzip;q=0.5\r\n"
        ));
        assert!(!gzip("Accept-Encoding: *\r\nAccept-Encoding: gzip;q=0\r\n"));
    }

    #[test]
    fn heads_end_at_the_first_blank_line_only() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nX"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\nX"), Some(16));
    }

    #[test]
    fn bodies_are_refused_without_reading_their_length() {
        for head in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(parse_str(head), Err(Refusal::BodyNotAccepted), "{head}");
        }
        let r = parse_str("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert!(r.is_ok());
    }

    #[test]
    fn malformed_or_oversized_heads_get_their_own_status() {
        let cases = [
            ("GET / HTTP/1.1\r\n\r\n", Refusal::BadRequest), // no Host
            (
                "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n",
                Refusal::BadRequest,
            ),
            (
                "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
                Refusal::VersionNotSupported,
            ),
            ("GET /  HTTP/1.1\r\nHost: x\r\n\r\n", Refusal::BadRequest),
            ("get / HTTP/1.1\r\nHost: x\r\n\r\n", Refusal::BadRequest),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
                Refusal::BadRequest,
            ),
            ("GET / HTTP/1.1\r\nHost x\r\n\r\n", Refusal::BadRequest),
            ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", Refusal::BadRequest),
            ("\r\n\r\n", Refusal::BadRequest),
        ];
        for (head, want) in cases {
            assert_eq!(parse_str(head), Err(want), "{head:?}");
        }
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", "A: b\r\n".repeat(64));
        assert_eq!(parse_str(&many), Err(Refusal::HeadersTooLarge));
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(3000));
        assert_eq!(parse_str(&long), Err(Refusal::RequestLineTooLong));
        assert_eq!(parse(&[b'A'; MAX_HEAD + 1]), Err(Refusal::HeadersTooLarge));
        assert_eq!(
            parse(b"GET /\xff HTTP/1.1\r\n\r\n"),
            Err(Refusal::BadRequest)
        );
    }

    /// A small deterministic generator (xorshift): the same cases on every run.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn no_byte_string_makes_the_reader_the_host_check_or_the_encoding_check_panic() {
        // Mutations of a valid head (bytes replaced, cut, repeated) and pure noise.
        let seed =
            b"GET /a?b HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\nConnection: close\r\n\
Accept-Encoding: gzip;q=0.5, *;q=0\r\n\r\n";
        let alphabet = b"\r\n :/?[]%GETHOSTPhttp1.0\xff\x00,;=*q.gzip";
        let hosts = crate::hosts::HostPolicy::new(&[]);
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..50_000 {
            let mut input = seed.to_vec();
            for _ in 0..next(&mut state) % 8 {
                let at = next(&mut state) as usize % input.len();
                let byte = alphabet[next(&mut state) as usize % alphabet.len()];
                match next(&mut state) % 3 {
                    0 => input[at] = byte,
                    1 => input.insert(at, byte),
                    _ => input.truncate(at.max(1)),
                }
            }
            if next(&mut state).is_multiple_of(10) {
                input = (0..next(&mut state) % 64)
                    .map(|_| next(&mut state) as u8)
                    .collect();
            }
            let _ = check_partial(&input);
            // The Accept-Encoding reader on its own too: most mutations break the head
            // before that field is reached.
            AcceptEncoding::default().add(&String::from_utf8_lossy(&input));
            if let Some(end) = head_end(&input) {
                let _ = parse(&input[..end]);
            }
            if let Ok(Request { host: Some(h), .. }) = parse(&input) {
                let _ = hosts.allows(h);
            }
        }
    }

    #[test]
    fn partial_heads_are_refused_as_soon_as_they_pass_a_limit() {
        assert_eq!(check_partial(b"GET / HTTP/1.1\r\nHost"), Ok(()));
        assert_eq!(
            check_partial(&[b'a'; MAX_REQUEST_LINE + 1]),
            Err(Refusal::RequestLineTooLong)
        );
        let mut endless_header = b"GET / HTTP/1.1\r\nX: ".to_vec();
        endless_header.resize(MAX_HEAD + 1, b'a');
        assert_eq!(
            check_partial(&endless_header),
            Err(Refusal::HeadersTooLarge)
        );
    }
}
