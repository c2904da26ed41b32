//! Protocol v1 requests: parsing and validating what clients send. What the server
//! sends, and the codes, are in [`crate::wire`]. Nothing here touches a socket or a
//! room.

use serde_json::{Map, Value};

use crate::verifier::{RoomAuth, ServerKey};
use crate::wire::{Code, Frame, ServerFrame};

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

    /// The `error` frame that tells the client.
    pub fn to_frame(&self) -> Frame {
        ServerFrame::Error {
            code: self.code,
            message: self.message,
            verifier: None,
        }
        .to_frame()
    }
}

/// A validated frame from a client. Field forms are already checked. `A` is what a
/// create or rekey carries for the room's proof: the verifier as parsed ([`Parsed`]),
/// then the verifier with its proof key ([`Parsed::authenticate`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Request<A = RoomAuth> {
    Join {
        entering: Entering,
        /// **Extension**: the resume token of this alias's earlier connection, which
        /// lets the join take that connection's seat instead of getting `alias_taken`.
        resume: Option<[u8; RESUME_LEN]>,
    },
    /// **Extension** (issue 17): the room's verifier, never its `k_auth`; the proof is
    /// checked as a join's whether or not the room exists.
    Create {
        entering: Entering,
        auth: A,
    },
    Msg {
        body: String,
    },
    Purr {
        to: String,
        body: String,
    },
    /// `rekey` (**extension**) makes the kick stick: the room's keys change with it.
    Kick {
        alias: String,
        rekey: Option<Rekey<A>>,
    },
    /// **Extension**: a new room secret for the members, and its verifier for us.
    Rekey(Rekey<A>),
    Stop,
    Exit {
        body: Option<String>,
    },
}

/// Who would enter which room, with what proof: what a join and a create share.
#[derive(Debug, PartialEq, Eq)]
pub struct Entering {
    pub room: String,
    pub alias: String,
    pub proof: [u8; 32],
    /// **Extension**: the member's whisper key, `b64u(pub(32) || tag(32))`, relayed as
    /// sent (the decoder is strict, so the text has one spelling). Only its form is
    /// checked here: the tag is for the other members to verify.
    pub key: Option<String>,
}

/// **Extension** (PROTOCOL.md section 6a): a new room secret sealed for `to` under
/// the keys of `epoch`, and the verifier of the `k_auth` it derives, which replaces
/// the room's.
#[derive(Debug, PartialEq, Eq)]
pub struct Rekey<A = RoomAuth> {
    pub epoch: u64,
    /// Every member who stays, as the sender sees them; distinct exact aliases.
    pub to: Vec<String>,
    pub body: String,
    pub auth: A,
}

/// A request as parsed: a create or rekey holds the bare verifier.
pub type Parsed = Request<[u8; 32]>;

impl Parsed {
    /// Derives the proof key of a create's or rekey's verifier: one X25519, done on
    /// the connection's thread (never the broker's), and only for a request that
    /// parsed, so the fuzzed parser stays fast. A low-order verifier is `bad_field`.
    pub fn authenticate(self, server: &ServerKey) -> Result<Request, Refusal> {
        let derive = |v: [u8; 32]| {
            server
                .room_auth(v)
                .map_err(|_| Refusal::new(Code::BadField, "verifier is a low-order point"))
        };
        let rekey = |r: Rekey<[u8; 32]>| -> Result<Rekey, Refusal> {
            Ok(Rekey {
                epoch: r.epoch,
                to: r.to,
                body: r.body,
                auth: derive(r.auth)?,
            })
        };
        Ok(match self {
            Request::Join { entering, resume } => Request::Join { entering, resume },
            Request::Create { entering, auth } => Request::Create {
                entering,
                auth: derive(auth)?,
            },
            Request::Msg { body } => Request::Msg { body },
            Request::Purr { to, body } => Request::Purr { to, body },
            Request::Kick { alias, rekey: r } => Request::Kick {
                alias,
                rekey: r.map(rekey).transpose()?,
            },
            Request::Rekey(r) => Request::Rekey(rekey(r)?),
            Request::Stop => Request::Stop,
            Request::Exit { body } => Request::Exit { body },
        })
    }
}

