//! Every frame the server sends, as one enum: [`ServerFrame::encode`] is what the
//! broker and the connection threads write, [`ServerFrame::decode`] is what the Rust
//! client and the terminal client read. One type for both sides, so a frame added
//! to one cannot be missing from the other: `decode` of a type it does not list is
//! the only way to get [`DecodeError::UnknownType`], and the round-trip test takes
//! one example of every variant.
//!
//! Generic over the string type: the broker encodes borrowed `&str`s (no copies on
//! the hot path), decoding yields owned `String`s.

use serde_json::{Map, Value};
use std::fmt::Write as _;

use super::codes::Code;

/// Why a member left: its own `exit`, or its connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftReason {
    Exit,
    Gone,
}

impl LeftReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            LeftReason::Exit => "exit",
            LeftReason::Gone => "gone",
        }
    }
}

/// The answer to a successful join or create; clients keep it as it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome<S = String> {
    pub room: S,
    pub alias: S,
    /// In joining order, this member last.
    pub members: Vec<S>,
    /// **Extension**: this connection made the room.
    pub created: bool,
    /// **Extension**: who may moderate under `--moderation creator`.
    pub creator: S,
    /// **Extension**: this member's resume token (b64u of 16 random bytes), to send
    /// with the join of a rejoin. None only from a server that predates it.
    pub resume: Option<S>,
    /// **Extension**: the room's key epoch, 0 at creation, +1 per rekey. None from a
    /// server without rekeys (whose kicks therefore do not stick).
    pub epoch: Option<u64>,
    /// **Extension**: (alias, whisper key) of each member that announced one, in
    /// joining order; this member's own included. Empty from a server without it.
    pub keys: Vec<(S, S)>,
}

/// A server-to-client frame (PROTOCOL.md sections 5 to 7).
/// A member is out of the room: `body` is its sealed farewell, if it left one;
/// `creator` (extension) is who moderates once `alias` is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Left<S = String> {
    pub alias: S,
    pub reason: LeftReason,
    pub body: Option<S>,
    pub creator: S,
}

/// A member's message as the server relays it, stamped by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relayed<S = String> {
    pub from: S,
    /// The whisper's target; None for a message to the whole room.
    pub to: Option<S>,
    pub body: S,
    /// Server clock, ms since the Unix epoch.
    pub ts: u64,
    /// +1 per relayed frame in the room.
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerFrame<S = String> {
    /// `key` (**extension**, issue 17): the server's X25519 public key, which join
    /// proofs are keyed with (PROTOCOL.md section 5).
    Hello {
        nonce: S,
        key: S,
    },
    Welcome(Welcome<S>),
    /// `rejoined` (extension): the same member coming back, by its resume token or
    /// within two minutes of being announced `gone`. Sent only when true.
    Joined {
        alias: S,
        rejoined: bool,
        /// **Extension**: the whisper key the member announced, if any.
        key: Option<S>,
    },
    Left(Left<S>),
    /// A relayed `msg` (`to` None) or `purr` (`to` the whisper's target): one
    /// variant, as the two differ only by `to`.
    Relayed(Relayed<S>),
    /// `creator` (extension): who moderates once `alias` is gone.
    Kicked {
        alias: S,
        by: S,
        creator: S,
    },
    /// **Extension**: the room's keys changed; `body` seals the new secret for `to`
    /// under the keys of epoch `epoch - 1`.
    Rekey {
        from: S,
        epoch: u64,
        to: Vec<S>,
        body: S,
    },
    /// `by` is None when the server shuts down (`reason` "shutdown", else "stop").
    Purged {
        by: Option<S>,
    },
    /// `verifier` and `epoch` (**extension**, issue 17): on `bad_proof`, the room's
    /// verifier and key epoch, so a member holding the original secret can tell a
    /// re-created room (another verifier at epoch 0) from a wrong or outdated secret.
    Error {
        code: Code,
        message: S,
        verifier: Option<(S, u64)>,
    },
}

/// Why a frame could not be read as protocol v1.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a JSON object with a string `t`.
    NotAFrame,
    /// A `t` this build does not know: a newer server's extension.
    UnknownType(String),
    /// An error code this build does not know: a newer server's extension.
    UnknownCode(String),
    /// A field missing or of the wrong type.
    Field(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NotAFrame => f.write_str("not a JSON object with a string \"t\""),
            DecodeError::UnknownType(t) => write!(f, "unknown frame type {t:?}"),
            DecodeError::UnknownCode(c) => write!(f, "unknown error code {c:?}"),
            DecodeError::Field(k) => write!(f, "field {k:?} missing or malformed"),
        }
    }
}

