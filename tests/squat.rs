//! Issue 17, as an attacker on the LAN would try it: a sniffed `create` gives no way
//! into the room, a room re-created by a squatter is recognised by returning members
//! (never mistaken for a wrong secret, never entered), and under `--moderation creator`
//! a sniffer cannot make itself the room's creator. The terminal client's and the
//! page's side are in tests/term.rs and tests/browser/e2e.test.mjs.

mod common;

use common::*;
use sanctuary::client::{ClientError, Event};
use sanctuary::crypto;
use serde_json::{Value, json};
use tungstenite::Message;

/// Sends one frame on a raw connection and returns the answer (`joined`s skipped).
fn answer(ws: &mut tungstenite::WebSocket<std::net::TcpStream>, frame: &Value) -> Value {
    ws.send(Message::text(frame.to_string())).expect("send");
    loop {
        let reply = read_json(ws);
        if reply["t"] != "joined" {
            return reply;
        }
    }
}

/// `error:CODE`, or `t`.
fn kind(reply: &Value) -> String {
    match reply["t"].as_str() {
        Some("error") => format!("error:{}", reply["code"].as_str().unwrap_or("?")),
        Some(t) => t.to_owned(),
        None => reply.to_string(),
    }
}

/// Waits until the server holds no room (the last member's leave is handled).
fn no_rooms_left(srv: &Server) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while srv.healthz()["rooms"] != 0 {
        assert!(std::time::Instant::now() < deadline, "the room never ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_sniffed_create_gives_no_way_into_the_room() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    // Alice creates the room; the sniffer reads her frame off the LAN.
    let (mut alice, hello) = srv.raw();
    let sniffed = create_frame(&hello, &keys, &room, "alice");
    assert_eq!(kind(&answer(&mut alice, &sniffed)), "welcome");
    assert!(sniffed.get("auth").is_none(), "create carries no k_auth");
    let verifier = crypto::b64u_decode(sniffed["verifier"].as_str().expect("verifier"))
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .expect("32 bytes");
    assert_ne!(verifier, keys.k_auth);

    // 1. The verifier used as if it were k_auth, in v1's proof and in ours.
    let (mut ws, hello) = srv.raw();
    let nonce = crypto::b64u_decode(hello["nonce"].as_str().expect("nonce")).expect("b64u");
    let v1 = crypto::b64u_encode(&crypto::join_proof(&verifier, &nonce, &room, "eve"));
    let join = json!({"t":"join","room":room,"alias":"eve","proof":v1});
    assert_eq!(kind(&answer(&mut ws, &join)), "error:bad_proof");
    assert_eq!(close_code(&mut ws), Some(4003));
    let (mut ws, hello) = srv.raw();
    let as_k_auth = proof(&hello, &verifier, &room, "eve");
    let join = json!({"t":"join","room":room,"alias":"eve","proof":as_k_auth});
    assert_eq!(kind(&answer(&mut ws, &join)), "error:bad_proof");

    // 2. The captured proof replayed on a new connection (another nonce), as a join
    // and as the captured create itself, alias and all.
    for frame in [
        json!({"t":"join","room":room,"alias":"alice","proof":sniffed["proof"]}),
        sniffed.clone(),
    ] {
        let (mut ws, _) = srv.raw();
        let reply = answer(&mut ws, &frame);
        assert_eq!(kind(&reply), "error:bad_proof", "{frame}");
        assert_eq!(close_code(&mut ws), Some(4003));
    }
    // Alice saw nobody come in: up to the close after her exit, no `joined`.
    alice
        .send(Message::text(json!({"t":"exit"}).to_string()))
        .expect("exit");
    loop {
        match alice.read().expect("read until the close") {
            Message::Text(t) => assert!(!t.contains("\"joined\""), "{t}"),
            Message::Close(f) => {
                assert_eq!(f.map(|f| u16::from(f.code)), Some(1000));
                break;
            }
            _ => {}
        }
    }
    no_rooms_left(&srv);
}

#[test]
fn a_squatter_cannot_impersonate_an_ended_room_and_returning_members_are_told_why() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (alice, welcome) = enter(&srv, &room, "alice", &keys);
    assert!(matches!(welcome, Event::Welcome(ref w) if w.created));
    drop(alice); // the room ends: the server keeps nothing of it
    no_rooms_left(&srv);

    // Mallory knows the id (an old link's first half), not the secret, and re-creates it.
    let (_mallory, welcome) = enter(&srv, &room, "mallory", &new_keys());
    assert!(matches!(welcome, Event::Welcome(ref w) if w.created));

    // Alice comes back with the real secret: not let in (she would be talking to
    // mallory), and told the room was re-created, not that her secret is wrong.
    let err = srv
        .connect()
        .enter(&room, "alice", keys.clone(), true)
        .err()
        .expect("refused");
    assert!(matches!(err, ClientError::Recreated), "{err}");
    assert!(
        err.to_string()
            .contains("re-created by someone without its secret")
    );
}

#[test]
fn a_rekeyed_room_is_not_mistaken_for_a_re_created_one() {
    // A kicked member's old secret fails at epoch 1 with another verifier: that is
    // the real room with new keys, and it is told so (a wrong or outdated secret).
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    let (_bob, _) = enter(&srv, &room, "bob", &keys);
    alice.kick_and_rekey("bob").expect("kick");
    wait_for(&mut alice, "the rekey", |e| {
        matches!(e, Event::Rekey { .. })
    });
    let err = srv
        .connect()
        .enter(&room, "bob", keys, false)
        .err()
        .expect("refused");
    assert!(
        matches!(err, ClientError::Refused { ref code, .. } if *code == "bad_proof"),
        "{err}"
    );
}

#[test]
fn under_creator_moderation_a_sniffer_cannot_become_creator_or_kick() {
    let srv = Server::start(&["--moderation", "creator"]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, hello) = srv.raw();
    let sniffed = create_frame(&hello, &keys, &room, "alice");
    assert_eq!(kind(&answer(&mut alice, &sniffed)), "welcome");
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);

    // While the room lives: the sniffed create (a join) is refused, so no kick.
    let (mut eve, _) = srv.raw();
    assert_eq!(kind(&answer(&mut eve, &sniffed)), "error:bad_proof");

    // Once it ends, the sniffed verifier cannot make the room again either: the
    // create's proof must verify under the verifier it brings, and the captured one
    // is bound to another connection's nonce. No room is made.
    alice
        .send(Message::text(json!({"t":"exit"}).to_string()))
        .expect("exit");
    bob.exit(None).expect("bob leaves");
    no_rooms_left(&srv);
    let (mut eve, _) = srv.raw();
    assert_eq!(kind(&answer(&mut eve, &sniffed)), "error:bad_proof");
    assert_eq!(srv.healthz()["rooms"], 0, "the sniffer made no room");

    // Alice returns, makes the room afresh and is its creator; bob joins.
    let (_alice, welcome) = enter(&srv, &room, "alice", &keys);
    assert!(matches!(welcome, Event::Welcome(ref w) if w.created && w.creator == "alice"));
    let (_bob, welcome) = enter(&srv, &room, "bob", &keys);
    assert!(matches!(welcome, Event::Welcome(ref w) if w.creator == "alice"));
}
