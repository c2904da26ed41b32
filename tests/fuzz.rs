//! Deterministic fuzzing on stable Rust (cargo fuzz needs nightly): a xorshift
//! generator mutates valid inputs (bytes replaced, inserted, removed, repeated, cut)
//! and adds pure noise, for every parser that sees what a client sends. None may
//! panic, and what the validator lets through to the broker always has valid fields.
//! Counts are short here (each test well under 5 s); `make fuzz` multiplies them with
//! SANCTUARY_FUZZ_ITERATIONS.

mod common;

use common::*;
use sanctuary::crypto::{self, Header, Kind, RoomKeys};
use sanctuary::hosts::HostPolicy;
use sanctuary::protocol::{self, Parsed, Rekey, is_valid_alias, is_valid_room};
use sanctuary::ws::handshake::OriginPolicy;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// Bytes that matter to JSON, to the protocol's fields and to base64url.
const JSON_ALPHABET: &[u8] = b"{}[]\":,\\ tnulrfase0123456789.-_eE+AQgw\x00\x7f\xc3\xa9";

/// A fixed room and its keys: the same seeds, hence the same cases, on every run.
fn fixed_room() -> (String, RoomKeys) {
    (
        "Fuzz-room_0123456789ab".to_owned(),
        RoomKeys::from_master(&[7; 32]),
    )
}

/// A v2 envelope of `text` with a fixed IV and stamp.
fn envelope(keys: &RoomKeys, room: &str, text: &str) -> String {
    let h = Header {
        room,
        kind: Kind::Msg,
        from: "alice",
        to: "",
    };
    let stamp = crypto::Stamp {
        sid: [5; 8],
        counter: 1,
        sent_ms: 0,
    };
    crypto::seal_with_iv(keys, &h, [9; 16], Some(&stamp), text.as_bytes())
}