const ALIAS_MAX: usize = 24;
/// Bytes in a resume token (`welcome`'s `resume`, a rejoin's `join`).
pub const RESUME_LEN: usize = 16;
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

/// The fields a join and a create share, in the order their forms are checked.
fn entering_fields(obj: &Map<String, Value>) -> Result<Entering, Refusal> {
    Ok(Entering {
        room: room_field(obj)?,
        alias: alias_field(obj, "alias")?,
        proof: key_field(obj, "proof")?,
        key: whisper_key_field(obj)?,
    })
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
            "proof and verifier must be base64url of 32 bytes",
        ))
}

/// The `verifier` of a create or rekey. A request still carrying v1's `auth` is
/// refused: that field was `k_auth` itself, readable by anyone on the path.
fn verifier_field(obj: &Map<String, Value>) -> Result<[u8; 32], Refusal> {
    if obj.contains_key("auth") {
        return Err(Refusal::new(
            Code::BadField,
            "auth is no longer accepted (it revealed the room's key): send verifier",
        ));
    }
    key_field(obj, "verifier")
}

/// The optional `resume` of a join: absent or null is None; anything else must be
/// b64u of exactly 16 bytes, or the join is refused before any room is looked at.
fn resume_field(obj: &Map<String, Value>) -> Result<Option<[u8; RESUME_LEN]>, Refusal> {
    match obj.get("resume") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(crate::crypto::b64u_decode)
            .and_then(|raw| <[u8; RESUME_LEN]>::try_from(raw).ok())
            .map(Some)
            .ok_or(Refusal::new(
                Code::BadField,
                "resume must be base64url of 16 bytes",
            )),
    }
}

/// The optional whisper `key` of a join or create: absent or null is None; anything
/// else must be b64u of exactly 64 bytes (public key and tag).
fn whisper_key_field(obj: &Map<String, Value>) -> Result<Option<String>, Refusal> {
    match obj.get("key") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .filter(|k| {
                crate::crypto::b64u_decode(k)
                    .is_some_and(|raw| raw.len() == crate::whisper::KEY_FIELD_LEN)
            })
            .map(|k| Some(k.to_owned()))
            .ok_or(Refusal::new(
                Code::BadField,
                "key must be base64url of 64 bytes",
            )),
    }
}

fn body_value(value: &Value) -> Result<String, Refusal> {
    match value.as_str() {
        Some(b) if crate::crypto::is_well_formed_body(b) => Ok(b.to_owned()),
        _ => Err(Refusal::new(
            Code::BadField,
            "body must be a base64url envelope: version 1 of at least 49 bytes, or 2 of at least 69",
        )),
    }
}

fn body_field(obj: &Map<String, Value>) -> Result<String, Refusal> {
    body_value(obj.get("body").unwrap_or(&Value::Null))
}

/// The recipient list of a rekey: valid aliases, none twice (a set, sent as a list).
fn to_list(obj: &Map<String, Value>) -> Result<Vec<String>, Refusal> {
    let bad = Refusal::new(
        Code::BadField,
        "to must be a list of distinct aliases, the sender's included",
    );
    let list = obj.get("to").and_then(Value::as_array).ok_or(bad.clone())?;
    // A set to find repeats: a frame may list thousands, and pairwise would be slow.
    let mut seen = std::collections::HashSet::with_capacity(list.len());
    let mut to = Vec::with_capacity(list.len());
    for v in list {
        match v.as_str() {
            Some(a) if is_valid_alias(a) && seen.insert(a) => to.push(a.to_owned()),
            _ => return Err(bad),
        }
    }
    if to.is_empty() {
        return Err(bad);
    }
    Ok(to)
}

