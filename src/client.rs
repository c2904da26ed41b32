//! A blocking protocol-v1 client: connect, prove or create, send sealed envelopes,
//! and read the server's frames as typed events with bodies already opened.
//! Used by the terminal client, the integration tests and the benchmark.

use serde_json::Value;
use std::collections::HashMap;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};
use zeroize::Zeroizing;

use crate::crypto::{self, Header, Kind, OpenError, Opened, RoomKeys, Stamp};
use crate::replay::{ReplayGuard, Stamper};
use crate::verifier;
use crate::whisper::{self, KeyPair};
use crate::wire::{Code, DecodeError, ServerFrame, Welcome, close};

/// Why a client operation failed.
#[derive(Debug)]
pub enum ClientError {
    /// The server could not be reached or the socket failed.
    Io(io::Error),
    /// The WebSocket layer failed (handshake refused, protocol violation).
    WebSocket(tungstenite::Error),
    /// The server sent something that is not protocol v1.
    Protocol(String),
    /// The server refused a request: `{"t":"error"}`.
    Refused { code: Code, message: String },
    /// The server closed the connection with this code.
    Closed(Option<u16>),
    /// A whisper that was not sent: the recipient has no verified key (a client
    /// without whispers to one member, or a key that failed authentication), or its
    /// key is a low-order point. Never a fallback to the room key.
    Whisper(String),
    /// **Extension** (issue 17): `bad_proof` from a room at epoch 0 whose verifier is
    /// not the one our secret derives. With a random invite secret (or one that let us
    /// in before) that is a room someone else made under this id after the original
    /// ended; with a typed passphrase, more likely a typo: the caller knows which.
    Recreated,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "cannot reach the server: {e}"),
            ClientError::WebSocket(e) => write!(f, "WebSocket error: {e}"),
            ClientError::Protocol(what) => write!(f, "protocol error: {what}"),
            ClientError::Refused { code, message } => write!(f, "refused ({code}): {message}"),
            ClientError::Closed(Some(code)) => {
                write!(f, "connection closed by the server (code {code})")
            }
            ClientError::Closed(None) => f.write_str("connection closed by the server"),
            ClientError::Whisper(why) => write!(f, "whisper not sent: {why}"),
            ClientError::Recreated => f.write_str(RECREATED),
        }
    }
}

impl std::error::Error for ClientError {}

/// What a member holding an invite link is told when its room id was taken over.
pub const RECREATED: &str = "this room was re-created by someone without its secret (the original room had ended): do not use it; create a new room";