/// One valid frame of every request kind.
fn valid_requests() -> Vec<String> {
    let (room, keys) = fixed_room();
    let key = crypto::b64u_encode(&keys.k_auth);
    let body = envelope(&keys, &room, "hello");
    [
        json!({"t":"join","room":room,"alias":"alice","proof":key}),
        json!({"t":"create","room":room,"alias":"a.b-c_9","verifier":key,"proof":key}),
        json!({"t":"msg","body":body}),
        json!({"t":"purr","to":"bob","body":body}),
        json!({"t":"kick","alias":"bob"}),
        json!({"t":"kick","alias":"bob","epoch":0,"to":["alice","carol"],"body":body,"verifier":key}),
        json!({"t":"rekey","epoch":7,"to":["alice"],"body":body,"verifier":key}),
        json!({"t":"stop"}),
        json!({"t":"exit"}),
        json!({"t":"exit","body":body}),
        json!({"t":"exit","body":null}),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect()
}

/// Distinct valid aliases (at least one) and a well-formed body.
fn rekey_is_valid(r: &Rekey<[u8; 32]>) -> bool {
    let distinct: std::collections::BTreeSet<&String> = r.to.iter().collect();
    !r.to.is_empty()
        && distinct.len() == r.to.len()
        && r.to.iter().all(|a| is_valid_alias(a))
        && crypto::is_well_formed_body(&r.body)
}

/// What the broker may rely on: every field of a parsed request has its valid form.
fn assert_validated(request: &Parsed, text: &str) {
    let ok = match request {
        Parsed::Join { entering, .. } | Parsed::Create { entering, .. } => {
            is_valid_room(&entering.room) && is_valid_alias(&entering.alias)
        }
        Parsed::Msg { body } => crypto::is_well_formed_body(body),
        Parsed::Purr { to, body } => is_valid_alias(to) && crypto::is_well_formed_body(body),
        Parsed::Kick { alias, rekey } => {
            is_valid_alias(alias) && rekey.as_ref().is_none_or(rekey_is_valid)
        }
        Parsed::Rekey(rekey) => rekey_is_valid(rekey),
        Parsed::Stop | Parsed::Exit { body: None } => true,
        Parsed::Exit { body: Some(b) } => crypto::is_well_formed_body(b),
    };
    assert!(ok, "{text:?} passed as {request:?}");
}

#[test]
fn no_frame_text_makes_request_parsing_panic_or_pass_an_invalid_field() {
    let seeds = valid_requests();
    for seed in &seeds {
        let parsed = protocol::parse_request(seed).expect("every seed is valid");
        assert_validated(&parsed, seed);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, runs) = (0usize, fuzz_iterations(100_000));
    for _ in 0..runs {
        let seed = rng.pick(&seeds).as_bytes();
        let input = rng.mutate(seed, JSON_ALPHABET, 256);
        // The WebSocket layer hands only valid UTF-8 text frames to the parser.
        let text = String::from_utf8_lossy(&input);
        if let Ok(request) = protocol::parse_request(&text) {
            assert_validated(&request, &text);
            accepted += 1;
        }
    }
    // Deep nesting, refused before serde_json sees it.
    for depth in [3, 64, 60_000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(protocol::parse_request(&text).is_err());
    }
    eprintln!("request parsing: {runs} inputs, {accepted} accepted and valid");
    assert!(accepted > 0, "the mutations never kept a request valid");
}

#[test]
fn no_body_makes_the_envelope_check_the_decoder_or_opening_panic() {
    let (room, keys) = fixed_room();
    let seeds: Vec<String> = ["", "x", &"long ".repeat(40)]
        .iter()
        .map(|text| envelope(&keys, &room, text))
        .collect();
    let h = Header {
        room: &room,
        kind: Kind::Msg,
        from: "alice",
        to: "",
    };
    let alphabet = b"ABCDEFGHIJQRSwxyz0189-_=+/ \x00AQgw";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut opened, mut well_formed, runs) = (0usize, 0usize, fuzz_iterations(20_000));
    for _ in 0..runs {
        let seed = rng.pick(&seeds).as_bytes();
        let input = rng.mutate(seed, alphabet, 128);
        let text = String::from_utf8_lossy(&input);
        // One spelling per value: what decodes re-encodes to the same text.
        if let Some(raw) = crypto::b64u_decode(&text) {
            assert_eq!(crypto::b64u_encode(&raw), text, "two spellings");
        }
        let form = crypto::is_well_formed_body(&text);
        well_formed += usize::from(form);
        if crypto::open(&keys, &h, &text).is_ok() {
            assert!(form, "{text:?} opened but is not well formed");
            opened += 1;
        }
    }
    eprintln!("envelopes: {runs} inputs, {well_formed} well formed, {opened} opened");
    assert!(well_formed > 0);
}

