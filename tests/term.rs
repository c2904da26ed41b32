//! `sanctuary join` run as a child process against the real server binary on loopback:
//! chatting, whispers, every documented exit status, and inert rendering of hostile
//! messages. Peers that must do what no terminal client would (send escape codes, forge
//! tags) are `sanctuary::client` sessions.

mod common;

use common::*;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use sanctuary::client::{Event, Session};
use sanctuary::crypto::{self, RoomKeys};
use sanctuary::replay::Stamper;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::Message;

/// A random secret as `--create` makes them (b64u, URL-safe as it is).
fn new_secret() -> String {
    crypto::b64u_encode(&crypto::random_bytes::<16>())
}

fn invite(srv: &Server, room: &str, secret: &str) -> String {
    format!("http://{}/#{room}.{secret}", srv.http)
}

/// `sanctuary join …` with piped stdio; stdout is collected byte for byte.
struct Term {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    seen: Vec<String>,
}

impl Term {
    fn spawn(args: &[&str]) -> Term {
        Term::spawn_in(args, None)
    }

    /// `home`: run with HOME and the working directory there.
    fn spawn_in(args: &[&str], home: Option<&PathBuf>) -> Term {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sanctuary"));
        // UTC, so that a test can tell which clock a shown time came from.
        cmd.arg("join")
            .args(args)
            .env_remove("NO_COLOR")
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = home {
            cmd.current_dir(dir)
                .env("HOME", dir)
                .env("XDG_DATA_HOME", dir)
                .env("XDG_STATE_HOME", dir);
        }
        let mut child = cmd.spawn().expect("start sanctuary join");
        let (tx, lines) = crossbeam_channel::unbounded();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let all = stdout.clone();
        std::thread::spawn(move || {
            let mut line = Vec::new();
            while out.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                all.lock().expect("lock").extend_from_slice(&line);
                let _ = tx.send(String::from_utf8_lossy(&line).trim_end().to_owned());
                line.clear();
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let all = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                all.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        let stdin = child.stdin.take();
        Term {
            child,
            stdin,
            lines,
            stdout,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `needle` and returns it.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no line with {needle:?}; saw {:#?}; stderr {:?}",
                    self.seen,
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "stdout ended before {needle:?}; saw {:#?}; stderr {:?}",
                        self.seen,
                        self.stderr()
                    )
                }
            }
        }
    }

    /// Waits for the next `invite link: …` line and returns the link.
    fn invite_link(&mut self) -> String {
        let line = self.expect("invite link: ");
        line.split("invite link: ")
            .nth(1)
            .expect("link after the label")
            .to_owned()
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to the client's stdin");
        stdin.flush().expect("flush");
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned()
    }