impl ClientError {
    fn server_full() -> ClientError {
        ClientError::Refused {
            code: Code::ServerFull,
            message: String::new(),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl From<tungstenite::Error> for ClientError {
    fn from(e: tungstenite::Error) -> Self {
        match e {
            tungstenite::Error::Io(io) => ClientError::Io(io),
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                ClientError::Closed(None)
            }
            // Over the connection caps, when it is already telling several others so
            // over WebSocket, the server answers the handshake with 503.
            tungstenite::Error::Http(resp) if resp.status().as_u16() == 503 => {
                ClientError::server_full()
            }
            other => ClientError::WebSocket(other),
        }
    }
}

/// A server frame, decoded; `text` fields are already opened with the room keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `resume` (extension): this member's token for [`Client::rejoin`]; None from
    /// a server without the extension. Each welcome brings a new one.
    Welcome(Welcome),
    /// `rejoined` (extension): the same member back on a new connection.
    Joined {
        alias: String,
        rejoined: bool,
    },
    /// `farewell` is the opened `exit` body, if the member left one; `creator` who
    /// moderates now (the server applies the hand-over rule, clients only follow it).
    Left {
        alias: String,
        reason: String,
        farewell: Option<Result<String, String>>,
        creator: String,
    },
    /// A `msg` (`to` = None) or a `purr`. `text` is Err with a reason when the tag
    /// fails under every key this session holds, or the envelope is a replay
    /// (repeated, or out of the time window). `sent` is the sender's authenticated
    /// clock (ms since the epoch), None for a v1 envelope, which nothing protects
    /// against replay; `ts` is the server's clock. `earlier_keys` (extension): it
    /// opened only with the keys before the last rekey (sealed before the change).
    Message {
        from: String,
        to: Option<String>,
        text: Result<String, String>,
        sent: Option<u64>,
        ts: u64,
        seq: u64,
        earlier_keys: bool,
    },
    Kicked {
        alias: String,
        by: String,
        creator: String,
    },
    Purged {
        by: Option<String>,
    },
    /// **Extension**: the room's keys changed (`from` made the change). `secret` is
    /// the new room secret, already in use by this session; Err (keys unchanged)
    /// when it could not be opened or was not meant for this member, which then
    /// cannot read the room any more and needs the new invite link.
    Rekey {
        from: String,
        epoch: u64,
        to: Vec<String>,
        secret: Result<Zeroizing<String>, String>,
    },
    /// **Extension**: our rekey crossed a change in the room (`rekey_stale`); it was
    /// made again for the room as it is now and re-sent (`attempt` from 1).
    RekeyRetried {
        attempt: u32,
    },
    Error {
        code: Code,
        message: String,
    },
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// A frame type or error code this client does not know (a newer server's
    /// extension). Every frame of protocol v1 has its own variant above.
    Other(Value),
}

/// A connection that has received `hello` but is not in a room yet.
pub struct Client {
    ws: WebSocket<TcpStream>,
    nonce: Vec<u8>,
    /// The server's X25519 public key from `hello` (extension, issue 17).
    server_key: [u8; 32],
}

/// A member's verified whisper key, and the envelope keys of whispers with it once
/// needed: one X25519 per member whispered with, none for a room's worth of joins.
struct Peer {
    public: [u8; 32],
    keys: Option<RoomKeys>,
}

/// A client inside a room, holding the room's keys, the stamps of what this
/// connection seals and the replay memory of what it received.
pub struct Session {
    ws: WebSocket<TcpStream>,
    pub room: String,
    pub alias: String,
    keys: RoomKeys,
    /// The keys before the last rekey, to open what was sealed before it.
    previous: Option<RoomKeys>,
    /// The room's key epoch as this session holds it (extension); None when the
    /// server's welcome had none: it does not do rekeys.
    epoch: Option<u64>,
    /// Who is in the room, exact aliases in joining order: a rekey's recipients.
    members: Vec<String>,
    /// Our rekey (or kick with rekey) sent and not yet back.
    pending: Option<PendingRekey>,
    /// This connection's whisper key pair (a fresh one per connection).
    pair: KeyPair,
    /// The members whose announced whisper key verified, by alias as relayed.
    peers: HashMap<String, Peer>,
    stamper: Stamper,
    guard: ReplayGuard,
}

/// How many times a rekey that crossed a change in the room is made again.
pub const REKEY_TRIES: u32 = 3;

/// A rekey on its way: the new secret and its keys (derived once, before sending),
/// whom it removes, and how many times it has been sent.
struct PendingRekey {
    kick: Option<String>,
    secret: Zeroizing<String>,
    keys: RoomKeys,
    sent: u32,
}

fn protocol_error(e: DecodeError) -> ClientError {
    ClientError::Protocol(format!("the server sent a frame that is not v1: {e}"))
}

fn read_json(ws: &mut WebSocket<TcpStream>) -> Result<Value, ClientError> {
    loop {
        match ws.read()? {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str())
                    .map_err(|e| ClientError::Protocol(format!("server sent invalid JSON: {e}")));
            }
            Message::Close(frame) => {
                return Err(ClientError::Closed(frame.map(|f| u16::from(f.code))));
            }
            _ => {}
        }
    }
}

fn send_json(ws: &mut WebSocket<TcpStream>, v: &Value) -> Result<(), ClientError> {
    ws.send(Message::text(v.to_string()))?;
    Ok(())
}

