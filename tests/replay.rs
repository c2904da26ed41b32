//! Replay attacks against the Rust client's receiver (issue 17 part C): someone holding
//! `k_auth` (any member; a sniffer of a plain-text `create`) or the server re-sends a
//! captured v2 body. The server relays it, as it must (it cannot read stamps); bob's
//! `sanctuary::client::Session` refuses it and says why, and shows the sender's
//! authenticated time rather than the server's.

mod common;

use common::*;
use sanctuary::client::{Event, Session};
use sanctuary::crypto::{self, Stamp};
use sanctuary::protocol::now_ms;
use sanctuary::replay::{Refusal, Stamper};
use std::net::TcpStream;
use tungstenite::{Message, WebSocket};

/// 1999-01-01T00:00:00Z in ms.
const NINETEEN_NINETY_NINE: u64 = 915_148_800_000;

fn send(ws: &mut WebSocket<TcpStream>, frame: serde_json::Value) {
    ws.send(Message::text(frame.to_string())).expect("send");
}

/// The next relayed `msg` a raw member reads: its body.
fn captured_body(ws: &mut WebSocket<TcpStream>) -> String {
    loop {
        let v = read_json(ws);
        if v["t"] == "msg" {
            return v["body"].as_str().expect("body").to_owned();
        }
    }
}

/// The next message bob's client reports from `from`.
fn message_from(bob: &mut Session, from: &str) -> Event {
    wait_for(
        bob,
        &format!("a message from {from}"),
        |e| matches!(e, Event::Message { from: f, .. } if f == from),
    )
}

fn refused_as(e: &Event, why: Refusal) -> bool {
    matches!(e, Event::Message { text: Err(reason), sent: None, .. } if *reason == why.to_string())
}

#[test]
fn a_captured_message_resent_under_its_authors_name_after_they_left_is_refused_as_repeated() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    let mut eve = raw_member(&srv, &room, "eve", &keys);

    alice.say("meet me at the station at noon").expect("say");
    let first = message_from(&mut bob, "alice");
    assert_eq!(text_of(&first), Some("meet me at the station at noon"));
    let body = captured_body(&mut eve);
    alice.exit(None).expect("exit");
    wait_for(&mut bob, "alice leaving", |e| {
        matches!(e, Event::Left { .. })
    });

    let mut mallory = raw_member(&srv, &room, "alice", &keys);
    for _ in 0..3 {
        send(&mut mallory, serde_json::json!({"t":"msg","body":body}));
        let replay = message_from(&mut bob, "alice");
        assert!(refused_as(&replay, Refusal::Repeated), "{replay:?}");
    }
}

#[test]
fn a_message_sealed_with_a_1999_clock_is_refused_and_a_current_one_shows_its_own_time() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    let mut mallory = raw_member(&srv, &room, "mallory", &keys);

    let old = Stamp {
        sid: crypto::random_bytes(),
        counter: 1,
        sent_ms: NINETEEN_NINETY_NINE,
    };
    send_sealed(
        &mut mallory,
        &keys,
        &room,
        "mallory",
        &old,
        "party like it's 1999",
    );
    let dated = message_from(&mut bob, "mallory");
    assert!(refused_as(&dated, Refusal::OutOfWindow), "{dated:?}");

    // Five minutes slow is within the window: shown, at the sender's time, not the server's.
    let slow = Stamp {
        sid: crypto::random_bytes(),
        counter: 1,
        sent_ms: now_ms() - 5 * 60 * 1000,
    };
    send_sealed(
        &mut mallory,
        &keys,
        &room,
        "mallory",
        &slow,
        "my clock is slow",
    );
    match message_from(&mut bob, "mallory") {
        Event::Message {
            text: Ok(text),
            sent: Some(sent),
            ts,
            ..
        } => {
            assert_eq!(text, "my clock is slow");
            assert_eq!(sent, slow.sent_ms);
            assert!(ts > sent + 4 * 60 * 1000, "ts {ts} is the server's clock");
        }
        other => panic!("not shown: {other:?}"),
    }
}