    /// Closes stdin if still open, waits for the exit; returns (status, all stdout, stderr).
    fn wait(mut self) -> (i32, Vec<u8>, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "client did not exit; saw {:#?}; stderr {:?}",
                    self.seen,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads finish once the pipes close.
        std::thread::sleep(Duration::from_millis(50));
        let out = self.stdout.lock().expect("lock").clone();
        (
            status.code().expect("exited, not killed by a signal"),
            out,
            self.stderr(),
        )
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `alice` with `--create` and returns her client and the invite link it printed.
fn create_room(srv: &Server, alias: &str) -> (Term, String) {
    let mut t = Term::spawn(&[
        "--server",
        &srv.http.to_string(),
        "--create",
        "--alias",
        alias,
    ]);
    t.expect("you are in the room as");
    let link = t.invite_link();
    (t, link)
}

/// `alice` creates a room and `bob` joins it by her link; both, once she has seen him.
fn alice_and_bob(srv: &Server) -> (Term, Term) {
    let (mut alice, link) = create_room(srv, "alice");
    let bob = Term::spawn(&[&link, "--alias", "bob"]);
    alice.expect("* bob joined");
    (alice, bob)
}

/// A port on 127.0.0.1 that nothing listens on.
/// alice (a `sanctuary::client` session) in a new room with a passphrase, and bob, a
/// terminal client, joined by its invite; alice has seen bob arrive.
fn alice_and_terminal_bob(srv: &Server) -> (String, RoomKeys, Session, Term) {
    let (room, secret) = (new_room(), new_secret());
    let keys = RoomKeys::derive(&room, &secret);
    let (mut alice, _) = enter(srv, &room, "alice", &keys);
    let bob = Term::spawn(&[&invite(srv, &room, &secret), "--alias", "bob"]);
    wait_for(&mut alice, "bob", |e| matches!(e, Event::Joined { .. }));
    (room, keys, alice, bob)
}

fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

#[test]
fn two_terminal_clients_exchange_messages_and_whispers_both_ways() {
    let srv = Server::start(&[]);
    let (mut alice, mut bob) = alice_and_bob(&srv);
    bob.expect("you are in the room as bob; also here: alice");

    alice.type_line("hello bob");
    assert!(bob.expect("alice: hello bob").starts_with('['));
    bob.type_line("hi alice");
    alice.expect("] bob: hi alice");

    alice.type_line("/purr bob just for you");
    bob.expect("] alice -> you (whisper): just for you");
    alice.expect("] you -> bob (whisper): just for you");
    bob.type_line("/purr ALICE back at you");
    alice.expect("] bob -> you (whisper): back at you");

    bob.type_line("/who");
    bob.expect("* in the room (2): alice, bob (you)");
    bob.type_line("/exit see you");
    alice.expect("* bob left: see you");
    let (status, _, stderr) = bob.wait();
    assert_eq!(status, 0, "stderr: {stderr}");
    let (status, _, _) = alice.wait();
    assert_eq!(status, 0);
}

#[test]
fn kick_ends_the_kicked_client_with_status_5() {
    let srv = Server::start(&[]);
    let (mut alice, link) = create_room(&srv, "alice");
    // `join -`: the link is read from stdin, so it never shows in `ps`.
    let mut bob = Term::spawn(&["-", "--alias", "bob"]);
    bob.type_line(&link);
    alice.expect("* bob joined");
    alice.type_line("/kick bob");
    bob.expect("* you were removed by alice");
    alice.expect("* bob was removed by alice");
    let (status, _, stderr) = bob.wait();
    assert_eq!(status, 5);
    assert_eq!(
        stderr.trim(),
        "sanctuary: you were removed from the room by alice"
    );
}

#[test]
fn a_lost_connection_reconnects_by_itself_and_the_conversation_goes_on() {
    let srv = Server::start(&[]);
    let (http, ws) = (srv.http.port().to_string(), srv.ws.port().to_string());
    let (mut alice, link) = create_room(&srv, "alice");
    // The server dies without a word (SIGKILL): no purge, only a broken connection...
    drop(srv);
    alice.expect("* connection lost, reconnecting");
    // ...and comes back on the same ports, with no rooms: alice re-creates hers.
    let _srv = Server::start(&["--http-port", &http, "--ws-port", &ws]);
    alice.expect("* reconnected: you were away from");
    alice.expect("* you are in the room as alice");
    let mut bob = Term::spawn(&[&link, "--alias", "bob"]);
    bob.expect("you are in the room as bob; also here: alice");
    alice.expect("* bob joined");
    bob.type_line("hello again");
    alice.expect("] bob: hello again");
    alice.type_line("and back");
    bob.expect("] alice: and back");
    alice.type_line("/exit");
    let (status, _, stderr) = alice.wait();
    assert_eq!(status, 0, "stderr: {stderr}");
}

#[test]
fn stop_ends_the_others_with_status_6_and_the_stopper_with_0() {
    let srv = Server::start(&[]);
    let (mut alice, mut bob) = alice_and_bob(&srv);
    bob.type_line("/stop");
    alice.expect("* bob ended the room for everyone");
    let (status, _, stderr) = alice.wait();
    assert_eq!(status, 6);
    assert!(
        stderr.contains("bob ended the room for everyone"),
        "{stderr}"
    );
    let (status, _, stderr) = bob.wait();
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn server_shutdown_ends_the_client_with_status_6() {
    let srv = Server::start(&[]);
    let (alice, _) = create_room(&srv, "alice");
    let (server_status, ..) = srv.terminate();
    assert!(server_status.success());
    let (status, _, stderr) = alice.wait();
    assert_eq!(status, 6);
    assert!(stderr.contains("server is shutting down"), "{stderr}");
}

#[test]
fn escape_sequences_and_html_in_a_message_print_inert() {
    let srv = Server::start(&[]);
    let (room, secret) = (new_room(), new_secret());
    let (mut alice, _) = enter(&srv, &room, "alice", &RoomKeys::derive(&room, &secret));
    let mut bob = Term::spawn(&[&invite(&srv, &room, &secret), "--alias", "bob"]);
    wait_for(&mut alice, "bob", |e| matches!(e, Event::Joined { .. }));

    let evil = "<b>bold</b> \x1b[31mred\x1b[0m \x1b]0;owned title\x07 \u{9b}2J \
                &#27;[1A <script>alert(1)</script><a href=\"https://example.com/\">site</a>\
                \r[99:99] bob: forged line";
    alice.say(evil).expect("send");
    alice.exit(Some("\x1b[2Jbye <i>all</i>")).expect("exit");
    let line = bob.expect("bold");
    bob.expect("* alice left: ");
    let (status, out, _) = bob.wait();
    assert_eq!(status, 0);

    for (what, bytes) in [
        ("ESC", &b"\x1b"[..]),
        ("BEL", b"\x07"),
        ("CR", b"\r"),
        ("C1 CSI", "\u{9b}".as_bytes()),
    ] {
        assert!(
            !out.windows(bytes.len()).any(|w| w == bytes),
            "{what} reached stdout: {line:?}"
        );
    }
    // The page's subset is read (and so are references), anything else shows as typed.
    for gone in ["<b>", "</b>", "<a ", "href", "<i>"] {
        assert!(!line.contains(gone), "{gone:?} in {line:?}");
    }
    assert!(line.contains("bold"), "{line}");
    assert!(line.contains("<script>alert(1)</script>"), "{line}");
    assert!(line.contains("site <https://example.com/>"), "{line}");
    assert!(line.contains("\u{FFFD}[31mred"), "{line}");
    assert!(line.contains("\u{FFFD}[1A"), "{line}");
    // The carriage return cannot start a line of its own that looks like bob's.
    assert_eq!(
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| l.contains("forged line"))
            .count(),
        1
    );
    assert!(
        !String::from_utf8_lossy(&out)
            .lines()
            .any(|l| l.starts_with("[99:99]"))
    );
}

#[test]
fn code_shows_as_typed_and_the_html_subset_as_its_text() {
    let srv = Server::start(&[]);
    let (mut alice, mut bob) = alice_and_bob(&srv);
    alice.type_line("Vec<String> & <b>bold</b>");
    alice.type_line("email <bob@example.com> if a<b && c>d; <script>x</script> &amp;");
    let line = bob.expect("] alice: Vec");
    assert!(line.ends_with("] alice: Vec<String> & bold"), "{line}");
    let line = bob.expect("] alice: email");
    assert!(
        line.ends_with("] alice: email <bob@example.com> if a<b && c>d; <script>x</script> &amp;"),
        "{line}"
    );
}

#[test]
fn a_whisper_to_a_member_without_a_verified_key_is_refused_and_nothing_is_sent() {
    let srv = Server::start(&[]);
    let (room, secret) = (new_room(), new_secret());
    let keys = RoomKeys::derive(&room, &secret);
    let mut bob = Term::spawn(&[&invite(&srv, &room, &secret), "--alias", "bob"]);
    bob.expect("you are in the room as bob");
    // oldie holds the room secret but announces no whisper key (a client from before
    // whispers were sealed to one member); the terminal client must not fall back to
    // the room key, which oldie, or anyone sniffing, could open.
    let (mut ws, hello) = srv.raw();
    let proof = proof(&hello, &keys.k_auth, &room, "oldie");
    let join = serde_json::json!({"t":"join","room":room,"alias":"oldie","proof":proof});
    ws.send(Message::text(join.to_string())).expect("join");
    assert_eq!(read_json(&mut ws)["t"], "welcome");
    bob.expect("* oldie joined");

    bob.type_line("/purr oldie for your eyes only");
    bob.expect("oldie has no verified whisper key");
    bob.type_line("still here");
    bob.expect("] bob: still here");
    // What oldie received after its welcome: bob's message, never a whisper.
    let next = read_json(&mut ws);
    assert_eq!((&next["t"], &next["from"]), (&"msg".into(), &"bob".into()));
}

#[test]
fn a_message_that_fails_authentication_is_flagged_and_not_shown() {
    let srv = Server::start(&[]);
    let (room, keys, _alice, mut bob) = alice_and_terminal_bob(&srv);

    // mallory knows k_auth (the server does too) but not the message keys.
    let mut ws = raw_member(&srv, &room, "mallory", &keys);
    let wrong = RoomKeys::from_master(&[9; 32]);
    let stamp = Stamper::default().stamp();
    send_sealed(
        &mut ws,
        &wrong,
        &room,
        "mallory",
        &stamp,
        "transfer the money",
    );

    bob.expect("! message from mallory is not shown: message authentication failed");
    let (status, out, _) = bob.wait();
    assert_eq!(status, 0);
    assert!(!String::from_utf8_lossy(&out).contains("money"));
}

#[test]
fn a_replayed_message_prints_as_a_warning_and_times_are_the_senders_own() {
    let srv = Server::start(&[]);
    let (room, keys, mut alice, mut bob) = alice_and_terminal_bob(&srv);
    let mut eve = raw_member(&srv, &room, "eve", &keys);

    // A sender whose clock is 7 minutes slow: the line bears its time, not the server's.
    let slow = crypto::Stamp {
        sid: crypto::random_bytes(),
        counter: 1,
        sent_ms: sanctuary::protocol::now_ms() - 7 * 60 * 1000,
    };
    send_sealed(&mut eve, &keys, &room, "eve", &slow, "my clock is slow");
    let day_secs = slow.sent_ms / 1000 % 86_400;
    let utc = format!("[{:02}:{:02}]", day_secs / 3600, day_secs / 60 % 60);
    let line = bob.expect("my clock is slow");
    assert!(line.starts_with(&format!("{utc} eve: ")), "{line}");

    alice.say("meet me at noon").expect("say");
    bob.expect("meet me at noon");
    let captured = loop {
        let v = read_json(&mut eve);
        if v["t"] == "msg" && v["from"] == "alice" {
            break v["body"].as_str().expect("body").to_owned();
        }
    };
    alice.exit(None).expect("exit");
    bob.expect("alice left");
    let mut mallory = raw_member(&srv, &room, "alice", &keys);
    mallory
        .send(Message::text(
            serde_json::json!({"t":"msg","body":captured}).to_string(),
        ))
        .expect("replay");
    bob.expect("! message from alice is not shown: repeated message (a replay)");
    let (status, out, _) = bob.wait();
    assert_eq!(status, 0);
    assert_eq!(
        String::from_utf8_lossy(&out)
            .matches("meet me at noon")
            .count(),
        1
    );
}

#[test]
fn passphrase_comes_from_the_first_stdin_line_and_end_of_input_leaves_with_0() {
    let srv = Server::start(&[]);
    let room = new_room();
    let (mut alice, _) = enter(
        &srv,
        &room,
        "alice",
        &RoomKeys::derive(&room, "correct horse battery"),
    );
    let home = std::env::temp_dir().join(format!("sanctuary-term-{room}"));
    std::fs::create_dir(&home).expect("make an empty home");
    let mut bob = Term::spawn_in(
        &[
            "--server",
            &srv.http.to_string(),
            "--room",
            &room,
            "--alias",
            "bob",
        ],
        Some(&home),
    );
    bob.type_line("correct horse battery");
    bob.type_line("the second line is a message");
    bob.expect("you are in the room as bob");
    let said = wait_for(&mut alice, "bob's message", |e| {
        matches!(e, Event::Message { .. })
    });
    assert_eq!(text_of(&said), Some("the second line is a message"));

    let (status, out, stderr) = bob.wait(); // closes stdin
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stderr, "", "a normal exit is quiet");
    let left = wait_for(&mut alice, "bob leaving", |e| {
        matches!(e, Event::Left { .. })
    });
    assert!(matches!(left, Event::Left { reason, .. } if reason == "exit"));
    let out = String::from_utf8_lossy(&out);
    assert!(
        !out.contains("correct horse"),
        "the passphrase was echoed: {out}"
    );
    let written: Vec<_> = std::fs::read_dir(&home).expect("read home").collect();
    std::fs::remove_dir_all(&home).expect("clean up");
    assert!(written.is_empty(), "the client wrote files: {written:?}");
}

#[test]
fn an_interrupt_leaves_the_room_cleanly_with_status_0() {
    let srv = Server::start(&[]);
    let (room, secret) = (new_room(), new_secret());
    let (mut alice, _) = enter(&srv, &room, "alice", &RoomKeys::derive(&room, &secret));
    let mut bob = Term::spawn(&[&invite(&srv, &room, &secret), "--alias", "bob"]);
    bob.expect("you are in the room as bob");
    wait_for(&mut alice, "bob joining", |e| {
        matches!(e, Event::Joined { .. })
    });
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(bob.child.id() as i32, libc::SIGINT) };
    // "exit", not "gone": the client said goodbye instead of dropping the connection.
    let left = wait_for(&mut alice, "bob leaving", |e| {
        matches!(e, Event::Left { .. })
    });
    assert!(
        matches!(&left, Event::Left { reason, .. } if reason == "exit"),
        "{left:?}"
    );
    let (status, _, stderr) = bob.wait();
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn a_script_piping_a_burst_of_lines_loses_none_to_the_rate_limit() {
    // Server defaults: 10 messages a second, bursts of 20. 30 lines at once would lose
    // some without the client's pacing.
    let srv = Server::start(&[]);
    let (room, secret) = (new_room(), new_secret());
    let (mut alice, _) = enter(&srv, &room, "alice", &RoomKeys::derive(&room, &secret));
    let mut bob = Term::spawn(&[&invite(&srv, &room, &secret), "--alias", "bob"]);
    let script: String = (0..30).map(|i| format!("line {i}\n")).collect();
    bob.stdin
        .as_mut()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let (status, out, stderr) = bob.wait(); // end of input after the lines
    assert_eq!(status, 0, "{stderr}");
    let mut got = Vec::new();
    loop {
        match alice.next_event().expect("event") {
            Event::Message { text: Ok(t), .. } => got.push(t),
            Event::Left { .. } => break,
            _ => {}
        }
    }
    let want: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    assert!(!String::from_utf8_lossy(&out).contains("too fast"));
}

#[test]
fn a_wrong_passphrase_exits_with_status_4() {
    let srv = Server::start(&[]);
    let room = new_room();
    let (_alice, _) = enter(
        &srv,
        &room,
        "alice",
        &RoomKeys::derive(&room, "correct horse battery"),
    );
    assert_typed_passphrase_is_wrong(&srv, &room, "wrong horse battery");
}

/// `sanctuary join --room` with `passphrase` typed: exits 4 saying it is wrong.
fn assert_typed_passphrase_is_wrong(srv: &Server, room: &str, passphrase: &str) {
    let mut bob = Term::spawn(&[
        "--server",
        &srv.http.to_string(),
        "--room",
        room,
        "--alias",
        "bob",
    ]);
    bob.type_line(passphrase);
    let (status, _, stderr) = bob.wait();
    assert_eq!(status, 4);
    assert_eq!(
        stderr.trim(),
        "sanctuary: wrong passphrase or invite link for this room"
    );
}

#[test]
fn a_link_to_a_room_a_squatter_re_created_exits_4_saying_so_and_a_passphrase_says_wrong() {
    // Issue 17: the room ended and someone who knew only its id made it again with a
    // secret of their own. A random link secret cannot be a typo: say what happened.
    let srv = Server::start(&[]);
    let (room, secret) = (new_room(), new_secret());
    let (_mallory, _) = enter(&srv, &room, "mallory", &new_keys());
    let alice = Term::spawn(&[&invite(&srv, &room, &secret), "--alias", "alice"]);
    let (status, _, stderr) = alice.wait();
    assert_eq!(status, 4, "{stderr}");
    assert_eq!(
        stderr.trim(),
        "sanctuary: this room was re-created by someone without its secret (the original room had ended): do not use it; create a new room"
    );
    // A typed passphrase that fails is most likely mistyped: it says so.
    assert_typed_passphrase_is_wrong(&srv, &room, "correct horse battery");
}

#[test]
fn a_taken_alias_or_a_look_alike_of_it_is_refused_with_status_8() {
    let srv = Server::start(&[]);
    let (room, secret) = (new_room(), new_secret());
    let (_alice, _) = enter(&srv, &room, "alice", &RoomKeys::derive(&room, &secret));
    for twin in ["ALICE", "A1ice", "AIice"] {
        let (status, _, stderr) =
            Term::spawn(&[&invite(&srv, &room, &secret), "--alias", twin]).wait();
        assert_eq!(status, 8, "{twin}");
        assert!(
            stderr.contains("already uses that name"),
            "{twin}: {stderr}"
        );
    }
}

#[test]
fn a_full_server_is_refused_with_status_8_and_says_so() {
    let srv = Server::start(&["--max-connections", "1"]);
    let (_held, _) = srv.raw();
    let (status, _, stderr) = Term::spawn(&[
        "--server",
        &srv.http.to_string(),
        "--create",
        "--alias",
        "bob",
    ])
    .wait();
    assert_eq!(status, 8, "{stderr}");
    assert!(stderr.contains("full"), "{stderr}");
}

#[test]
fn an_unreachable_server_exits_with_status_3() {
    let nobody = closed_port();
    let link = format!("http://{nobody}/#{}.{}", new_room(), new_secret());
    let (status, _, stderr) = Term::spawn(&[&link, "--alias", "bob"]).wait();
    assert_eq!(status, 3);
    assert!(
        stderr.starts_with("sanctuary: cannot reach 127.0.0.1:"),
        "{stderr}"
    );
    let (status, _, _) = Term::spawn(&[
        "--server",
        &nobody.to_string(),
        "--create",
        "--alias",
        "bob",
    ])
    .wait();
    assert_eq!(status, 3);
}

#[test]
fn a_web_server_that_is_not_sanctuary_exits_with_status_7() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                request.push(byte[0]);
            }
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let (status, _, stderr) =
        Term::spawn(&["--server", &addr.to_string(), "--create", "--alias", "bob"]).wait();
    assert_eq!(status, 7);
    assert!(
        stderr.contains("does not answer like a sanctuary server"),
        "{stderr}"
    );
}

