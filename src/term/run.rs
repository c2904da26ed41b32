//! Joining, from flags to `welcome`: find the chat port, get the secret, derive the
//! keys and enter the room; then hand the session to [`super::room`], which chats
//! until something ends it, and turn how it ended into the exit status.

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;
use zeroize::Zeroizing;

use super::args::{JoinArgs, Target};
use super::config::{self, ConfigError, ServerConfig};
use super::exit::Exit;
use super::link;
use super::render;
use super::room::{self, NewRoom};
use super::secret::{self, SecretError};
use crate::client::{Client, ClientError, Event, Session};
use crate::crypto::{self, RoomKeys};
use crate::wire::{Code, close};

/// How long the server has to answer a connection or request.
pub(super) const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);

/// `sanctuary join`: returns the documented exit status, having said why on stderr.
pub fn run(args: JoinArgs) -> ExitCode {
    match enter(&args) {
        Ok(e) => room::chat(e.session, e.welcome, e.new_room, &e.config, e.page),
        Err(exit) => exit,
    }
    .finish()
}

/// A session that has its `welcome`.
struct Entered {
    session: Session,
    welcome: Event,
    /// Only for a room this client created: the link to share.
    new_room: Option<NewRoom>,
    config: ServerConfig,
    /// The page's host and port as the invite link named them: new links after a
    /// rekey name the same.
    page: (String, u16),
}

/// Everything up to `welcome`.
fn enter(args: &JoinArgs) -> Result<Entered, Exit> {
    let target = args.target().map_err(Exit::Usage)?;
    // `secret` None: a passphrase still to be asked for.
    let (host, port, room, secret, creating) = match target {
        Target::Link(invite) => (
            invite.host,
            invite.port,
            invite.room,
            Some(invite.secret),
            false,
        ),
        Target::LinkFromTerminal => {
            let text = secret::read("Invite link (not shown): ").map_err(secret_error)?;
            let invite = link::parse_invite(&text).map_err(Exit::Usage)?;
            (
                invite.host,
                invite.port,
                invite.room,
                Some(invite.secret),
                false,
            )
        }
        Target::Room { host, port, room } => (host, port, room, None, false),
        Target::Create { host, port } => {
            let room = crypto::b64u_encode(&crypto::random_bytes::<16>());
            let secret = Zeroizing::new(crypto::b64u_encode(&crypto::random_bytes::<16>()));
            (host, port, room, Some(secret), true)
        }
    };
    // Asked before the passphrase, so a mistyped host fails before anyone types it.
    let config = config::fetch(&host, port, NETWORK_TIMEOUT).map_err(|e| match e {
        ConfigError::Unreachable(why) => Exit::Unreachable(why),
        ConfigError::NotSanctuary(why) => Exit::Protocol(why),
    })?;
    // A typed passphrase that fails is most likely a typo, never called a re-created room.
    let typed = secret.is_none();
    let secret = match secret {
        Some(secret) => secret,
        None => {
            let prompt = format!("Passphrase for room {room} (not shown): ");
            let pass = secret::read(&prompt).map_err(secret_error)?;
            if pass.chars().count() < link::MIN_SECRET_CHARS {
                return Err(Exit::Usage(format!(
                    "a passphrase has at least {} characters",
                    link::MIN_SECRET_CHARS
                )));
            }
            pass
        }
    };
    progress("deriving the room key…");
    let keys = RoomKeys::derive(&room, &secret);
    let new_room = creating.then(|| NewRoom {
        link: link::invite_link(&host, port, &room, &secret),
        loopback: link::is_loopback(&host),
    });
    drop(secret);
    progress("connecting…");
    let client = Client::connect(&config.chat_addr(), NETWORK_TIMEOUT).map_err(connect_error)?;
    // Always willing to create, as the page is: a room nobody is in any more opens fresh.
    let (session, welcome) = client
        .enter(&room, &args.alias, keys, true)
        .map_err(|e| enter_error(e, typed))?;
    Ok(Entered {
        session,
        welcome,
        new_room,
        config,
        page: (host, port),
    })
}

/// A note on stderr while nothing else is visibly happening (PBKDF2 takes seconds on a Pi).
fn progress(text: &str) {
    if io::stderr().is_terminal() {
        eprintln!("{text}");
    }
}

fn secret_error(e: SecretError) -> Exit {
    match e {
        SecretError::Io(why) => Exit::Local(why),
        SecretError::Invalid(why) => Exit::Usage(why),
    }
}

fn connect_error(e: ClientError) -> Exit {
    match e {
        ClientError::Io(e) => Exit::Unreachable(format!("cannot reach the chat port: {e}")),
        ClientError::Refused { code, message } => Exit::Refused(render::error_text(code, &message)),
        ClientError::Closed(_) => Exit::Unreachable("the chat port closed the connection".into()),
        other => Exit::Protocol(other.to_string()),
    }
}

fn enter_error(e: ClientError, typed: bool) -> Exit {
    match e {
        ClientError::Recreated if typed => Exit::WrongSecret,
        ClientError::Recreated => Exit::Recreated,
        ClientError::Refused {
            code: Code::BadProof,
            ..
        } => Exit::WrongSecret,
        ClientError::Closed(Some(close::BAD_PROOF)) => Exit::WrongSecret,
        other => connect_error(other),
    }
}