/// Appends `,"key":"value"` with JSON escaping (every string the server emits goes
/// through here, even those whose charset needs none).
fn put_str(out: &mut String, key: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":\"");
    // What needs escaping is ASCII, and no byte of a multi-byte UTF-8 character is, so
    // the runs between those bytes (all of a base64 body) are copied whole.
    let mut run = 0;
    for (i, &b) in value.as_bytes().iter().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&value[run..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escaped);
        }
        run = i + 1;
    }
    out.push_str(&value[run..]);
    out.push('"');
}

/// Appends `,"key":["a","b"]`. Aliases are validated to a charset that needs no
/// escaping.
fn put_aliases<S: AsRef<str>>(out: &mut String, key: &str, aliases: &[S]) {
    let _ = write!(out, ",\"{key}\":[");
    for (i, a) in aliases.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\"", a.as_ref());
    }
    out.push(']');
}

impl<S: AsRef<str>> ServerFrame<S> {
    /// The frame's `t`.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerFrame::Hello { .. } => "hello",
            ServerFrame::Welcome(_) => "welcome",
            ServerFrame::Joined { .. } => "joined",
            ServerFrame::Left(_) => "left",
            ServerFrame::Relayed(Relayed { to: None, .. }) => "msg",
            ServerFrame::Relayed(Relayed { to: Some(_), .. }) => "purr",
            ServerFrame::Kicked { .. } => "kicked",
            ServerFrame::Rekey { .. } => "rekey",
            ServerFrame::Purged { .. } => "purged",
            ServerFrame::Error { .. } => "error",
        }
    }

    /// The frame as one line of JSON, fields in the documented order.
    pub fn encode(&self) -> String {
        let body_len = match self {
            ServerFrame::Relayed(r) => r.body.as_ref().len(),
            ServerFrame::Rekey { body, to, .. } => body.as_ref().len() + 27 * to.len(),
            _ => 0,
        };
        let mut out = String::with_capacity(body_len + 96);
        let _ = write!(out, "{{\"t\":\"{}\"", self.kind());
        let put = |out: &mut String, key: &str, value: &S| put_str(out, key, value.as_ref());
        match self {
            ServerFrame::Hello { nonce, key } => {
                out.push_str(",\"v\":1");
                put(&mut out, "nonce", nonce);
                put(&mut out, "key", key);
            }
            ServerFrame::Welcome(Welcome {
                room,
                alias,
                members,
                created,
                creator,
                resume,
                epoch,
                keys,
            }) => {
                put(&mut out, "room", room);
                put(&mut out, "alias", alias);
                put_aliases(&mut out, "members", members);
                let _ = write!(out, ",\"created\":{created}");
                put(&mut out, "creator", creator);
                if let Some(token) = resume {
                    put(&mut out, "resume", token);
                }
                if let Some(epoch) = epoch {
                    let _ = write!(out, ",\"epoch\":{epoch}");
                }
                out.push_str(",\"keys\":{");
                for (i, (alias, key)) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    // Aliases and keys are validated to charsets that need no escaping.
                    let _ = write!(out, "\"{}\":\"{}\"", alias.as_ref(), key.as_ref());
                }
                out.push('}');
            }
            ServerFrame::Joined {
                alias,
                rejoined,
                key,
            } => {
                put(&mut out, "alias", alias);
                if *rejoined {
                    out.push_str(",\"rejoined\":true");
                }
                if let Some(key) = key {
                    put(&mut out, "key", key);
                }
            }
            ServerFrame::Left(Left {
                alias,
                reason,
                body,
                creator,
            }) => {
                put(&mut out, "alias", alias);
                put_str(&mut out, "reason", reason.as_str());
                if let Some(b) = body {
                    put(&mut out, "body", b);
                }
                put(&mut out, "creator", creator);
            }
            ServerFrame::Relayed(r) => {
                put(&mut out, "from", &r.from);
                if let Some(to) = &r.to {
                    put(&mut out, "to", to);
                }
                put(&mut out, "body", &r.body);
                let _ = write!(out, ",\"ts\":{},\"seq\":{}", r.ts, r.seq);
            }
            ServerFrame::Kicked { alias, by, creator } => {
                put(&mut out, "alias", alias);
                put(&mut out, "by", by);
                put(&mut out, "creator", creator);
            }
            ServerFrame::Rekey {
                from,
                epoch,
                to,
                body,
            } => {
                put(&mut out, "from", from);
                let _ = write!(out, ",\"epoch\":{epoch}");
                put_aliases(&mut out, "to", to);
                put(&mut out, "body", body);
            }
            ServerFrame::Purged { by } => match by {
                Some(by) => {
                    put(&mut out, "by", by);
                    put_str(&mut out, "reason", "stop");
                }
                None => put_str(&mut out, "reason", "shutdown"),
            },
            ServerFrame::Error {
                code,
                message,
                verifier,
            } => {
                put_str(&mut out, "code", code.as_str());
                put(&mut out, "message", message);
                if let Some((v, epoch)) = verifier {
                    put(&mut out, "verifier", v);
                    let _ = write!(out, ",\"epoch\":{epoch}");
                }
            }
        }
        out.push('}');
        out
    }

    /// Encoded once, with its WebSocket header: the bytes every recipient is sent.
    pub fn to_frame(&self) -> super::Frame {
        super::text(&self.encode())
    }
}

