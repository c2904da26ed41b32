//! Limits, abuse and transience: frame rules, slow readers, connection caps, thread
//! hygiene, malformed input, shutdown and the absence of any logging.

mod common;

use common::*;
use sanctuary::client::Event;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::Message;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

#[test]
fn binary_frames_are_closed_with_1003() {
    let srv = Server::start(&[]);
    let (mut ws, _) = srv.raw();
    ws.send(Message::binary(vec![1, 2, 3])).expect("send");
    assert_eq!(close_code(&mut ws), Some(1003));
}

#[test]
fn invalid_utf8_is_closed_with_1007() {
    let srv = Server::start(&[]);
    let (mut ws, _) = srv.raw();
    let frame = Frame::message(vec![0x7b, 0xff, 0xfe, 0x7d], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(frame)).expect("send");
    assert_eq!(close_code(&mut ws), Some(1007));
}

#[test]
fn frames_over_the_limit_get_too_large_and_close_1009() {
    let srv = Server::start(&["--max-message-bytes", "4096"]);
    let (mut ws, _) = srv.raw();
    ws.send(Message::text("x".repeat(5000))).expect("send");
    assert_eq!(read_json(&mut ws)["code"], "too_large");
    assert_eq!(close_code(&mut ws), Some(1009));
}

#[test]
fn a_client_that_stops_reading_is_closed_while_the_others_receive_everything() {
    let srv = Server::start(&[
        "--rate",
        "100000",
        "--burst",
        "100000",
        "--queue-frames",
        "64",
        // The frame bound is this test's subject (tests/ws_limits.rs has the byte
        // bound): bytes enough that the healthy reader, slow in a debug build, is
        // never the one cut.
        "--queue-bytes",
        "16777216",
    ]);
    let (room, keys) = (new_room(), new_keys());
    let (mut sender, _) = enter(&srv, &room, "sender", &keys);
    let (mut reader, _) = enter(&srv, &room, "reader", &keys);
    // The stalled member joins and then never reads again.
    let (stalled, _) = enter(&srv, &room, "stalled", &keys);

    let total = 1000;
    // The healthy reader reads on its own thread, as a real client would; the sender
    // keeps at most 16 messages ahead of it, so on a loaded machine the stalled member
    // passes the 64-frame bound, never the reader that runs late.
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let read_so_far = read.clone();
    let reading = std::thread::spawn(move || {
        let mut received = 0;
        while received < total {
            match next(&mut reader) {
                Event::Message { text, .. } => {
                    let text = text.expect("authentic");
                    assert!(text.starts_with(&format!("{received} ")), "in order");
                    received += 1;
                    read_so_far.store(received, std::sync::atomic::Ordering::Release);
                }
                Event::Left { alias, .. } => assert_eq!(alias, "stalled"),
                e => panic!("reader got {e:?}"),
            }
        }
        received
    });
    let filler = "y".repeat(10_000);
    let (mut got, mut seen_gone) = (0, false);
    for i in 0..total {
        let deadline = Instant::now() + TIMEOUT;
        while read.load(std::sync::atomic::Ordering::Acquire) + 16 < i {
            assert!(
                Instant::now() < deadline,
                "the reader stopped at message {i}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        sender.say(&format!("{i} {filler}")).expect("send");
        // Drain the sender's own echoes as we go so it is never the slow one.
        while got < i {
            match next(&mut sender) {
                Event::Message { .. } => got += 1,
                Event::Left { alias, reason, .. } if alias == "stalled" && reason == "gone" => {
                    seen_gone = true
                }
                e => panic!("sender got {e:?}"),
            }
        }
    }
    assert_eq!(reading.join().expect("reader thread"), total);
    while !seen_gone {
        if let Event::Left { alias, .. } = next(&mut sender) {
            seen_gone = alias == "stalled";
        }
    }
    drop(stalled);
}

/// Handshakes on `stream`; true when the server accepted the WebSocket.
/// The connection was given a place: its handshake succeeded and `hello` came.
fn handshake_ok(stream: TcpStream, addr: SocketAddr) -> Option<tungstenite::WebSocket<TcpStream>> {
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).ok()?;
    match ws.read() {
        Ok(Message::Text(_)) => Some(ws),
        _ => None,
    }
}

/// What a refused WebSocket client reads: the close code and reason.
fn refusal(stream: TcpStream, addr: SocketAddr) -> (u16, String) {
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).expect("handshake");
    match ws.read() {
        Ok(Message::Close(Some(frame))) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[test]
fn connection_caps_hold_per_address_and_in_all() {
    let srv = Server::start(&["--max-per-ip", "2", "--max-connections", "3"]);
    let a1 = handshake_ok(connect_from([127, 0, 0, 1], srv.ws), srv.ws).expect("first");
    let a2 = handshake_ok(connect_from([127, 0, 0, 1], srv.ws), srv.ws).expect("second");
    assert!(
        handshake_ok(connect_from([127, 0, 0, 1], srv.ws), srv.ws).is_none(),
        "per-address cap"
    );
    let b1 = handshake_ok(connect_from([127, 0, 0, 2], srv.ws), srv.ws).expect("another address");
    assert!(
        handshake_ok(connect_from([127, 0, 0, 3], srv.ws), srv.ws).is_none(),
        "global cap"
    );

    // A browser is shown no HTTP status, so the refusal is a close it can read.
    assert_eq!(
        refusal(connect_from([127, 0, 0, 4], srv.ws), srv.ws),
        (1013, "server_full".to_owned())
    );
    // While refusals wait for handshakes that never come, further ones are an HTTP 503
    // that says why, at once: refusing costs a bounded number of threads (4, and one
    // may still be ending from above).
    let mut silent = Vec::new();
    let reply = loop {
        assert!(silent.len() < 6, "every refusal got a thread of its own");
        let mut s = connect_from([127, 0, 0, 5], srv.ws);
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut reply = String::new();
        match s.read_to_string(&mut reply) {
            Ok(_) => break reply,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => silent.push(s),
            Err(e) => panic!("read: {e}"),
        }
    };
    assert!(
        reply.starts_with("HTTP/1.1 503") && reply.contains("server_full"),
        "{reply}"
    );
    assert!(
        silent.len() >= 3,
        "only {} refusals were told over WebSocket",
        silent.len()
    );
    drop(silent);

    // Places are given back when connections end.
    drop((a1, a2, b1));
    let deadline = Instant::now() + TIMEOUT;
    while handshake_ok(connect_from([127, 0, 0, 1], srv.ws), srv.ws).is_none() {
        assert!(Instant::now() < deadline, "places were never given back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fan_out_reaches_all_100_members() {
    let srv = Server::start(&["--max-members", "100", "--max-per-ip", "200"]);
    let (room, keys) = (new_room(), new_keys());
    let mut members: Vec<_> = (0..100)
        .map(|i| enter(&srv, &room, &format!("m{i}"), &keys).0)
        .collect();
    members[0].say("to everyone").expect("send");
    for (i, m) in members.iter_mut().enumerate() {
        let e = wait_for(m, "the message", |e| matches!(e, Event::Message { .. }));
        assert_eq!(text_of(&e), Some("to everyone"), "member {i}");
    }
}

#[test]
fn a_thousand_connections_opened_and_closed_leave_the_thread_count_where_it_started() {
    let srv = Server::start(&["--max-per-ip", "2000", "--max-connections", "2000"]);
    // Let the HTTP library's worker pool finish starting before taking the baseline.
    let _ = srv.http_get("/healthz");
    std::thread::sleep(Duration::from_millis(300));
    let before = srv.threads();
    for _batch in 0..4 {
        let conns: Vec<_> = (0..250).map(|_| srv.raw().0).collect();
        assert!(
            srv.threads() >= before + 250,
            "a thread per live connection"
        );
        drop(conns);
    }
    let deadline = Instant::now() + TIMEOUT;
    while srv.threads() != before {
        assert!(
            Instant::now() < deadline,
            "threads: {} before, {} after",
            before,
            srv.threads()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, _, body) = srv.http_get("/healthz");
    assert!(body.contains("\"connections\":0"), "{body}");
}

/// src/main.rs makes the server SCHED_BATCH before any thread starts, so a thread woken
/// by an incoming frame does not preempt the broker in the middle of a fan-out.
#[test]
fn every_server_thread_is_scheduled_as_batch_connections_included() {
    const SCHED_BATCH: u32 = 3;
    let srv = Server::start(&[]);
    let (_ws, _) = srv.raw();
    let tasks = std::fs::read_dir(format!("/proc/{}/task", srv.pid())).expect("proc task");
    let policies: Vec<(String, u32)> = tasks
        .map(|t| {
            let path = t.expect("task entry").path();
            let stat = std::fs::read_to_string(path.join("stat")).expect("task stat");
            let comm = std::fs::read_to_string(path.join("comm")).expect("task comm");
            // Field 41 of stat(5); fields 3 on follow the ')' that ends the name.
            let (_, rest) = stat.rsplit_once(')').expect("stat has a name");
            let policy = rest.split_whitespace().nth(38).expect("policy field");
            (
                comm.trim().to_owned(),
                policy.parse().expect("policy number"),
            )
        })
        .collect();
    assert!(
        policies.iter().any(|(comm, _)| comm == "ws-conn"),
        "a connection thread runs: {policies:?}"
    );
    assert!(
        policies.iter().all(|&(_, p)| p == SCHED_BATCH),
        "{policies:?}"
    );
}

#[test]
fn a_run_of_malformed_frames_never_crashes_the_server() {
    let srv = Server::start(&["--rate", "100000", "--burst", "100000"]);
    let junk: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        b"\x00\x01\x02\x03garbage".to_vec(),
        vec![0xff; 4096],
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            .to_vec(),
    ];
    for bytes in &junk {
        let mut s = TcpStream::connect(srv.ws).expect("connect");
        let _ = s.write_all(bytes);
    }
    // Frames after a good handshake: bad opcodes, huge lengths, unmasked, fragments.
    let frames: Vec<Vec<u8>> = vec![
        vec![0x83, 0x80, 0, 0, 0, 0], // reserved opcode
        vec![0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 2^63 length
        vec![0x81, 0x05, b'h', b'e', b'l', b'l', b'o'], // unmasked
        vec![0x09, 0x80, 0, 0, 0, 0], // fragmented ping
        vec![0x80, 0x80, 0, 0, 0, 0], // continuation first
        vec![0xf1, 0x80, 0, 0, 0, 0], // reserved bits
    ];
    for f in &frames {
        let (ws, _) = srv.raw();
        let mut s = ws.into_inner();
        let _ = s.write_all(f);
        let _ = s.read(&mut [0u8; 64]);
    }
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let texts = [
        "",
        "null",
        "{}",
        "{\"t\":null}",
        "{\"t\":\"msg\",\"body\":{}}",
        "\"\\ud800\"",
        &deep,
        "{\"t\":\"join\"}",
    ];
    let (mut ws, _) = Server::raw(&srv);
    for t in texts {
        ws.send(Message::text(t)).expect("send");
        assert_eq!(read_json(&mut ws)["t"], "error", "{t:.40}");
    }
    // Still serving.
    let (room, keys) = (new_room(), new_keys());
    let (mut a, _) = enter(&srv, &room, "alice", &keys);
    a.say("still here").expect("send");
    assert_eq!(text_of(&next(&mut a)), Some("still here"));
}

/// The status of a chat handshake with this `Host` and `Origin`.
fn handshake_status(ws: SocketAddr, host: &str, origin: &str) -> String {
    let mut s = TcpStream::connect(ws).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: {origin}\r\n\r\n"
    )
    .expect("send");
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).expect("status line");
    String::from_utf8_lossy(&buf[9..12]).into_owned()
}

#[test]
fn a_foreign_origin_is_refused_with_403_and_the_own_origin_accepted() {
    let srv = Server::start(&["--allow-origin", "http://friend.example"]);
    let host = format!("127.0.0.1:{}", srv.ws.port());
    let try_origin = |origin: &str| handshake_status(srv.ws, &host, origin);
    assert_eq!(try_origin("http://evil.example"), "403");
    assert_eq!(
        try_origin(&format!("http://127.0.0.1:{}", srv.ws.port())),
        "403",
        "chat port is not the page"
    );
    assert_eq!(
        try_origin(&format!("http://127.0.0.1:{}", srv.http.port())),
        "101"
    );
    assert_eq!(try_origin("http://friend.example"), "101");
}

#[test]
fn a_page_on_a_rebound_name_cannot_open_a_chat() {
    let srv = Server::start(&["--hostname", "chat.lan"]);
    let (ws, page) = (srv.ws.port(), srv.http.port());
    // DNS rebinding: evil.example now resolves to us; its page's Host and Origin agree.
    assert_eq!(
        handshake_status(
            srv.ws,
            &format!("evil.example:{ws}"),
            &format!("http://evil.example:{page}")
        ),
        "403"
    );
    // A foreign Host is refused even without a browser Origin.
    let s = TcpStream::connect(srv.ws).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let stream = tungstenite::client(format!("ws://evil.example:{ws}/ws"), s);
    assert!(stream.is_err(), "handshake with a foreign Host accepted");
    // This server's own names pass.
    for name in ["chat.lan", "localhost", "127.0.0.1"] {
        assert_eq!(
            handshake_status(
                srv.ws,
                &format!("{name}:{ws}"),
                &format!("http://{name}:{page}")
            ),
            "101",
            "{name}"
        );
    }
}

#[test]
fn a_client_that_never_finishes_the_handshake_is_dropped_at_the_deadline() {
    let srv = Server::start(&["--handshake-timeout", "1"]);
    let mut s = TcpStream::connect(srv.ws).expect("connect");
    s.write_all(b"GET /ws HTTP/1.1\r\n")
        .expect("half a request");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "dropped after about a second"
    );
}

#[test]
fn silent_clients_are_pinged_and_dropped_after_the_idle_timeout() {
    let srv = Server::start(&["--ping-interval", "1", "--idle-timeout", "2"]);
    let (ws, _) = srv.raw();
    let mut s = ws.into_inner();
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.windows(2).any(|w| w == [0x89, 0x00]), "a ping arrived");
    assert!(buf.windows(2).any(|w| w[0] == 0x88), "then a close frame");
    assert!(started.elapsed() < Duration::from_secs(6));

    // A client that answers pings stays.
    let (room, keys) = (new_room(), new_keys());
    let (mut a, _) = enter(&srv, &room, "alice", &keys);
    a.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let quiet_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < quiet_until {
        match a.next_event() {
            Err(sanctuary::client::ClientError::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    a.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    a.say("alive").expect("send");
    assert_eq!(text_of(&next(&mut a)), Some("alive"));
}

#[test]
fn sigterm_purges_every_room_and_exits_0_within_a_second_having_logged_nothing() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut a, _) = enter(&srv, &room, "alice_secret_alias", &keys);
    let (mut b, _) = enter(&srv, &room, "bob", &keys);
    wait_for(&mut a, "bob joined", |e| matches!(e, Event::Joined { .. }));
    a.say("a very private body").expect("send");
    a.purr("bob", "whisper").expect("send");
    let _ = srv.http_get("/healthz");
    let _ = srv.http_get("/nope");
    let _ = next(&mut b);
    let _ = next(&mut b);
    let banner = srv.banner.clone();
    let (status, took, out, err) = srv.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    for s in [&mut a, &mut b] {
        assert_eq!(
            wait_for(s, "purge", |e| matches!(e, Event::Purged { .. })),
            Event::Purged { by: None }
        );
        assert!(matches!(
            next(s),
            Event::Closed {
                code: Some(1001),
                ..
            }
        ));
    }
    assert_eq!(out, "", "nothing after the banner");
    assert_eq!(err, "");
    for secret in [room.as_str(), "alice_secret_alias", "bob", "private"] {
        assert!(!banner.contains(secret));
    }
}

#[test]
fn healthz_counts_without_naming_anything() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (_a, _) = enter(&srv, &room, "alice", &keys);
    let (_b, _) = enter(&srv, &room, "bob", &keys);
    let (status, _, body) = srv.http_get("/healthz");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (
            v["rooms"].as_u64(),
            v["members"].as_u64(),
            v["connections"].as_u64()
        ),
        (Some(1), Some(2), Some(2))
    );
    assert!(!body.contains(&room) && !body.contains("alice"));
}