impl Client {
    /// Connects to `host:port` (the chat port) and reads `hello`.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Client, ClientError> {
        let sock = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for host"))?;
        let stream = TcpStream::connect_timeout(&sock, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        let url = format!("ws://{sock}/ws");
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (mut ws, _) =
            tungstenite::client::client_with_config(url.as_str(), stream, Some(config)).map_err(
                |e| match e {
                    tungstenite::HandshakeError::Failure(e) => ClientError::from(e),
                    tungstenite::HandshakeError::Interrupted(_) => ClientError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "handshake timed out",
                    )),
                },
            )?;
        ws.get_mut().set_read_timeout(None)?;
        let hello = match read_json(&mut ws) {
            // Over the connection caps the server finishes the handshake only to close
            // with 1013 (PROTOCOL.md section 4).
            Err(ClientError::Closed(Some(close::TRY_AGAIN))) => {
                return Err(ClientError::server_full());
            }
            other => other?,
        };
        let Ok(ServerFrame::Hello { nonce, key }) = ServerFrame::from_value(&hello) else {
            return Err(ClientError::Protocol(format!(
                "expected hello v1 with the server's key, got {hello}"
            )));
        };
        let nonce = crypto::b64u_decode(&nonce)
            .ok_or_else(|| ClientError::Protocol("hello without a valid nonce".into()))?;
        let server_key = crypto::b64u_decode(&key)
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| ClientError::Protocol("hello without a valid server key".into()))?;
        Ok(Client {
            ws,
            nonce,
            server_key,
        })
    }

    /// Joins `room` with a proof; if the room does not exist and `create` is set,
    /// creates it. Returns the session and its `welcome` event.
    pub fn enter(
        self,
        room: &str,
        alias: &str,
        keys: RoomKeys,
        create: bool,
    ) -> Result<(Session, Event), ClientError> {
        self.rejoin(room, alias, keys, create, None)
    }

    /// As [`Client::enter`], bringing `resume`, the token of this alias's last
    /// `welcome`: if the server still holds that earlier connection, this one takes
    /// its seat (the old one is closed with 4005) instead of getting `alias_taken`,
    /// and the others are told the member `rejoined`. A token that does not match is
    /// `alias_taken`, as without one.
    pub fn rejoin(
        mut self,
        room: &str,
        alias: &str,
        keys: RoomKeys,
        create: bool,
        resume: Option<&str>,
    ) -> Result<(Session, Event), ClientError> {
        let proof_key = verifier::proof_key(&keys.k_auth, &self.server_key).map_err(|_| {
            ClientError::Protocol("the server's key in hello is a low-order point".into())
        })?;
        let proof = crypto::b64u_encode(&crypto::join_proof(&proof_key, &self.nonce, room, alias));
        drop(proof_key);
        let pair = KeyPair::generate();
        let key = pair.announce(&keys, room, alias);
        let mut join =
            serde_json::json!({"t":"join","room":room,"alias":alias,"proof":proof,"key":key});
        if let Some(token) = resume {
            join["resume"] = token.into();
        }
        send_json(&mut self.ws, &join)?;
        let read = |ws: &mut WebSocket<TcpStream>| {
            let v = read_json(ws)?;
            ServerFrame::from_value(&v).map_err(protocol_error)
        };
        let mut reply = read(&mut self.ws)?;
        if create
            && matches!(
                reply,
                ServerFrame::Error {
                    code: Code::NoRoom,
                    ..
                }
            )
        {
            let v = crypto::b64u_encode(&verifier::verifier(&keys.k_auth));
            let msg = serde_json::json!({"t":"create","room":room,"alias":alias,"proof":proof,"verifier":v,"key":key});
            send_json(&mut self.ws, &msg)?;
            reply = read(&mut self.ws)?;
        }
        if let ServerFrame::Error {
            code,
            message,
            verifier: theirs,
        } = reply
        {
            // Another verifier at epoch 0: a room made afresh under this id. At a later
            // epoch it is the real room rekeyed (our secret is outdated, e.g. kicked).
            let ours = || crypto::b64u_encode(&verifier::verifier(&keys.k_auth));
            if code == Code::BadProof && theirs.is_some_and(|(v, epoch)| epoch == 0 && v != ours())
            {
                return Err(ClientError::Recreated);
            }
            return Err(ClientError::Refused { code, message });
        }
        if !matches!(reply, ServerFrame::Welcome(_)) {
            return Err(ClientError::Protocol(format!(
                "expected welcome, got {}",
                reply.kind()
            )));
        }
        let mut session = Session {
            ws: self.ws,
            room: room.to_owned(),
            alias: alias.to_owned(),
            keys,
            previous: None,
            epoch: None,
            members: Vec::new(),
            pending: None,
            pair,
            peers: HashMap::new(),
            stamper: Stamper::default(),
            guard: ReplayGuard::default(),
        };
        let welcome = session.event(reply);
        Ok((session, welcome))
    }

    /// The raw socket, for tests that speak the protocol by hand.
    pub fn into_websocket(self) -> WebSocket<TcpStream> {
        self.ws
    }
}

