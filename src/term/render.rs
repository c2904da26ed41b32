//! Every line the terminal client prints: `[HH:MM] alias: text` and the marked system
//! lines, optionally coloured. Every string that came over the network goes through
//! [`field`] or [`body`] here, so nothing received can move the cursor, change the
//! window title or fake a line of its own.

use std::io::IsTerminal;

use super::html;
use crate::protocol::now_ms;
use crate::wire::Code;

/// What a neutralised control character shows as.
const PLACEHOLDER: char = '\u{FFFD}';
/// Where a message's line breaks were: one message stays one line.
const BREAK: &str = " \u{21B5} ";

/// Characters a terminal may act on rather than show: C0 controls, DEL, C1 controls
/// (U+009B is CSI on its own), and the bidirectional overrides and isolates that can
/// make a line read differently from what it is.
fn is_control(c: char) -> bool {
    matches!(c, '\0'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that end a line somewhere: each becomes [`BREAK`] in a message body.
fn is_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// A received one-line field (alias, error text): controls become U+FFFD.
pub fn field(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_control(c) || is_break(c) {
                PLACEHOLDER
            } else {
                c
            }
        })
        .collect()
}

/// A received message (HTML allowed) as one printable line.
pub fn body(raw: &str) -> String {
    let text = html::to_text(raw);
    let pieces: Vec<&str> = text
        .split(is_break)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    pieces
        .join(BREAK)
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if is_control(c) => PLACEHOLDER,
            c => c,
        })
        .collect()
}

/// Local wall-clock `HH:MM` of a time in milliseconds since the Unix epoch.
pub fn hhmm(ms: u64) -> String {
    // The type comes from localtime_r: naming `time_t` warns on musl, where it changes.
    let secs = (ms / 1000).try_into().unwrap_or(0);
    // SAFETY: `tm` is plain data, for which all zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `secs` and writes only into `tm`, both valid.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        let day = ms / 1000 % 86_400; // no time zone data: UTC is still a time
        return format!("{:02}:{:02}", day / 3600, day / 60 % 60);
    }
    format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const WHISPER: &str = "\x1b[35m";
const SYSTEM: &str = "\x1b[36m";
const WARNING: &str = "\x1b[1;31m";
/// Others' names, picked by a hash of the name so each keeps one colour.
const NAME_COLOURS: [&str; 6] = [
    "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[92m", "\x1b[93m", "\x1b[96m",
];

/// Builds printed lines; `colour` only when stdout is a terminal and NO_COLOR is unset.
pub struct Painter {
    colour: bool,
    me: String,
}

impl Painter {
    pub fn new(colour: bool, me: &str) -> Painter {
        Painter {
            colour,
            me: me.to_owned(),
        }
    }