fn text(obj: &Map<String, Value>, key: &'static str) -> Result<String, DecodeError> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(DecodeError::Field(key))
}

fn optional_text(
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, DecodeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => text(obj, key).map(Some),
    }
}

fn texts(obj: &Map<String, Value>, key: &'static str) -> Result<Vec<String>, DecodeError> {
    obj.get(key)
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|m| m.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or(DecodeError::Field(key))
}

fn number(obj: &Map<String, Value>, key: &'static str) -> Result<u64, DecodeError> {
    obj.get(key)
        .and_then(Value::as_u64)
        .ok_or(DecodeError::Field(key))
}

impl ServerFrame<String> {
    /// Reads a frame a server sent. Never panics on what arrives.
    pub fn decode(json: &str) -> Result<ServerFrame, DecodeError> {
        let value: Value = serde_json::from_str(json).map_err(|_| DecodeError::NotAFrame)?;
        ServerFrame::from_value(&value)
    }

    /// As [`ServerFrame::decode`], from JSON already parsed.
    pub fn from_value(value: &Value) -> Result<ServerFrame, DecodeError> {
        let obj = value.as_object().ok_or(DecodeError::NotAFrame)?;
        let t = obj
            .get("t")
            .and_then(Value::as_str)
            .ok_or(DecodeError::NotAFrame)?;
        Ok(match t {
            "hello" => {
                if obj.get("v").and_then(Value::as_u64) != Some(1) {
                    return Err(DecodeError::Field("v"));
                }
                ServerFrame::Hello {
                    nonce: text(obj, "nonce")?,
                    key: text(obj, "key")?,
                }
            }
            "welcome" => ServerFrame::Welcome(Welcome {
                room: text(obj, "room")?,
                alias: text(obj, "alias")?,
                members: texts(obj, "members")?,
                created: obj
                    .get("created")
                    .and_then(Value::as_bool)
                    .ok_or(DecodeError::Field("created"))?,
                creator: text(obj, "creator")?,
                resume: optional_text(obj, "resume")?,
                epoch: match obj.get("epoch") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(number(obj, "epoch")?),
                },
                keys: match obj.get("keys") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(v) => v
                        .as_object()
                        .and_then(|m| {
                            m.iter()
                                .map(|(a, k)| Some((a.clone(), k.as_str()?.to_owned())))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or(DecodeError::Field("keys"))?,
                },
            }),
            "joined" => ServerFrame::Joined {
                alias: text(obj, "alias")?,
                rejoined: match obj.get("rejoined") {
                    None | Some(Value::Null) => false,
                    Some(v) => v.as_bool().ok_or(DecodeError::Field("rejoined"))?,
                },
                key: optional_text(obj, "key")?,
            },
            "left" => ServerFrame::Left(Left {
                alias: text(obj, "alias")?,
                reason: match text(obj, "reason")?.as_str() {
                    "exit" => LeftReason::Exit,
                    "gone" => LeftReason::Gone,
                    _ => return Err(DecodeError::Field("reason")),
                },
                body: optional_text(obj, "body")?,
                creator: text(obj, "creator")?,
            }),
            kind @ ("msg" | "purr") => ServerFrame::Relayed(Relayed {
                from: text(obj, "from")?,
                to: match kind {
                    "purr" => Some(text(obj, "to")?),
                    _ => None,
                },
                body: text(obj, "body")?,
                ts: number(obj, "ts")?,
                seq: number(obj, "seq")?,
            }),
            "kicked" => ServerFrame::Kicked {
                alias: text(obj, "alias")?,
                by: text(obj, "by")?,
                creator: text(obj, "creator")?,
            },
            "rekey" => ServerFrame::Rekey {
                from: text(obj, "from")?,
                epoch: number(obj, "epoch")?,
                to: texts(obj, "to")?,
                body: text(obj, "body")?,
            },
            "purged" => ServerFrame::Purged {
                by: optional_text(obj, "by")?,
            },
            "error" => {
                let code = text(obj, "code")?;
                ServerFrame::Error {
                    code: code.parse().map_err(|_| DecodeError::UnknownCode(code))?,
                    message: text(obj, "message")?,
                    verifier: match optional_text(obj, "verifier")? {
                        Some(v) => Some((v, number(obj, "epoch")?)),
                        None => None,
                    },
                }
            }
            other => return Err(DecodeError::UnknownType(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "ASdPZYA8pP1tcIz1nkClVWN5ft55RDgTzz1UR2ApImwKiCAoAJs41isZsIEwE9aL5A";

    /// One of every variant. A new variant is a compile error in `kind` and `encode`
    /// (exhaustive matches); `every_kind_is_covered` counts kinds, so raise its count
    /// and add the example here, and the round trip proves `decode` knows it.
    fn examples() -> Vec<ServerFrame> {
        let s = |x: &str| x.to_owned();
        vec![
            ServerFrame::Hello {
                nonce: s("abc"),
                key: s("def"),
            },
            ServerFrame::Welcome(Welcome {
                room: s("G7BEqt7RkMfKiEM-dJA_lQ"),
                alias: s("b"),
                members: vec![s("a"), s("b")],
                created: true,
                creator: s("a"),
                resume: Some(s("AAECAwQFBgcICQoLDA0ODw")),
                epoch: Some(3),
                keys: vec![(s("a"), s("QUFB")), (s("b"), s("QkJC"))],
            }),
            ServerFrame::Welcome(Welcome {
                room: s("G7BEqt7RkMfKiEM-dJA_lQ"),
                alias: s("a"),
                members: vec![s("a")],
                created: false,
                creator: s("a"),
                resume: None,
                epoch: None,
                keys: Vec::new(),
            }),
            ServerFrame::Joined {
                alias: s("a"),
                rejoined: false,
                key: None,
            },
            ServerFrame::Joined {
                alias: s("a"),
                rejoined: true,
                key: Some(s("QUFB")),
            },
            ServerFrame::Left(Left {
                alias: s("a"),
                reason: LeftReason::Exit,
                body: Some(s(BODY)),
                creator: s("b"),
            }),
            ServerFrame::Left(Left {
                alias: s("a"),
                reason: LeftReason::Gone,
                body: None,
                creator: s(""),
            }),
            ServerFrame::Relayed(Relayed {
                from: s("a"),
                to: None,
                body: s(BODY),
                ts: 5,
                seq: 9,
            }),
            ServerFrame::Relayed(Relayed {
                from: s("a"),
                to: Some(s("b")),
                body: s(BODY),
                ts: 1,
                seq: 2,
            }),
            ServerFrame::Kicked {
                alias: s("a"),
                by: s("b"),
                creator: s("b"),
            },
            ServerFrame::Rekey {
                from: s("a"),
                epoch: 1,
                to: vec![s("a"), s("c")],
                body: s(BODY),
            },
            ServerFrame::Purged { by: Some(s("a")) },
            ServerFrame::Purged { by: None },
            ServerFrame::Error {
                code: Code::NoRoom,
                message: s("say \"hi\"\n\\"),
                verifier: None,
            },
            ServerFrame::Error {
                code: Code::BadProof,
                message: s("wrong room secret"),
                verifier: Some((s("V"), 2)),
            },
        ]
    }

    #[test]
    fn every_frame_decodes_to_what_was_encoded() {
        for f in examples() {
            let json = f.encode();
            assert_eq!(ServerFrame::decode(&json), Ok(f), "{json}");
        }
    }

    /// Quotes, backslashes and control characters escaped wherever they fall, among
    /// multi-byte characters, and everything else copied as is: what serde_json reads
    /// back is the string that went in.
    #[test]
    fn strings_are_escaped_as_json_wherever_the_special_characters_fall() {
        for value in [
            "",
            "plain base64url_-09AZaz",
            "\"",
            "\\",
            "\u{1}",
            "a\"b\\c\nd\u{1f}e",
            "é\"ü\u{0}中\\文\t😀",
            "\"\"\\\\\r\n",
            "\u{7f} is not escaped, nor is \u{2028}",
        ] {
            let mut out = String::from("{\"t\":1");
            put_str(&mut out, "v", value);
            out.push('}');
            let back: serde_json::Value = serde_json::from_str(&out).expect(&out);
            assert_eq!(back["v"], value, "{out}");
        }
    }

    #[test]
    fn every_kind_is_covered() {
        let kinds: std::collections::BTreeSet<_> =
            examples().iter().map(ServerFrame::kind).collect();
        assert_eq!(kinds.len(), 10, "{kinds:?}");
    }

    #[test]
    fn frames_have_the_documented_shapes() {
        let msg = ServerFrame::Relayed(Relayed {
            from: "a",
            to: None,
            body: "B",
            ts: 5,
            seq: 9,
        });
        assert_eq!(
            msg.encode(),
            r#"{"t":"msg","from":"a","body":"B","ts":5,"seq":9}"#
        );
        let hello = ServerFrame::<&str>::Hello {
            nonce: "n",
            key: "k",
        };
        assert_eq!(
            hello.encode(),
            r#"{"t":"hello","v":1,"nonce":"n","key":"k"}"#
        );
        let back = ServerFrame::<&str>::Joined {
            alias: "a",
            rejoined: true,
            key: None,
        };
        assert_eq!(
            back.encode(),
            r#"{"t":"joined","alias":"a","rejoined":true}"#
        );
        let new = ServerFrame::<&str>::Joined {
            alias: "a",
            rejoined: false,
            key: None,
        };
        assert_eq!(new.encode(), r#"{"t":"joined","alias":"a"}"#);
        let rekey = ServerFrame::<&str>::Rekey {
            from: "a",
            epoch: 2,
            to: vec!["a", "b"],
            body: "B",
        };
        assert_eq!(
            rekey.encode(),
            r#"{"t":"rekey","from":"a","epoch":2,"to":["a","b"],"body":"B"}"#
        );
        let keyed = ServerFrame::<&str>::Joined {
            alias: "a",
            rejoined: false,
            key: Some("K"),
        };
        assert_eq!(keyed.encode(), r#"{"t":"joined","alias":"a","key":"K"}"#);
        let welcome = ServerFrame::Welcome(Welcome {
            room: "r",
            alias: "b",
            members: vec!["a", "b", "c"],
            created: false,
            creator: "a",
            resume: None,
            epoch: None,
            keys: vec![("a", "K"), ("b", "L")],
        });
        assert_eq!(
            welcome.encode(),
            r#"{"t":"welcome","room":"r","alias":"b","members":["a","b","c"],"created":false,"creator":"a","keys":{"a":"K","b":"L"}}"#
        );
        let shutdown = ServerFrame::<&str>::Purged { by: None };
        assert_eq!(shutdown.encode(), r#"{"t":"purged","reason":"shutdown"}"#);
    }

    #[test]
    fn what_is_not_v1_is_an_error_never_a_panic() {
        assert_eq!(ServerFrame::decode("[1]"), Err(DecodeError::NotAFrame));
        assert_eq!(ServerFrame::decode("nope"), Err(DecodeError::NotAFrame));
        assert_eq!(
            ServerFrame::decode(r#"{"t":"dance"}"#),
            Err(DecodeError::UnknownType("dance".into()))
        );
        assert_eq!(
            ServerFrame::decode(r#"{"t":"error","code":"new_thing","message":""}"#),
            Err(DecodeError::UnknownCode("new_thing".into()))
        );
        assert_eq!(
            ServerFrame::decode(r#"{"t":"msg","from":"a","body":"B","ts":-1,"seq":1}"#),
            Err(DecodeError::Field("ts"))
        );
        assert_eq!(
            ServerFrame::decode(
                r#"{"t":"welcome","room":"r","alias":"a","members":[1],"created":true,"creator":""}"#
            ),
            Err(DecodeError::Field("members"))
        );
    }
}