impl Session {
    fn seal(&mut self, kind: Kind, to: &str, text: &str) -> String {
        let stamp = self.stamper.stamp();
        self.seal_with(&self.keys, &stamp, kind, to, text)
    }

    fn seal_with(
        &self,
        keys: &RoomKeys,
        stamp: &Stamp,
        kind: Kind,
        to: &str,
        text: &str,
    ) -> String {
        let h = Header {
            room: &self.room,
            kind,
            from: &self.alias,
            to,
        };
        crypto::seal(keys, &h, stamp, text.as_bytes())
    }

    /// Opens a body: a whisper with its own keys; anything else with the current room
    /// keys, else with those before the last rekey (the bool says it took those: sealed
    /// before the change, relayed after it). Then checks its stamp against the replay
    /// memory: the text and the sender's authenticated time, or why it is not shown.
    fn open(
        &mut self,
        kind: Kind,
        from: &str,
        to: &str,
        body: &str,
    ) -> (Result<(String, Option<u64>), String>, bool) {
        let whisper_keys = if kind == Kind::Purr {
            // Only the two ends of a whisper hold its keys; the other side is the peer.
            let peer = if from == self.alias {
                to
            } else if to == self.alias {
                from
            } else {
                let why = format!(
                    "it was a whisper to {to}, not meant for you (the server should not have relayed it here)"
                );
                return (Err(why), false);
            };
            match self.whisper_keys(peer) {
                Ok(keys) => Some(keys.clone()),
                Err(e) => return (Err(e.to_string()), false),
            }
        } else {
            None
        };
        let h = Header {
            room: &self.room,
            kind,
            from,
            to,
        };
        let opened = crypto::open(whisper_keys.as_ref().unwrap_or(&self.keys), &h, body);
        let (opened, earlier) = match (opened, &self.previous) {
            (Err(OpenError::BadTag), Some(previous)) if whisper_keys.is_none() => {
                match crypto::open(previous, &h, body) {
                    Ok(opened) => (Ok(opened), true),
                    Err(_) => (Err(OpenError::BadTag), false),
                }
            }
            (opened, _) => (opened, false),
        };
        let checked = opened
            .map_err(|e| e.to_string())
            .and_then(|opened| self.check_replay(from, opened));
        (checked, earlier)
    }

    /// The text and the sender's time of an opened envelope, unless its stamp shows a
    /// replay; a v1 envelope has no stamp to check.
    fn check_replay(
        &mut self,
        from: &str,
        opened: Opened,
    ) -> Result<(String, Option<u64>), String> {
        match opened.stamp {
            Some(stamp) => {
                self.guard
                    .check(from, &stamp, crate::protocol::now_ms())
                    .map_err(|e| e.to_string())?;
                Ok((opened.text, Some(stamp.sent_ms)))
            }
            None => Ok((opened.text, None)),
        }
    }

    /// The room's key epoch this session holds (0 until the first rekey), or None
    /// from a server without rekeys.
    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// Who is in the room as this session has been told, in joining order.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// **Extension**: kicks `alias` and changes the room's keys in the same step, so
    /// that the invite link it holds no longer admits it. The new secret comes back
    /// as [`Event::Rekey`] (with the room's other members' copies); a crossing change
    /// in the room is retried by [`Session::next_event`] up to [`REKEY_TRIES`] times.
    pub fn kick_and_rekey(&mut self, alias: &str) -> Result<(), ClientError> {
        self.start_rekey(Some(alias.to_owned()))
    }

