//! Rejoining (PROTOCOL.md sections 5, 6 and 8, extension), on a real server over real
//! sockets: a member's resume token lets its new connection take the seat that its
//! old, still open connection holds; nobody else's token (or none) does; and a member
//! back soon after its connection dropped is announced as `rejoined`.

mod common;

use common::*;
use sanctuary::client::{Client, ClientError, Event, Session};
use sanctuary::crypto::{self, RoomKeys};
use sanctuary::wire::{Welcome, close};

/// The resume token of a `welcome`.
fn token(welcome: &Event) -> String {
    match welcome {
        Event::Welcome(Welcome {
            resume: Some(t), ..
        }) => t.clone(),
        other => panic!("no resume token in {other:?}"),
    }
}

fn rejoin(
    srv: &Server,
    room: &str,
    alias: &str,
    keys: &RoomKeys,
    resume: Option<&str>,
) -> Result<(Session, Event), ClientError> {
    let client: Client = srv.connect();
    let (mut s, welcome) = client.rejoin(room, alias, keys.clone(), false, resume)?;
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    Ok((s, welcome))
}

fn joined(s: &mut Session) -> Event {
    s.next_event().expect("an event")
}

/// The next event is `joined` for `alias`, a rejoin or not.
fn expect_joined(s: &mut Session, alias: &str, rejoined: bool) {
    let expected = Event::Joined {
        alias: alias.into(),
        rejoined,
    };
    assert_eq!(joined(s), expected);
}

fn is_alias_taken(r: &Result<(Session, Event), ClientError>) -> bool {
    matches!(r, Err(ClientError::Refused { code, .. }) if code == "alias_taken")
}

#[test]
fn a_rejoin_with_the_token_replaces_the_open_connection_and_nobody_sees_a_left() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    let (mut bob, welcome) = enter(&srv, &room, "bob", &keys);
    let old_token = token(&welcome);
    expect_joined(&mut alice, "bob", false);

    // bob's phone comes back on a new connection while the old one is still open.
    let (mut bob2, welcome) =
        rejoin(&srv, &room, "bob", &keys, Some(&old_token)).expect("rejoin with the token");
    assert!(
        matches!(&welcome, Event::Welcome(Welcome { members, .. }) if members == &["alice", "bob"]),
        "{welcome:?}"
    );
    let new_token = token(&welcome);
    assert_ne!(new_token, old_token, "each welcome brings a new token");
    assert!(
        matches!(
            next(&mut bob),
            Event::Closed {
                code: Some(close::REPLACED),
                ..
            }
        ),
        "the old connection is closed with 4005"
    );
    expect_joined(&mut alice, "bob", true);

    // The old socket going away announces nothing: alice's next frame is bob's message.
    drop(bob);
    bob2.say("still me").expect("say");
    let e = joined(&mut alice);
    assert!(
        matches!(&e, Event::Message { from, .. } if from == "bob"),
        "{e:?}"
    );
    assert_eq!(srv.healthz()["members"], 2);

    // The replaced connection's token is spent; the new one works.
    assert!(is_alias_taken(&rejoin(
        &srv,
        &room,
        "bob",
        &keys,
        Some(&old_token)
    )));
    let (_bob3, _) =
        rejoin(&srv, &room, "bob", &keys, Some(&new_token)).expect("rejoin with the new token");
    // (after its own message, relayed back to it)
    wait_for(&mut bob2, "close 4005", |e| {
        matches!(
            e,
            Event::Closed {
                code: Some(close::REPLACED),
                ..
            }
        )
    });
}

#[test]
fn a_wrong_or_missing_token_is_alias_taken_and_the_holder_keeps_its_seat() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, welcome) = enter(&srv, &room, "alice", &keys);
    let alice_token = token(&welcome);
    let (mut bob, _) = enter(&srv, &room, "bob", &keys);
    joined(&mut alice);

    let wrong = crypto::b64u_encode(&[0u8; 16]);
    for resume in [Some(wrong.as_str()), Some(alice_token.as_str()), None] {
        let r = rejoin(&srv, &room, "BOB", &keys, resume);
        assert!(is_alias_taken(&r), "{resume:?}");
    }

    // bob is untouched, and alice heard of none of it.
    bob.say("still here").expect("say");
    for s in [&mut alice, &mut bob] {
        let e = joined(s);
        assert!(
            matches!(&e, Event::Message { from, .. } if from == "bob"),
            "{e:?}"
        );
    }
}

#[test]
fn a_member_back_soon_after_its_connection_dropped_is_announced_as_rejoined() {
    let srv = Server::start(&[]);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(&srv, &room, "alice", &keys);
    let (bob, _) = enter(&srv, &room, "bob", &keys);
    joined(&mut alice);
    drop(bob);
    assert!(matches!(next(&mut alice), Event::Left { ref reason, .. } if reason == "gone"));

    // No token needed: the alias went `gone` moments ago.
    let (_bob, _) = enter(&srv, &room, "Bob", &keys);
    expect_joined(&mut alice, "Bob", true);

    // Leaving by `exit` is not dropping out: carol's return is a plain join.
    let (mut carol, _) = enter(&srv, &room, "carol", &keys);
    joined(&mut alice);
    carol.exit(None).expect("exit");
    assert!(matches!(next(&mut alice), Event::Left { ref reason, .. } if reason == "exit"));
    let (_carol, _) = enter(&srv, &room, "carol", &keys);
    expect_joined(&mut alice, "carol", false);
}
