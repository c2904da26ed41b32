//! "Zero logging, total transience", checked at the system-call boundary: the real
//! server binary runs under `strace -f` through a whole session (page load, a room of
//! three, messages, a whisper, a kick, a leave, a stop, SIGTERM), and the trace shows
//! no file opened for writing, created, renamed, removed or truncated, and no write to
//! stdout or stderr other than the start-up banner.

mod common;

use common::*;
use sanctuary::client::Event;
use std::collections::BTreeMap;

/// Every call that could leave a trace on disk or on the terminal.
const TRACED: &str = "openat,open,creat,openat2,write,writev,pwrite64,pwritev,pwritev2,\
                      sendto,sendmsg,sendmmsg,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate,\
                      ftruncate,link,linkat,symlink,symlinkat";

/// Calls that change the file system whatever their arguments.
const FILE_SYSTEM_CHANGES: &[&str] = &[
    "creat",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "truncate",
    "ftruncate",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
];

/// What the trace showed.
#[derive(Debug, Default)]
struct Findings {
    /// Offending lines: a file opened for writing, a file-system change, a write to
    /// anything but a socket, an internal pipe or stdout/stderr.
    violations: Vec<String>,
    /// Calls seen, by name.
    calls: BTreeMap<String, usize>,
    /// Writes and sends to sockets (TCP, Unix, netlink): the chat and the page.
    socket_writes: usize,
    /// Files opened read-only, by path and count.
    read_only: BTreeMap<String, usize>,
    /// Writes to stdout or stderr, and the bytes they wrote.
    output_writes: Vec<(String, i64)>,
}

/// `3<TCP:[...]>` or `1<pipe:[123]>` → the annotation inside the angle brackets.
fn fd_annotation(arg: &str) -> &str {
    arg.split_once('<')
        .map(|(_, rest)| rest.rsplit_once('>').map_or(rest, |(a, _)| a))
        .unwrap_or("")
}

/// The return value of a completed call line (`... = 42`), if it is on this line.
fn returned(line: &str) -> Option<i64> {
    let (_, ret) = line.rsplit_once(") = ")?;
    ret.split_whitespace().next()?.parse().ok()
}

