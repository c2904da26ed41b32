//! Issue 17: whispers sealed to the recipient alone. Real clients on the real server;
//! the attacker is a third member holding the room secret who sees the whisper's
//! bytes (a loopback proxy between one member and the server plays the sniffer on the
//! LAN), and a server that swaps whisper keys (the same proxy rewriting `key` fields).

mod common;

use common::*;
use sanctuary::client::{ClientError, Event, Session};
use sanctuary::crypto::RoomKeys;
use sanctuary::crypto::{self, Header, Kind, OpenError};
use sanctuary::whisper::{self, KeyPair};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of a `key` field's value: base64url of 64 bytes.
const KEY_TEXT_LEN: usize = 86;

/// A man in the middle for one connection on loopback. Everything the server sends
/// through it is recorded; with `forge`, each `"key":"…"` value in it is replaced by
/// one of the same length holding the proxy's own public key and a tag it made up,
/// as a server swapping keys would (server frames are unmasked, so a same-length
/// substitution leaves the WebSocket framing intact).
struct Proxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Proxy {
    fn start(server: SocketAddr, forge: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            let (client, _) = listener.accept().expect("accept");
            let upstream = TcpStream::connect(server).expect("connect to server");
            let (c2, u2) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            std::thread::spawn(move || pipe(c2, u2, None, false));
            pipe(upstream, client, Some(record), forge);
        });
        Proxy { addr, seen }
    }

    /// The bodies of the `purr` frames the server sent through the proxy.
    fn whisper_bodies(&self) -> Vec<String> {
        let seen = self.seen.lock().expect("lock");
        String::from_utf8_lossy(&seen)
            .split("\"t\":\"purr\"")
            .skip(1)
            .filter_map(|rest| {
                let start = rest.find("\"body\":\"")? + 8;
                let len = rest[start..].find('"')?;
                Some(rest[start..start + len].to_owned())
            })
            .collect()
    }
}

/// Copies `from` to `to`. When forging, holds the bytes back until they end a JSON
/// frame (`}`), so that no key value is cut in two; after 100 ms of quiet (the
/// handshake, a ping) whatever is held goes on as it is.
fn pipe(mut from: TcpStream, mut to: TcpStream, record: Option<Arc<Mutex<Vec<u8>>>>, forge: bool) {
    let fake = crypto::b64u_encode(&[*KeyPair::generate().public(), [0x5a; 32]].concat());
    from.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let (mut pending, mut buf) = (Vec::new(), [0u8; 16384]);
    loop {
        let timed_out = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                false
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => true,
            Err(_) => break,
        };
        if pending.is_empty() || (forge && !timed_out && pending.last() != Some(&b'}')) {
            continue;
        }
        if forge {
            forge_keys(&mut pending, fake.as_bytes());
        }
        if let Some(r) = &record {
            r.lock().expect("lock").extend_from_slice(&pending);
        }
        if to.write_all(&pending).is_err() {
            break;
        }
        pending.clear();
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Replaces, byte for byte in place, the value of every `"key"` (in `joined`) and
/// every value of a `"keys"` object (in `welcome`) with `fake`.
fn forge_keys(data: &mut [u8], fake: &[u8]) {
    let mut values = Vec::new();
    for i in 0..data.len() {
        if data[i..].starts_with(b"\"key\":\"") {
            values.push(i + 7);
        }
        if data[i..].starts_with(b"\"keys\":{") {
            let end = data[i..]
                .iter()
                .position(|&b| b == b'}')
                .map_or(data.len(), |e| i + e);
            for j in i + 8..end {
                if data[j..].starts_with(b"\":\"") {
                    values.push(j + 3);
                }
            }
        }
    }
    for v in values {
        if data.get(v + KEY_TEXT_LEN) == Some(&b'"') {
            data[v..v + KEY_TEXT_LEN].copy_from_slice(fake);
        }
    }
}

fn enter_via(
    proxy: &Proxy,
    room: &str,
    alias: &str,
    keys: &sanctuary::crypto::RoomKeys,
) -> Session {
    let (mut s, _) = sanctuary::client::Client::connect(&proxy.addr.to_string(), TIMEOUT)
        .expect("connect through the proxy")
        .enter(room, alias, keys.clone(), true)
        .expect("enter through the proxy");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

fn joined(s: &mut Session, alias: &str) {
    wait_for(
        s,
        alias,
        |e| matches!(e, Event::Joined { alias: a, .. } if a == alias),
    );
}

#[test]
fn a_third_member_holding_the_room_secret_cannot_open_a_sniffed_whisper() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let sniffer = Proxy::start(srv.ws, false);
    let mut alice = enter_via(&sniffer, &room, "alice", &keys);
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    let (mut carol, _) = enter(&srv, &room, "carol", &keys);
    joined(&mut alice, "bob");
    joined(&mut alice, "carol");

    alice.purr("bob", "meet me at noon").expect("whisper");
    for s in [&mut alice, &mut bob] {
        let got = wait_for(s, "the whisper", |e| matches!(e, Event::Message { .. }));
        assert_eq!(text_of(&got), Some("meet me at noon"), "{got:?}");
    }
    // The bytes on the wire, as anyone on the LAN could capture them.
    let bodies = sniffer.whisper_bodies();
    assert_eq!(
        bodies.len(),
        1,
        "alice's copy of the whisper went through the proxy"
    );
    let body = &bodies[0];
    let h = Header {
        room: &room,
        kind: Kind::Purr,
        from: "alice",
        to: "bob",
    };
    // Sealed with the room keys, as before issue 17, this would open for carol.
    assert_eq!(crypto::open(&keys, &h, body), Err(OpenError::BadTag));
    // Carol's own key pair with either end's key gives other keys.
    for peer in ["alice", "bob"] {
        let hers = carol.whisper_keys(peer).expect("carol has verified keys");
        assert_eq!(
            crypto::open(hers, &h, body),
            Err(OpenError::BadTag),
            "{peer}"
        );
    }
    // The envelope itself is fine: bob's keys open it.
    let bobs = bob.whisper_keys("alice").expect("bob has alice's key");
    assert_eq!(
        crypto::open(bobs, &h, body).map(|o| o.text).as_deref(),
        Ok("meet me at noon")
    );
}

#[test]
fn keys_swapped_by_the_server_are_refused_so_no_whisper_goes_out_under_them() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    // Everything alice hears comes through a "server" that swaps every whisper key:
    // bob's in alice's welcome, carol's in the joined alice is sent.
    let mitm = Proxy::start(srv.ws, true);
    let mut alice = enter_via(&mitm, &room, "alice", &keys);
    let (mut carol, _) = enter(&srv, &room, "carol", &keys);
    joined(&mut alice, "carol");
    joined(&mut bob, "alice");
    joined(&mut bob, "carol");
    assert!(
        String::from_utf8_lossy(&mitm.seen.lock().expect("lock")).contains("\"key\":\""),
        "the proxy saw the keys it swapped"
    );

    for peer in ["bob", "carol"] {
        assert!(
            !alice.has_whisper_key(peer),
            "{peer}'s forged key was accepted"
        );
        match alice.purr(peer, "for your eyes only") {
            Err(ClientError::Whisper(why)) => assert!(why.contains(peer), "{why}"),
            other => panic!("a whisper under a forged key was not refused: {other:?}"),
        }
    }
    // Bob got alice's real key (her join was not touched) and whispers her; she
    // cannot read it without bob's real key, and says so rather than show it.
    assert!(bob.has_whisper_key("alice") && carol.has_whisper_key("alice"));
    bob.purr("alice", "can you read this?").expect("whisper");
    let got = wait_for(&mut alice, "bob's whisper", |e| {
        matches!(e, Event::Message { .. })
    });
    assert!(
        matches!(&got, Event::Message { text: Err(_), from, .. } if from == "bob"),
        "{got:?}"
    );
    // Members whose keys arrived untouched whisper as usual.
    carol.purr("bob", "still fine").expect("whisper");
    let got = wait_for(
        &mut bob,
        "carol's whisper",
        |e| matches!(e, Event::Message { from, .. } if from == "carol"),
    );
    assert_eq!(text_of(&got), Some("still fine"));
}

