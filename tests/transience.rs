//! Total transience, proved as an attacker with the machine would check it: after a
//! room is stopped and everyone has gone, a core dump of the server (gdb's `gcore`)
//! holds no copy of the room id, the aliases, `k_auth`, the room's verifier and proof key
//! (issue 17: what the server holds instead of `k_auth`) or any message body.

mod common;

use common::*;
use sanctuary::crypto;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// A random alias that appears nowhere else.
fn alias(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        crypto::b64u_encode(&crypto::random_bytes::<9>())
    )
}

/// An envelope-shaped body (byte 1, then random bytes) as the server checks its form.
fn body() -> (String, Vec<u8>) {
    let mut raw = vec![1u8];
    raw.extend_from_slice(&crypto::random_bytes::<32>());
    raw.extend_from_slice(&crypto::random_bytes::<32>());
    (crypto::b64u_encode(&raw), raw)
}

fn send(ws: &mut tungstenite::WebSocket<std::net::TcpStream>, v: serde_json::Value) {
    ws.send(Message::text(v.to_string())).expect("send");
}

/// How many times each of `needles` occurs in `hay`, in one pass (a core is tens of
/// megabytes and this test is not optimised: candidates are found by their first byte).
fn copies(hay: &[u8], needles: &[Vec<u8>]) -> Vec<usize> {
    let mut by_first: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, n) in needles.iter().enumerate() {
        by_first[usize::from(n[0])].push(i);
    }
    let mut counts = vec![0; needles.len()];
    for (at, &b) in hay.iter().enumerate() {
        for &i in &by_first[usize::from(b)] {
            if hay[at..].starts_with(&needles[i]) {
                counts[i] += 1;
            }
        }
    }
    counts
}

#[test]
fn a_core_dump_after_stop_holds_nothing_of_the_room() {
    assert!(
        std::process::Command::new("gcore")
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok(),
        "gcore (gdb) is missing: run `make setup` (apt-get install gdb)"
    );
    let srv = Server::start(&[]);
    let room = new_room();
    let keys = new_keys();
    let verifier = sanctuary::verifier::verifier(&keys.k_auth);
    let aliases = [alias("alice"), alias("bob"), alias("carol")];
    let mut secrets: Vec<Vec<u8>> = vec![
        room.clone().into_bytes(),
        crypto::b64u_encode(&verifier).into_bytes(),
        verifier.to_vec(),
        keys.k_auth.to_vec(),
    ];
    secrets.extend(aliases.iter().map(|a| a.clone().into_bytes()));

    // Three members (a create of an existing room with its secret is a join).
    let mut members: Vec<_> = aliases
        .iter()
        .map(|a| {
            let (mut ws, hello) = srv.raw();
            if secrets.len() == 4 {
                // The proof key, as the server holds it (the same for every connection).
                let server: [u8; 32] = crypto::b64u_decode(hello["key"].as_str().expect("key"))
                    .and_then(|k| k.try_into().ok())
                    .expect("a server key");
                let dh = sanctuary::verifier::proof_key(&keys.k_auth, &server).expect("valid");
                secrets.push(dh.to_vec());
            }
            send(&mut ws, create_frame(&hello, &keys, &room, a));
            assert_eq!(read_json(&mut ws)["t"], "welcome");
            ws
        })
        .collect();
    // 30 messages and a whisper, each read by everyone it is for.
    for i in 0..30 {
        let (text, raw) = body();
        send(
            &mut members[i % 3],
            serde_json::json!({"t": "msg", "body": text}),
        );
        secrets.push(text.into_bytes());
        secrets.push(raw);
        for m in &mut members {
            loop {
                if read_json(m)["t"] == "msg" {
                    break;
                }
            }
        }
    }
    let (text, raw) = body();
    send(
        &mut members[0],
        serde_json::json!({"t": "purr", "to": aliases[1], "body": text}),
    );
    secrets.push(text.into_bytes());
    secrets.push(raw);
    for m in &mut members[..2] {
        while read_json(m)["t"] != "purr" {}
    }
    // Stopped, and everyone gone.
    send(&mut members[0], serde_json::json!({"t": "stop"}));
    for m in &mut members {
        assert_eq!(close_code(m), Some(4002));
    }
    drop(members);
    let deadline = Instant::now() + TIMEOUT;
    while srv.healthz() != serde_json::json!({"rooms": 0, "members": 0, "connections": 0}) {
        assert!(Instant::now() < deadline, "the room did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));

    let dir = std::env::temp_dir().join(format!("sanctuary-core-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("core dir");
    let prefix = dir.join("core");
    let out = std::process::Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(srv.pid().to_string())
        // gdb may ask a question (debuginfod) and would wait on an inherited stdin.
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run gcore");
    let core_path = dir.join(format!("core.{}", srv.pid()));
    let core = std::fs::read(&core_path).unwrap_or_else(|e| {
        panic!(
            "no core at {}: {e}; gcore said {}",
            core_path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(core.len() > 100_000, "core too small: {} bytes", core.len());
    // The search must be able to find something: this text is in the binary (the 421
    // answer; the page itself is stored gzip-compressed).
    let alive = b"misdirected request: this server does not answer".to_vec();
    secrets.push(alive);
    let counts = copies(&core, &secrets);
    assert!(
        counts[secrets.len() - 1] > 0,
        "the search finds nothing at all"
    );
    secrets.pop();
    let found: Vec<(String, usize)> = secrets
        .iter()
        .zip(counts)
        .map(|(s, n)| (String::from_utf8_lossy(s).into_owned(), n))
        .filter(|(_, n)| *n > 0)
        .collect();
    eprintln!(
        "core dump of {} bytes after stop: {} of {} secrets found",
        core.len(),
        found.len(),
        secrets.len()
    );
    assert!(found.is_empty(), "left in the server's memory: {found:?}");
}
