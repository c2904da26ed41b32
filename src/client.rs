//! A blocking protocol-v1 client: connect, prove or create, send sealed envelopes,
//! and read the server's frames as typed events with bodies already opened.
//! Used by the terminal client, the integration tests and the benchmark.

use serde_json::Value;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::crypto::{self, Header, Kind, RoomKeys};
use crate::replay::{ReplayGuard, Stamper};
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
        }
    }
}

impl std::error::Error for ClientError {}

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
    /// fails or the envelope is a replay (repeated, or out of the time window).
    /// `sent` is the sender's authenticated clock (ms since the epoch), None for a v1
    /// envelope, which nothing protects against replay; `ts` is the server's clock.
    Message {
        from: String,
        to: Option<String>,
        text: Result<String, String>,
        sent: Option<u64>,
        ts: u64,
        seq: u64,
    },
    Kicked {
        alias: String,
        by: String,
        creator: String,
    },
    Purged {
        by: Option<String>,
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
}

/// A client inside a room, holding the room's keys, the stamps of what this
/// connection seals and the replay memory of what it received.
pub struct Session {
    ws: WebSocket<TcpStream>,
    pub room: String,
    pub alias: String,
    keys: RoomKeys,
    stamper: Stamper,
    guard: ReplayGuard,
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
        let Ok(ServerFrame::Hello { nonce }) = ServerFrame::from_value(&hello) else {
            return Err(ClientError::Protocol(format!(
                "expected hello v1, got {hello}"
            )));
        };
        let nonce = crypto::b64u_decode(&nonce)
            .ok_or_else(|| ClientError::Protocol("hello without a valid nonce".into()))?;
        Ok(Client { ws, nonce })
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
        let proof = crypto::join_proof(&keys.k_auth, &self.nonce, room, alias);
        let mut join = serde_json::json!({"t":"join","room":room,"alias":alias,"proof":crypto::b64u_encode(&proof)});
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
            let auth = crypto::b64u_encode(&keys.k_auth);
            let msg = serde_json::json!({"t":"create","room":room,"alias":alias,"auth":auth});
            send_json(&mut self.ws, &msg)?;
            reply = read(&mut self.ws)?;
        }
        if let ServerFrame::Error { code, message } = reply {
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
        let h = Header {
            room: &self.room,
            kind,
            from: &self.alias,
            to,
        };
        crypto::seal(&self.keys, &h, &self.stamper.stamp(), text.as_bytes())
    }

    /// Opens a relayed body and checks its stamp against the replay memory: the text
    /// and the sender's authenticated time, or why it is not shown.
    fn open(
        &mut self,
        kind: Kind,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<(String, Option<u64>), String> {
        let h = Header {
            room: &self.room,
            kind,
            from,
            to,
        };
        let opened = crypto::open(&self.keys, &h, body).map_err(|e| e.to_string())?;
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

    pub fn say(&mut self, text: &str) -> Result<(), ClientError> {
        let body = self.seal(Kind::Msg, "", text);
        send_json(&mut self.ws, &serde_json::json!({"t":"msg","body":body}))
    }

    pub fn purr(&mut self, to: &str, text: &str) -> Result<(), ClientError> {
        let body = self.seal(Kind::Purr, to, text);
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
                        Ok(frame) => Ok(self.event(frame)),
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

    /// A decoded frame as an event, bodies opened with the room keys.
    fn event(&mut self, frame: ServerFrame) -> Event {
        match frame {
            ServerFrame::Welcome(w) => Event::Welcome(w),
            ServerFrame::Joined { alias, rejoined } => Event::Joined { alias, rejoined },
            ServerFrame::Left {
                alias,
                reason,
                body,
                creator,
            } => Event::Left {
                farewell: body.map(|b| self.open(Kind::Exit, &alias, "", &b).map(|(text, _)| text)),
                alias,
                reason: reason.as_str().to_owned(),
                creator,
            },
            ServerFrame::Relayed(r) => {
                let kind = if r.to.is_some() {
                    Kind::Purr
                } else {
                    Kind::Msg
                };
                let opened = self.open(kind, &r.from, r.to.as_deref().unwrap_or(""), &r.body);
                Event::Message {
                    sent: opened.as_ref().ok().and_then(|(_, sent)| *sent),
                    text: opened.map(|(text, _)| text),
                    from: r.from,
                    to: r.to,
                    ts: r.ts,
                    seq: r.seq,
                }
            }
            ServerFrame::Kicked { alias, by, creator } => Event::Kicked { alias, by, creator },
            ServerFrame::Purged { by } => Event::Purged { by },
            ServerFrame::Error { code, message } => Event::Error { code, message },
            // Only ever the first frame; a second one changes nothing.
            hello @ ServerFrame::Hello { .. } => {
                Event::Other(serde_json::json!({"t": hello.kind()}))
            }
        }
    }
}