#[test]
fn a_body_sent_twice_by_the_same_connection_is_refused_the_second_time() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    let mut mallory = raw_member(&srv, &room, "mallory", &keys);

    let mut stamper = Stamper::default();
    let once = stamper.stamp();
    send_sealed(&mut mallory, &keys, &room, "mallory", &once, "once only");
    send_sealed(&mut mallory, &keys, &room, "mallory", &once, "once only");
    assert_eq!(
        text_of(&message_from(&mut bob, "mallory")),
        Some("once only")
    );
    let again = message_from(&mut bob, "mallory");
    assert!(refused_as(&again, Refusal::Repeated), "{again:?}");
    // The connection's next envelope is accepted: only the repeat was refused.
    let next = stamper.stamp();
    send_sealed(
        &mut mallory,
        &keys,
        &room,
        "mallory",
        &next,
        "and then this",
    );
    assert_eq!(
        text_of(&message_from(&mut bob, "mallory")),
        Some("and then this")
    );
}

#[test]
fn a_captured_farewell_replayed_by_a_later_alice_is_refused() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    let mut eve = raw_member(&srv, &room, "eve", &keys);

    alice.exit(Some("so long")).expect("exit");
    let left = wait_for(&mut bob, "alice leaving", |e| {
        matches!(e, Event::Left { .. })
    });
    assert!(matches!(left, Event::Left { farewell: Some(Ok(ref t)), .. } if t == "so long"));
    let body = loop {
        let v = read_json(&mut eve);
        if v["t"] == "left" {
            break v["body"].as_str().expect("farewell body").to_owned();
        }
    };

    let mut mallory = raw_member(&srv, &room, "alice", &keys);
    send(&mut mallory, serde_json::json!({"t":"exit","body":body}));
    let left = wait_for(&mut bob, "the second alice leaving", |e| {
        matches!(e, Event::Left { .. })
    });
    let want = Refusal::Repeated.to_string();
    assert!(
        matches!(left, Event::Left { farewell: Some(Err(ref why)), .. } if *why == want),
        "{left:?}"
    );
}

#[test]
fn the_receivers_replay_memory_survives_its_reconnection() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    let (mut bob, welcome) = enter(&srv, &room, "bob", &keys);
    let Event::Welcome(welcome) = welcome else {
        panic!("no welcome: {welcome:?}")
    };
    let mut eve = raw_member(&srv, &room, "eve", &keys);

    alice.say("before the break").expect("say");
    assert_eq!(
        text_of(&message_from(&mut bob, "alice")),
        Some("before the break")
    );
    let body = captured_body(&mut eve);

    // bob's new connection takes the seat of the old one with its resume token.
    let (mut bob, _) = bob
        .reconnect(&srv.ws.to_string(), TIMEOUT, welcome.resume.as_deref())
        .expect("reconnect");
    bob.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    alice.exit(None).expect("exit");
    wait_for(&mut bob, "alice leaving", |e| {
        matches!(e, Event::Left { .. })
    });
    let mut mallory = raw_member(&srv, &room, "alice", &keys);
    send(&mut mallory, serde_json::json!({"t":"msg","body":body}));
    let replay = message_from(&mut bob, "alice");
    assert!(refused_as(&replay, Refusal::Repeated), "{replay:?}");
}

#[test]
fn a_v1_envelope_from_an_older_client_is_shown_without_an_authenticated_time() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    let mut old = raw_member(&srv, &room, "old", &keys);
    let h = crypto::Header {
        room: &room,
        kind: crypto::Kind::Msg,
        from: "old",
        to: "",
    };
    let body = crypto::seal_with_iv(&keys, &h, crypto::random_bytes(), None, b"from a v1 page");
    send(&mut old, serde_json::json!({"t":"msg","body":body}));
    // Shown (the caller marks it as unprotected), with no sender's time to show.
    assert!(matches!(
        message_from(&mut bob, "old"),
        Event::Message { text: Ok(ref t), sent: None, .. } if t == "from a v1 page"
    ));
}