/// Reads an `strace -f -yy` trace. `output_inodes` are the pipes that are the
/// server's stdout and stderr.
fn examine(trace: &str, output_inodes: [u64; 2]) -> Findings {
    let outputs = output_inodes.map(|i| format!("pipe:[{i}]"));
    let mut found = Findings::default();
    // Writes to stdout/stderr left unfinished by another thread's call, by pid.
    let mut pending_output: BTreeMap<String, String> = BTreeMap::new();
    for line in trace.lines() {
        let (pid, call) = line.split_once(' ').unwrap_or(("", line));
        let call = call.trim_start();
        if let Some(rest) = call.strip_prefix("<... ") {
            // `<... write resumed>) = 5`: the end of a call begun on an earlier line.
            if rest.contains("resumed>")
                && let Some(start) = pending_output.remove(pid)
            {
                found
                    .output_writes
                    .push((start, returned(call).unwrap_or(-1)));
            }
            continue;
        }
        let Some((name, args)) = call.split_once('(') else {
            continue; // `+++ exited with 0 +++`, `--- SIGTERM ... ---`
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        *found.calls.entry(name.to_owned()).or_default() += 1;
        match name {
            "open" | "openat" | "openat2" => {
                let flags = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"];
                if flags.iter().any(|f| args.contains(f)) {
                    found.violations.push(line.to_owned());
                } else if let Some(path) = args.split('"').nth(1) {
                    *found.read_only.entry(path.to_owned()).or_default() += 1;
                }
            }
            "write" | "writev" | "pwrite64" | "pwritev" | "pwritev2" => {
                let fd = fd_annotation(args.split(',').next().unwrap_or(""));
                if outputs.iter().any(|o| o == fd) {
                    if call.ends_with("<unfinished ...>") {
                        pending_output.insert(pid.to_owned(), line.to_owned());
                    } else {
                        let n = returned(call).unwrap_or(-1);
                        found.output_writes.push((line.to_owned(), n));
                    }
                } else if ["TCP", "UDP", "UNIX", "NETLINK", "socket:"]
                    .iter()
                    .any(|s| fd.starts_with(s))
                {
                    found.socket_writes += 1;
                } else if !fd.starts_with("pipe:") && !fd.starts_with("anon_inode:") {
                    // A path: a file, a terminal, a device.
                    found.violations.push(line.to_owned());
                }
            }
            "sendto" | "sendmsg" | "sendmmsg" => found.socket_writes += 1,
            _ if FILE_SYSTEM_CHANGES.contains(&name) => found.violations.push(line.to_owned()),
            _ => {}
        }
    }
    found
}

fn strace_is_installed() -> bool {
    std::process::Command::new("strace")
        .arg("-V")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Page load, a room of three with messages, a whisper, a kick and a leave, then a
/// second room stopped by its creator.
fn whole_session(srv: &Server) {
    let (status, _, page) = srv.http_get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<html"));
    assert_eq!(srv.http_get("/config.json").0, 200);
    let (room, keys) = (new_room(), new_keys());
    let (mut alice, _) = enter(srv, &room, "alice", &keys);
    let (mut bob, _) = enter(srv, &room, "bob", &keys);
    let (mut carol, _) = enter(srv, &room, "carol", &keys);
    alice.say("hello, both").expect("say");
    for s in [&mut alice, &mut bob, &mut carol] {
        let got = wait_for(s, "the message", |e| text_of(e).is_some());
        assert_eq!(text_of(&got), Some("hello, both"));
    }
    bob.purr("alice", "a whisper").expect("purr");
    let got = wait_for(&mut alice, "the whisper", |e| text_of(e).is_some());
    assert_eq!(text_of(&got), Some("a whisper"));
    alice.kick("carol").expect("kick");
    wait_for(&mut carol, "the kick", |e| {
        matches!(e, Event::Kicked { .. })
    });
    wait_for(&mut carol, "the close", |e| {
        matches!(
            e,
            Event::Closed {
                code: Some(4001),
                ..
            }
        )
    });
    bob.exit(Some("bye")).expect("exit");
    wait_for(
        &mut alice,
        "bob's farewell",
        |e| matches!(e, Event::Left { alias, .. } if alias == "bob"),
    );
    // A second room, stopped by its creator.
    let (room, keys) = (new_room(), new_keys());
    let (mut dave, _) = enter(srv, &room, "dave", &keys);
    let (mut erin, _) = enter(srv, &room, "erin", &keys);
    dave.say("stopping now").expect("say");
    wait_for(&mut erin, "the message", |e| text_of(e).is_some());
    dave.stop().expect("stop");
    wait_for(&mut erin, "the purge", |e| {
        matches!(e, Event::Purged { .. })
    });
    // alice stays: the shutdown purges her room.
    drop((alice, bob, carol, dave, erin));
}

#[test]
fn under_strace_a_whole_session_opens_no_file_for_writing_and_prints_only_the_banner() {
    assert!(
        strace_is_installed(),
        "strace is missing: run `make setup` (or `apt-get install -y strace`)"
    );
    let trace_file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sanctuary-strace-{}.txt", std::process::id()));
    let trace_path = trace_file.to_str().expect("utf-8 path").to_owned();
    let srv = Server::start_wrapped(
        &[
            "strace",
            "-f",
            "-yy",
            "-qq",
            "-e",
            TRACED,
            "-o",
            &trace_path,
        ],
        &[],
    );
    let banner = srv.banner.clone();
    let inodes = srv.output_pipe_inodes();
    whole_session(&srv);
    let (status, took, out, err) = srv.terminate();
    assert!(status.success(), "exit status {status:?}, stderr: {err}");
    assert!(out.is_empty() && err.is_empty(), "printed: {out}{err}");
    let trace = std::fs::read_to_string(&trace_file).expect("read the trace");
    let _ = std::fs::remove_file(&trace_file);
    let found = examine(&trace, inodes);
    // The dynamic loader's search for libc and libgcc_s is most of the read-only opens.
    let (libraries, others): (Vec<_>, Vec<_>) =
        found.read_only.keys().partition(|p| p.contains(".so"));
    eprintln!(
        "strace: {} lines, calls {:?}, {} socket writes, files opened read-only: {} \
         libraries tried and {others:?}, stdout/stderr writes {:?}, SIGTERM to exit {took:?}",
        trace.lines().count(),
        found.calls,
        found.socket_writes,
        libraries.len(),
        found.output_writes,
    );
    assert!(
        found.violations.is_empty(),
        "writes to the file system:\n{}",
        found.violations.join("\n")
    );
    // Nor does it read a file of its own (the page is embedded): beyond the loader's
    // libraries, only the kernel's /proc and /sys.
    let unexpected: Vec<_> = others
        .iter()
        .filter(|p| !p.starts_with("/proc/") && !p.starts_with("/sys/"))
        .collect();
    assert!(unexpected.is_empty(), "opened {unexpected:?}");
    // The scenario was traced: its frames went out through the sockets.
    assert!(found.socket_writes >= 20, "{found:?}");
    // One write of the banner, all of it, and nothing else on stdout or stderr.
    let printed: i64 = found.output_writes.iter().map(|(_, n)| n).sum();
    assert_eq!(
        (found.output_writes.len(), printed),
        (1, banner.len() as i64),
        "{:?}",
        found.output_writes
    );
    assert!(
        found.output_writes[0].0.contains("sanctuary "),
        "{:?}",
        found.output_writes
    );
}

#[test]
fn the_trace_reader_flags_file_writes_and_tells_sockets_from_stdout() {
    let trace = "\
10 openat(AT_FDCWD</>, \"/etc/ld.so.cache\", O_RDONLY|O_CLOEXEC) = 3</etc/ld.so.cache>
10 write(1<pipe:[77]>, \"sanctuary 0.1.0: nothing\"..., 60) = 60
11 write(7<TCP:[127.0.0.1:1->127.0.0.1:2]>, \"\\x81\\x05hello\", 7) = 7
11 write(9<UNIX-STREAM:[5->6]>, \"\\x01\", 1) = 1
12 write(2<pipe:[78]>, \"oops\", 4 <unfinished ...>
11 openat(AT_FDCWD</>, \"/tmp/log\", O_WRONLY|O_CREAT|O_APPEND, 0644) = 4</tmp/log>
12 <... write resumed>) = 4
11 write(4</tmp/log>, \"x\", 1) = 1
11 unlink(\"/tmp/log\") = 0
+++ exited with 0 +++
";
    let found = examine(trace, [77, 78]);
    assert_eq!(found.socket_writes, 2, "{found:?}");
    assert_eq!(found.violations.len(), 3, "{found:?}");
    let written: Vec<i64> = found.output_writes.iter().map(|(_, n)| *n).collect();
    assert_eq!(written, [60, 4]);
}