    /// **Extension**: changes the room's keys without removing anyone (`/rekey`).
    pub fn rekey(&mut self) -> Result<(), ClientError> {
        self.start_rekey(None)
    }

    fn start_rekey(&mut self, kick: Option<String>) -> Result<(), ClientError> {
        if self.epoch.is_none() {
            // It would take the kick as a plain one and keep the old verifier.
            return Err(ClientError::Protocol(
                "this server does not change a room's keys (no rekey extension)".into(),
            ));
        }
        let secret = Zeroizing::new(crypto::b64u_encode(&crypto::random_bytes::<16>()));
        // Derived before sending: the server needs the new verifier with the request.
        let keys = RoomKeys::derive(&self.room, &secret);
        self.pending = Some(PendingRekey {
            kick,
            secret,
            keys,
            sent: 0,
        });
        self.send_rekey()
    }

    /// Seals the pending secret for the room as this session sees it now and sends it.
    fn send_rekey(&mut self) -> Result<(), ClientError> {
        let stamp = self.stamper.stamp();
        let Some(p) = &mut self.pending else {
            return Ok(());
        };
        p.sent += 1;
        let to: Vec<&str> = self
            .members
            .iter()
            .map(String::as_str)
            .filter(|m| p.kick.as_deref().is_none_or(|k| !crate::alias::same(m, k)))
            .collect();
        let h = Header {
            room: &self.room,
            kind: Kind::Rekey,
            from: &self.alias,
            to: &to.join(","),
        };
        let body = crypto::seal(&self.keys, &h, &stamp, p.secret.as_bytes());
        // The verifier, not k_auth: public by design (issue 17).
        let v = crypto::b64u_encode(&verifier::verifier(&p.keys.k_auth));
        let epoch = self.epoch.unwrap_or(0);
        let mut req =
            serde_json::json!({"t":"rekey","epoch":epoch,"to":to,"body":body,"verifier":v});
        if let Some(alias) = &p.kick {
            req["t"] = "kick".into();
            req["alias"] = alias.as_str().into();
        }
        send_json(&mut self.ws, &req)
    }

    /// A `rekey_stale` for our pending rekey: the frames that crossed it came first
    /// and are applied, so make it again for the room as it is now, a bounded number
    /// of times, unless whom it removes has gone meanwhile.
    fn retry_rekey(&mut self, refusal: Event) -> Result<Event, ClientError> {
        let retry = self.pending.as_ref().is_some_and(|p| {
            p.sent < REKEY_TRIES
                && p.kick
                    .as_deref()
                    .is_none_or(|k| self.members.iter().any(|m| crate::alias::same(m, k)))
        });
        if !retry {
            self.pending = None;
            return Ok(refusal);
        }
        self.send_rekey()?;
        let attempt = self.pending.as_ref().map_or(0, |p| p.sent - 1);
        Ok(Event::RekeyRetried { attempt })
    }

    /// A `rekey` frame: the new secret, opened with the keys it was sealed under
    /// (ours now), taken into use if it names us; the old keys kept for what is
    /// still in flight.
    fn apply_rekey(
        &mut self,
        from: &str,
        epoch: u64,
        to: &[String],
        body: &str,
    ) -> Result<Zeroizing<String>, String> {
        let h = Header {
            room: &self.room,
            kind: Kind::Rekey,
            from,
            to: &to.join(","),
        };
        // No replay check: an old rekey was sealed under keys this session no longer
        // uses, and the epoch must be the next one.
        let secret = crypto::open(&self.keys, &h, body)
            .map(|opened| Zeroizing::new(opened.text))
            .map_err(|e| format!("the new room secret could not be opened: {e}"))?;
        if !to.contains(&self.alias) {
            return Err("the new room secret was not meant for this member".into());
        }
        let held = self.epoch.unwrap_or(0);
        if epoch != held + 1 {
            return Err(format!(
                "key change {epoch} came after {held}: a step was missed"
            ));
        }
        // Our own rekey back: its keys are derived already.
        let keys = match self.pending.take_if(|p| p.secret == secret) {
            Some(p) => p.keys,
            None => RoomKeys::derive(&self.room, &secret),
        };
        self.previous = Some(std::mem::replace(&mut self.keys, keys));
        self.epoch = Some(epoch);
        Ok(secret)
    }