/// The fields of a rekey, flat in the `rekey` or `kick` frame (requests nest at most
/// two deep, so they cannot sit in an object of their own).
fn rekey_fields(obj: &Map<String, Value>) -> Result<Rekey<[u8; 32]>, Refusal> {
    Ok(Rekey {
        epoch: obj
            .get("epoch")
            .and_then(Value::as_u64)
            .ok_or(Refusal::new(Code::BadField, "epoch must be a whole number"))?,
        to: to_list(obj)?,
        body: body_field(obj)?,
        auth: verifier_field(obj)?,
    })
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
pub fn parse_request(text: &str) -> Result<Parsed, Refusal> {
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
            entering: entering_fields(&obj)?,
            resume: resume_field(&obj)?,
        },
        "create" => Request::Create {
            entering: entering_fields(&obj)?,
            auth: verifier_field(&obj)?,
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
            // A plain v1 kick has none of the rekey's fields.
            rekey: match obj.get("epoch") {
                None | Some(Value::Null) => None,
                Some(_) => Some(rekey_fields(&obj)?),
            },
        },
        "rekey" => Request::Rekey(rekey_fields(&obj)?),
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

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "ASdPZYA8pP1tcIz1nkClVWN5ft55RDgTzz1UR2ApImwKiCAoAJs41isZsIEwE9aL5A";
    const ROOM: &str = "G7BEqt7RkMfKiEM-dJA_lQ";
    const KEY: &str = "QEjzfFmh4dJqcZHFcEHIOLcW3zO9v0sI-NOH-cMc2ww";

    fn parse(text: &str) -> Result<Request, Refusal> {
        parse_request(text)?.authenticate(&ServerKey::from_secret([3; 32]))
    }

    fn code_of(text: &str) -> Code {
        parse(text).expect_err("should be refused").code
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
        assert!(matches!(parse(&join), Ok(Request::Join { .. })));
        let create = format!(
            r#"{{"t":"create","room":"{ROOM}","alias":"al","proof":"{KEY}","verifier":"{KEY}"}}"#
        );
        assert!(matches!(parse(&create), Ok(Request::Create { .. })));
    }

    #[test]
    fn a_create_or_rekey_with_v1s_auth_or_a_low_order_verifier_is_refused() {
        let zero = crate::crypto::b64u_encode(&[0; 32]);
        for fields in [
            format!(r#""proof":"{KEY}","auth":"{KEY}""#),
            format!(r#""proof":"{KEY}","verifier":"{KEY}","auth":"{KEY}""#),
            format!(r#""proof":"{KEY}","verifier":"{zero}""#),
            format!(r#""verifier":"{KEY}""#),
        ] {
            let create = format!(r#"{{"t":"create","room":"{ROOM}","alias":"al",{fields}}}"#);
            assert_eq!(code_of(&create), Code::BadField, "{fields}");
        }
        let rekey =
            format!(r#"{{"t":"rekey","epoch":0,"to":["al"],"body":"{BODY}","auth":"{KEY}"}}"#);
        assert_eq!(code_of(&rekey), Code::BadField);
    }

    #[test]
    fn a_join_may_carry_a_resume_token_of_16_bytes_and_nothing_else() {
        let token = crate::crypto::b64u_encode(&[9; RESUME_LEN]);
        let join = |resume: &str| {
            format!(r#"{{"t":"join","room":"{ROOM}","alias":"al","proof":"{KEY}"{resume}}}"#)
        };
        let resume_of = |text: &str| match parse(text) {
            Ok(Request::Join { resume, .. }) => Ok(resume),
            Ok(other) => panic!("not a join: {other:?}"),
            Err(r) => Err(r.code),
        };
        assert_eq!(resume_of(&join("")), Ok(None));
        assert_eq!(resume_of(&join(r#","resume":null"#)), Ok(None));
        assert_eq!(
            resume_of(&join(&format!(r#","resume":"{token}""#))),
            Ok(Some([9; RESUME_LEN]))
        );
        let long = crate::crypto::b64u_encode(&[9; 32]);
        let long = format!(r#","resume":"{long}""#);
        for bad in [
            r#","resume":"AAAA""#,
            r#","resume":7"#,
            r#","resume":"""#,
            &long,
        ] {
            assert_eq!(resume_of(&join(bad)), Err(Code::BadField), "{bad}");
        }
    }

    #[test]
    fn join_and_create_may_carry_a_whisper_key_of_64_bytes_and_nothing_else() {
        let good = crate::crypto::b64u_encode(&[7; 64]);
        let key_of = |t: &str, extra: &str| {
            let cred = if t == "join" {
                ""
            } else {
                r#","verifier":"{KEY}""#
            };
            let cred = cred.replace("{KEY}", KEY);
            let text = format!(
                r#"{{"t":"{t}","room":"{ROOM}","alias":"al","proof":"{KEY}"{cred}{extra}}}"#
            );
            match parse(&text) {
                Ok(Request::Join { entering, .. } | Request::Create { entering, .. }) => {
                    Ok(entering.key)
                }
                Ok(other) => panic!("not a join or create: {other:?}"),
                Err(r) => Err(r.code),
            }
        };
        for t in ["join", "create"] {
            assert_eq!(key_of(t, ""), Ok(None));
            assert_eq!(key_of(t, r#","key":null"#), Ok(None));
            assert_eq!(
                key_of(t, &format!(r#","key":"{good}""#)),
                Ok(Some(good.clone()))
            );
            let short = crate::crypto::b64u_encode(&[7; 63]);
            for bad in [
                format!(r#","key":"{short}""#),
                format!(r#","key":"{good}A""#),
                r#","key":7"#.to_owned(),
                r#","key":"""#.to_owned(),
            ] {
                assert_eq!(key_of(t, &bad), Err(Code::BadField), "{t} {bad}");
            }
        }
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
    fn a_kick_carries_a_rekey_flat_and_its_recipients_are_distinct_aliases() {
        let kick = |extra: &str| format!(r#"{{"t":"kick","alias":"eve"{extra}}}"#);
        let rekey =
            |to: &str| format!(r#","epoch":3,"to":{to},"body":"{BODY}","verifier":"{KEY}""#);
        assert_eq!(
            parse(&kick("")),
            Ok(Request::Kick {
                alias: "eve".into(),
                rekey: None
            })
        );
        let Ok(Request::Kick {
            rekey: Some(r),
            alias,
        }) = parse(&kick(&rekey(r#"["al","bo"]"#)))
        else {
            panic!("a kick with a rekey");
        };
        assert_eq!((alias.as_str(), r.epoch, r.to.len()), ("eve", 3, 2));
        let alone = format!(r#"{{"t":"rekey"{}}}"#, &rekey(r#"["al"]"#)[..]);
        assert!(matches!(parse(&alone), Ok(Request::Rekey(_))));
        for to in [r#"["al","al"]"#, "[]", r#"["a b"]"#, r#""al""#, "[1]"] {
            let code = parse(&kick(&rekey(to))).map_err(|r| r.code);
            assert_eq!(code.err(), Some(Code::BadField), "{to}");
        }
        let no_auth = kick(r#","epoch":0,"to":["al"],"body":"x""#);
        assert_eq!(code_of(&no_auth), Code::BadField);
        let negative = kick(&rekey(r#"["al"]"#).replace(r#""epoch":3"#, r#""epoch":-3"#));
        assert_eq!(code_of(&negative), Code::BadField);
    }

    #[test]
    fn exit_body_is_optional_but_checked_when_present() {
        assert_eq!(parse(r#"{"t":"exit"}"#), Ok(Request::Exit { body: None }));
        let with = format!(r#"{{"t":"exit","body":"{BODY}"}}"#);
        assert_eq!(
            parse(&with),
            Ok(Request::Exit {
                body: Some(BODY.into())
            })
        );
    }
}
