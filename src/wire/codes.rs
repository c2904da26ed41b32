//! The numbers and names programs act on: error codes (`{"t":"error","code":...}`)
//! and WebSocket close codes. The server, the Rust client and the terminal client all
//! name them from here; docs/PROTOCOL.md section 7 and html/app.js's table are checked
//! against these lists by a test, so the four cannot drift apart.

use std::fmt;
use std::str::FromStr;

/// Every refusal the server can send, as `{"t":"error","code":...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    BadJson,
    BadType,
    BadField,
    BadRoom,
    BadAlias,
    TooLarge,
    RateLimited,
    NoRoom,
    BadProof,
    AliasTaken,
    RoomFull,
    ServerFull,
    NoMember,
    SelfKick,
    NotJoined,
    AlreadyJoined,
    NotAllowed,
}

impl Code {
    /// Every code, in the order of PROTOCOL.md's table.
    pub const ALL: [Code; 17] = [
        Code::BadJson,
        Code::BadType,
        Code::BadField,
        Code::BadRoom,
        Code::BadAlias,
        Code::TooLarge,
        Code::RateLimited,
        Code::NoRoom,
        Code::BadProof,
        Code::AliasTaken,
        Code::RoomFull,
        Code::ServerFull,
        Code::NoMember,
        Code::SelfKick,
        Code::NotJoined,
        Code::AlreadyJoined,
        Code::NotAllowed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Code::BadJson => "bad_json",
            Code::BadType => "bad_type",
            Code::BadField => "bad_field",
            Code::BadRoom => "bad_room",
            Code::BadAlias => "bad_alias",
            Code::TooLarge => "too_large",
            Code::RateLimited => "rate_limited",
            Code::NoRoom => "no_room",
            Code::BadProof => "bad_proof",
            Code::AliasTaken => "alias_taken",
            Code::RoomFull => "room_full",
            Code::ServerFull => "server_full",
            Code::NoMember => "no_member",
            Code::SelfKick => "self_kick",
            Code::NotJoined => "not_joined",
            Code::AlreadyJoined => "already_joined",
            Code::NotAllowed => "not_allowed",
        }
    }
}

/// A code this build does not know (a newer server's extension).
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownCode;

impl FromStr for Code {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Code, UnknownCode> {
        Code::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownCode)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So that callers (and tests) can write `code == "no_room"`.
impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// WebSocket close codes the server sends, and clients act on.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const BAD_UTF8: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The server is full: the handshake was completed only to say so (reason
    /// `server_full`), since a browser is shown nothing of a refused handshake.
    pub const TRY_AGAIN: u16 = 1013;
    pub const KICKED: u16 = 4001;
    pub const PURGED: u16 = 4002;
    pub const BAD_PROOF: u16 = 4003;
    /// **Extension**: the member rejoined on a new connection with its resume token;
    /// this (old) one is closed. A client must not reconnect after it, or its two
    /// connections would take the seat from each other in turn.
    pub const REPLACED: u16 = 4005;

    /// Every code above, in the order PROTOCOL.md lists them.
    pub const ALL: [u16; 12] = [
        NORMAL,
        GOING_AWAY,
        PROTOCOL,
        UNSUPPORTED,
        BAD_UTF8,
        POLICY,
        TOO_BIG,
        TRY_AGAIN,
        KICKED,
        PURGED,
        BAD_PROOF,
        REPLACED,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn read(path: &str) -> String {
        let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    /// Section 7 of PROTOCOL.md: the table's first column, and the close codes line.
    fn documented() -> (Vec<String>, Vec<u16>) {
        let doc = read("docs/PROTOCOL.md");
        let section = doc
            .split("\n## 7.")
            .nth(1)
            .expect("PROTOCOL.md has a section 7");
        let codes = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .map(str::to_owned)
            .collect();
        let closes = section
            .split("Close codes:")
            .nth(1)
            .expect("a close codes paragraph")
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| w.len() == 4)
            .filter_map(|w| w.parse().ok())
            .collect();
        (codes, closes)
    }

    /// The keys of html/app.js's `const ERRORS = { ... };`.
    fn page_codes() -> BTreeSet<String> {
        let js = read("html/app.js");
        let table = js
            .split("const ERRORS = {")
            .nth(1)
            .and_then(|rest| rest.split("};").next())
            .expect("app.js has an ERRORS table");
        table
            .lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(key, _)| key.trim().to_owned())
            .filter(|k| !k.is_empty() && !k.starts_with("//"))
            .collect()
    }

    #[test]
    fn the_document_the_enums_the_page_and_the_terminal_agree_on_every_code() {
        let (doc_codes, doc_closes) = documented();
        let ours: Vec<String> = Code::ALL.iter().map(|c| c.as_str().to_owned()).collect();
        assert_eq!(doc_codes, ours, "PROTOCOL.md's table vs Code::ALL");
        assert_eq!(
            doc_closes,
            close::ALL,
            "PROTOCOL.md's close codes vs close::ALL"
        );

        let page = page_codes();
        let unknown: Vec<_> = page.iter().filter(|k| k.parse::<Code>().is_err()).collect();
        assert!(
            unknown.is_empty(),
            "app.js words codes nobody sends: {unknown:?}"
        );
        // The terminal client words exactly the codes the page words (as the page does).
        let terminal: BTreeSet<String> = Code::ALL
            .into_iter()
            .filter(|c| crate::term::page_wording(*c).is_some())
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(terminal, page, "terminal vs app.js wording");
    }

    #[test]
    fn codes_parse_back_from_their_names() {
        for c in Code::ALL {
            assert_eq!(c.as_str().parse::<Code>(), Ok(c));
            assert!(c == c.as_str());
        }
        assert_eq!("dance".parse::<Code>(), Err(UnknownCode));
    }
}