#[test]
fn unusable_arguments_exit_with_status_2_before_any_network_use() {
    let room = new_room();
    for args in [
        vec!["not-a-link", "--alias", "bob"],
        vec![
            "http://127.0.0.1:1/#tooshort.secretsecret",
            "--alias",
            "bob",
        ],
        vec!["--server", "127.0.0.1:1", "--alias", "bob"],
        vec![
            "--server",
            "127.0.0.1:1",
            "--create",
            "--alias",
            "no spaces",
        ],
        vec!["--room", &room, "--alias", "bob"],
        vec!["--alias", "bob"],
    ] {
        let (status, _, stderr) = Term::spawn(&args).wait();
        assert_eq!(status, 2, "{args:?}: {stderr}");
        assert!(!stderr.is_empty(), "{args:?} gave no reason");
    }
}

#[test]
fn the_terminal_follows_the_servers_word_on_who_moderates() {
    let srv = Server::start(&["--moderation", "creator"]);
    let (mut alice, link) = create_room(&srv, "alice");
    let mut bob = Term::spawn(&[&link, "--alias", "bob"]);
    bob.expect("you are in the room as bob; also here: alice");
    bob.type_line("/who");
    bob.expect("* in the room (2): alice (creator), bob (you)");
    alice.type_line("/exit");
    bob.expect("* alice left");
    // Taken from the `left` frame's `creator`, not worked out by the client.
    bob.expect("* you may now kick and stop: the room's creator left");
    bob.type_line("/who");
    bob.expect("* in the room (1): bob (you) (creator)");
    bob.type_line("/exit");
    let (status, _, stderr) = bob.wait();
    assert_eq!(status, 0, "stderr: {stderr}");
}

