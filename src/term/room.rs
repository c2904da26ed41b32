//! The room as the terminal client lives it, once `welcome` has come: the state
//! machine that turns typed lines, signals and the server's frames into printed lines
//! and, in the end, one exit status.
//!
//! Threads, no async runtime: one thread reads stdin into a channel; one waits for
//! SIGINT/SIGTERM/SIGHUP; the main thread owns the socket, reading it with a short
//! timeout and draining the channels between reads (tungstenite's socket cannot be
//! split between a reader and a writer thread).

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::io::{self, BufRead, IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

use super::commands::{self, Command, HELP};
use super::config::ServerConfig;
use super::exit::Exit;
use super::link;
use super::pace::Pacer;
use super::render::{self, Painter};
use super::run::NETWORK_TIMEOUT;
use crate::client::{ClientError, Event, Session};
use crate::crypto;
use crate::signals;
use crate::wire::{Code, Welcome, close};

/// Longest a typed line waits for the socket thread to notice it.
const POLL: Duration = Duration::from_millis(50);
/// How long to wait for the server's close after leaving, kicked or purged.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// Waits between reconnection attempts: doubling from the first, at most the last
/// (each drawn between half and all of it, so clients that lost one server do not all
/// come back at the same instant).
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MOST: Duration = Duration::from_secs(30);
/// Reconnecting gives up after this long without the server.
const RETRY_FOR: Duration = Duration::from_secs(5 * 60);
/// JSON around a sealed body (`{"t":"purr","to":"","body":""}`), plus slack.
const FRAME_OVERHEAD: usize = 40;

/// What a line from stdin (or a signal) asks for.
enum Input {
    Line(String),
    End,
    Failed(String),
}

pub(super) struct NewRoom {
    pub(super) link: Zeroizing<String>,
    /// The link names 127.0.0.1 or localhost: worth a word to the person sharing it.
    pub(super) loopback: bool,
}

fn is_would_block(e: &ClientError) -> bool {
    matches!(e, ClientError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

/// Prints the welcome, starts the input threads and runs the room until it ends.
/// `new_room` only for a room this client created: the link to share.
pub(super) fn chat(
    session: Session,
    welcome: Event,
    new_room: Option<NewRoom>,
    config: &ServerConfig,
    page: (String, u16),
) -> Exit {
    let me = session.alias.clone();
    let colour = Painter::wants_colour();
    let mut room = Room {
        paint: Painter::new(colour, &me),
        stdout_tty: io::stdout().is_terminal(),
        me,
        members: Vec::new(),
        creator: String::new(),
        creator_moderates: config.creator_moderates,
        max_bytes: config.max_message_bytes,
        pacer: Pacer::new(Instant::now()),
        held: None,
        leaving: false,
        kicked_by: None,
        purged: None,
        deadline: None,
        chat_addr: config.chat_addr(),
        resume: None,
        page,
        session,
    };
    let exit = room.run(welcome, new_room);
    if matches!(exit, Exit::Local(_)) {
        let _ = room.session.exit(None); // stdout broke: leave rather than vanish
    }
    exit
}

/// Blocks the signals that should end the session cleanly in every thread, so that
/// one thread can take them with sigwait and say so on a channel.
fn watch_signals() -> io::Result<Receiver<()>> {
    let blocked = signals::block(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    let (tx, rx) = crossbeam_channel::bounded(4);
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            loop {
                blocked.wait();
                if tx.send(()).is_err() {
                    return;
                }
            }
        })?;
    Ok(rx)
}

/// Lines of stdin, then `End`. Bounded, so a piped file is read only as fast as the
/// pacer lets lines go.
fn read_stdin(tx: Sender<Input>) -> io::Result<()> {
    thread::Builder::new().name("stdin".into()).spawn(move || {
        let stdin = io::stdin();
        let mut stdin = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let input = match stdin.read_until(b'\n', &mut buf) {
                Ok(0) => Input::End,
                Ok(_) => Input::Line(String::from_utf8_lossy(&buf).into_owned()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Input::Failed(e.to_string()),
            };
            let last = !matches!(input, Input::Line(_));
            if tx.send(input).is_err() || last {
                return;
            }
        }
    })?;
    Ok(())
}

/// The room as this client sees it, and how far it is from ending.
struct Room {
    session: Session,
    paint: Painter,
    stdout_tty: bool,
    me: String,
    members: Vec<String>,
    /// Who may kick and stop, as the server last said (welcome, left, kicked): the
    /// server applies the hand-over rule, this client only follows it.
    creator: String,
    creator_moderates: bool,
    max_bytes: usize,
    pacer: Pacer,
    /// A command waiting for the pacer.
    held: Option<Command>,
    /// `exit` was sent: waiting for the server's close.
    leaving: bool,
    kicked_by: Option<String>,
    /// Some(by) once the room was purged; by is None on server shutdown.
    purged: Option<Option<String>>,
    /// Give up waiting for the server's close at this time.
    deadline: Option<Instant>,
    /// Where to reconnect to after a lost connection, and the token that lets the new
    /// connection take over the lost one's seat (from the last welcome).
    chat_addr: String,
    resume: Option<String>,
    /// Host and port of the page, for the invite link a rekey makes.
    page: (String, u16),
}

impl Room {
    fn run(&mut self, welcome: Event, new_room: Option<NewRoom>) -> Exit {
        // Before the welcome is shown, so a Ctrl-C right after it already leaves cleanly.
        let signals = match watch_signals() {
            Ok(rx) => rx,
            Err(e) => return Exit::Local(format!("cannot start a thread: {e}")),
        };
        if let Err(exit) = self.show_welcome(welcome, new_room) {
            return exit;
        }
        let (tx, lines) = crossbeam_channel::bounded(32);
        if let Err(e) = read_stdin(tx) {
            return Exit::Local(format!("cannot start a thread: {e}"));
        }
        if let Err(e) = self.session.set_read_timeout(Some(POLL)) {
            return Exit::Local(format!("cannot set a socket timeout: {e}"));
        }
        loop {
            if signals.try_recv().is_ok() {
                if self.leaving {
                    return Exit::Left; // asked twice: stop waiting for the server
                }
                self.held = None;
                if let Err(exit) = self.leave(None) {
                    return exit;
                }
            }
            if let Err(exit) = self.pump_input(&lines) {
                return exit;
            }
            let lost = match self.session.next_event() {
                Ok(Event::Closed { code, .. }) => {
                    // Lets tungstenite send its close reply before the process ends.
                    let _ = self.session.next_event();
                    code
                }
                Ok(event) => {
                    if let Err(exit) = self.show(event) {
                        return exit;
                    }
                    continue;
                }
                Err(e) if is_would_block(&e) => Some(0),
                Err(ClientError::Protocol(why)) => return Exit::Protocol(why),
                Err(_) => None,
            };
            match lost {
                Some(0) => {}
                code if self.lost_unexpectedly(code) => {
                    if let Err(exit) = self.reconnect(&signals) {
                        return exit;
                    }
                }
                code => return self.outcome(code),
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return self.outcome(None);
            }
        }
    }

    fn print(&self, line: &str) -> Result<(), Exit> {
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| Exit::Local(format!("cannot write to stdout: {e}")))
    }

    fn show_welcome(&mut self, welcome: Event, new_room: Option<NewRoom>) -> Result<(), Exit> {
        let Event::Welcome(Welcome {
            members,
            created,
            creator,
            resume,
            ..
        }) = welcome
        else {
            return Err(Exit::Protocol("the server did not send welcome".into()));
        };
        self.members = members;
        self.creator = creator;
        self.resume = resume;
        let line = self.paint.welcome(&self.members);
        self.print(&line)?;
        match new_room {
            Some(NewRoom { link, loopback }) => {
                let line = Zeroizing::new(self.paint.invite(&link, loopback));
                self.print(&line)?;
            }
            None if created => {
                let line = self.paint.opened_fresh();
                self.print(&line)?;
            }
            None => {}
        }
        Ok(())
    }

    /// What the server said, on stdout.
    fn show(&mut self, event: Event) -> Result<(), Exit> {
        let line = match event {
            // Shown at the sender's authenticated time, not the server's.
            Event::Message {
                from,
                to,
                text: Ok(text),
                sent,
                ts,
                earlier_keys,
                ..
            } => {
                let line = match sent {
                    Some(sent) => self.paint.message(sent, &from, to.as_deref(), &text),
                    None => self.paint.unprotected(ts, &from, to.as_deref(), &text),
                };
                if earlier_keys {
                    format!("{line} {}", self.paint.before_rekey())
                } else {
                    line
                }
            }
            Event::Message {
                from,
                to,
                text: Err(why),
                ts,
                ..
            } => self.paint.unverified(ts, &from, to.is_some(), &why),
            Event::Joined { alias, rejoined } => {
                // A rejoin by resume token replaces the member without a `left` (and
                // may spell the alias in another case or look-alike): one entry per
                // alias as the server counts them, moved last as the server moves it.
                self.members.retain(|m| !crate::alias::same(m, &alias));
                self.members.push(alias.clone());
                self.paint.joined(&alias, rejoined)
            }
            Event::Left {
                alias,
                reason,
                farewell,
                creator,
            } => {
                self.members.retain(|m| *m != alias);
                let line = self.paint.left(&alias, &reason, farewell.as_ref());
                self.print(&line)?;
                return self.new_creator(creator);
            }
            Event::Kicked { alias, by, creator } => {
                if alias == self.me {
                    self.kicked_by = Some(by.clone());
                    self.ending();
                    return self.print(&self.paint.kicked(&alias, &by));
                }
                self.members.retain(|m| *m != alias);
                self.print(&self.paint.kicked(&alias, &by))?;
                return self.new_creator(creator);
            }
            Event::Purged { by } => {
                let line = self.paint.purged(by.as_deref());
                self.purged = Some(by);
                self.ending();
                line
            }
            Event::Rekey { from, secret, .. } => return self.rekeyed(&from, secret),
            Event::RekeyRetried { attempt } => self.paint.note(&format!(
                "the room changed while its keys were being changed; trying again ({attempt} of {})",
                crate::client::REKEY_TRIES - 1
            )),
            Event::Error { code, message } => self.paint.error(code, &message),
            // A newer server's extensions, and a second welcome, change nothing here.
            Event::Welcome(_) | Event::Other(_) | Event::Closed { .. } => return Ok(()),
        };
        self.print(&line)
    }

    /// The room's keys changed: say so, with the new invite link (the old one admits
    /// nobody now), or say that this client was left without them.
    fn rekeyed(
        &mut self,
        from: &str,
        secret: Result<Zeroizing<String>, String>,
    ) -> Result<(), Exit> {
        let secret = match secret {
            Ok(secret) => secret,
            Err(why) => {
                let line = self.paint.problem(&format!(
                    "the room's keys changed and this client did not get the new ones ({why}); it cannot read the room any more: ask for the new invite link"
                ));
                return self.print(&line);
            }
        };
        // A kick comes with its own line just before: this one says what it means.
        let line = self.paint.note(&format!(
            "{} changed the room's keys: the old invite link no longer admits anyone; the new one:",
            render::field(from)
        ));
        self.print(&line)?;
        let (host, port) = &self.page;
        let link = link::invite_link(host, *port, &self.session.room, &secret);
        let line = Zeroizing::new(self.paint.invite(&link, link::is_loopback(host)));
        self.print(&line)
    }

    /// Follows the server's word on who moderates, saying so when it matters here.
    fn new_creator(&mut self, creator: String) -> Result<(), Exit> {
        if creator == self.creator {
            return Ok(());
        }
        self.creator = creator;
        if !self.creator_moderates || self.creator.is_empty() {
            return Ok(());
        }
        let line = if self.creator == self.me {
            self.paint
                .note("you may now kick and stop: the room's creator left")
        } else {
            self.paint.note(&format!(
                "{} may now kick and stop: the room's creator left",
                render::field(&self.creator)
            ))
        };
        self.print(&line)
    }

    /// The room is over for this client: stop sending, wait briefly for the close.
    fn ending(&mut self) {
        self.held = None;
        self.deadline.get_or_insert(Instant::now() + CLOSE_GRACE);
    }

    /// Whether a close (code, or None for a connection that just broke) was the
    /// network's doing rather than an ending: the server's word (kick, stop, shutdown,
    /// a refusal) or this client's own leaving ends the session instead.
    fn lost_unexpectedly(&self, code: Option<u16>) -> bool {
        !self.leaving && self.kicked_by.is_none() && self.purged.is_none() && code.is_none()
    }

    /// Joins again under the same name after a lost connection, with growing waits,
    /// until it works, the person interrupts, or [`RETRY_FOR`] has passed. Lines typed
    /// meanwhile wait in the input queue and are sent once back in.
    fn reconnect(&mut self, signals: &Receiver<()>) -> Result<(), Exit> {
        let away = crate::protocol::now_ms();
        let started = Instant::now();
        let line = self.paint.note("connection lost, reconnecting…");
        self.print(&line)?;
        let mut wait = RETRY_FIRST;
        let mut said_taken = false;
        loop {
            // Half to all of `wait`, from a random byte.
            let jitter = f64::from(crypto::random_bytes::<1>()[0]) / 255.0;
            let until = Instant::now() + wait.mul_f64(0.5 + jitter / 2.0);
            while Instant::now() < until {
                if signals.try_recv().is_ok() {
                    return Err(Exit::Left);
                }
                thread::sleep(POLL);
            }
            if started.elapsed() >= RETRY_FOR {
                return Err(self.outcome(None));
            }
            wait = (wait * 2).min(RETRY_MOST);
            let attempt =
                self.session
                    .reconnect(&self.chat_addr, NETWORK_TIMEOUT, self.resume.as_deref());
            match attempt {
                Ok((mut session, welcome)) => {
                    if let Err(e) = session.set_read_timeout(Some(POLL)) {
                        return Err(Exit::Local(format!("cannot set a socket timeout: {e}")));
                    }
                    self.session = session;
                    let (from, to) = (render::hhmm(away), render::hhmm(crate::protocol::now_ms()));
                    let line = self.paint.note(&format!(
                        "reconnected: you were away from {from} to {to}; messages sent then are not shown"
                    ));
                    self.print(&line)?;
                    return self.show_welcome(welcome, None);
                }
                Err(ClientError::Refused {
                    code: Code::AliasTaken,
                    ..
                }) => {
                    if !said_taken {
                        said_taken = true;
                        let line = self.paint.note(
                            "your name is still held by the lost connection; waiting for the server to let it go…",
                        );
                        self.print(&line)?;
                    }
                }
                Err(ClientError::Refused {
                    code: Code::BadProof,
                    ..
                }) => {
                    return Err(Exit::WrongSecret);
                }
                Err(ClientError::Closed(Some(close::BAD_PROOF))) => return Err(Exit::WrongSecret),
                // This secret let us in before, so no typo: the room ended while we were
                // away and someone without the secret made one under its id.
                Err(ClientError::Recreated) => return Err(Exit::Recreated),
                // Full for now: places free up as others leave, so keep trying.
                Err(ClientError::Refused {
                    code: Code::ServerFull,
                    ..
                }) => {}
                Err(ClientError::Refused { code, message }) => {
                    return Err(Exit::Refused(render::error_text(code, &message)));
                }
                Err(_) => {} // not back yet: try again
            }
        }
    }

    /// How the session ended, from what was seen before the close (or its absence).
    fn outcome(&self, code: Option<u16>) -> Exit {
        if self.kicked_by.is_some() || code == Some(close::KICKED) {
            return Exit::Kicked(self.kicked_by.clone().filter(|by| !by.is_empty()));
        }
        if let Some(by) = &self.purged {
            return match by {
                Some(by) if *by == self.me => Exit::Stopped,
                Some(by) => Exit::Purged(Some(by.clone())),
                None => Exit::Shutdown,
            };
        }
        match code {
            Some(close::PURGED) => Exit::Purged(None),
            Some(close::BAD_PROOF) => Exit::WrongSecret,
            Some(close::GOING_AWAY) => Exit::Shutdown,
            Some(close::POLICY) => Exit::Protocol(
                "the server disconnected this client for sending too much, too fast".into(),
            ),
            Some(close::TOO_BIG) => Exit::Protocol(
                "a message was too large for the server, so it disconnected this client".into(),
            ),
            _ if self.leaving => Exit::Left,
            Some(code) => {
                Exit::Unreachable(format!("the server closed the connection (code {code})"))
            }
            None => Exit::Unreachable("lost the connection to the server".into()),
        }
    }

    /// Acts on typed lines until none are waiting or the pacer says wait.
    fn pump_input(&mut self, lines: &Receiver<Input>) -> Result<(), Exit> {
        while !self.leaving && self.deadline.is_none() {
            let command = match self.held.take() {
                Some(command) => command,
                None => match lines.try_recv() {
                    Ok(Input::Line(line)) => match commands::parse(&line) {
                        Some(command) => command,
                        None => continue,
                    },
                    Ok(Input::End) | Err(TryRecvError::Disconnected) => Command::Exit(None),
                    Ok(Input::Failed(why)) => {
                        let line = self
                            .paint
                            .problem(&format!("cannot read stdin ({why}); leaving"));
                        self.print(&line)?;
                        Command::Exit(None)
                    }
                    Err(TryRecvError::Empty) => return Ok(()),
                },
            };
            let sends = matches!(
                command,
                Command::Say(_)
                    | Command::Purr { .. }
                    | Command::Kick(_)
                    | Command::Rekey
                    | Command::Stop
                    | Command::Exit(_)
            );
            if sends && !self.pacer.try_take(Instant::now()) {
                self.held = Some(command);
                return Ok(());
            }
            self.act(command)?;
        }
        Ok(())
    }

    fn act(&mut self, command: Command) -> Result<(), Exit> {
        let sent = match command {
            Command::Say(text) => {
                if !self.fits(&text, "") {
                    return self.too_long();
                }
                self.session.say(&text)
            }
            Command::Purr { to, text } => {
                let Some(to) = self.member(&to)? else {
                    return Ok(());
                };
                if to == self.me {
                    return self.problem("whispering to yourself? nobody would hear it");
                }
                if !self.fits(&text, &to) {
                    return self.too_long();
                }
                match self.session.purr(&to, &text) {
                    // Not sent at all: the connection is fine, only this whisper is not.
                    Err(ClientError::Whisper(why)) => return self.problem(&why),
                    sent => sent,
                }
            }
            Command::Kick(alias) => {
                let Some(alias) = self.member(&alias)? else {
                    return Ok(());
                };
                if alias == self.me {
                    return self.problem(&render::error_text(Code::SelfKick, ""));
                }
                if self.session.epoch().is_none() {
                    self.problem("this server cannot change the room's keys: the kicked member's link still works")?;
                    self.session.kick(&alias)
                } else {
                    self.changing_keys()?;
                    self.session.kick_and_rekey(&alias)
                }
            }
            Command::Rekey if self.session.epoch().is_none() => {
                return self.problem("this server cannot change the room's keys");
            }
            Command::Rekey => {
                self.changing_keys()?;
                self.session.rekey()
            }
            Command::Stop => self.session.stop(),
            Command::Exit(farewell) => {
                if farewell.as_deref().is_some_and(|f| !self.fits(f, "")) {
                    return self.too_long();
                }
                return self.leave(farewell.as_deref());
            }
            Command::Help => {
                for (usage, what) in HELP {
                    let line = self.paint.note(&format!("{usage:<20} {what}"));
                    self.print(&line)?;
                }
                return Ok(());
            }
            Command::Who => {
                let line = self.paint.note(&format!(
                    "in the room ({}): {}",
                    self.members.len(),
                    self.members
                        .iter()
                        .map(|m| {
                            let mut name = render::field(m);
                            if *m == self.me {
                                name.push_str(" (you)");
                            }
                            if self.creator_moderates && *m == self.creator {
                                name.push_str(" (creator)");
                            }
                            name
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return self.print(&line);
            }
            Command::Clear => {
                // Only our own escape codes, and only to a terminal.
                if self.stdout_tty {
                    return self.print("\x1b[2J\x1b[H");
                }
                return Ok(());
            }
            Command::Usage(message) => return self.problem(&message),
        };
        // A failed send means the connection is gone; the read that follows says how.
        if sent.is_err() {
            self.ending();
        }
        Ok(())
    }

    fn leave(&mut self, farewell: Option<&str>) -> Result<(), Exit> {
        self.leaving = true;
        self.deadline = Some(Instant::now() + CLOSE_GRACE);
        // If this fails the connection is already gone, which is leaving too.
        let _ = self.session.exit(farewell);
        Ok(())
    }

    /// The member called `name` (any case), or a note that nobody is.
    fn member(&mut self, name: &str) -> Result<Option<String>, Exit> {
        let found = self
            .members
            .iter()
            .find(|m| m.eq_ignore_ascii_case(name))
            .cloned();
        if found.is_none() {
            self.problem(&format!(
                "nobody called {} is in the room",
                render::field(name)
            ))?;
        }
        Ok(found)
    }

    /// Whether the sealed frame stays under the server's limit (bigger: close 1009).
    fn fits(&self, text: &str, to: &str) -> bool {
        let sealed = crypto::SEALED_OVERHEAD + text.len();
        (sealed * 4).div_ceil(3) + FRAME_OVERHEAD + to.len() <= self.max_bytes
    }

    fn too_long(&mut self) -> Result<(), Exit> {
        let kib = self.max_bytes / 1024;
        self.problem(&format!(
            "that is too long to send (the server takes at most {kib} KiB per message, and encryption adds a third)"
        ))
    }

    /// Deriving the new keys takes a moment (PBKDF2): say why the prompt waits.
    fn changing_keys(&mut self) -> Result<(), Exit> {
        let line = self.paint.note("changing the room's keys…");
        self.print(&line)
    }

    fn problem(&mut self, text: &str) -> Result<(), Exit> {
        let line = self.paint.problem(text);
        self.print(&line)
    }
}
