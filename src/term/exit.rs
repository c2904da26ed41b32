//! How a terminal session ends: one exit status per cause, and the one line on stderr
//! that says why. Scripts branch on the status, people read the line.

use std::process::ExitCode;

use super::render::field;

/// Every way `sanctuary join` can end.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// `/exit` or end of input (0).
    Left,
    /// This client sent `/stop` and the room ended (0: it did what was asked).
    Stopped,
    /// The terminal, stdin or stdout failed (1).
    Local(String),
    /// Arguments or typed input that cannot work (2; clap uses 2 as well).
    Usage(String),
    /// Nothing answered, or the connection was lost (3).
    Unreachable(String),
    /// `bad_proof` / close 4003 (4).
    WrongSecret,
    /// **Extension** (issue 17): `bad_proof` from a room made afresh under this id by
    /// someone without its secret, told apart by its verifier (4, like a wrong secret:
    /// either way this secret opens nothing here; the message says which).
    Recreated,
    /// Kicked, by whom if the server said (5).
    Kicked(Option<String>),
    /// Someone else stopped the room (6).
    Purged(Option<String>),
    /// The server shut down and purged every room (6).
    Shutdown,
    /// The server broke protocol v1, or closed us for breaking its rules (7).
    Protocol(String),
    /// The door stayed shut: alias taken, room or server full (8).
    Refused(String),
}

impl Exit {
    pub fn code(&self) -> u8 {
        match self {
            Exit::Left | Exit::Stopped => 0,
            Exit::Local(_) => 1,
            Exit::Usage(_) => 2,
            Exit::Unreachable(_) => 3,
            Exit::WrongSecret | Exit::Recreated => 4,
            Exit::Kicked(_) => 5,
            Exit::Purged(_) | Exit::Shutdown => 6,
            Exit::Protocol(_) => 7,
            Exit::Refused(_) => 8,
        }
    }

    /// The line for stderr; None when leaving was asked for.
    pub fn message(&self) -> Option<String> {
        Some(match self {
            Exit::Left | Exit::Stopped => return None,
            Exit::Local(why) | Exit::Usage(why) | Exit::Protocol(why) | Exit::Refused(why) => {
                why.clone()
            }
            Exit::Unreachable(why) => why.clone(),
            Exit::WrongSecret => "wrong passphrase or invite link for this room".into(),
            Exit::Recreated => crate::client::RECREATED.into(),
            Exit::Kicked(Some(by)) => format!("you were removed from the room by {}", field(by)),
            Exit::Kicked(None) => "you were removed from the room".into(),
            Exit::Purged(Some(by)) => format!(
                "{} ended the room for everyone; everything in it is gone",
                field(by)
            ),
            Exit::Purged(None) => "the room was ended for everyone".into(),
            Exit::Shutdown => "the server is shutting down; the room is gone".into(),
        })
    }

    /// Prints the reason (if any) and turns this into the process's status.
    pub fn finish(self) -> ExitCode {
        if let Some(why) = self.message() {
            eprintln!("sanctuary: {why}");
        }
        ExitCode::from(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_documented_cause_has_its_own_status() {
        let cases = [
            (Exit::Left, 0),
            (Exit::Stopped, 0),
            (Exit::Local(String::new()), 1),
            (Exit::Usage(String::new()), 2),
            (Exit::Unreachable(String::new()), 3),
            (Exit::WrongSecret, 4),
            (Exit::Recreated, 4),
            (Exit::Kicked(None), 5),
            (Exit::Purged(None), 6),
            (Exit::Shutdown, 6),
            (Exit::Protocol(String::new()), 7),
            (Exit::Refused(String::new()), 8),
        ];
        for (exit, code) in cases {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }

    #[test]
    fn failures_explain_themselves_and_a_normal_exit_is_quiet() {
        assert_eq!(Exit::Left.message(), None);
        assert_eq!(
            Exit::Kicked(Some("eve\x1b[2J".into())).message().as_deref(),
            Some("you were removed from the room by eve\u{FFFD}[2J")
        );
        assert!(Exit::WrongSecret.message().is_some());
    }
}
