//! Protocol v1 frames: parsing and validating what clients send, encoding what the
//! server sends, and the error codes. Nothing here touches a socket or a room.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Every refusal the server can send, as `{"t":"error","code":...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    BadJson,
    BadType,
    BadField,
    TooLarge,
    RateLimited,
    NoRoom,
    BadProof,
    BadAlias,
    AliasTaken,
    BadRoom,
    NoMember,
    SelfKick,
    NotJoined,
    AlreadyJoined,
    RoomFull,
    ServerFull,
    NotAllowed,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadJson => "bad_json",
            Code::BadType => "bad_type",
            Code::BadField => "bad_field",
            Code::TooLarge => "too_large",
            Code::RateLimited => "rate_limited",
            Code::NoRoom => "no_room",
            Code::BadProof => "bad_proof",
            Code::BadAlias => "bad_alias",
            Code::AliasTaken => "alias_taken",
            Code::BadRoom => "bad_room",
            Code::NoMember => "no_member",
            Code::SelfKick => "self_kick",
            Code::NotJoined => "not_joined",
            Code::AlreadyJoined => "already_joined",
            Code::RoomFull => "room_full",
            Code::ServerFull => "server_full",
            Code::NotAllowed => "not_allowed",
        }
    }
}

/// A refusal: the code clients act on and a sentence people read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub message: &'static str,
}

impl Refusal {
    pub const fn new(code: Code, message: &'static str) -> Refusal {
        Refusal { code, message }
    }
}

/// WebSocket close codes the server uses.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const BAD_UTF8: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const KICKED: u16 = 4001;
    pub const PURGED: u16 = 4002;
    pub const BAD_PROOF: u16 = 4003;
}

/// A validated frame from a client. Field forms are already checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Join {
        room: String,
        alias: String,
        proof: [u8; 32],
    },
    Create {
        room: String,
        alias: String,
        auth: [u8; 32],
    },
    Msg {
        body: String,
    },
    Purr {
        to: String,
        body: String,
    },
    Kick {
        alias: String,
    },
    Stop,
    Exit {
        body: Option<String>,
    },
}

const ALIAS_MAX: usize = 24;
const ROOM_LEN: usize = 22;