    /// The envelope keys of whispers between us and `peer`, from our key pair and the
    /// verified key `peer` announced. Public so that tests can try them as a third
    /// member would.
    pub fn whisper_keys(&mut self, peer: &str) -> Result<&RoomKeys, ClientError> {
        let known = self.peers.get_mut(peer).ok_or_else(|| {
            ClientError::Whisper(format!(
                "{peer} has no verified whisper key (a client without whispers, or a key that failed authentication)"
            ))
        })?;
        let keys = match known.keys.take() {
            Some(keys) => keys,
            None => self
                .pair
                .whisper_keys(&known.public, &self.room, &self.alias, peer)
                .map_err(|e| ClientError::Whisper(format!("{peer}: {e}")))?,
        };
        Ok(known.keys.insert(keys))
    }

    /// Whether `alias` announced a whisper key whose tag verified.
    pub fn has_whisper_key(&self, alias: &str) -> bool {
        self.peers.contains_key(alias)
    }

    /// Keeps `alias`'s announced key when its tag verifies (ours is not a peer's).
    /// A key that does not leaves `alias` without one: whispers to it are refused and
    /// whispers from it fail.
    fn learn_key(&mut self, alias: &str, field: &str) {
        if alias == self.alias {
            return;
        }
        if let Ok(public) = whisper::verify_key(&self.keys, &self.room, alias, field) {
            let peer = Peer { public, keys: None };
            self.peers.insert(alias.to_owned(), peer);
        }
    }

    pub fn say(&mut self, text: &str) -> Result<(), ClientError> {
        let body = self.seal(Kind::Msg, "", text);
        send_json(&mut self.ws, &serde_json::json!({"t":"msg","body":body}))
    }

    /// Whispers to `to`, sealed with keys only `to` and we can derive; refused with
    /// [`ClientError::Whisper`] when `to` has no verified key.
    pub fn purr(&mut self, to: &str, text: &str) -> Result<(), ClientError> {
        let keys = self.whisper_keys(to)?.clone();
        let stamp = self.stamper.stamp();
        let body = self.seal_with(&keys, &stamp, Kind::Purr, to, text);
        send_json(
            &mut self.ws,
            &serde_json::json!({"t":"purr","to":to,"body":body}),
        )
    }

    pub fn kick(&mut self, alias: &str) -> Result<(), ClientError> {
        send_json(&mut self.ws, &serde_json::json!({"t":"kick","alias":alias}))
    }

    pub fn stop(&mut self) -> Result<(), ClientError> {
        send_json(&mut self.ws, &serde_json::json!({"t":"stop"}))
    }

    /// Leaves the room, with an optional farewell the others can read.
    pub fn exit(&mut self, farewell: Option<&str>) -> Result<(), ClientError> {
        let msg = match farewell {
            Some(text) => serde_json::json!({"t":"exit","body":self.seal(Kind::Exit, "", text)}),
            None => serde_json::json!({"t":"exit"}),
        };
        send_json(&mut self.ws, &msg)
    }

    /// Joins the same room under the same name on a new connection to `addr`, after
    /// this one was lost; `resume` (the last welcome's token) takes over a seat the
    /// server still holds for the lost connection. Creates the room if it has died.
    pub fn reconnect(
        &self,
        addr: &str,
        timeout: Duration,
        resume: Option<&str>,
    ) -> Result<(Session, Event), ClientError> {
        let (mut session, welcome) = Client::connect(addr, timeout)?.rejoin(
            &self.room,
            &self.alias,
            self.keys.clone(),
            true,
            resume,
        )?;
        // What was accepted before the break must not be accepted again after it.
        session.guard = self.guard.clone();
        Ok((session, welcome))
    }

