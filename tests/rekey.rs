//! Rekey (PROTOCOL.md section 6a, extension) on a real server with real clients: a
//! kick with a rekey sticks (the kicked member's old link gets `bad_proof`), the
//! members who stay chat on under the new keys, the new link admits a newcomer, and
//! the races the section spells out end as it says.

mod common;

use common::*;
use sanctuary::client::{ClientError, Event, Session};
use sanctuary::crypto::{self, RoomKeys};
use sanctuary::wire::{Welcome, close};
use serde_json::json;
use zeroize::Zeroizing;

/// Waits for the next `rekey` and returns the new secret this session now uses.
fn rekeyed(s: &mut Session) -> Zeroizing<String> {
    match wait_for(s, "a rekey", |e| matches!(e, Event::Rekey { .. })) {
        Event::Rekey {
            secret: Ok(secret), ..
        } => secret,
        other => panic!("a rekey this member could not use: {other:?}"),
    }
}

/// Waits for `from`'s next message and returns its text and whether it opened only
/// with the keys before the last rekey.
fn message_from(s: &mut Session, from: &str) -> (String, bool) {
    let e = wait_for(
        s,
        "a message",
        |e| matches!(e, Event::Message { from: f, .. } if f == from),
    );
    match e {
        Event::Message {
            text: Ok(text),
            earlier_keys,
            ..
        } => (text, earlier_keys),
        other => panic!("unreadable: {other:?}"),
    }
}

/// A join by hand with keys derived from `keys`: the error code and the close code.
fn refused_join(srv: &Server, room: &str, alias: &str, keys: &RoomKeys) -> (String, Option<u16>) {
    let (mut ws, hello) = srv.raw();
    let proof = proof(&hello, &keys.k_auth, room, alias);
    let join = json!({"t":"join","room":room,"alias":alias,"proof":proof});
    ws.send(tungstenite::Message::text(join.to_string()))
        .expect("send join");
    let reply = read_json(&mut ws);
    let code = reply["code"].as_str().unwrap_or_default().to_owned();
    (code, close_code(&mut ws))
}

/// Joins with the keys a secret gives (PBKDF2, as a person with the link would).
fn enter_with_secret(srv: &Server, room: &str, alias: &str, secret: &str) -> (Session, Event) {
    enter(srv, room, alias, &RoomKeys::derive(room, secret))
}

/// A server and a room with `aliases` in it (in that order), the first of whom has
/// seen everyone join.
fn room_of<const N: usize>(aliases: [&str; N]) -> (Server, String, RoomKeys, [Session; N]) {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let mut sessions = aliases.map(|alias| enter(&srv, &room, alias, &keys).0);
    while sessions[0].members().len() < N {
        sessions[0].next_event().expect("joined");
    }
    (srv, room, keys, sessions)
}

fn epoch_of(welcome: &Event) -> u64 {
    match welcome {
        Event::Welcome(Welcome {
            epoch: Some(epoch), ..
        }) => *epoch,
        other => panic!("not a welcome: {other:?}"),
    }
}

