//! What a typed line means: the page's slash commands (html/commands.js), plus `/who`.
//! Pure parsing; room.rs decides what to do.

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Say(String),
    Purr {
        to: String,
        text: String,
    },
    Kick(String),
    /// **Extension**: new room keys and link, nobody removed.
    Rekey,
    Stop,
    /// With the farewell, if one was given.
    Exit(Option<String>),
    Help,
    Who,
    Clear,
    /// A mistyped command: the message says how to type it.
    Usage(String),
}

/// One line per command, as `/help` shows them.
pub const HELP: &[(&str, &str)] = &[
    (
        "/purr NAME MESSAGE",
        "whisper to one member; nobody else sees it",
    ),
    (
        "/kick NAME",
        "remove a member; the room gets new keys and a new invite link",
    ),
    (
        "/rekey",
        "give the room new keys and a new invite link; the old link stops working",
    ),
    ("/stop", "end the room for everyone (no confirmation)"),
    (
        "/exit [farewell]",
        "leave the room, with an optional farewell",
    ),
    ("/who", "list who is in the room"),
    ("/clear", "clear your screen (nobody else is affected)"),
    ("/help", "show this list"),
    ("//text", "send a line that starts with /"),
];

/// `"/purr bob hi"` -> `Purr`; `"//x"` says `"/x"`; a blank line is None.
pub fn parse(line: &str) -> Option<Command> {
    let text = line.trim();
    if text.is_empty() {
        return None;
    }
    if let Some(literal) = text.strip_prefix("//") {
        return Some(Command::Say(format!("/{literal}")));
    }
    let Some(command) = text.strip_prefix('/') else {
        return Some(Command::Say(text.to_owned()));
    };
    let (name, rest) = split_word(command);
    Some(match name.to_lowercase().as_str() {
        "purr" | "w" | "msg" => match split_word(rest) {
            (to, body) if !to.is_empty() && !body.is_empty() => Command::Purr {
                to: to.trim_start_matches('@').to_owned(),
                text: body.to_owned(),
            },
            _ => Command::Usage("usage: /purr NAME MESSAGE".into()),
        },
        "kick" => match split_word(rest) {
            (alias, _) if !alias.is_empty() => {
                Command::Kick(alias.trim_start_matches('@').to_owned())
            }
            _ => Command::Usage("usage: /kick NAME".into()),
        },
        "rekey" => Command::Rekey,
        "stop" => Command::Stop,
        "exit" | "quit" | "leave" => Command::Exit(Some(rest.to_owned()).filter(|f| !f.is_empty())),
        "who" => Command::Who,
        "clear" => Command::Clear,
        "help" | "?" => Command::Help,
        _ => Command::Usage(format!(
            "unknown command /{name}; type /help for the list, or start with // to send a line that begins with /"
        )),
    })
}

/// The first word and the rest, both trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(s: &str) -> Option<Command> {
        Some(Command::Say(s.into()))
    }

    #[test]
    fn plain_lines_are_said_trimmed_and_blank_lines_ignored() {
        assert_eq!(parse("  hello there \r"), say("hello there"));
        assert_eq!(parse("   "), None);
        assert_eq!(
            parse("//etc/passwd is a path"),
            say("/etc/passwd is a path")
        );
    }

    #[test]
    fn the_pages_commands_and_their_aliases_parse() {
        let purr = Some(Command::Purr {
            to: "bob".into(),
            text: "hi  there".into(),
        });
        assert_eq!(parse("/purr bob hi  there"), purr);
        assert_eq!(parse("/W @bob hi  there"), purr);
        assert_eq!(parse("/kick @eve"), Some(Command::Kick("eve".into())));
        assert_eq!(parse("/stop"), Some(Command::Stop));
        assert_eq!(parse("/rekey"), Some(Command::Rekey));
        assert_eq!(parse("/exit"), Some(Command::Exit(None)));
        assert_eq!(
            parse("/quit see you  "),
            Some(Command::Exit(Some("see you".into())))
        );
        assert_eq!(parse("/who"), Some(Command::Who));
        assert_eq!(parse("/?"), Some(Command::Help));
        assert_eq!(parse("/clear"), Some(Command::Clear));
    }

    #[test]
    fn incomplete_or_unknown_commands_explain_themselves() {
        for line in ["/purr bob", "/purr", "/kick", "/frobnicate"] {
            assert!(matches!(parse(line), Some(Command::Usage(_))), "{line}");
        }
    }
}