/// 1 to 24 ASCII letters, digits and `_ - .`: no look-alike names, nothing to escape.
pub fn is_valid_alias(alias: &str) -> bool {
    (1..=ALIAS_MAX).contains(&alias.len())
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Milliseconds since the Unix epoch: the `ts` of relayed frames.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Exactly 22 base64url characters (16 random bytes).
pub fn is_valid_room(room: &str) -> bool {
    room.len() == ROOM_LEN
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn text_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn room_field(obj: &Map<String, Value>) -> Result<String, Refusal> {
    match text_field(obj, "room") {
        Some(r) if is_valid_room(r) => Ok(r.to_owned()),
        _ => Err(Refusal::new(
            Code::BadRoom,
            "room must be 22 base64url characters",
        )),
    }
}

fn alias_field(obj: &Map<String, Value>, key: &str) -> Result<String, Refusal> {
    match text_field(obj, key) {
        Some(a) if is_valid_alias(a) => Ok(a.to_owned()),
        _ => Err(Refusal::new(
            Code::BadAlias,
            "alias must be 1-24 characters: letters, digits, _ - .",
        )),
    }
}

fn key_field(obj: &Map<String, Value>, key: &str) -> Result<[u8; 32], Refusal> {
    text_field(obj, key)
        .and_then(crate::crypto::b64u_decode)
        .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
        .ok_or(Refusal::new(
            Code::BadField,
            "proof and auth must be base64url of 32 bytes",
        ))
}

fn body_value(value: &Value) -> Result<String, Refusal> {
    match value.as_str() {
        Some(b) if crate::crypto::is_well_formed_body(b) => Ok(b.to_owned()),
        _ => Err(Refusal::new(
            Code::BadField,
            "body must be a base64url envelope of version 1 (at least 49 bytes)",
        )),
    }
}

fn body_field(obj: &Map<String, Value>) -> Result<String, Refusal> {
    body_value(obj.get("body").unwrap_or(&Value::Null))
}

/// Requests are flat objects; anything nested deeper is refused before parsing, so
/// a frame of 60,000 brackets cannot exhaust a small connection-thread stack.
const MAX_NESTING: usize = 2;

fn nests_too_deeply(text: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses one text frame. Every field's form is checked here, before any room is
/// looked at, so the answer to a malformed field never depends on server state.
pub fn parse_request(text: &str) -> Result<Request, Refusal> {
    if nests_too_deeply(text) {
        return Err(Refusal::new(Code::BadJson, "frame nests too deeply"));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|_| Refusal::new(Code::BadJson, "frame is not valid JSON"))?;
    let Value::Object(obj) = value else {
        return Err(Refusal::new(Code::BadJson, "frame must be a JSON object"));
    };
    let kind = text_field(&obj, "t").ok_or(Refusal::new(
        Code::BadType,
        "frame needs a string field \"t\"",
    ))?;
    Ok(match kind {
        "join" => Request::Join {
            room: room_field(&obj)?,
            alias: alias_field(&obj, "alias")?,
            proof: key_field(&obj, "proof")?,
        },
        "create" => Request::Create {
            room: room_field(&obj)?,
            alias: alias_field(&obj, "alias")?,
            auth: key_field(&obj, "auth")?,
        },
        "msg" => Request::Msg {
            body: body_field(&obj)?,
        },
        "purr" => Request::Purr {
            to: alias_field(&obj, "to")?,
            body: body_field(&obj)?,
        },
        "kick" => Request::Kick {
            alias: alias_field(&obj, "alias")?,
        },
        "stop" => Request::Stop,
        "exit" => Request::Exit {
            body: match obj.get("body") {
                None | Some(Value::Null) => None,
                Some(b) => Some(body_value(b)?),
            },
        },
        _ => return Err(Refusal::new(Code::BadType, "unknown frame type")),
    })
}

/// Appends `"key":"value"` with JSON escaping (every string the server emits
/// goes through here, even those whose charset needs none).
fn put_str(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, ",\"{key}\":");
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn frame(t: &str) -> String {
    let mut out = String::with_capacity(96);
    let _ = write!(out, "{{\"t\":\"{t}\"");
    out
}

fn finish(mut out: String) -> String {
    out.push('}');
    out
}

pub fn hello(nonce_b64u: &str) -> String {
    let mut out = frame("hello");
    out.push_str(",\"v\":1");
    put_str(&mut out, "nonce", nonce_b64u);
    finish(out)
}

pub fn error(r: &Refusal) -> String {
    let mut out = frame("error");
    put_str(&mut out, "code", r.code.as_str());
    put_str(&mut out, "message", r.message);
    finish(out)
}

pub struct Welcome<'a> {
    pub room: &'a str,
    pub alias: &'a str,
    pub members: &'a [&'a str],
    pub created: bool,
    pub creator: &'a str,
}

pub fn welcome(w: &Welcome<'_>) -> String {
    let mut out = frame("welcome");
    put_str(&mut out, "room", w.room);
    put_str(&mut out, "alias", w.alias);
    out.push_str(",\"members\":[");
    for (i, m) in w.members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Aliases are validated to a charset that needs no escaping.
        let _ = write!(out, "\"{m}\"");
    }
    out.push(']');
    let _ = write!(out, ",\"created\":{}", w.created);
    put_str(&mut out, "creator", w.creator);
    finish(out)
}

pub fn joined(alias: &str) -> String {
    let mut out = frame("joined");
    put_str(&mut out, "alias", alias);
    finish(out)
}

/// Why a member left: its own `exit`, or its connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftReason {
    Exit,
    Gone,
}

pub fn left(alias: &str, reason: LeftReason, body: Option<&str>) -> String {
    let mut out = frame("left");
    put_str(&mut out, "alias", alias);
    put_str(
        &mut out,
        "reason",
        if reason == LeftReason::Exit {
            "exit"
        } else {
            "gone"
        },
    );
    if let Some(b) = body {
        put_str(&mut out, "body", b);
    }
    finish(out)
}

/// A relayed `msg` (`to` = None) or `purr`, stamped by the server.
pub fn relayed(from: &str, to: Option<&str>, body: &str, ts: u64, seq: u64) -> String {
    let mut out = String::with_capacity(body.len() + 96);
    out.push_str(if to.is_some() {
        "{\"t\":\"purr\""
    } else {
        "{\"t\":\"msg\""
    });
    put_str(&mut out, "from", from);
    if let Some(to) = to {
        put_str(&mut out, "to", to);
    }
    put_str(&mut out, "body", body);
    let _ = write!(out, ",\"ts\":{ts},\"seq\":{seq}");
    finish(out)
}

pub fn kicked(alias: &str, by: &str) -> String {
    let mut out = frame("kicked");
    put_str(&mut out, "alias", alias);
    put_str(&mut out, "by", by);
    finish(out)
}