#[test]
fn a_kick_sticks_the_old_link_is_refused_and_the_new_one_admits_a_newcomer() {
    let (srv, room, keys, [mut alice, mut bob, mut carol]) = room_of(["alice", "bob", "carol"]);

    alice.kick_and_rekey("carol").expect("kick");
    let secret = rekeyed(&mut alice);
    assert_eq!(*rekeyed(&mut bob), *secret, "bob has the same new secret");
    assert_eq!((alice.epoch(), bob.epoch()), (Some(1), Some(1)));
    // carol hears she was kicked, is closed, and never sees the new secret.
    loop {
        match carol.next_event() {
            Ok(Event::Rekey { .. }) => panic!("the kicked member got the rekey"),
            Ok(Event::Closed { code, .. }) => {
                assert_eq!(code, Some(close::KICKED));
                break;
            }
            Ok(_) => {}
            Err(ClientError::Closed(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Back at once with the old link: wrong secret, closed 4003.
    assert_eq!(
        refused_join(&srv, &room, "carol", &keys),
        ("bad_proof".into(), Some(close::BAD_PROOF))
    );

    bob.say("under the new keys").expect("say");
    assert_eq!(
        message_from(&mut alice, "bob"),
        ("under the new keys".into(), false)
    );
    let (mut dave, welcome) = enter_with_secret(&srv, &room, "dave", &secret);
    assert_eq!(epoch_of(&welcome), 1);
    dave.say("hello with the new link").expect("say");
    assert_eq!(
        message_from(&mut bob, "dave"),
        ("hello with the new link".into(), false)
    );
}

#[test]
fn two_kicks_at_once_both_stick_and_everyone_ends_on_the_same_keys() {
    let (srv, room, keys, [mut alice, mut bob, _carol, _dave]) =
        room_of(["alice", "bob", "carol", "dave"]);
    while bob.members().len() < 4 {
        bob.next_event().expect("joined");
    }
    // Both made in epoch 0: whichever the broker takes second is stale.
    alice.kick_and_rekey("carol").expect("kick carol");
    bob.kick_and_rekey("dave").expect("kick dave");
    // The stale one is retried while its sender reads: read both, in turns.
    let mut retried = 0;
    let deadline = std::time::Instant::now() + TIMEOUT;
    for s in [&mut alice, &mut bob] {
        s.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .expect("timeout");
    }
    while alice.epoch() < Some(2) || bob.epoch() < Some(2) {
        assert!(std::time::Instant::now() < deadline, "no second rekey");
        for s in [&mut alice, &mut bob] {
            match s.next_event() {
                Ok(Event::RekeyRetried { .. }) => retried += 1,
                Ok(Event::Error { code, .. }) => panic!("refused: {code}"),
                Ok(_) | Err(ClientError::Io(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    for s in [&mut alice, &mut bob] {
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    }
    assert_eq!(retried, 1, "the second kick was made again once");
    assert_eq!(alice.members(), ["alice", "bob"]);
    assert_eq!(bob.members(), ["alice", "bob"]);
    alice.say("just us").expect("say");
    assert_eq!(message_from(&mut bob, "alice"), ("just us".into(), false));
    for kicked in ["carol", "dave"] {
        assert_eq!(refused_join(&srv, &room, kicked, &keys).0, "bad_proof");
    }
}

#[test]
fn a_join_before_the_swap_is_in_the_retried_rekey_and_one_after_it_is_refused() {
    let (srv, room, keys, [mut alice, mut bob, _carol]) = room_of(["alice", "bob", "carol"]);
    // erin is in before alice's kick reaches the broker, which alice has not read:
    // her rekey leaves erin out, is stale, and is made again with erin.
    let (mut erin, _) = enter(&srv, &room, "erin", &keys);
    alice.kick_and_rekey("carol").expect("kick");
    let secret = rekeyed(&mut alice);
    assert_eq!(*rekeyed(&mut erin), *secret);
    assert_eq!(*rekeyed(&mut bob), *secret);
    assert_eq!(alice.members(), ["alice", "bob", "erin"]);
    erin.say("I made it").expect("say");
    assert_eq!(message_from(&mut bob, "erin"), ("I made it".into(), false));
    // After the swap, the old link is refused: frank needs the new one.
    assert_eq!(refused_join(&srv, &room, "frank", &keys).0, "bad_proof");
    let (_frank, welcome) = enter_with_secret(&srv, &room, "frank", &secret);
    assert_eq!(epoch_of(&welcome), 1);
}

#[test]
fn a_message_sealed_before_the_swap_opens_with_the_previous_keys_and_is_marked() {
    let (_srv, _, _, [mut alice, mut bob, _carol]) = room_of(["alice", "bob", "carol"]);
    alice.kick_and_rekey("carol").expect("kick");
    rekeyed(&mut alice); // the broker has swapped
    // bob has not read the rekey yet: his message is sealed under the old keys.
    assert_eq!(bob.epoch(), Some(0));
    bob.say("in flight").expect("say");
    assert_eq!(
        message_from(&mut alice, "bob"),
        ("in flight".into(), true),
        "opened with the previous keys, and marked"
    );
    rekeyed(&mut bob);
    assert_eq!(message_from(&mut bob, "bob"), ("in flight".into(), true));
    bob.say("after").expect("say");
    assert_eq!(message_from(&mut alice, "bob"), ("after".into(), false));
}

#[test]
fn the_kicker_leaving_right_after_the_kick_leaves_the_others_on_the_new_keys() {
    let (srv, room, keys, [mut alice, mut bob, _carol, mut dave]) =
        room_of(["alice", "bob", "carol", "dave"]);
    alice.kick_and_rekey("carol").expect("kick");
    alice.exit(None).expect("exit");
    let secret = rekeyed(&mut bob);
    assert_eq!(*rekeyed(&mut dave), *secret);
    wait_for(
        &mut bob,
        "alice leaving",
        |e| matches!(e, Event::Left { alias, .. } if alias == "alice"),
    );
    dave.say("still here").expect("say");
    assert_eq!(message_from(&mut bob, "dave"), ("still here".into(), false));
    assert_eq!(refused_join(&srv, &room, "alice", &keys).0, "bad_proof");
}

#[test]
fn rekey_alone_keeps_everyone_and_retires_the_old_link_even_with_a_resume_token() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    let (bob, welcome) = enter(&srv, &room, "bob", &keys);
    let Event::Welcome(Welcome {
        resume: Some(token),
        ..
    }) = welcome
    else {
        panic!("a resume token");
    };
    while alice.members().len() < 2 {
        alice.next_event().expect("joined");
    }
    // bob's connection is lost before the rekey, so he misses the new secret.
    drop(bob);
    wait_for(&mut alice, "bob gone", |e| matches!(e, Event::Left { .. }));
    alice.rekey().expect("rekey");
    rekeyed(&mut alice);
    assert_eq!(alice.members(), ["alice"]);
    let back = srv
        .connect()
        .rejoin(&room, "bob", keys.clone(), false, Some(&token));
    assert!(
        matches!(back, Err(ClientError::Refused { ref code, .. }) if code == "bad_proof"),
        "a resume token does not bypass the proof: {:?}",
        back.err()
    );
}

#[test]
fn a_plain_v1_kick_is_still_accepted_and_does_not_stick() {
    let (srv, room, keys, [mut alice, _carol]) = room_of(["alice", "carol"]);
    alice.kick("carol").expect("kick");
    wait_for(&mut alice, "the kick", |e| {
        matches!(e, Event::Kicked { .. })
    });
    let (_back, welcome) = enter(&srv, &room, "carol", &keys);
    assert_eq!(epoch_of(&welcome), 0);
}

#[test]
fn against_a_server_without_rekeys_the_client_refuses_to_pretend_a_kick_sticks() {
    // A stand-in for an older server: its welcome has no epoch.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let old_server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut ws = tungstenite::accept(stream).expect("handshake");
        let nonce = crypto::b64u_encode(&[0; 32]);
        let key = crypto::b64u_encode(&sanctuary::x25519::public_key(&[1; 32]));
        let hello = json!({"t":"hello","v":1,"nonce":nonce,"key":key});
        ws.send(tungstenite::Message::text(hello.to_string()))
            .expect("hello");
        let join = read_json(&mut ws);
        let welcome = json!({"t":"welcome","room":join["room"],"alias":"alice","members":["alice","bob"],"created":false,"creator":"alice"});
        ws.send(tungstenite::Message::text(welcome.to_string()))
            .expect("welcome");
        ws
    });
    let (mut alice, welcome) = sanctuary::client::Client::connect(&addr, TIMEOUT)
        .expect("connect")
        .enter(&new_room(), "alice", new_keys(), false)
        .expect("enter");
    assert!(matches!(
        welcome,
        Event::Welcome(Welcome { epoch: None, .. })
    ));
    assert_eq!(alice.epoch(), None);
    assert!(matches!(
        alice.kick_and_rekey("bob"),
        Err(ClientError::Protocol(_))
    ));
    assert!(matches!(alice.rekey(), Err(ClientError::Protocol(_))));
    drop(old_server.join());
}

#[test]
fn a_rekey_whose_tag_fails_changes_no_keys_on_the_client_and_says_so() {
    // The server cannot check a sealed secret: a moderator sending a bad one (here the
    // tag binds the recipients in another order) locks the room as a stop would.
    let (srv, room, keys, [mut bob]) = room_of(["bob"]);
    let (mut ws, hello) = srv.raw();
    let proof = proof(&hello, &keys.k_auth, &room, "mal");
    let send = |ws: &mut tungstenite::WebSocket<std::net::TcpStream>, v: serde_json::Value| {
        ws.send(tungstenite::Message::text(v.to_string()))
            .expect("send");
    };
    send(
        &mut ws,
        json!({"t":"join","room":room,"alias":"mal","proof":proof}),
    );
    assert_eq!(read_json(&mut ws)["t"], "welcome");
    wait_for(&mut bob, "mal", |e| matches!(e, Event::Joined { .. }));
    let header = crypto::Header {
        room: &room,
        kind: crypto::Kind::Rekey,
        from: "mal",
        to: "mal,bob",
    };
    let stamp = sanctuary::replay::Stamper::default().stamp();
    let body = crypto::seal(&keys, &header, &stamp, b"AAAAAAAAAAAAAAAAAAAAAA");
    let verifier = crypto::b64u_encode(&sanctuary::verifier::verifier(&new_keys().k_auth));
    send(
        &mut ws,
        json!({"t":"rekey","epoch":0,"to":["bob","mal"],"body":body,"verifier":verifier}),
    );
    let got = wait_for(&mut bob, "the rekey", |e| matches!(e, Event::Rekey { .. }));
    assert!(
        matches!(
            got,
            Event::Rekey {
                secret: Err(_),
                epoch: 1,
                ..
            }
        ),
        "{got:?}"
    );
    assert_eq!(bob.epoch(), Some(0), "bob's keys are unchanged");
}