    /// Sets how long [`Session::next_event`] waits (None: forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.ws.get_mut().set_read_timeout(timeout)
    }

    /// The next frame from the server, decoded. A close becomes `Event::Closed`.
    pub fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).map_err(|e| {
                        ClientError::Protocol(format!("server sent invalid JSON: {e}"))
                    })?;
                    return match ServerFrame::from_value(&v) {
                        Ok(frame) => match self.event(frame) {
                            stale @ Event::Error {
                                code: Code::RekeyStale,
                                ..
                            } => self.retry_rekey(stale),
                            // Refused for good: nothing to retry or wait for.
                            refused @ Event::Error {
                                code: Code::NotAllowed | Code::NoMember | Code::SelfKick,
                                ..
                            } => {
                                self.pending = None;
                                Ok(refused)
                            }
                            event => Ok(event),
                        },
                        Err(DecodeError::UnknownType(_) | DecodeError::UnknownCode(_)) => {
                            Ok(Event::Other(v))
                        }
                        Err(e) => Err(protocol_error(e)),
                    };
                }
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame.map_or((None, String::new()), |f| {
                        (Some(u16::from(f.code)), f.reason.to_string())
                    });
                    return Ok(Event::Closed { code, reason });
                }
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes `alias` out of the member list, as the server spells it, with its key.
    fn forget(&mut self, alias: &str) {
        self.members.retain(|m| m != alias);
        self.peers.remove(alias);
    }

    /// A decoded frame as an event, bodies opened with the room keys (whispers with
    /// their own); keeps the member list and the verified whisper keys, and takes a
    /// rekey's new keys into use.
    fn event(&mut self, frame: ServerFrame) -> Event {
        match frame {
            ServerFrame::Welcome(w) => {
                self.members.clone_from(&w.members);
                self.epoch = w.epoch;
                self.peers.clear();
                for (alias, key) in &w.keys {
                    self.learn_key(alias, key);
                }
                Event::Welcome(w)
            }
            ServerFrame::Joined {
                alias,
                rejoined,
                key,
            } => {
                // A rejoin by token replaces its member without a `left`, perhaps
                // spelling the alias another way: one entry, moved last, with the new
                // connection's key.
                self.members.retain(|m| !crate::alias::same(m, &alias));
                self.members.push(alias.clone());
                self.peers.retain(|a, _| !crate::alias::same(a, &alias));
                if let Some(key) = key {
                    self.learn_key(&alias, &key);
                }
                Event::Joined { alias, rejoined }
            }
            ServerFrame::Left(left) => {
                self.forget(&left.alias);
                let farewell = left.body.map(|b| {
                    self.open(Kind::Exit, &left.alias, "", &b)
                        .0
                        .map(|(text, _)| text)
                });
                Event::Left {
                    farewell,
                    reason: left.reason.as_str().to_owned(),
                    alias: left.alias,
                    creator: left.creator,
                }
            }
            ServerFrame::Relayed(r) => {
                let kind = if r.to.is_some() {
                    Kind::Purr
                } else {
                    Kind::Msg
                };
                let (opened, earlier_keys) =
                    self.open(kind, &r.from, r.to.as_deref().unwrap_or(""), &r.body);
                Event::Message {
                    sent: opened.as_ref().ok().and_then(|(_, sent)| *sent),
                    text: opened.map(|(text, _)| text),
                    from: r.from,
                    to: r.to,
                    ts: r.ts,
                    seq: r.seq,
                    earlier_keys,
                }
            }
            ServerFrame::Kicked { alias, by, creator } => {
                self.forget(&alias);
                Event::Kicked { alias, by, creator }
            }
            ServerFrame::Rekey {
                from,
                epoch,
                to,
                body,
            } => Event::Rekey {
                secret: self.apply_rekey(&from, epoch, &to, &body),
                from,
                epoch,
                to,
            },
            ServerFrame::Purged { by } => Event::Purged { by },
            ServerFrame::Error { code, message, .. } => Event::Error { code, message },
            // Only ever the first frame; a second one changes nothing.
            hello @ ServerFrame::Hello { .. } => {
                Event::Other(serde_json::json!({"t": hello.kind()}))
            }
        }
    }
}