/// `by` is the member who stopped the room, or None when the server shuts down.
pub fn purged(by: Option<&str>) -> String {
    let mut out = frame("purged");
    match by {
        Some(by) => {
            put_str(&mut out, "by", by);
            put_str(&mut out, "reason", "stop");
        }
        None => put_str(&mut out, "reason", "shutdown"),
    }
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "ASdPZYA8pP1tcIz1nkClVWN5ft55RDgTzz1UR2ApImwKiCAoAJs41isZsIEwE9aL5A";
    const ROOM: &str = "G7BEqt7RkMfKiEM-dJA_lQ";
    const KEY: &str = "QEjzfFmh4dJqcZHFcEHIOLcW3zO9v0sI-NOH-cMc2ww";

    fn code_of(text: &str) -> Code {
        parse_request(text).expect_err("should be refused").code
    }

    #[test]
    fn aliases_are_ascii_and_short() {
        assert!(is_valid_alias("Bob_2.x-y"));
        assert!(!is_valid_alias(""));
        assert!(!is_valid_alias(&"a".repeat(25)));
        assert!(!is_valid_alias("bob smith"));
        assert!(!is_valid_alias("bоb")); // Cyrillic o: a look-alike
    }

    #[test]
    fn room_ids_are_22_base64url_characters() {
        assert!(is_valid_room(ROOM));
        assert!(!is_valid_room(&ROOM[1..]));
        assert!(!is_valid_room("G7BEqt7RkMfKiEM+dJA/lQ"));
    }

    #[test]
    fn join_and_create_parse_with_their_keys() {
        let join = format!(r#"{{"t":"join","room":"{ROOM}","alias":"al","proof":"{KEY}"}}"#);
        assert!(matches!(parse_request(&join), Ok(Request::Join { .. })));
        let create = format!(r#"{{"t":"create","room":"{ROOM}","alias":"al","auth":"{KEY}"}}"#);
        assert!(matches!(parse_request(&create), Ok(Request::Create { .. })));
    }

    #[test]
    fn malformed_frames_get_the_documented_codes() {
        assert_eq!(code_of("not json"), Code::BadJson);
        assert_eq!(code_of("[1,2]"), Code::BadJson);
        assert_eq!(code_of(r#"{"x":1}"#), Code::BadType);
        assert_eq!(code_of(r#"{"t":"dance"}"#), Code::BadType);
        assert_eq!(code_of(r#"{"t":"msg"}"#), Code::BadField);
        assert_eq!(code_of(r#"{"t":"msg","body":""}"#), Code::BadField);
        assert_eq!(code_of(r#"{"t":"msg","body":"AQ"}"#), Code::BadField);
        assert_eq!(
            code_of(r#"{"t":"join","room":"short","alias":"a","proof":"x"}"#),
            Code::BadRoom
        );
        let bad_alias = format!(r#"{{"t":"join","room":"{ROOM}","alias":"a b","proof":"{KEY}"}}"#);
        assert_eq!(code_of(&bad_alias), Code::BadAlias);
        let bad_proof = format!(r#"{{"t":"join","room":"{ROOM}","alias":"a","proof":"AAAA"}}"#);
        assert_eq!(code_of(&bad_proof), Code::BadField);
        assert_eq!(
            code_of(r#"{"t":"purr","to":"","body":"x"}"#),
            Code::BadAlias
        );
        assert_eq!(code_of(r#"{"t":"exit","body":7}"#), Code::BadField);
        assert_eq!(code_of(&"[".repeat(100_000)), Code::BadJson);
        assert_eq!(code_of(r#"{"t":"msg","body":{"a":[1]}}"#), Code::BadJson);
        // Brackets inside strings are text, not nesting.
        assert_eq!(
            code_of(r#"{"t":"msg","body":"[[[[\"{{{{"}"#),
            Code::BadField
        );
    }

    #[test]
    fn exit_body_is_optional_but_checked_when_present() {
        assert_eq!(
            parse_request(r#"{"t":"exit"}"#),
            Ok(Request::Exit { body: None })
        );
        let with = format!(r#"{{"t":"exit","body":"{BODY}"}}"#);
        assert_eq!(
            parse_request(&with),
            Ok(Request::Exit {
                body: Some(BODY.into())
            })
        );
    }

    #[test]
    fn encoded_frames_are_valid_json() {
        let frames = [
            hello("abc"),
            error(&Refusal::new(Code::NoRoom, "say \"hi\"\n")),
            welcome(&Welcome {
                room: ROOM,
                alias: "a",
                members: &["a", "b"],
                created: true,
                creator: "a",
            }),
            joined("a"),
            left("a", LeftReason::Exit, Some(BODY)),
            relayed("a", Some("b"), BODY, 1, 2),
            relayed("a", None, BODY, 1, 2),
            kicked("a", "b"),
            purged(Some("a")),
            purged(None),
        ];
        for f in frames {
            let v: Value = serde_json::from_str(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(v["t"].is_string());
        }
        let v: Value = serde_json::from_str(&relayed("a", None, BODY, 5, 9)).expect("json");
        assert_eq!(
            (v["t"].as_str(), v["ts"].as_u64(), v["seq"].as_u64()),
            (Some("msg"), Some(5), Some(9))
        );
    }
}