#[test]
fn valid_aliases_and_rooms_need_no_escaping_anywhere() {
    let seeds = ["alice", "A.b-c_0123456789abcdefgh", &fixed_room().0, "x"];
    let alphabet = b"aZ09._-~ /<>&\"'\\%\x00\xc3\xa9\xe2\x80\x8b";
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    let (mut aliases, mut rooms, runs) = (0usize, 0usize, fuzz_iterations(100_000));
    let escaped = |s: &str| serde_json::to_string(s).expect("json") != format!("\"{s}\"");
    for _ in 0..runs {
        let seed = rng.pick(&seeds).as_bytes();
        let input = rng.mutate(seed, alphabet, 40);
        let text = String::from_utf8_lossy(&input);
        if is_valid_alias(&text) {
            aliases += 1;
            assert!(
                (1..=24).contains(&text.len()) && !escaped(&text),
                "{text:?}"
            );
            assert!(
                !text.contains(['<', '>', '&', '"', '\'', '/', ' ']),
                "{text:?}"
            );
        }
        if is_valid_room(&text) {
            rooms += 1;
            assert!(text.len() == 22 && !escaped(&text), "{text:?}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            );
        }
    }
    eprintln!("names: {runs} inputs, {aliases} valid aliases, {rooms} valid rooms");
    assert!(aliases > 0 && rooms > 0);
}

#[test]
fn no_host_or_origin_makes_the_policies_panic_or_admit_a_foreign_name() {
    let hosts = Arc::new(HostPolicy::new(&["chat.lan".to_owned()]));
    let origins = OriginPolicy {
        http_port: 6969,
        allowed: vec!["https://proxy.example".to_owned()],
        hosts: hosts.clone(),
    };
    let seeds = [
        "127.0.0.1:6969",
        "[::1]:9696",
        "localhost",
        "LocalHost.:80",
        "chat.lan",
        "[fe80::1%eth0]:1",
        "http://localhost:6969",
        "http://127.0.0.1:6969/",
        "http://[::1]:6969",
        "https://proxy.example",
        "evil.example",
    ];
    let alphabet = b"[]:%./0123456789abcdefhlostptx:/-Ll ";
    let mut rng = Rng(0x8bad_f00d_dead_beef);
    let (mut admitted, runs) = (0usize, fuzz_iterations(100_000));
    for _ in 0..runs {
        let (host_seed, origin_seed) = (rng.pick(&seeds).as_bytes(), rng.pick(&seeds).as_bytes());
        let host_bytes = rng.mutate(host_seed, alphabet, 40);
        let origin_bytes = rng.mutate(origin_seed, alphabet, 40);
        let host = String::from_utf8_lossy(&host_bytes);
        let origin = String::from_utf8_lossy(&origin_bytes);
        let host_ok = hosts.allows(&host);
        let with_origin = origins.allows(Some(&origin), Some(&host));
        let without = origins.allows(None, Some(&host));
        assert!(!origins.allows(Some(&origin), None), "no Host, admitted");
        // The Host check comes first, whatever the origin.
        assert_eq!(without, host_ok, "{host:?}");
        if with_origin {
            admitted += 1;
            assert!(host_ok, "{host:?} refused but admitted with {origin:?}");
            let origin = origin.trim_end_matches('/');
            assert!(
                origin.starts_with("http://")
                    || origin.eq_ignore_ascii_case("https://proxy.example"),
                "{origin:?}"
            );
        }
        // Admitted or not, a foreign name never is. (Text after a bracketed IPv6
        // literal is ignored: `[::1]junk` passes as `[::1]`; no browser sends that.)
        if host_ok {
            assert!(!host.to_ascii_lowercase().contains("evil"), "{host:?}");
        }
    }
    eprintln!("hosts and origins: {runs} pairs, {admitted} admitted");
    assert!(admitted > 0);
}

/// A client frame: FIN and `opcode`, masked as clients must, with the shortest length.
fn client_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Opens a chat connection by hand and reads the server's 101 answer.
fn raw_handshake(srv: &Server) -> TcpStream {
    let mut s = TcpStream::connect(srv.ws).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.ws
    )
    .expect("send handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("read the answer"), 1, "closed");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    s
}

#[test]
fn random_frames_after_a_handshake_neither_kill_the_server_nor_make_it_print() {
    let mut srv = Server::start(&["--max-message-bytes", "4096"]);
    let (room, keys) = fixed_room();
    // A member holds the room open (and is drained), so that the fuzzing connections
    // enter it with a join: a proof over their own nonce, with the proof key made
    // once (a create each would cost the server an X25519).
    let (mut holder, hello) = srv.raw();
    holder
        .send(Message::text(
            create_frame(&hello, &keys, &room, "holder").to_string(),
        ))
        .expect("send create");
    assert_eq!(read_json(&mut holder)["t"], "welcome");
    std::thread::spawn(move || while holder.read().is_ok() {});
    let server_key: [u8; 32] = crypto::b64u_decode(hello["key"].as_str().expect("key"))
        .and_then(|k| k.try_into().ok())
        .expect("a server key");
    let proof_key =
        sanctuary::verifier::proof_key(&keys.k_auth, &server_key).expect("a valid server key");
    let join = |nonce: &[u8]| {
        let proof = crypto::b64u_encode(&crypto::join_proof(&proof_key, nonce, &room, "fuzzer"));
        json!({"t":"join","room":room,"alias":"fuzzer","proof":proof}).to_string()
    };
    let body = envelope(&keys, &room, "fuzz");
    let payloads = [
        join(&[0; 32]),
        json!({"t":"msg","body":body}).to_string(),
        json!({"t":"purr","to":"fuzzer","body":body}).to_string(),
        json!({"t":"kick","alias":"fuzzer"}).to_string(),
        json!({"t":"exit","body":body}).to_string(),
        "x".repeat(300),
    ];
    // Text, continuation, binary, close, ping, pong, and reserved opcodes.
    let opcodes = [0x1, 0x1, 0x1, 0x0, 0x2, 0x8, 0x9, 0xa, 0x3, 0xb];
    let alphabet = b"\x00\x01\x02\x08\x09\x0a\x7e\x7f\x80\x81\x88\x89\xfe\xff{}\"t";
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (connections, mut frames) = (fuzz_iterations(1_500), 0usize);
    let started = Instant::now();
    for c in 0..connections {
        let mut s = raw_handshake(&srv);
        let mut stream = Vec::new();
        if c % 2 == 0 {
            // Half the connections are in a room first, so frames reach its paths.
            let hello = read_hello(&mut s);
            let nonce = crypto::b64u_decode(hello["nonce"].as_str().expect("nonce"));
            let entry = join(&nonce.expect("b64u"));
            stream.extend(client_frame(0x1, entry.as_bytes(), [1, 2, 3, 4]));
        }
        for _ in 0..1 + rng.below(6) {
            let payload = rng.pick(&payloads).as_bytes();
            let mask = (rng.next() as u32).to_be_bytes();
            let valid = client_frame(*rng.pick(&opcodes), payload, mask);
            stream.extend(rng.mutate(&valid, alphabet, 64));
            frames += 1;
        }
        // The server may close mid-stream: a failed write is fine.
        let _ = s.write_all(&stream);
        let _ = s.shutdown(std::net::Shutdown::Write);
        // Whatever it answers, it ends the connection (the peer's FIN at the latest).
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    eprintln!(
        "websocket frames: {frames} mutated frames on {connections} connections in {:.1?}",
        started.elapsed()
    );
    srv.still_serves();
    assert_silent_exit(srv);
}

/// Reads the server's first frame, `hello`, from a raw connection (unmasked text,
/// shorter than 126 bytes).
fn read_hello(s: &mut TcpStream) -> serde_json::Value {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).expect("hello's header");
    assert_eq!((head[0], head[1] < 126), (0x81, true), "{head:?}");
    let mut payload = vec![0u8; usize::from(head[1])];
    s.read_exact(&mut payload).expect("hello");
    serde_json::from_slice(&payload).expect("hello is JSON")
}

/// Sends a frame and returns the next answer that is not someone's `joined`.
fn answer(ws: &mut tungstenite::WebSocket<TcpStream>, frame: &str) -> serde_json::Value {
    ws.send(Message::text(frame)).expect("send");
    loop {
        let reply = read_json(ws);
        if reply["t"] != "joined" {
            return reply;
        }
    }
}

/// `t` of a reply, or `error:CODE`.
fn kind(reply: &serde_json::Value) -> String {
    match reply["t"].as_str() {
        Some("error") => format!("error:{}", reply["code"].as_str().unwrap_or("?")),
        Some(t) => t.to_owned(),
        None => format!("{reply}"),
    }
}

#[test]
fn every_request_kind_with_edge_case_values_gets_its_answer_and_the_server_keeps_serving() {
    let limit = 65_536;
    let mut srv = Server::start(&["--rate", "1000", "--burst", "1000"]);
    let (room, keys) = (new_room(), new_keys());
    let auth = crypto::b64u_encode(&keys.k_auth);
    let longest = "A.b-c_0123456789abcdefgh"; // 24 characters, every kind of them
    assert_eq!(longest.len(), 24);
    let (mut a, hello) = srv.raw();
    let create = create_frame(&hello, &keys, &room, longest).to_string();
    assert_eq!(kind(&answer(&mut a, &create)), "welcome");
    let (mut b, hello) = srv.raw();
    let join_b = create_frame(&hello, &keys, &room, "b").to_string();
    assert_eq!(kind(&answer(&mut b, &join_b)), "welcome");

    let body_of = |raw_len: usize| {
        let mut raw = vec![1u8];
        raw.resize(raw_len, 0xa5);
        crypto::b64u_encode(&raw)
    };
    let smallest = body_of(49);
    // The largest body whose frame still fits in --max-message-bytes.
    let largest = body_of((limit - 64) / 4 * 3);
    let frame_of = |v: serde_json::Value| v.to_string();
    let cases: Vec<(String, &str)> = vec![
        (frame_of(json!({"t":"msg","body":smallest})), "msg"),
        (frame_of(json!({"t":"msg","body":largest})), "msg"),
        (
            frame_of(json!({"t":"msg","body":body_of(48)})),
            "error:bad_field",
        ),
        (
            frame_of(json!({"t":"msg","body":smallest,"extra":[1,2],"ts":-1})),
            "msg",
        ),
        (
            frame_of(json!({"t":"purr","to":"b","body":smallest})),
            "purr",
        ),
        (
            frame_of(json!({"t":"purr","to":"B","body":smallest})),
            "error:no_member",
        ),
        (
            frame_of(json!({"t":"purr","to":"x".repeat(24),"body":smallest})),
            "error:no_member",
        ),
        (
            frame_of(json!({"t":"purr","to":"x".repeat(25),"body":smallest})),
            "error:bad_alias",
        ),
        (
            frame_of(json!({"t":"kick","alias":longest.to_lowercase()})),
            "error:self_kick",
        ),
        (
            frame_of(json!({"t":"kick","alias":"nobody"})),
            "error:no_member",
        ),
        (
            frame_of(json!({"t":"kick","alias":"\u{ff41}lice"})),
            "error:bad_alias",
        ),
        (
            frame_of(json!({"t":"kick","alias":"b\u{0}"})),
            "error:bad_alias",
        ),
        (frame_of(json!({"t":"kick","alias":""})), "error:bad_alias"),
        (frame_of(json!({"t":"kick"})), "error:bad_alias"),
        (frame_of(json!({"t":"stop","alias":7})), "purged"),
    ];
    // Each case but the last (the stop) in the first room; the stop ends it.
    let (last, cases) = cases.split_last().expect("cases");
    for (frame, want) in cases {
        let reply = answer(&mut a, frame);
        assert_eq!(kind(&reply), *want, "{frame:.120} -> {reply:.200}");
    }
    for frame in [
        create.clone(),
        frame_of(json!({"t":"join","room":room,"alias":"c","proof":auth})),
    ] {
        assert_eq!(kind(&answer(&mut a, &frame)), "error:already_joined");
    }
    for (frame, want) in [
        (r#"{"t":1}"#, "error:bad_type"),
        (r#"{"t":"msg","body":1e999}"#, "error:bad_json"),
        (r#"{"t":"msg","body":"\ud800"}"#, "error:bad_json"),
        (r#"{"t":null}"#, "error:bad_type"),
        ("{}", "error:bad_type"),
        ("null", "error:bad_json"),
        ("", "error:bad_json"),
    ] {
        assert_eq!(kind(&answer(&mut a, frame)), want, "{frame}");
    }
    assert_eq!(kind(&answer(&mut a, &last.0)), last.1);
    assert_eq!(close_code(&mut a), Some(4002));
    assert_eq!(close_code(&mut b), Some(4002));

    // A room left by `exit` with a body and with `null`.
    let (room, keys) = (new_room(), new_keys());
    let (mut c, hello_c) = srv.raw();
    let (mut d, hello_d) = srv.raw();
    for (ws, hello, alias) in [(&mut c, &hello_c, "c"), (&mut d, &hello_d, "d")] {
        let create = create_frame(hello, &keys, &room, alias).to_string();
        assert_eq!(kind(&answer(ws, &create)), "welcome");
    }
    c.send(Message::text(
        json!({"t":"exit","body":smallest}).to_string(),
    ))
    .expect("send");
    assert_eq!(close_code(&mut c), Some(1000));
    assert_eq!(kind(&read_json(&mut d)), "left");
    d.send(Message::text(r#"{"t":"exit","body":null}"#))
        .expect("send");
    assert_eq!(close_code(&mut d), Some(1000));
    drop((a, b, c, d));
    let empty = json!({"rooms": 0, "members": 0, "connections": 0});
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.healthz() != empty && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(srv.healthz(), empty);
    srv.still_serves();
    assert_silent_exit(srv);
}
