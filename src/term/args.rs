//! The flags of `sanctuary join` and what they ask for: one of three ways into a room,
//! checked before anything touches the network.

use clap::Args;

use super::link::{self, Invite};

/// Join a room from the terminal. Lines typed on stdin are sent; received messages
/// are printed one per line. The secret is never taken as an argument except inside an
/// invite link, which may also be typed without echo by giving `-` as LINK.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Ways in:
  sanctuary join 'http://HOST:PORT/#ROOM.SECRET' --alias NAME
  sanctuary join - --alias NAME                 (type the invite link, not echoed)
  sanctuary join --server HOST[:PORT] --room ROOM --alias NAME   (asks the passphrase)
  sanctuary join --server HOST[:PORT] --create --alias NAME      (prints a new invite link)

When stdin is not a terminal, the first line of stdin is the passphrase (or the link
for `-`), and every following line is sent. End of input leaves the room.

Exit status: 0 left (or you stopped the room), 1 local I/O failure, 2 usage,
3 server unreachable or connection lost, 4 wrong secret, 5 kicked, 6 room purged
(stopped by someone else, or server shutdown), 7 protocol error, 8 refused
(alias taken, room or server full).")]
pub struct JoinArgs {
    /// Invite link `http://HOST:PORT/#ROOM.SECRET`, or `-` to type it without echo.
    #[arg(value_name = "LINK", conflicts_with_all = ["server", "room", "create"])]
    pub link: Option<String>,

    /// The server's web address: HOST or HOST:PORT (PORT defaults to 6969).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,

    /// Room id (22 characters) to join with a passphrase asked on the terminal.
    // One random id in 64 starts with `-`; it is still a value, not a flag.
    #[arg(
        long,
        value_name = "ROOM",
        requires = "server",
        conflicts_with = "create",
        allow_hyphen_values = true
    )]
    pub room: Option<String>,

    /// Make a new room with a random id and secret, and print its invite link.
    #[arg(long, requires = "server")]
    pub create: bool,

    /// Your name in the room: 1 to 24 letters, digits, `_`, `-` or `.`.
    #[arg(long, short = 'a', value_name = "NAME", allow_hyphen_values = true)]
    pub alias: String,
}

/// Where the server's web port is and how the room's secret will be obtained.
#[derive(Debug)]
pub enum Target {
    /// A whole invite link was given: the secret is already known.
    Link(Invite),
    /// `join -`: the invite link is read like a passphrase.
    LinkFromTerminal,
    /// `--server --room`: the passphrase is read from the terminal or stdin.
    Room {
        host: String,
        port: u16,
        room: String,
    },
    /// `--server --create`: a fresh random room.
    Create { host: String, port: u16 },
}

impl JoinArgs {
    /// Checks every argument's form; the message is meant for a person.
    pub fn target(&self) -> Result<Target, String> {
        if !crate::protocol::is_valid_alias(&self.alias) {
            return Err("the alias needs 1 to 24 letters, digits, _ - or . (no spaces)".into());
        }
        if let Some(text) = &self.link {
            if text == "-" {
                return Ok(Target::LinkFromTerminal);
            }
            return link::parse_invite(text).map(Target::Link);
        }
        let Some(server) = &self.server else {
            return Err("give an invite link, or --server with --room or --create".into());
        };
        let (host, port) = link::parse_server(server)?;
        match (&self.room, self.create) {
            (Some(room), _) if !crate::protocol::is_valid_room(room) => {
                Err("a room id is exactly 22 characters: letters, digits, - and _".into())
            }
            (Some(room), _) => Ok(Target::Room {
                host,
                port,
                room: room.clone(),
            }),
            (None, true) => Ok(Target::Create { host, port }),
            (None, false) => Err("with --server, give --room ROOM or --create".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        link: Option<&str>,
        server: Option<&str>,
        room: Option<&str>,
        create: bool,
    ) -> JoinArgs {
        JoinArgs {
            link: link.map(String::from),
            server: server.map(String::from),
            room: room.map(String::from),
            create,
            alias: "alice".into(),
        }
    }

    #[test]
    fn server_without_room_or_create_is_a_usage_error() {
        assert!(args(None, Some("pi.lan"), None, false).target().is_err());
        assert!(args(None, None, None, false).target().is_err());
    }

    #[test]
    fn room_ids_and_aliases_are_checked_before_any_network_use() {
        assert!(
            args(None, Some("pi.lan"), Some("short"), false)
                .target()
                .is_err()
        );
        let mut bad_alias = args(None, Some("pi.lan"), None, true);
        bad_alias.alias = "no spaces".into();
        assert!(bad_alias.target().is_err());
    }

    #[test]
    fn each_way_in_is_recognised() {
        let room = "AAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(
            args(None, Some("pi.lan:8080"), Some(room), false).target(),
            Ok(Target::Room { port: 8080, .. })
        ));
        assert!(matches!(
            args(None, Some("pi.lan"), None, true).target(),
            Ok(Target::Create { port: 6969, .. })
        ));
        assert!(matches!(
            args(Some("-"), None, None, false).target(),
            Ok(Target::LinkFromTerminal)
        ));
        let link = format!("http://pi.lan:6969/#{room}.secret-secret");
        assert!(matches!(
            args(Some(&link), None, None, false).target(),
            Ok(Target::Link(_))
        ));
    }
}