/// A member holding the room secret that joins with `key` as its whisper key.
fn join_by_hand(
    srv: &Server,
    keys: &RoomKeys,
    room: &str,
    alias: &str,
    key: &str,
) -> tungstenite::WebSocket<TcpStream> {
    let (mut ws, hello) = srv.raw();
    let proof = proof(&hello, &keys.k_auth, room, alias);
    let join = serde_json::json!({"t":"join","room":room,"alias":alias,"proof":proof,"key":key});
    ws.send(tungstenite::Message::text(join.to_string()))
        .expect("send");
    assert_eq!(read_json(&mut ws)["t"], "welcome");
    ws
}

#[test]
fn a_whisper_to_a_low_order_key_is_refused_even_with_a_valid_tag() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    // u = 0: X25519 of any secret with it is all zero, a "shared" secret anyone knows.
    let zero = [0u8; 32];
    let tag = whisper::key_tag(&keys.k_mac, &room, "zero", &zero);
    let key = crypto::b64u_encode(&[zero, tag].concat());
    let _zero = join_by_hand(&srv, &keys, &room, "zero", &key);
    joined(&mut alice, "zero");
    assert!(alice.has_whisper_key("zero"), "the tag is valid");
    match alice.purr("zero", "x") {
        Err(ClientError::Whisper(why)) => assert!(why.contains("low-order"), "{why}"),
        other => panic!("a whisper to a low-order key was not refused: {other:?}"),
    }
}

#[test]
fn a_key_announced_under_another_members_name_or_with_a_bad_tag_is_not_used() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    // Members holding the room secret who announce a key by hand: mallory's tag is
    // made up; eve copies a key whose tag was made for "bob".
    let pair = KeyPair::generate();
    let forged = crypto::b64u_encode(&[*pair.public(), [1; 32]].concat());
    let bobs = pair.announce(&keys, &room, "bob");
    let mut held = Vec::new();
    for (alias, key) in [("mallory", &forged), ("eve", &bobs)] {
        held.push(join_by_hand(&srv, &keys, &room, alias, key));
        joined(&mut alice, alias);
        assert!(!alice.has_whisper_key(alias), "{alias}'s key was accepted");
        assert!(matches!(
            alice.purr(alias, "x"),
            Err(ClientError::Whisper(_))
        ));
    }
    // A latecomer learns the same from its welcome.
    let (bob, _) = enter(&srv, &room, "bob", &keys);
    assert!(bob.has_whisper_key("alice"));
    assert!(!bob.has_whisper_key("mallory") && !bob.has_whisper_key("eve"));
}

#[test]
fn a_key_that_is_not_64_bytes_of_base64url_is_bad_field() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut ws, hello) = srv.raw();
    let mut create = create_frame(&hello, &keys, &room, "al");
    create["key"] = "AAAA".into();
    ws.send(tungstenite::Message::text(create.to_string()))
        .expect("send");
    let reply = read_json(&mut ws);
    assert_eq!(
        (&reply["t"], &reply["code"]),
        (&"error".into(), &"bad_field".into())
    );
}