/// The room id and secret of an invite link as the terminal client prints them.
fn room_and_secret(link: &str) -> (String, String) {
    let fragment = link.split('#').nth(1).expect("a fragment");
    let (room, secret) = fragment.split_once('.').expect("room.secret");
    (room.to_owned(), secret.to_owned())
}

#[test]
fn kick_in_the_terminal_rekeys_prints_the_new_link_and_the_old_one_no_longer_admits() {
    let srv = Server::start(&[]);
    let (mut alice, link) = create_room(&srv, "alice");
    let (room, secret) = room_and_secret(&link);
    let mut bob = Term::spawn(&[&link, "--alias", "bob"]);
    alice.expect("* bob joined");
    // carol: a Rust client standing in for a page, with the keys the link gives.
    let (mut carol, _) = enter(&srv, &room, "carol", &RoomKeys::derive(&room, &secret));
    alice.expect("* carol joined");

    alice.type_line("/kick bob");
    bob.expect("* you were removed by alice");
    alice.expect("* bob was removed by alice");
    alice.expect("alice changed the room's keys: the old invite link no longer admits anyone");
    let line = alice.expect("invite link: ");
    let new_link = line
        .split("invite link: ")
        .nth(1)
        .expect("a link")
        .to_owned();
    let (new_room, new_secret) = room_and_secret(&new_link);
    assert_eq!(new_room, room, "the same room");
    assert_ne!(new_secret, secret);
    let got = wait_for(&mut carol, "the rekey", |e| {
        matches!(e, Event::Rekey { .. })
    });
    let Event::Rekey {
        secret: Ok(carols), ..
    } = got
    else {
        panic!("carol could not use the rekey: {got:?}");
    };
    assert_eq!(*carols, new_secret, "carol got the secret the link carries");
    assert_eq!(bob.wait().0, 5);

    // The old link: wrong secret (status 4). The new one: in, and chatting.
    let (status, _, stderr) = Term::spawn(&[&link, "--alias", "bob"]).wait();
    assert_eq!(status, 4, "stderr: {stderr}");
    alice.type_line("only the new keys now");
    assert_eq!(
        text_of(&wait_for(&mut carol, "alice's message", |e| text_of(e).is_some())),
        Some("only the new keys now")
    );
    carol.say("and back").expect("say");
    alice.expect("] carol: and back");
    let mut dave = Term::spawn(&[&new_link, "--alias", "dave"]);
    dave.expect("you are in the room as dave");
    carol.say("hi dave").expect("say");
    dave.expect("] carol: hi dave");
    alice.type_line("/rekey");
    dave.expect("alice changed the room's keys");
    dave.expect("invite link: ");
    alice.type_line("still readable");
    dave.expect("] alice: still readable");
}