    /// Colour if stdout is a terminal and NO_COLOR is not set at all (even empty).
    pub fn wants_colour() -> bool {
        let tty = std::io::stdout().is_terminal();
        colour_allowed(std::env::var_os("NO_COLOR").is_some(), tty)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn stamp(&self, ms: u64) -> String {
        self.paint(DIM, &format!("[{}]", hhmm(ms)))
    }

    fn name(&self, alias: &str) -> String {
        let alias = field(alias);
        if alias == self.me {
            return self.paint(BOLD, &alias);
        }
        let hash = alias.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        self.paint(NAME_COLOURS[hash % NAME_COLOURS.len()], &alias)
    }

    /// `[HH:MM] * text`: something that happened in the room.
    fn system(&self, ms: u64, text: &str) -> String {
        format!(
            "{} {}",
            self.stamp(ms),
            self.paint(SYSTEM, &format!("* {text}"))
        )
    }

    /// `[HH:MM] ! text`: something went wrong or could not be trusted.
    fn warning(&self, ms: u64, text: &str) -> String {
        format!(
            "{} {}",
            self.stamp(ms),
            self.paint(WARNING, &format!("! {text}"))
        )
    }

    /// A message or whisper whose tag verified. `text` is the opened plaintext. The
    /// client opens only whispers from or to this reader (exact aliases: a whisper
    /// relayed here for someone else is refused there, `Session::open`), so one not
    /// from the reader is to it.
    pub fn message(&self, ts: u64, from: &str, to: Option<&str>, text: &str) -> String {
        let Some(to) = to else {
            return format!("{} {}: {}", self.stamp(ts), self.name(from), body(text));
        };
        let mark = self.paint(WHISPER, "(whisper)");
        let who = if from == self.me {
            format!("you -> {} {mark}", self.name(to))
        } else {
            format!("{} -> you {mark}", self.name(from))
        };
        format!("{} {who}: {}", self.stamp(ts), body(text))
    }

    /// The mark after a message that opened only with the keys before the last rekey.
    pub fn before_rekey(&self) -> String {
        self.paint(WHISPER, "(sent before the key change)")
    }

    /// A message from a v1 sender (no stamp): shown at the server's time, marked.
    pub fn unprotected(&self, ts: u64, from: &str, to: Option<&str>, text: &str) -> String {
        let mark = self.paint(WARNING, "[old format: not protected against replay]");
        format!("{} {mark}", self.message(ts, from, to, text))
    }

    /// A message or whisper refused: `why` it failed authentication or is a replay.
    pub fn unverified(&self, ts: u64, from: &str, whisper: bool, why: &str) -> String {
        let what = if whisper { "whisper" } else { "message" };
        self.warning(
            ts,
            &format!("{what} from {} is not shown: {}", field(from), field(why)),
        )
    }

    pub fn welcome(&self, members: &[String]) -> String {
        let others: Vec<String> = members
            .iter()
            .filter(|m| **m != self.me)
            .map(|m| field(m))
            .collect();
        let company = if others.is_empty() {
            "nobody else is here yet".to_owned()
        } else {
            format!("also here: {}", others.join(", "))
        };
        self.system(
            now_ms(),
            &format!("you are in the room as {}; {company}", field(&self.me)),
        )
    }

    pub fn opened_fresh(&self) -> String {
        self.system(now_ms(), "nobody was in this room, so it was opened fresh")
    }

    pub fn invite(&self, link: &str, loopback: bool) -> String {
        let mut line = self.system(now_ms(), &format!("invite link: {link}"));
        if loopback {
            line.push('\n');
            line.push_str(&self.system(
                now_ms(),
                "that link names this machine; people elsewhere need its network address",
            ));
        }
        line
    }

    /// `rejoined`: the same member back on a new connection (the server says so).
    pub fn joined(&self, alias: &str, rejoined: bool) -> String {
        let verb = if rejoined { "reconnected" } else { "joined" };
        self.system(now_ms(), &format!("{} {verb}", field(alias)))
    }

    /// `farewell`: None without one, Some(Err) when it failed authentication.
    pub fn left(
        &self,
        alias: &str,
        reason: &str,
        farewell: Option<&Result<String, String>>,
    ) -> String {
        let who = field(alias);
        match farewell {
            Some(Ok(text)) => self.system(now_ms(), &format!("{who} left: {}", body(text))),
            Some(Err(why)) => self.warning(
                now_ms(),
                &format!("{who} left; their farewell is not shown: {}", field(why)),
            ),
            None if reason == "gone" => {
                self.system(now_ms(), &format!("{who} lost connection and left"))
            }
            None => self.system(now_ms(), &format!("{who} left")),
        }
    }

    pub fn kicked(&self, alias: &str, by: &str) -> String {
        let who = if alias == self.me {
            "you".to_owned()
        } else {
            field(alias)
        };
        let verb = if alias == self.me { "were" } else { "was" };
        self.system(now_ms(), &format!("{who} {verb} removed by {}", field(by)))
    }

    pub fn purged(&self, by: Option<&str>) -> String {
        match by {
            Some(by) if by == self.me => self.system(now_ms(), "you ended the room for everyone"),
            Some(by) => self.system(
                now_ms(),
                &format!("{} ended the room for everyone", field(by)),
            ),
            None => self.system(now_ms(), "the server is shutting down; the room is gone"),
        }
    }

    /// A refusal from the server, in the page's words when it has some.
    pub fn error(&self, code: Code, message: &str) -> String {
        self.warning(now_ms(), &error_text(code, message))
    }

    /// Local feedback: command usage, /who, /help.
    pub fn note(&self, text: &str) -> String {
        self.system(now_ms(), text)
    }

    pub fn problem(&self, text: &str) -> String {
        self.warning(now_ms(), text)
    }
}

/// Set-but-empty NO_COLOR also turns colour off: "unset" is the only way to get it.
fn colour_allowed(no_color_set: bool, stdout_is_tty: bool) -> bool {
    stdout_is_tty && !no_color_set
}

/// The page's wording for an error code (html/app.js's `ERRORS`, which a test keeps
/// in step with this), or None where the page shows the server's own text.
pub fn page_wording(code: Code) -> Option<&'static str> {
    Some(match code {
        Code::NoRoom => "that room does not exist",
        Code::BadProof => "wrong passphrase or invite link for this room",
        Code::BadAlias => "that name is not allowed: use 1 to 24 letters, digits, _ - or .",
        Code::AliasTaken => "someone in this room already uses that name; pick another",
        Code::BadRoom => "that room id is not valid",
        Code::RoomFull => "this room is full",
        Code::ServerFull => "the server is full right now; try again in a while",
        Code::RateLimited => "you are sending too fast; that message was not delivered",
        Code::TooLarge => "that message is too large to send",
        Code::NoMember => "nobody with that name is in the room",
        Code::SelfKick => "you cannot kick yourself; use /exit to leave",
        Code::NotAllowed => "only the room's creator can do that here",
        Code::RekeyStale => "the room changed while its keys were being changed; try again",
        Code::BadJson | Code::BadType | Code::BadField | Code::NotJoined | Code::AlreadyJoined => {
            return None;
        }
    })
}

/// The page's wording for each error code, else the server's own text.
pub fn error_text(code: Code, message: &str) -> String {
    match page_wording(code) {
        Some(known) => known.to_owned(),
        None if message.is_empty() => format!("server error ({code})"),
        None => format!("server: {}", field(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_controls(s: &str) -> bool {
        s.chars().any(|c| is_control(c) || is_break(c))
    }

    #[test]
    fn escape_sequences_in_any_field_are_neutralised() {
        let evil = "a\x1b]0;title\x07b\u{9b}2Jc\x1b[31md\x7f\u{202e}e\rf\ng\u{2028}h";
        let p = Painter::new(false, "me");
        for line in [
            p.message(0, evil, None, evil),
            p.message(0, evil, Some("me"), evil),
            p.unverified(0, evil, true, evil),
            p.unprotected(0, evil, None, evil),
            p.joined(evil, false),
            p.left(evil, "exit", Some(&Ok(evil.to_owned()))),
            p.kicked(evil, evil),
            p.purged(Some(evil)),
            p.error(Code::BadJson, evil),
            p.welcome(&[evil.to_owned()]),
        ] {
            assert!(!has_controls(&line), "{line:?}");
            assert!(line.contains('\u{FFFD}'), "{line:?}");
        }
    }

    #[test]
    fn entity_encoded_controls_are_neutralised_too() {
        // References are decoded only in a message that uses the page's HTML subset.
        assert_eq!(body("<b>&#27;[2J&#7;</b>"), "\u{FFFD}[2J\u{FFFD}");
        assert_eq!(body("&#27;[2J&#7;"), "&#27;[2J&#7;");
    }

    #[test]
    fn every_ordinary_string_prints_as_typed() {
        // The corpus the browser test shows on the page character for character.
        let corpus: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/ordinary-text.json"))
                .expect("the corpus is JSON");
        let strings = corpus["strings"].as_array().expect("a list of strings");
        assert!(strings.len() >= 30);
        let p = Painter::new(false, "me");
        for s in strings {
            let s = s.as_str().expect("a string");
            let line = p.message(0, "bob", None, s);
            let shown = line.split_once("bob: ").map(|(_, text)| text);
            assert_eq!(shown, Some(s.replace('\n', BREAK).as_str()), "{s:?}");
        }
    }

    #[test]
    fn a_multi_line_message_stays_one_line_so_it_cannot_fake_another() {
        let line = Painter::new(false, "me").message(
            0,
            "eve",
            None,
            "hi\n[12:00] bob: I owe eve money<br>x",
        );
        assert_eq!(line.lines().count(), 1);
        assert!(
            line.ends_with("eve: hi \u{21B5} [12:00] bob: I owe eve money \u{21B5} x"),
            "{line}"
        );
    }

    #[test]
    fn lines_have_the_documented_shapes() {
        let p = Painter::new(false, "me");
        let stamp = format!("[{}]", hhmm(0));
        assert_eq!(
            p.message(0, "alice", None, "<b>hi</b>"),
            format!("{stamp} alice: hi")
        );
        assert_eq!(
            p.message(0, "alice", Some("me"), "psst"),
            format!("{stamp} alice -> you (whisper): psst")
        );
        assert_eq!(
            p.message(0, "me", Some("bob"), "psst"),
            format!("{stamp} you -> bob (whisper): psst")
        );
        assert_eq!(
            p.unverified(0, "bob", false, "repeated message (a replay)"),
            format!("{stamp} ! message from bob is not shown: repeated message (a replay)")
        );
        assert_eq!(
            p.unprotected(0, "bob", None, "hi"),
            format!("{stamp} bob: hi [old format: not protected against replay]")
        );
        assert!(p.joined("bob", false).ends_with("] * bob joined"));
        assert!(p.joined("bob", true).ends_with("] * bob reconnected"));
        assert!(
            p.left("bob", "gone", None)
                .ends_with("* bob lost connection and left")
        );
        assert!(
            p.left("bob", "exit", Some(&Ok("bye <i>all</i>".into())))
                .ends_with("* bob left: bye all")
        );
        assert!(
            p.left(
                "bob",
                "exit",
                Some(&Err("repeated message (a replay)".into()))
            )
            .ends_with("! bob left; their farewell is not shown: repeated message (a replay)")
        );
        assert!(p.kicked("me", "bob").ends_with("* you were removed by bob"));
        assert!(
            p.purged(None)
                .ends_with("* the server is shutting down; the room is gone")
        );
    }

    #[test]
    fn colour_codes_appear_only_when_asked_for() {
        let plain = Painter::new(false, "me").message(0, "alice", Some("me"), "x");
        assert!(!plain.contains('\x1b'));
        let coloured = Painter::new(true, "me").message(0, "alice", Some("me"), "x");
        assert!(
            coloured.contains("\x1b[35m(whisper)\x1b[0m"),
            "{coloured:?}"
        );
    }

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(colour_allowed(false, true));
        assert!(!colour_allowed(true, true));
        assert!(!colour_allowed(false, false));
    }

    #[test]
    fn the_clock_shows_hours_and_minutes() {
        let t = hhmm(now_ms());
        assert_eq!(t.len(), 5);
        assert_eq!(t.as_bytes()[2], b':');
    }
}
